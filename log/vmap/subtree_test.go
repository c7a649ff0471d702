package vmap_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/credlog/credlog/log/vmap"
)

// deepKeys returns n keys that share their first 20 bits, so that their
// leaves are all below one position at depth 18.
func deepKeys(n int) []vmap.Key {
	base := sha256.Sum256([]byte("base"))
	keys := make([]vmap.Key, n)
	for i := range keys {
		k := vmap.Key(sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i))))
		copy(k[:2], base[:2])
		k[2] = k[2]&0x0f | base[2]&0xf0
		keys[i] = k
	}
	return keys
}

// TestSubtreesMatchMemoryStore checks that the positions Subtrees computes
// below depth 18 from the leaves alone, and those Walk passes, are the
// nodes a MemoryStore holds for the same map.
func TestSubtreesMatchMemoryStore(t *testing.T) {
	ctx := context.Background()
	ref := vmap.NewMemoryStore()
	var ups []vmap.Update
	for i, k := range deepKeys(300) {
		ups = append(ups, vmap.Update{Key: k, Value: []byte{byte(i), 9}})
	}
	d, err := vmap.NewTree(ref).Update(ctx, ups)
	if err != nil {
		t.Fatal(err)
	}
	if err := ref.WriteNodes(ctx, d.Writes); err != nil {
		t.Fatal(err)
	}
	root := vmap.PathID(ups[0].Key, 18)
	var leaves []vmap.Node
	want := make(map[vmap.NodeID]vmap.Node)
	ref.Nodes(func(id vmap.NodeID, n vmap.Node) bool {
		if id.Depth > 18 {
			want[id] = n
			if n.Kind == vmap.KindLeaf {
				leaves = append(leaves, n)
			}
		}
		return true
	})
	if len(leaves) != len(ups) {
		t.Fatalf("%d leaves below depth 18, want %d", len(leaves), len(ups))
	}
	s, err := vmap.NewSubtrees([]vmap.NodeID{root}, [][]vmap.Node{leaves})
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	if err := s.Walk(func(id vmap.NodeID, n vmap.Node) error {
		if w, ok := want[id]; !ok || w.Kind != n.Kind || w.Hash != n.Hash || w.Key != n.Key {
			t.Errorf("Walk: %s = %+v, MemoryStore %+v", id, n, w)
		}
		got++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got != len(want) {
		t.Errorf("Walk passed %d nodes, the MemoryStore holds %d below depth 18", got, len(want))
	}
	for _, u := range ups[:40] {
		for depth := 19; depth < 60; depth++ {
			for _, id := range []vmap.NodeID{vmap.PathID(u.Key, depth), vmap.PathID(u.Key, depth).Sibling()} {
				n, err := s.Node(id)
				if err != nil {
					t.Fatal(err)
				}
				if w := want[id]; w.Kind != n.Kind || w.Hash != n.Hash || w.Key != n.Key {
					t.Fatalf("Node(%s) = %+v, MemoryStore %+v", id, n, w)
				}
			}
		}
	}
}

// TestSubtreesRejects checks what NewSubtrees and Node refuse.
func TestSubtreesRejects(t *testing.T) {
	keys := deepKeys(3)
	root := vmap.PathID(keys[0], 18)
	leaf := func(k vmap.Key) vmap.Node { return vmap.NewLeaf(k, []byte("v")) }
	var far vmap.Key
	far[0] = ^keys[0][0]
	for name, c := range map[string]struct {
		roots  []vmap.NodeID
		leaves [][]vmap.Node
		want   string
	}{
		"leaf off its root": {[]vmap.NodeID{root}, [][]vmap.Node{{leaf(keys[0]), leaf(far)}}, "stored below"},
		"key twice":         {[]vmap.NodeID{root}, [][]vmap.Node{{leaf(keys[1]), leaf(keys[1])}}, "twice"},
		"roots at two depths": {[]vmap.NodeID{root, vmap.PathID(far, 17)}, [][]vmap.Node{{leaf(keys[0])}, nil},
			"depths"},
		"fewer lists than roots": {[]vmap.NodeID{root}, nil, "lists"},
		"not a leaf": {[]vmap.NodeID{root}, [][]vmap.Node{{{Kind: vmap.KindInterior, Hash: vmap.Hash{1}}}},
			"stored below"},
	} {
		if _, err := vmap.NewSubtrees(c.roots, c.leaves); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
	}
	s, err := vmap.NewSubtrees([]vmap.NodeID{root}, [][]vmap.Node{{leaf(keys[0]), leaf(keys[1])}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []vmap.NodeID{root, vmap.PathID(far, 30), vmap.RootID} {
		if _, err := s.Node(id); err == nil {
			t.Errorf("Node(%s), not below the root, succeeded", id)
		}
	}
}
