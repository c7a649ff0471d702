package vmap

import (
	"context"
	"fmt"
	"sync"
)

var _ NodeReader = (*Cache)(nil)

// Cache is a NodeReader that keeps the top levels of a stored tree in
// memory, for the tree's one writer. Every update reads the positions
// near the root, and there are few of them: the positions above depth
// Depth are at most 2^Depth - 1, whatever the size of the map, while a
// map of n keys has its leaves about log2(n) deep. A map of a million
// keys updated through a Cache of depth 16 reads some 4 levels of each
// path from its store instead of 20.
//
// A position above the cached depth is read from the store the first
// time and then answered from memory (empty positions too). The cache
// follows the store only through Apply: the writer calls it with every
// Diff once the Diff is durably stored, and with nothing else. A Diff
// that was not stored (a failed commit) is not applied, and after a
// commit whose outcome is unknown the writer calls Reset. No one else
// may write the store while a Cache reads it.
type Cache struct {
	r     NodeReader
	depth uint16

	mu    sync.Mutex
	nodes map[NodeID]Node
}

// NewCache returns a Cache of the positions above depth (at most
// 2^depth - 1 of them) of the tree in r.
func NewCache(r NodeReader, depth int) *Cache {
	return &Cache{r: r, depth: uint16(min(max(depth, 0), KeyBits)), nodes: make(map[NodeID]Node)}
}

// ReadNodes implements NodeReader: cached positions from memory, the
// others in one call to the store.
func (c *Cache) ReadNodes(ctx context.Context, ids []NodeID) ([]Node, error) {
	out := make([]Node, len(ids))
	var miss []int
	c.mu.Lock()
	for i, id := range ids {
		n, ok := c.nodes[id]
		if !ok {
			miss = append(miss, i)
			continue
		}
		out[i] = n
	}
	c.mu.Unlock()
	if len(miss) == 0 {
		return out, nil
	}
	mids := make([]NodeID, len(miss))
	for j, i := range miss {
		mids[j] = ids[i]
	}
	got, err := c.r.ReadNodes(ctx, mids)
	if err != nil {
		return nil, err
	}
	if len(got) != len(mids) {
		return nil, fmt.Errorf("vmap: store returned %d nodes for %d positions", len(got), len(mids))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for j, i := range miss {
		out[i] = got[j]
		if ids[i].Depth < c.depth {
			c.nodes[ids[i]] = got[j]
		}
	}
	return out, nil
}

// Apply records that d is durably stored.
func (c *Cache) Apply(d *Diff) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range d.Writes {
		if w.ID.Depth < c.depth {
			c.nodes[w.ID] = w.Node
		}
	}
}

// Reset forgets every cached position: the next reads go to the store.
func (c *Cache) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.nodes)
}

// Len returns the number of cached positions.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.nodes)
}
