package api

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"

	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/storage/sqlite"
	"github.com/credlog/credlog/log/tiles"
)

// TestProver checks the server's proofs over a stored tree with three
// levels of tiles: at random sizes (partial tiles at every level) and
// indices, each inclusion and consistency proof verifies against the root
// of the tree at that size (computed from the leaves, not the tiles), and
// equals the proof of tessera's client.ProofBuilder over the same tiles.
func TestProver(t *testing.T) {
	const n = 66_000 // > 256², so tiles of level 2 exist
	ctx := context.Background()
	st, leaves := storedTree(t, n)
	// The root of the tree of each size, from the leaves.
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	roots := make([][]byte, n+1)
	cr := rf.NewEmptyRange(0)
	roots[0] = rfc6962.DefaultHasher.EmptyRoot()
	for i, l := range leaves {
		err := cr.Append(l, nil)
		if err == nil {
			roots[i+1], err = cr.GetRootHash(nil)
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	s := &Server{store: st, tiles: newTileCache(DefaultReadCache), nodes: newNodeCache(DefaultReadCache / nodeCacheShare)}
	fetch := func(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
		return s.tiles.readWidth(ctx, st, level, index, p)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []uint64{1, 2, 255, 256, 257, 65535, 65536, 65537, n}
	for range 60 {
		sizes = append(sizes, 1+rng.Uint64N(n))
	}
	for _, size := range sizes {
		p := s.proverAt(size, nil)
		ref, err := client.NewProofBuilder(ctx, size, fetch)
		if err != nil {
			t.Fatal(err)
		}
		for _, index := range []uint64{0, size - 1, rng.Uint64N(size), rng.Uint64N(size)} {
			got, err := p.inclusion(ctx, index)
			if err != nil {
				t.Fatalf("inclusion %d in %d: %v", index, size, err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leaves[index], got, roots[size]); err != nil {
				t.Fatalf("inclusion %d in %d does not verify: %v", index, size, err)
			}
			want, err := ref.InclusionProof(ctx, index)
			if err != nil || !equalHashes(got, want) {
				t.Fatalf("inclusion %d in %d differs from tessera's (%v)", index, size, err)
			}
		}
		for _, old := range []uint64{0, 1, size, rng.Uint64N(size + 1), rng.Uint64N(size + 1)} {
			got, err := p.consistency(ctx, old)
			if err != nil {
				t.Fatalf("consistency %d→%d: %v", old, size, err)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old, size, got, roots[old], roots[size]); err != nil {
				t.Fatalf("consistency %d→%d does not verify: %v", old, size, err)
			}
			want, err := ref.ConsistencyProof(ctx, old, size)
			if err != nil || !equalHashes(got, want) {
				t.Fatalf("consistency %d→%d differs from tessera's (%v)", old, size, err)
			}
		}
	}
	if _, err := s.proverAt(n, nil).inclusion(ctx, n); err == nil {
		t.Error("inclusion of an index beyond the tree: no error")
	}
	if _, err := s.proverAt(n+1, nil).inclusion(ctx, n); err == nil {
		t.Error("inclusion in a tree larger than the stored one: no error")
	}
}

// storedTree stores a tree of n entries in SQLite and returns the storage
// and the leaf hashes.
func storedTree(t testing.TB, n int) (storage.Storage, [][]byte) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b, err := tiles.NewBuilder(0, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var leaves [][]byte
	for start := 0; start < n; start += 4096 {
		var data [][]byte
		var entries []storage.Entry
		for i := start; i < min(start+4096, n); i++ {
			e := fmt.Appendf(nil, "entry %d", i)
			data = append(data, e)
			leaves = append(leaves, rfc6962.DefaultHasher.HashLeaf(e))
			entries = append(entries, storage.Entry{Index: uint64(i), LeafHash: tiles.LeafHash(e), Issuer: "i"})
		}
		u, err := b.Append(data)
		if err != nil {
			t.Fatal(err)
		}
		sb := &storage.Batch{Start: uint64(start), Entries: entries}
		sb.SetTree(u)
		if err := st.Commit(ctx, sb); err != nil {
			t.Fatal(err)
		}
	}
	return st, leaves
}

// BenchmarkInclusionProof builds inclusion proofs at random indices of a
// stored tree of 100,000 entries, with the server's prover and with
// tessera's client.ProofBuilder (one per proof, as the server used it),
// both over the same tile cache.
func BenchmarkInclusionProof(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	st, _ := storedTree(b, n)
	s := &Server{store: st, tiles: newTileCache(DefaultReadCache), nodes: newNodeCache(DefaultReadCache / nodeCacheShare)}
	fetch := func(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
		return s.tiles.readWidth(ctx, st, level, index, p)
	}
	b.Run("prover", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		for b.Loop() {
			if _, err := s.proverAt(n, nil).inclusion(ctx, rng.Uint64N(n)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tessera", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		for b.Loop() {
			pb, err := client.NewProofBuilder(ctx, n, fetch)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := pb.InclusionProof(ctx, rng.Uint64N(n)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func equalHashes(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
