package vmap

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
)

var _ SubtreeReader = (*Cache)(nil)

// Cache is a NodeReader that keeps the top levels of a stored tree in
// memory, for the tree's one writer. Every update reads the positions
// near the root, and there are few of them: the positions above depth
// d are at most 2^d - 1, whatever the size of the map, while a
// map of n keys has its leaves about log2(n) deep. A map of a million
// keys updated through a Cache of depth 16 reads some 4 levels of each
// path from its store instead of 20.
//
// A position above the cached depth is read from the store the first
// time and then answered from memory (empty positions too). The cache
// follows the store only through Apply and Reset:
//
//   - the tree's writer calls Apply with every Diff once the Diff is
//     durably stored, and with nothing else. A Diff that was not stored
//     (a failed commit) is not applied, and after a commit whose outcome
//     is unknown the writer calls Reset. No one else may write the store
//     while the writer's Cache reads it;
//   - a reader of a tree that others write calls Reset whenever it learns
//     that the stored tree changed (a new root). A read from the store
//     that began before a Reset is returned but not kept, so that what
//     the cache holds after a Reset was read after it; the proofs built
//     meanwhile must be checked against the root they are served with.
type Cache struct {
	r     NodeReader
	depth uint16

	mu  sync.Mutex
	gen uint64 // Resets so far
	// The positions above depth are numbered breadth-first (slot) and
	// kept in arrays of 2^depth - 1: some 2.2 MiB at depth 16.
	known  []uint64 // bitmap of the slots read or written
	kind   []NodeKind
	hash   []Hash
	leaves map[uint32]Node // the leaves among them, with key and value
	n      int             // known slots
}

// MaxCacheDepth bounds the depth of a Cache: 2^24 positions take some
// 550 MiB.
const MaxCacheDepth = 24

// NewCache returns a Cache of the positions above depth (at most
// 2^depth - 1 of them, depth at most 24) of the tree in r.
func NewCache(r NodeReader, depth int) *Cache {
	d := min(max(depth, 0), MaxCacheDepth)
	slots := 1<<d - 1
	return &Cache{
		r: r, depth: uint16(d),
		known: make([]uint64, (slots+63)/64), kind: make([]NodeKind, slots), hash: make([]Hash, slots),
		leaves: make(map[uint32]Node),
	}
}

// slot returns the breadth-first number of a position above c.depth.
func (c *Cache) slot(id NodeID) (uint32, bool) {
	if id.Depth >= c.depth {
		return 0, false
	}
	var bits uint32
	if id.Depth > 0 {
		bits = binary.BigEndian.Uint32(id.Prefix[:4]) >> (32 - id.Depth)
	}
	return 1<<id.Depth - 1 + bits, true
}

func (c *Cache) get(id NodeID) (Node, bool) {
	s, ok := c.slot(id)
	if !ok || c.known[s/64]&(1<<(s%64)) == 0 {
		return Node{}, false
	}
	switch c.kind[s] {
	case KindLeaf:
		return c.leaves[s], true
	case KindInterior:
		return Node{Kind: KindInterior, Hash: c.hash[s]}, true
	}
	return Node{}, true
}

func (c *Cache) set(id NodeID, n Node) {
	s, ok := c.slot(id)
	if !ok {
		return
	}
	if c.known[s/64]&(1<<(s%64)) == 0 {
		c.known[s/64] |= 1 << (s % 64)
		c.n++
	}
	c.kind[s], c.hash[s] = n.Kind, n.Hash
	if n.Kind == KindLeaf {
		c.leaves[s] = n
	} else {
		delete(c.leaves, s)
	}
}

// ReadNodes implements NodeReader: cached positions from memory, the
// others in one call to the store.
func (c *Cache) ReadNodes(ctx context.Context, ids []NodeID) ([]Node, error) {
	out := make([]Node, len(ids))
	var miss []int
	c.mu.Lock()
	gen := c.gen
	for i, id := range ids {
		n, ok := c.get(id)
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
	keep := c.gen == gen // no Reset since the store was read
	for j, i := range miss {
		out[i] = got[j]
		if keep {
			c.set(ids[i], got[j])
		}
	}
	return out, nil
}

// SubtreeDepth implements SubtreeReader: that of the store, or 0.
func (c *Cache) SubtreeDepth() int {
	if sr, ok := c.r.(SubtreeReader); ok {
		return sr.SubtreeDepth()
	}
	return 0
}

// ReadSubtrees implements SubtreeReader: it reads the store, whose
// subtrees the cache does not keep.
func (c *Cache) ReadSubtrees(ctx context.Context, roots []NodeID) (NodeReader, error) {
	sr, ok := c.r.(SubtreeReader)
	if !ok {
		return nil, fmt.Errorf("vmap: the cache's store does not read subtrees")
	}
	return sr.ReadSubtrees(ctx, roots)
}

// Apply records that d is durably stored.
func (c *Cache) Apply(d *Diff) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range d.Writes {
		c.set(w.ID, w.Node)
	}
}

// Reset forgets every cached position: the next reads go to the store.
func (c *Cache) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.known)
	clear(c.leaves)
	c.n = 0
	c.gen++
}

// Len returns the number of cached positions.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
