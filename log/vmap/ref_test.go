package vmap

import (
	"context"
	"maps"
	"slices"
	"testing"
)

// The reference: the map as a Go map, and the tree computed from scratch
// by the definition in the package documentation, with no stored nodes,
// no batches and no shared code but the three hash functions.

type refMap map[Key][]byte

// refNodes returns every node the canonical tree of m stores.
func refNodes(m refMap) map[NodeID]Node {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b Key) int { return a.Compare(b) })
	out := make(map[NodeID]Node)
	refSubtree(m, keys, 0, out)
	return out
}

// refSubtree returns the hash of the subtree at depth holding keys (which
// share their first depth bits), recording its stored nodes in out.
func refSubtree(m refMap, keys []Key, depth int, out map[NodeID]Node) Hash {
	if len(keys) == 0 {
		return EmptyHash
	}
	id := PathID(keys[0], depth)
	if len(keys) == 1 {
		k := keys[0]
		n := Node{Kind: KindLeaf, Hash: LeafHash(k, ValueHash(m[k])), Key: k, Value: m[k]}
		if out != nil {
			out[id] = n
		}
		return n.Hash
	}
	var left, right []Key
	for _, k := range keys {
		if k[depth/8]&(0x80>>(depth%8)) == 0 {
			left = append(left, k)
		} else {
			right = append(right, k)
		}
	}
	h := InteriorHash(refSubtree(m, left, depth+1, out), refSubtree(m, right, depth+1, out))
	if out != nil {
		out[id] = Node{Kind: KindInterior, Hash: h}
	}
	return h
}

func refRoot(m refMap) Hash {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b Key) int { return a.Compare(b) })
	return refSubtree(m, keys, 0, nil)
}

// checkStore fails t unless s holds exactly the canonical nodes of m.
func checkStore(t *testing.T, s *MemoryStore, m refMap) {
	t.Helper()
	want := refNodes(m)
	if s.Len() != len(want) {
		t.Fatalf("store holds %d nodes, the canonical tree %d", s.Len(), len(want))
	}
	s.Nodes(func(id NodeID, n Node) bool {
		w, ok := want[id]
		if !ok || !same(n, w) || n.Key != w.Key || string(n.Value) != string(w.Value) {
			t.Fatalf("store holds %+v at %s, the canonical tree %+v", n, id, w)
		}
		return true
	})
}

// apply writes ups to the store through a Tree, and to the reference.
func apply(t testing.TB, s *MemoryStore, m refMap, ups []Update) *Diff {
	t.Helper()
	d, err := NewTree(s).Update(context.Background(), ups)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteNodes(context.Background(), d.Writes); err != nil {
		t.Fatal(err)
	}
	for _, u := range ups {
		if len(u.Value) == 0 {
			delete(m, u.Key)
		} else {
			m[u.Key] = u.Value
		}
	}
	return d
}
