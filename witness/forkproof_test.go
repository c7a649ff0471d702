package witness

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
)

// TestPriorRoot checks priorRoot against a reference tree: for every pair
// of sizes, a correct proof implies the tree's real root at the old size,
// and a tampered proof implies nothing.
func TestPriorRoot(t *testing.T) {
	tree := testonly.New(rfc6962.DefaultHasher)
	for i := range 70 {
		tree.AppendData([]byte{byte(i)})
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for n := uint64(2); n <= 70; n++ {
		for m := uint64(1); m < n; m++ {
			p, err := tree.ConsistencyProof(m, n)
			if err != nil {
				t.Fatal(err)
			}
			root, ok := priorRoot(m, n, p, tree.HashAt(n))
			if m&(m-1) == 0 {
				if ok {
					t.Fatalf("%d→%d: a power-of-two old size implied a root", m, n)
				}
				continue
			}
			if !ok || !bytes.Equal(root, tree.HashAt(m)) {
				t.Fatalf("%d→%d: implied root %x, %v; want %x", m, n, root, ok, tree.HashAt(m))
			}
			bad := make([][]byte, len(p))
			for i := range p {
				bad[i] = bytes.Clone(p[i])
			}
			k := rnd.IntN(len(bad))
			bad[k][rnd.IntN(32)] ^= 1 << rnd.IntN(8)
			if _, ok := priorRoot(m, n, bad, tree.HashAt(n)); ok {
				t.Fatalf("%d→%d: a tampered proof implied a root", m, n)
			}
			if _, ok := priorRoot(m, n, p[:len(p)-1], tree.HashAt(n)); ok && len(p) > 1 {
				t.Fatalf("%d→%d: a truncated proof implied a root", m, n)
			}
		}
	}
}
