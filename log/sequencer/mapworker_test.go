package sequencer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/credlog/credlog/log/storage/sqlite"
	"github.com/credlog/credlog/log/vmap"
)

// TestMapWorkerDiffNotCommitted checks the map worker's overlay against a
// reference map updated all at once, through map-root entries that
// commit and some that do not: after a diff that was not committed, the
// overlay (sorted in place by diff) goes on, with keys updated again.
// The worker applies batches whole, and in chunks of a few keys.
//
// With SQLite as the store, the keys share their first 24 bits in groups,
// so that the worker reads the positions below depth 18 from the leaves
// (vmap.SubtreeReader), under an overlay that holds some of them.
func TestMapWorkerDiffNotCommitted(t *testing.T) {
	for _, chunk := range []int{mapApplyChunk, 7} {
		t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
			testMapWorkerDiffNotCommitted(t, chunk, vmap.NewMemoryStore(), 0)
		})
		t.Run(fmt.Sprintf("sqlite/chunk=%d", chunk), func(t *testing.T) {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "map.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			testMapWorkerDiffNotCommitted(t, chunk, s, 3)
		})
	}
}

// mapStore is a store the map worker's test writes its diffs to.
type mapStore interface {
	vmap.NodeReader
	vmap.NodeWriter
}

// testMapWorkerDiffNotCommitted runs the test on store, with keys whose
// first shared bytes are zero, and the next two of a small pool.
func testMapWorkerDiffNotCommitted(t *testing.T, chunk int, store mapStore, shared int) {
	ctx := context.Background()
	w := newMapWorker(vmap.NewCache(store, 6))
	w.chunk = chunk
	if _, err := w.init(ctx); err != nil {
		t.Fatal(err)
	}
	go w.run(ctx)
	defer w.close()

	ref := vmap.NewMemoryStore()
	refTree := vmap.NewTree(ref)
	rnd := rand.New(rand.NewPCG(1, 2))
	var pending vmap.Pending // every update since the stored map
	for step := range 12 {
		// A few batches of updates to keys of a small pool, so that
		// keys in the overlay are written again.
		for range 3 {
			seen := make(map[vmap.Key]bool)
			var ups []vmap.Update
			for range 150 {
				var k vmap.Key
				k[shared], k[shared+1] = byte(rnd.IntN(8)), byte(rnd.IntN(64))
				if shared > 0 {
					k[0] = byte(rnd.IntN(2)) // two groups of keys that share their first 24 bits
				}
				if seen[k] {
					continue
				}
				seen[k] = true
				ups = append(ups, vmap.Update{Key: k, Value: fmt.Appendf(nil, "value %d %d", step, rnd.IntN(1000))})
			}
			w.add(ups)
			pending.AddUpdates(ups)
		}
		d, err := w.diff()
		if err != nil {
			t.Fatal(err)
		}
		want, err := refTree.Update(ctx, pending.Updates())
		if err != nil {
			t.Fatal(err)
		}
		if d.Base != want.Base || d.Root != want.Root {
			t.Fatalf("step %d: overlay diff %x → %x, want %x → %x", step, d.Base, d.Root, want.Base, want.Root)
		}
		got := slices.Clone(d.Writes)
		slices.SortFunc(want.Writes, func(a, b vmap.NodeWrite) int { return a.ID.Compare(b.ID) })
		if len(got) != len(want.Writes) {
			t.Fatalf("step %d: overlay holds %d writes, want %d", step, len(got), len(want.Writes))
		}
		for i := range got {
			if got[i].ID != want.Writes[i].ID || got[i].Node.Kind != want.Writes[i].Node.Kind || got[i].Node.Hash != want.Writes[i].Node.Hash {
				t.Fatalf("step %d: write %d is %s %x, want %s %x", step, i, got[i].ID, got[i].Node.Hash, want.Writes[i].ID, want.Writes[i].Node.Hash)
			}
		}
		if step%3 != 2 {
			continue // the map-root entry did not commit: the overlay goes on
		}
		if err := store.WriteNodes(ctx, d.Writes); err != nil {
			t.Fatal(err)
		}
		w.committed(d)
		if err := ref.WriteNodes(ctx, want.Writes); err != nil {
			t.Fatal(err)
		}
		pending.Reset()
	}
}
