package witness

import (
	"bytes"
	"math/bits"

	"github.com/transparency-dev/merkle/rfc6962"
)

// priorRoot runs the consistency proof verification of RFC 9162, Section
// 2.1.4.2, from size m to size n, and returns the root hash of size m that
// the proof implies, when the proof is correct for the tree of root
// newRoot. It is hand-written because transparency-dev/merkle only
// answers whether a proof verifies against both roots, and a witness needs
// the implied old root to turn a correct proof that contradicts a
// cosigned checkpoint into evidence.
//
// It returns ok = false when the proof does not reproduce newRoot (a
// garbage proof proves nothing), or when m is a power of two (the proof
// then does not commit to the old root: it is taken as given).
func priorRoot(m, n uint64, proof [][]byte, newRoot []byte) (root []byte, ok bool) {
	if m == 0 || m >= n || len(proof) == 0 || m&(m-1) == 0 {
		return nil, false
	}
	h := rfc6962.DefaultHasher
	fn, sn := m-1, n-1
	// Skip the levels where the old tree's last node is a right child
	// of a perfect subtree: the first proof element covers them.
	shift := bits.TrailingZeros64(^fn)
	fn >>= shift
	sn >>= shift
	fr, sr := proof[0], proof[0]
	for _, c := range proof[1:] {
		if len(c) != h.Size() || sn == 0 {
			return nil, false
		}
		if fn&1 == 1 || fn == sn {
			fr = h.HashChildren(c, fr)
			sr = h.HashChildren(c, sr)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			sr = h.HashChildren(sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 || !bytes.Equal(sr, newRoot) {
		return nil, false
	}
	return fr, true
}
