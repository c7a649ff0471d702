package api

import (
	"container/list"
	"context"
	"sync"

	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/tiles"
)

// tileCacheSize bounds the hash tiles kept in memory: 2048 tiles of at
// most 8 KiB, 16 MiB.
const tileCacheSize = 2048

// bundleCacheSize bounds the entry bundles kept in memory (each at most
// maxCachedBundle bytes, so at most 32 MiB; about 27 MiB of typical
// 210-byte entries).
const bundleCacheSize = 512

// nodeCacheSize bounds the tiles whose interior nodes are kept in memory
// for proofs: 1024 of at most 16 KiB, 16 MiB.
const nodeCacheSize = 1024

// tileCache keeps recently read hash tiles, whole or at a width. A full
// tile never changes, so it can be served from memory forever; the first
// W hashes of a partial tile (its tlog-tiles ".p/W" form) never change
// either, once the tile has W hashes, because a tile only grows. The
// current content of a partial tile is always read from storage.
type tileCache struct{ *lru[[]byte] }

func newTileCache() *tileCache { return &tileCache{newLRU[[]byte](tileCacheSize)} }

// tileKey names a tile at a width; width 0 is the full tile.
type tileKey struct {
	level, index uint64
	width        uint8
}

// lru is a bounded map from tiles to what was read or computed from
// them, that forgets the least recently used first.
type lru[V any] struct {
	mu    sync.Mutex
	bound int
	order *list.List // of *lruItem[V], most recent first
	items map[tileKey]*list.Element
}

type lruItem[V any] struct {
	key tileKey
	v   V
}

func newLRU[V any](bound int) *lru[V] {
	return &lru[V]{bound: bound, order: list.New(), items: make(map[tileKey]*list.Element)}
}

func (c *lru[V]) get(key tileKey) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*lruItem[V]).v, true
	}
	var zero V
	return zero, false
}

// put adds an item, evicting the least recently used beyond the bound.
func (c *lru[V]) put(key tileKey, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[key]; ok {
		return
	}
	c.items[key] = c.order.PushFront(&lruItem[V]{key, v})
	if c.order.Len() > c.bound {
		old := c.order.Remove(c.order.Back()).(*lruItem[V])
		delete(c.items, old.key)
	}
}

// read returns a tile's current content, from the cache if it is full.
func (c *tileCache) read(ctx context.Context, st storage.Storage, level, index uint64) ([]byte, error) {
	key := tileKey{level: level, index: index}
	if data, ok := c.get(key); ok {
		return data, nil
	}
	data, err := st.ReadTile(ctx, level, index)
	if err != nil || len(data) != tiles.Width*32 {
		return data, err
	}
	c.put(key, data)
	return data, nil
}

// readWidth returns the first width hashes of a tile (all of them for
// width 0), or storage.ErrNotFound if the tile has fewer yet.
func (c *tileCache) readWidth(ctx context.Context, st storage.Storage, level, index uint64, width uint8) ([]byte, error) {
	if width == 0 {
		data, err := c.read(ctx, st, level, index)
		if err != nil {
			return nil, err
		}
		return tileWidth(data, 0)
	}
	key := tileKey{level: level, index: index, width: width}
	if data, ok := c.get(key); ok {
		return data, nil
	}
	if data, ok := c.get(tileKey{level: level, index: index}); ok {
		return tileWidth(data, width)
	}
	data, err := st.ReadTile(ctx, level, index)
	if err != nil {
		return nil, err
	}
	if data, err = tileWidth(data, width); err != nil {
		return nil, err
	}
	c.put(key, data)
	return data, nil
}
