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
	"slices"
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

// arbitraryDepth returns the deepest position at which s stores any node
// it is given: a store that keeps only the leaves below some depth
// (vmap.SubtreeReader) computes the positions there from its leaves, and
// holds only trees. The tests of single nodes write at that depth or
// above; testDeepTree checks the positions below it.
func arbitraryDepth(s Store) int {
	if sr, ok := s.(vmap.SubtreeReader); ok && sr.SubtreeDepth() > 0 {
		return sr.SubtreeDepth()
	}
	return vmap.KeyBits
}

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
		{"DeepTree", testDeepTree},
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
	deep := arbitraryDepth(s)
	ws := []vmap.NodeWrite{
		{ID: vmap.RootID, Node: vmap.Node{Kind: vmap.KindInterior, Hash: vmap.Hash{1}}},
		{ID: vmap.PathID(k, 7), Node: vmap.Node{Kind: vmap.KindInterior, Hash: vmap.Hash{2}}},
		{ID: vmap.PathID(k, 8), Node: vmap.NewLeaf(k, []byte("small"))},
		{ID: vmap.PathID(key(3), 9), Node: vmap.NewLeaf(key(3), bytes.Repeat([]byte{7}, 300))},
		{ID: vmap.PathID(key(4), deep), Node: vmap.NewLeaf(key(4), []byte{0})},
		{ID: vmap.PathID(key(4), deep-1), Node: vmap.Node{Kind: vmap.KindInterior, Hash: vmap.Hash{3}}},
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
	top := min(arbitraryDepth(s), 24)
	for i := range 100 {
		k := key(1000 + i)
		n := vmap.Node{Kind: vmap.KindInterior, Hash: vmap.Hash{byte(i), 1}}
		if i%2 == 0 {
			n = vmap.NewLeaf(k, fmt.Appendf(nil, "value %d", i))
		}
		ws = append(ws, vmap.NodeWrite{ID: vmap.PathID(k, top-i%5), Node: n})
	}
	write(t, s, ws...)
	for _, n := range []int{1, 2, 3, 4, 5, 15, 16, 17, 63, 64, 65, 129, 200} {
		ids := make([]vmap.NodeID, n)
		want := make([]vmap.Node, n)
		for i := range ids {
			switch w := ws[(i*37)%len(ws)]; {
			case i%3 == 2:
				ids[i] = vmap.PathID(key(5000+i), top) // nothing stored there
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

// applyBoth applies ups through a vmap.Tree to s and to ref, a
// MemoryStore, and checks that they have the same root after.
func applyBoth(t *testing.T, batch int, s Store, ref *vmap.MemoryStore, ups []vmap.Update) {
	t.Helper()
	var roots [2]vmap.Hash
	for i, st := range []Store{s, ref} {
		d, err := vmap.NewTree(st).Update(context.Background(), ups)
		if err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		if err := st.WriteNodes(context.Background(), d.Writes); err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		roots[i] = d.Root
	}
	if roots[0] != roots[1] {
		t.Fatalf("batch %d: root %x, MemoryStore %x", batch, roots[0], roots[1])
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
		applyBoth(t, batch, s, ref, ups)
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

// leafDepth returns the depth of key's leaf in s.
func leafDepth(t *testing.T, s Store, key vmap.Key) int {
	t.Helper()
	for d := range vmap.KeyBits + 1 {
		if n := read(t, s, vmap.PathID(key, d))[0]; n.Kind == vmap.KindLeaf && n.Key == key {
			return d
		}
	}
	t.Fatalf("no leaf of key %s", key)
	return 0
}

// testDeepTree builds a map whose keys share long prefixes in groups, so
// that its paths run to depth 70 and more, then changes values, adds keys
// and removes them (a whole group but one key, whose leaf then moves up
// to depth 18 or above). After each batch, every position on the keys' paths,
// their siblings included, reads as in a MemoryStore given the same
// updates, and so do the positions below depth SubtreeDepth read through
// ReadSubtrees.
func testDeepTree(t *testing.T, s Store) {
	ctx := context.Background()
	ref := vmap.NewMemoryStore()
	// member returns key j of group g: the first 19+7g bits of key(9000+g)
	// and the rest of key(10000+100g+j).
	member := func(g, j int) vmap.Key {
		base, k := key(9000+g), key(10000+100*g+j)
		for b := range 19 + 7*g {
			mask := byte(0x80) >> (b % 8)
			k[b/8] = k[b/8]&^mask | base[b/8]&mask
		}
		return k
	}
	const groups = 8
	var all []vmap.Key
	batches := [][]vmap.Update{nil, nil, nil}
	for g := range groups {
		for j := range 16 {
			k := member(g, j)
			all = append(all, k)
			batches[0] = append(batches[0], vmap.Update{Key: k, Value: fmt.Appendf(nil, "%d/%d", g, j)})
			switch {
			case j%2 == 0:
				batches[1] = append(batches[1], vmap.Update{Key: k, Value: fmt.Appendf(nil, "%d/%d again", g, j)})
			case g < 4 && j%5 == 1:
				batches[1] = append(batches[1], vmap.Update{Key: k}) // a removal
			}
		}
		for j := 16; j < 24; j++ {
			k := member(g, j)
			all = append(all, k)
			batches[1] = append(batches[1], vmap.Update{Key: k, Value: []byte{byte(j)}})
		}
		if g == groups-1 {
			for j := 1; j < 24; j++ {
				batches[2] = append(batches[2], vmap.Update{Key: member(g, j)})
			}
		}
	}
	for i := range 50 {
		k := key(20000 + i)
		all = append(all, k)
		batches[0] = append(batches[0], vmap.Update{Key: k, Value: []byte{byte(i) | 1}})
	}
	for b, ups := range batches {
		applyBoth(t, b, s, ref, ups)
		var ids []vmap.NodeID
		for _, k := range all {
			for d := range 100 {
				id := vmap.PathID(k, d)
				ids = append(ids, id)
				if d > 0 {
					ids = append(ids, id.Sibling())
				}
			}
		}
		if b == len(batches)-1 {
			// The one key left of the last group: its leaf moved up from
			// depth 68 or more to above the depth of the store's leaves.
			if d := leafDepth(t, ref, member(groups-1, 0)); d > 18 {
				t.Fatalf("the last group's key left has its leaf at depth %d", d)
			}
		}
		got, want := read(t, s, ids...), read(t, ref, ids...)
		for i, id := range ids {
			if !equal(got[i], want[i]) {
				t.Fatalf("batch %d: at %s, read %+v, MemoryStore %+v", b, id, got[i], want[i])
			}
		}
		sr, ok := s.(vmap.SubtreeReader)
		if !ok || sr.SubtreeDepth() == 0 {
			continue
		}
		depth := sr.SubtreeDepth()
		var roots2 []vmap.NodeID
		for i, id := range ids {
			if int(id.Depth) == depth && want[i].Kind == vmap.KindInterior && !slices.Contains(roots2, id) {
				roots2 = append(roots2, id)
			}
		}
		if len(roots2) == 0 {
			t.Fatalf("batch %d: no interior node at depth %d to read the subtree of", b, depth)
		}
		sub, err := sr.ReadSubtrees(ctx, roots2)
		if err != nil {
			t.Fatalf("batch %d: ReadSubtrees: %v", b, err)
		}
		for i, id := range ids {
			if int(id.Depth) <= depth || !slices.Contains(roots2, vmap.PathID(id.Prefix, depth)) {
				continue
			}
			n, err := sub.ReadNodes(ctx, []vmap.NodeID{id})
			if err != nil {
				t.Fatalf("batch %d: subtrees at %s: %v", b, id, err)
			}
			if !equal(n[0], want[i]) {
				t.Fatalf("batch %d: subtrees at %s: read %+v, MemoryStore %+v", b, id, n[0], want[i])
			}
		}
	}
}
