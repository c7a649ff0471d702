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
	c := newTileCache(DefaultReadCache)
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

	bound := DefaultReadCache
	tile := make([]byte, tiles.Width*32)
	for i := range bound/len(tile) + 10 {
		c.put(tileKey{level: 9, index: uint64(i)}, tile)
	}
	if _, ok := c.items[tileKey{}]; ok {
		t.Error("the least recently used tile was not evicted")
	}
	if want := bound / len(tile); len(c.items) != want || c.order.Len() != want || c.used != want*len(tile) {
		t.Fatalf("cache holds %d tiles (%d bytes), want %d in a bound of %d bytes", len(c.items), c.used, want, bound)
	}
}

// TestLRUBounds: a byte-bounded cache evicts by size, the least recently
// used first, and does not keep an item larger than its bound.
func TestLRUBounds(t *testing.T) {
	c := newByteLRU(100)
	c.put(tileKey{index: 1}, make([]byte, 40))
	c.put(tileKey{index: 2}, make([]byte, 40))
	c.get(tileKey{index: 1}) // 2 is now the least recently used
	c.put(tileKey{index: 3}, make([]byte, 30))
	if _, ok := c.get(tileKey{index: 2}); ok {
		t.Error("item 2 kept past the bound")
	}
	for _, i := range []uint64{1, 3} {
		if _, ok := c.get(tileKey{index: i}); !ok {
			t.Errorf("item %d evicted", i)
		}
	}
	if c.used != 70 {
		t.Errorf("used = %d, want 70", c.used)
	}
	c.put(tileKey{index: 4}, make([]byte, 101))
	if _, ok := c.get(tileKey{index: 4}); ok || c.used != 70 || len(c.items) != 2 || c.order.Len() != 2 {
		t.Errorf("after an item over the bound: kept %v, used %d, %d items, %d in order; want the other two kept", ok, c.used, len(c.items), c.order.Len())
	}
	nc := newNodeCache(20000)
	var sub subtrees
	for r := range sub {
		sub[r] = make([]byte, (tiles.Width>>r)*32)
	}
	nc.put(tileKey{index: 1}, &sub)
	nc.put(tileKey{index: 2}, &sub)
	if len(nc.items) != 1 || nc.used != 16320 {
		t.Errorf("node cache of 20,000 bytes holds %d tiles' nodes, %d bytes; want 1, 16,320", len(nc.items), nc.used)
	}
	n := newLRU[int](2)
	for i := range 5 {
		n.put(tileKey{index: uint64(i)}, i)
	}
	if len(n.items) != 2 || n.used != 2 {
		t.Errorf("count-bounded cache holds %d items, used %d; want 2", len(n.items), n.used)
	}
}

// TestBundleCache: an entry bundle's first W entries are served from
// memory once read; a width the bundle does not have yet, or the full
// form of a partial bundle, is not found.
func TestBundleCache(t *testing.T) {
	ctx := context.Background()
	st, _ := storedTree(t, 300)
	s := &Server{store: st, bundles: newByteLRU(DefaultReadCache)}
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

// TestSharedCache: tiles and entry bundles share one cache and never
// answer for each other, even at the same index.
func TestSharedCache(t *testing.T) {
	ctx := context.Background()
	st, _ := storedTree(t, 600)
	s := &Server{store: st, tiles: newTileCache(DefaultReadCache)}
	s.bundles = s.tiles.lru
	for round := range 2 { // the second round comes from the cache
		tile, err := s.tiles.read(ctx, st, 0, 1)
		if err != nil || len(tile) != tiles.Width*32 {
			t.Fatalf("round %d: tile 0/1: %d bytes, %v", round, len(tile), err)
		}
		b, err := s.readBundle(ctx, 1, 0)
		if err != nil {
			t.Fatalf("round %d: bundle 1: %v", round, err)
		}
		es, err := tiles.BundleEntries(b)
		if err != nil || len(es) != tiles.Width || string(es[0]) != "entry 256" {
			t.Fatalf("round %d: bundle 1: %d entries, %v", round, len(es), err)
		}
	}
	if len(s.tiles.items) != 2 {
		t.Errorf("%d items cached, want the tile and the bundle", len(s.tiles.items))
	}
}
