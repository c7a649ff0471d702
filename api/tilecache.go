package api

import (
	"container/list"
	"context"
	"sync"

	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/tiles"
)

// tileCacheSize bounds the full hash tiles kept in memory: 2048 tiles of
// 8 KiB, 16 MiB.
const tileCacheSize = 2048

// tileCache keeps recently read full hash tiles. A full tile never
// changes, so it can be served from memory forever; partial tiles are
// always read from storage.
type tileCache struct {
	mu    sync.Mutex
	lru   *list.List // of *tileItem, most recent first
	items map[[2]uint64]*list.Element
}

type tileItem struct {
	key  [2]uint64
	data []byte
}

func newTileCache() *tileCache {
	return &tileCache{lru: list.New(), items: make(map[[2]uint64]*list.Element)}
}

// read returns a tile's current content, from the cache if it is full.
func (c *tileCache) read(ctx context.Context, st storage.Storage, level, index uint64) ([]byte, error) {
	key := [2]uint64{level, index}
	c.mu.Lock()
	if e, ok := c.items[key]; ok {
		c.lru.MoveToFront(e)
		data := e.Value.(*tileItem).data
		c.mu.Unlock()
		return data, nil
	}
	c.mu.Unlock()
	data, err := st.ReadTile(ctx, level, index)
	if err != nil || len(data) != tiles.Width*32 {
		return data, err
	}
	c.put(key, data)
	return data, nil
}

// put adds a full tile, evicting the least recently used beyond the bound.
func (c *tileCache) put(key [2]uint64, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[key]; ok {
		return
	}
	c.items[key] = c.lru.PushFront(&tileItem{key, data})
	if c.lru.Len() > tileCacheSize {
		old := c.lru.Remove(c.lru.Back()).(*tileItem)
		delete(c.items, old.key)
	}
}
