package vmap

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// countingReader counts the positions read from a store, by depth.
type countingReader struct {
	NodeReader
	mu    sync.Mutex
	reads map[NodeID]int
}

func (c *countingReader) ReadNodes(ctx context.Context, ids []NodeID) ([]Node, error) {
	c.mu.Lock()
	for _, id := range ids {
		c.reads[id]++
	}
	c.mu.Unlock()
	return c.NodeReader.ReadNodes(ctx, ids)
}

// TestCacheFollowsStore updates a tree through a Cache, applying each
// Diff to the store and then to the cache, and checks every root against
// a tree read straight from a store, and that a cached position is read
// from the store at most once between Resets.
func TestCacheFollowsStore(t *testing.T) {
	for _, clustered := range []bool{false, true} {
		t.Run(fmt.Sprintf("clustered=%v", clustered), func(t *testing.T) {
			ctx := context.Background()
			g := newKeyGen(7, clustered)
			s, ref, m := NewMemoryStore(), NewMemoryStore(), refMap{}
			cr := &countingReader{NodeReader: s, reads: map[NodeID]int{}}
			const depth = 6
			c := NewCache(cr, depth)
			tree := NewTree(c)
			for batch := range 40 {
				ups := g.randomBatch(m, 1+g.rng.IntN(300))
				d, err := tree.Update(ctx, ups)
				if err != nil {
					t.Fatal(err)
				}
				want, err := NewTree(ref).Update(ctx, ups)
				if err != nil {
					t.Fatal(err)
				}
				if d.Root != want.Root || d.Base != want.Base {
					t.Fatalf("batch %d: root %x from %x through the cache, want %x from %x", batch, d.Root, d.Base, want.Root, want.Base)
				}
				if batch%10 == 9 {
					// A Diff that was not stored is not applied.
					continue
				}
				apply(t, ref, m, ups)
				if err := s.WriteNodes(ctx, d.Writes); err != nil {
					t.Fatal(err)
				}
				c.Apply(d)
				if batch == 20 {
					c.Reset()
					clear(cr.reads)
				}
			}
			if c.Len() == 0 || c.Len() >= 1<<depth {
				t.Fatalf("%d cached positions, want some and fewer than %d", c.Len(), 1<<depth)
			}
			for id, n := range cr.reads {
				if id.Depth < depth && n > 1 {
					t.Errorf("cached position %s read %d times from the store", id, n)
				}
			}
		})
	}
}

// resettingReader calls reset in the middle of its first read.
type resettingReader struct {
	NodeReader
	reset func()
	once  sync.Once
}

func (r *resettingReader) ReadNodes(ctx context.Context, ids []NodeID) ([]Node, error) {
	got, err := r.NodeReader.ReadNodes(ctx, ids)
	r.once.Do(r.reset)
	return got, err
}

// TestCacheResetDuringRead: what a read took from the store before a
// Reset is returned but not kept, so that a reader that resets its cache
// when the stored tree changes never keeps a node of the old tree.
func TestCacheResetDuringRead(t *testing.T) {
	ctx := context.Background()
	g := newKeyGen(3, false)
	s, m := NewMemoryStore(), refMap{}
	ups := g.randomBatch(m, 200)
	d, err := NewTree(s).Update(ctx, ups)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteNodes(ctx, d.Writes); err != nil {
		t.Fatal(err)
	}
	cr := &countingReader{NodeReader: s, reads: map[NodeID]int{}}
	rr := &resettingReader{NodeReader: cr}
	c := NewCache(rr, 8)
	rr.reset = c.Reset
	if root, err := NewTree(c).Root(ctx); err != nil || root != d.Root {
		t.Fatalf("root through the cache: %x, %v; want %x", root, err, d.Root)
	}
	if c.Len() != 0 {
		t.Errorf("a read that a Reset overtook left %d positions in the cache", c.Len())
	}
	if _, err := NewTree(c).Root(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 1 || cr.reads[RootID] != 2 {
		t.Errorf("after a read with no Reset: %d cached positions, the root read %d times from the store; want 1 and 2", c.Len(), cr.reads[RootID])
	}
}
