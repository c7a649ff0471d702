package api

import (
	"bytes"
	"context"
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
	for i := range tileCacheSize + 10 {
		c.put([2]uint64{9, uint64(i)}, nil)
	}
	if _, ok := c.items[[2]uint64{0, 0}]; ok {
		t.Error("the least recently used tile was not evicted")
	}
	if len(c.items) != tileCacheSize || c.lru.Len() != tileCacheSize {
		t.Fatalf("cache holds %d items, bound %d", len(c.items), tileCacheSize)
	}
}
