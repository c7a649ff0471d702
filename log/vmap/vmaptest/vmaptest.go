// Package vmaptest is the conformance suite of vmap node stores: every
// implementation of vmap.NodeReader and vmap.NodeWriter (the in-memory
// store, and the storage engines that persist the map) runs it.
package vmaptest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"github.com/credlog/credlog/log/vmap"
)

// Store is a node store under test.
type Store interface {
	vmap.NodeReader
	vmap.NodeWriter
}

// Opener returns a new, empty store.
type Opener func(t *testing.T) Store

// Run runs the conformance suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		f    func(*testing.T, Store)
	}{
		{"Empty", testEmpty},
		{"RoundTrip", testRoundTrip},
		{"Replace", testReplace},
		{"ManyPositions", testManyPositions},
		{"AtomicRejection", testAtomicRejection},
		{"NoAliasing", testNoAliasing},
		{"Tree", testTree},
		{"ConcurrentReads", testConcurrentReads},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.f(t, open(t)) })
	}
}

func key(i int) vmap.Key {
	return sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
}

func read(t *testing.T, s Store, ids ...vmap.NodeID) []vmap.Node {
	t.Helper()
	nodes, err := s.ReadNodes(context.Background(), ids)
	if err != nil {
		t.Fatalf("ReadNodes: %v", err)
	}
	if len(nodes) != len(ids) {
		t.Fatalf("ReadNodes returned %d nodes for %d positions", len(nodes), len(ids))
	}
	return nodes
}

func write(t *testing.T, s Store, ws ...vmap.NodeWrite) {
	t.Helper()
	if err := s.WriteNodes(context.Background(), ws); err != nil {
		t.Fatalf("WriteNodes: %v", err)
	}
}

func equal(a, b vmap.Node) bool {
	return a.Kind == b.Kind && a.Hash == b.Hash && a.Key == b.Key && bytes.Equal(a.Value, b.Value)
}

func testEmpty(t *testing.T, s Store) {
	for _, n := range read(t, s, vmap.RootID, vmap.PathID(key(1), 1), vmap.PathID(key(1), 256)) {
		if n.Kind != vmap.KindEmpty || n.Hash != vmap.EmptyHash {
			t.Fatalf("empty store holds %+v", n)
		}
	}
	if r, err := vmap.NewTree(s).Root(context.Background()); err != nil || r != vmap.EmptyHash {
		t.Fatalf("empty store's root %x, %v", r, err)
	}
}

func testRoundTrip(t *testing.T, s Store) {
	k := key(2)
	ws := []vmap.NodeWrite{
		{ID: vmap.RootID, Node: vmap.Node{Kind: vmap.KindInterior, Hash: vmap.Hash{1}}},
		{ID: vmap.PathID(k, 7), Node: vmap.Node{Kind: vmap.KindInterior, Hash: vmap.Hash{2}}},
		{ID: vmap.PathID(k, 8), Node: vmap.NewLeaf(k, []byte("small"))},
		{ID: vmap.PathID(key(3), 9), Node: vmap.NewLeaf(key(3), bytes.Repeat([]byte{7}, 300))},
		{ID: vmap.PathID(key(4), 256), Node: vmap.NewLeaf(key(4), []byte{0})},
		{ID: vmap.PathID(key(4), 255), Node: vmap.Node{Kind: vmap.KindInterior, Hash: vmap.Hash{3}}},
	}
	write(t, s, ws...)
	ids := make([]vmap.NodeID, 0, len(ws)+2)
	for i := len(ws) - 1; i >= 0; i-- {
		ids = append(ids, ws[i].ID)
	}
	ids = append(ids, ws[0].ID, vmap.PathID(k, 9)) // a repeat, and an empty position
	got := read(t, s, ids...)
	for i, id := range ids[:len(ws)] {
		if want := ws[len(ws)-1-i].Node; !equal(got[i], want) {
			t.Errorf("at %s: read %+v, wrote %+v", id, got[i], want)
		}
	}
	if !equal(got[len(ws)], ws[0].Node) || got[len(ws)+1].Kind != vmap.KindEmpty {
		t.Errorf("repeated or empty position read wrong: %+v, %+v", got[len(ws)], got[len(ws)+1])
	}
}

// testManyPositions reads lists of positions of many lengths, stored,
// empty and repeated ones mixed, as a store that reads several positions
// at once must answer them: each at its own index.
func testManyPositions(t *testing.T, s Store) {
	var ws []vmap.NodeWrite
	for i := range 100 {
		k := key(1000 + i)
		n := vmap.Node{Kind: vmap.KindInterior, Hash: vmap.Hash{byte(i), 1}}
		if i%2 == 0 {
			n = vmap.NewLeaf(k, fmt.Appendf(nil, "value %d", i))
		}
		ws = append(ws, vmap.NodeWrite{ID: vmap.PathID(k, 20+i%5), Node: n})
	}
	write(t, s, ws...)
	for _, n := range []int{1, 2, 3, 4, 5, 15, 16, 17, 63, 64, 65, 129, 200} {
		ids := make([]vmap.NodeID, n)
		want := make([]vmap.Node, n)
		for i := range ids {
			switch w := ws[(i*37)%len(ws)]; {
			case i%3 == 2:
				ids[i] = vmap.PathID(key(5000+i), 30) // nothing stored there
			case i%7 == 6:
				ids[i], want[i] = ids[i-1], want[i-1] // the same again
			default:
				ids[i], want[i] = w.ID, w.Node
			}
		}
		got := read(t, s, ids...)
		for i := range ids {
			if !equal(got[i], want[i]) {
				t.Fatalf("%d positions: at %d (%s), read %+v, want %+v", n, i, ids[i], got[i], want[i])
			}
		}
	}
}

func testReplace(t *testing.T, s Store) {
	k := key(5)
	id := vmap.PathID(k, 3)
	steps := []vmap.Node{
		vmap.NewLeaf(k, []byte("one")),
		vmap.NewLeaf(k, bytes.Repeat([]byte("two"), 100)),
		{Kind: vmap.KindInterior, Hash: vmap.Hash{9}},
		vmap.NewLeaf(k, []byte("three")),
		{},
		{Kind: vmap.KindInterior, Hash: vmap.Hash{8}},
		{},
	}
	for i, n := range steps {
		write(t, s, vmap.NodeWrite{ID: id, Node: n})
		if got := read(t, s, id)[0]; !equal(got, n) {
			t.Fatalf("step %d: read %+v, wrote %+v", i, got, n)
		}
	}
	// Removing what is not there is no error.
	write(t, s, vmap.NodeWrite{ID: vmap.PathID(k, 200)})
}

func testAtomicRejection(t *testing.T, s Store) {
	k := key(6)
	good := vmap.NodeWrite{ID: vmap.PathID(k, 4), Node: vmap.NewLeaf(k, []byte("v"))}
	other := key(7)
	for k[0]>>4 == other[0]>>4 {
		other[0]++
	}
	for name, bad := range map[string]vmap.NodeWrite{
		"leaf off its path":        {ID: vmap.PathID(other, 4), Node: vmap.NewLeaf(k, []byte("v"))},
		"interior at depth 256":    {ID: vmap.PathID(k, 256), Node: vmap.Node{Kind: vmap.KindInterior, Hash: vmap.Hash{1}}},
		"interior with empty hash": {ID: vmap.PathID(k, 2), Node: vmap.Node{Kind: vmap.KindInterior}},
		"leaf with empty value":    {ID: vmap.PathID(k, 5), Node: vmap.Node{Kind: vmap.KindLeaf, Key: k}},
		"unknown kind":             {ID: vmap.PathID(k, 5), Node: vmap.Node{Kind: 3, Hash: vmap.Hash{1}}},
	} {
		if err := s.WriteNodes(context.Background(), []vmap.NodeWrite{good, bad}); err == nil {
			t.Errorf("%s: write accepted", name)
		}
		if n := read(t, s, good.ID)[0]; n.Kind != vmap.KindEmpty {
			t.Fatalf("%s: the valid write of a rejected batch was made", name)
		}
	}
}

func testNoAliasing(t *testing.T, s Store) {
	k := key(8)
	v := []byte("value")
	id := vmap.PathID(k, 1)
	write(t, s, vmap.NodeWrite{ID: id, Node: vmap.NewLeaf(k, v)})
	v[0] = 'X'
	n := read(t, s, id)[0]
	if string(n.Value) != "value" {
		t.Fatalf("store kept the caller's buffer: %q", n.Value)
	}
	n.Value[0] = 'Y'
	if n := read(t, s, id)[0]; string(n.Value) != "value" {
		t.Fatalf("store returned its own buffer: %q", n.Value)
	}
}

// testTree runs batches of updates through a vmap.Tree on the store and
// on a MemoryStore, and checks that roots and proofs agree.
func testTree(t *testing.T, s Store) {
	ctx := context.Background()
	ref := vmap.NewMemoryStore()
	next := 0
	for batch := range 12 {
		var ups []vmap.Update
		for i := range 1 + batch*batch*20 {
			v := fmt.Appendf(nil, "value %d of batch %d", i, batch)
			if batch > 2 && i%5 == 0 {
				ups = append(ups, vmap.Update{Key: key(next - 1 - i)}) // a deletion
				continue
			}
			ups = append(ups, vmap.Update{Key: key(next), Value: v})
			next++
		}
		var roots [2]vmap.Hash
		for i, st := range []Store{s, ref} {
			d, err := vmap.NewTree(st).Update(ctx, ups)
			if err != nil {
				t.Fatalf("batch %d: %v", batch, err)
			}
			if err := st.WriteNodes(ctx, d.Writes); err != nil {
				t.Fatalf("batch %d: %v", batch, err)
			}
			roots[i] = d.Root
		}
		if roots[0] != roots[1] {
			t.Fatalf("batch %d: root %x, MemoryStore %x", batch, roots[0], roots[1])
		}
		for i := range 20 {
			k := key(next - 1 - i*7)
			p, v, err := vmap.NewTree(s).Prove(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			q, w, err := vmap.NewTree(ref).Prove(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			pb, _ := p.Marshal()
			qb, _ := q.Marshal()
			if !bytes.Equal(pb, qb) || !bytes.Equal(v, w) {
				t.Fatalf("batch %d: proofs of %s differ", batch, k)
			}
		}
	}
}

func testConcurrentReads(t *testing.T, s Store) {
	ctx := context.Background()
	var ups []vmap.Update
	for i := range 500 {
		ups = append(ups, vmap.Update{Key: key(i), Value: []byte{byte(i) | 1}})
	}
	d, err := vmap.NewTree(s).Update(ctx, ups)
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, d.Writes...)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < 500; i += 8 {
				p, v, err := vmap.NewTree(s).Prove(ctx, key(i))
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := p.Marshal()
				if err := vmap.VerifyMembership(d.Root, key(i), v, b); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
