package api

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/storage/sqlite"
	"github.com/credlog/credlog/log/tiles"
)

// TestTileCache checks that full tiles are served from memory once read,
// that partial tiles are always read from storage (they grow), and that
// the cache stays bounded.
func TestTileCache(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, err := tiles.NewBuilder(0, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	appendN := func(n int) {
		start := b.Size()
		var data [][]byte
		var entries []storage.Entry
		for i := range n {
			e := []byte{byte(start + uint64(i)), byte((start + uint64(i)) >> 8)}
			data = append(data, e)
			entries = append(entries, storage.Entry{Index: start + uint64(i), LeafHash: tiles.LeafHash(e), Issuer: "i"})
		}
		u, err := b.Append(data)
		if err != nil {
			t.Fatal(err)
		}
		sb := &storage.Batch{Start: start, Entries: entries}
		sb.SetTree(u)
		if err := st.Commit(ctx, sb); err != nil {
			t.Fatal(err)
		}
	}
	appendN(300)
	c := newTileCache()
	full, err := c.read(ctx, st, 0, 0)
	if err != nil || len(full) != 256*32 {
		t.Fatalf("full tile: %d bytes, %v", len(full), err)
	}
	partial, err := c.read(ctx, st, 0, 1)
	if err != nil || len(partial) != 44*32 {
		t.Fatalf("partial tile: %d bytes, %v", len(partial), err)
	}
	if len(c.items) != 1 {
		t.Fatalf("%d tiles cached, want only the full one", len(c.items))
	}
	appendN(100)
	grown, err := c.read(ctx, st, 0, 1)
	if err != nil || len(grown) != 144*32 || !bytes.Equal(grown[:len(partial)], partial) {
		t.Fatalf("grown partial tile: %d bytes, %v", len(grown), err)
	}
	again, _ := c.read(ctx, st, 0, 0)
	if &again[0] != &full[0] {
		t.Error("full tile read again from storage")
	}

	// At a width, a partial tile's prefix is immutable: cached once read,
	// it is the same bytes after the tile grows; a width the tile does not
	// have yet is not found, and not cached.
	p44, err := c.readWidth(ctx, st, 0, 1, 44)
	if err != nil || !bytes.Equal(p44, partial) {
		t.Fatalf("tile 0/1 at width 44: %d bytes, %v", len(p44), err)
	}
	if _, err := c.readWidth(ctx, st, 0, 1, 200); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("tile 0/1 at width 200 (it has 144): %v", err)
	}
	n := len(c.items)
	appendN(100)
	if again, _ := c.readWidth(ctx, st, 0, 1, 44); &again[0] != &p44[0] {
		t.Error("tile 0/1 at width 44 read again from storage")
	}
	if p200, err := c.readWidth(ctx, st, 0, 1, 200); err != nil || !bytes.Equal(p200[:44*32], partial) || len(p200) != 200*32 {
		t.Fatalf("tile 0/1 at width 200: %d bytes, %v", len(p200), err)
	}
	if len(c.items) != n+1 {
		t.Errorf("%d tiles cached, want %d", len(c.items), n+1)
	}
	if f, err := c.readWidth(ctx, st, 0, 0, 10); err != nil || !bytes.Equal(f, full[:10*32]) {
		t.Errorf("full tile 0/0 at width 10: %v", err)
	}

	for i := range tileCacheSize + 10 {
		c.put(tileKey{level: 9, index: uint64(i)}, nil)
	}
	if _, ok := c.items[tileKey{}]; ok {
		t.Error("the least recently used tile was not evicted")
	}
	if len(c.items) != tileCacheSize || c.order.Len() != tileCacheSize {
		t.Fatalf("cache holds %d items, bound %d", len(c.items), tileCacheSize)
	}
}

// TestBundleCache: an entry bundle's first W entries are served from
// memory once read; a width the bundle does not have yet, or the full
// form of a partial bundle, is not found.
func TestBundleCache(t *testing.T) {
	ctx := context.Background()
	st, _ := storedTree(t, 300)
	s := &Server{store: st, bundles: newLRU[[]byte](bundleCacheSize)}
	p44, err := s.readBundle(ctx, 1, 44)
	if err != nil {
		t.Fatal(err)
	}
	es, err := tiles.BundleEntries(p44)
	if err != nil || len(es) != 44 || string(es[0]) != "entry 256" {
		t.Fatalf("bundle 1 at width 44: %d entries, %v", len(es), err)
	}
	for _, w := range []uint8{45, 0} {
		if _, err := s.readBundle(ctx, 1, w); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("bundle 1 at width %d (it has 44): %v", w, err)
		}
	}
	again, err := s.readBundle(ctx, 1, 44)
	if err != nil || &again[0] != &p44[0] {
		t.Errorf("bundle 1 at width 44 read again from storage (%v)", err)
	}
	full, err := s.readBundle(ctx, 0, 0)
	if es, _ := tiles.BundleEntries(full); err != nil || len(es) != 256 {
		t.Errorf("full bundle 0: %d entries, %v", len(es), err)
	}
}
