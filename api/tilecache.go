package api

import (
	"container/list"
	"context"
	"sync"

	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/tiles"
)

// DefaultReadCache is the default of Config.ReadCache: 48 MiB of tiles
// and entry bundles, in one cache, so that the workload sets the share of
// each.
const DefaultReadCache = 48 << 20

// nodeCacheShare: the interior nodes of tiles, kept for proofs, may take
// a third as much memory again as the tiles and bundles (by default
// 16 MiB, about a thousand full tiles).
const nodeCacheShare = 3

// newNodeCache returns a cache of tiles' nodes of at most bound bytes,
// counting the tile itself, which the tile cache may have let go.
func newNodeCache(bound int) *lru[*subtrees] {
	c := newLRU[*subtrees](bound)
	c.cost = func(s *subtrees) int {
		n := 0
		for _, l := range s {
			n += len(l)
		}
		return n
	}
	return c
}

// tileCache keeps recently read hash tiles, whole or at a width. A full
// tile never changes, so it can be served from memory forever; the first
// W hashes of a partial tile (its tlog-tiles ".p/W" form) never change
// either, once the tile has W hashes, because a tile only grows. The
// current content of a partial tile is always read from storage.
type tileCache struct{ *lru[[]byte] }

func newTileCache(bound int) *tileCache { return &tileCache{newByteLRU(bound)} }

// tileKey names a tile, or with bundle set an entry bundle, at a width;
// width 0 is the full tile or bundle.
type tileKey struct {
	level, index uint64
	width        uint8
	bundle       bool
}

// lru is a bounded map from tiles to what was read or computed from
// them, that forgets the least recently used first. Each item has a cost
// (1, or its size in bytes); the items' costs add up to at most the bound.
type lru[V any] struct {
	mu    sync.Mutex
	bound int
	used  int
	cost  func(V) int
	order *list.List // of *lruItem[V], most recent first
	items map[tileKey]*list.Element
}

type lruItem[V any] struct {
	key tileKey
	v   V
}

// newLRU returns a cache of at most bound items.
func newLRU[V any](bound int) *lru[V] {
	return &lru[V]{bound: bound, cost: func(V) int { return 1 }, order: list.New(), items: make(map[tileKey]*list.Element)}
}

// newByteLRU returns a cache of byte strings of at most bound bytes in
// all.
func newByteLRU(bound int) *lru[[]byte] {
	c := newLRU[[]byte](bound)
	c.cost = func(b []byte) int { return len(b) }
	return c
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
// An item that alone costs more than the bound is not kept.
func (c *lru[V]) put(key tileKey, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cost := c.cost(v)
	if _, ok := c.items[key]; ok || cost > c.bound {
		return
	}
	c.items[key] = c.order.PushFront(&lruItem[V]{key, v})
	c.used += cost
	for c.used > c.bound {
		old := c.order.Remove(c.order.Back()).(*lruItem[V])
		delete(c.items, old.key)
		c.used -= c.cost(old.v)
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
