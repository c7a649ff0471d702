package storagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/vmap"
)

// mapUpdates returns n map updates numbered from first, with values
// tagged by round.
func mapUpdates(first, n, round int) []vmap.Update {
	ups := make([]vmap.Update, n)
	for i := range ups {
		ups[i] = vmap.Update{
			Key:   vmap.Key(hashOf(fmt.Sprintf("key-%d", first+i))),
			Value: []byte(fmt.Sprintf("value-%d-%d", first+i, round)),
		}
	}
	return ups
}

// mapBatch builds a batch of n entries whose last one is the map-root
// entry of a map diff computing ups on the stored map.
func mapBatch(t *testing.T, ctx context.Context, s storage.Storage, n int, ups []vmap.Update) *storage.Batch {
	t.Helper()
	sb, _ := batch(t, builder(t, ctx, s), n)
	d, err := vmap.NewTree(s).Update(ctx, ups)
	if err != nil {
		t.Fatal(err)
	}
	sb.Map, sb.MapIndex = d, sb.Tree.Size-1
	return sb
}

func checkMap(t *testing.T, ctx context.Context, s storage.Storage, ref *vmap.MemoryStore, index uint64) {
	t.Helper()
	want, err := vmap.NewTree(ref).Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := vmap.NewTree(s).Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("stored map root %x, want %x", got, want)
	}
	mr, err := s.MapRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if mr.Index != index || mr.Root != want {
		t.Fatalf("MapRoot = %d %x, want %d %x", mr.Index, mr.Root, index, want)
	}
}

func applyRef(t *testing.T, ctx context.Context, ref *vmap.MemoryStore, ups []vmap.Update) {
	t.Helper()
	d, err := vmap.NewTree(ref).Update(ctx, ups)
	if err != nil {
		t.Fatal(err)
	}
	if err := ref.WriteNodes(ctx, d.Writes); err != nil {
		t.Fatal(err)
	}
}

// testMap commits map diffs with batches and checks the stored map,
// across a reopen.
func testMap(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, "map")
	if _, err := s.MapRoot(ctx); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("MapRoot of an empty log: %v", err)
	}
	if r, err := vmap.NewTree(s).Root(ctx); err != nil || r != vmap.EmptyHash {
		t.Fatalf("empty map root %x, %v", r, err)
	}
	ref := vmap.NewMemoryStore()
	var last uint64
	for round, ups := range [][]vmap.Update{
		mapUpdates(0, 200, 0),
		append(mapUpdates(100, 150, 1), vmap.Update{Key: vmap.Key(hashOf("key-3"))}), // overwrite, insert, delete
		mapUpdates(0, 1, 2),
	} {
		sb := mapBatch(t, ctx, s, 10+round, ups)
		if err := s.Commit(ctx, sb); err != nil {
			t.Fatal(err)
		}
		applyRef(t, ctx, ref, ups)
		last = sb.MapIndex
		checkMap(t, ctx, s, ref, last)
	}
	s.Close()
	s = open(t, "map")
	defer s.Close()
	checkMap(t, ctx, s, ref, last)
	// Proofs from the stored map verify against the root.
	root, _ := vmap.NewTree(s).Root(ctx)
	for _, k := range []string{"key-0", "key-3", "key-999"} {
		key := vmap.Key(hashOf(k))
		p, v, err := vmap.NewTree(s).Prove(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if v == nil {
			err = vmap.VerifyAbsence(root, key, b)
		} else {
			err = vmap.VerifyMembership(root, key, v, b)
		}
		if err != nil || (k == "key-999" || k == "key-3") != (v == nil) {
			t.Fatalf("proof of %s (value %q): %v", k, v, err)
		}
	}
}

// testMapAtomicFailure checks that a batch whose map diff was computed on
// another map root writes nothing at all.
func testMapAtomicFailure(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, "mapatomic")
	defer s.Close()
	ref := vmap.NewMemoryStore()
	ups := mapUpdates(0, 50, 0)
	first := mapBatch(t, ctx, s, 5, ups)
	if err := s.Commit(ctx, first); err != nil {
		t.Fatal(err)
	}
	applyRef(t, ctx, ref, ups)
	ts, _ := s.Tree(ctx)

	for name, spoil := range map[string]func(*storage.Batch){
		"stale base": func(b *storage.Batch) { b.Map.Base = vmap.Hash{1} },
		"bad node": func(b *storage.Batch) {
			b.Map.Writes = append(b.Map.Writes, vmap.NodeWrite{ID: vmap.PathID(vmap.Key{}, 256), Node: vmap.Node{Kind: vmap.KindInterior, Hash: vmap.Hash{1}}})
		},
		"map-root index outside the batch": func(b *storage.Batch) { b.MapIndex = b.Start - 1 },
	} {
		bad := mapBatch(t, ctx, s, 7, mapUpdates(40, 30, 1))
		spoil(bad)
		bad.State = &state.Changes{Issuers: []*state.Issuer{{Name: "ghost", KeyID: 1}}}
		if err := s.Commit(ctx, bad); err == nil {
			t.Fatalf("%s: batch committed", name)
		}
		if got, _ := s.Tree(ctx); got.Size != ts.Size || got.Root != ts.Root {
			t.Fatalf("%s: failed batch moved the tree to %d", name, got.Size)
		}
		if i, _ := s.Issuer("ghost"); i != nil {
			t.Fatalf("%s: failed batch wrote state", name)
		}
		if _, err := s.LookupLeaf(ctx, bad.Entries[0].LeafHash); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("%s: failed batch left a leaf index: %v", name, err)
		}
		checkMap(t, ctx, s, ref, first.MapIndex)
		// No node of the failed diff was written.
		for _, w := range bad.Map.Writes {
			want, _ := ref.ReadNodes(ctx, []vmap.NodeID{w.ID})
			got, err := s.ReadNodes(ctx, []vmap.NodeID{w.ID})
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Kind != want[0].Kind || got[0].Hash != want[0].Hash {
				t.Fatalf("%s: failed batch wrote map node %s", name, w.ID)
			}
		}
	}
	// The log and its map go on from where they were.
	ups = mapUpdates(40, 30, 2)
	good := mapBatch(t, ctx, s, 3, ups)
	if err := s.Commit(ctx, good); err != nil {
		t.Fatal(err)
	}
	applyRef(t, ctx, ref, ups)
	checkMap(t, ctx, s, ref, good.MapIndex)
}

// deepKey returns a key whose first 40 bits are those of every other
// deepKey, so that their paths run below depth 40.
func deepKey(i int) vmap.Key {
	k := vmap.Key(hashOf(fmt.Sprintf("deep-%d", i)))
	copy(k[:], "deep!")
	return k
}

// testScanMapNodes checks that ScanMapNodes passes exactly the nodes of
// the stored map, each once, after inserts, overwrites and deletes, among
// them deep in the tree: a removed key whose position another key takes,
// a leaf that moves up as the keys beside it go.
func testScanMapNodes(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, "scan-map-nodes")
	defer s.Close()
	n := 0
	if err := s.ScanMapNodes(ctx, func(vmap.NodeID, vmap.Node) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("ScanMapNodes on an empty log: %d nodes, %v", n, err)
	}
	ref := vmap.NewMemoryStore()
	rounds := [][]vmap.Update{
		mapUpdates(0, 300, 0),
		append(mapUpdates(200, 150, 1), vmap.Update{Key: vmap.Key(hashOf("key-7"))}, vmap.Update{Key: vmap.Key(hashOf("key-8"))}),
	}
	for i := range 40 {
		rounds[0] = append(rounds[0], vmap.Update{Key: deepKey(i), Value: []byte{byte(i) | 1}})
	}
	// deepKey(3) gives way to a key that differs from it in its last bit
	// only, which takes its leaf's position; deepKey(5) goes.
	other := deepKey(3)
	other[31] ^= 1
	rounds[1] = append(rounds[1], vmap.Update{Key: deepKey(3)}, vmap.Update{Key: other, Value: []byte("other")},
		vmap.Update{Key: deepKey(5)}, vmap.Update{Key: deepKey(6), Value: []byte("six")})
	// Then every deep key goes but deepKey(0), whose leaf moves up, out of
	// the depths where a store may keep leaves alone.
	var last []vmap.Update
	for i := 1; i < 40; i++ {
		last = append(last, vmap.Update{Key: deepKey(i)})
	}
	rounds = append(rounds, append(last, vmap.Update{Key: other}))
	for round, ups := range rounds {
		if err := s.Commit(ctx, mapBatch(t, ctx, s, 4+round, ups)); err != nil {
			t.Fatal(err)
		}
		applyRef(t, ctx, ref, ups)
		checkScanMapNodes(t, s, ref, round)
	}
	n = 0
	err := s.ScanMapNodes(ctx, func(vmap.NodeID, vmap.Node) error { n++; return errStop })
	if err != errStop || n != 1 {
		t.Errorf("ScanMapNodes with a failing function: %d calls, %v; want 1, the function's error", n, err)
	}
}

// checkScanMapNodes checks that ScanMapNodes passes exactly the nodes of
// ref, each once.
func checkScanMapNodes(t *testing.T, s storage.Storage, ref *vmap.MemoryStore, round int) {
	t.Helper()
	ctx := context.Background()
	seen := make(map[vmap.NodeID]bool)
	n := 0
	err := s.ScanMapNodes(ctx, func(id vmap.NodeID, got vmap.Node) error {
		if seen[id] {
			t.Errorf("round %d: ScanMapNodes: node %s passed twice", round, id)
		}
		seen[id] = true
		want, err := ref.ReadNodes(ctx, []vmap.NodeID{id})
		if err != nil {
			return err
		}
		if got.Kind == vmap.KindEmpty || got.Kind != want[0].Kind || got.Hash != want[0].Hash ||
			got.Key != want[0].Key || string(got.Value) != string(want[0].Value) {
			t.Errorf("round %d: ScanMapNodes: node %s = %+v, want %+v", round, id, got, want[0])
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatalf("round %d: ScanMapNodes: %v", round, err)
	}
	if n != ref.Len() {
		t.Errorf("round %d: ScanMapNodes passed %d nodes, the map has %d", round, n, ref.Len())
	}
}
