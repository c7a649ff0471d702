package vmap

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// proofSamples returns a map and, for each kind of proof, a key and its
// encoded proof.
func proofSamples(t *testing.T) (Hash, refMap, map[ProofKind][]Key) {
	t.Helper()
	g := newKeyGen(42, false)
	s, m := NewMemoryStore(), refMap{}
	d := apply(t, s, m, g.randomBatch(m, 300))
	tree := NewTree(s)
	kinds := make(map[ProofKind][]Key)
	for k := range m {
		kinds[ProofLeaf] = append(kinds[ProofLeaf], k)
		if len(kinds[ProofLeaf]) == 3 {
			break
		}
	}
	for len(kinds[ProofEmpty]) < 3 || len(kinds[ProofOtherLeaf]) < 3 {
		k := g.key()
		p, _, err := tree.Prove(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		kinds[p.Kind] = append(kinds[p.Kind], k)
	}
	return d.Root, m, kinds
}

// TestProofTampering flips every bit of proofs of each kind, truncates
// them at every length and extends them: no result proves the key's
// membership or its absence.
func TestProofTampering(t *testing.T) {
	root, m, kinds := proofSamples(t)
	tree := func() *Tree {
		s := NewMemoryStore()
		d, _ := NewTree(s).Update(context.Background(), mapUpdates(m))
		s.WriteNodes(context.Background(), d.Writes)
		return NewTree(s)
	}()
	for kind, keys := range kinds {
		for _, k := range keys {
			p, v, err := tree.Prove(context.Background(), k)
			if err != nil {
				t.Fatal(err)
			}
			enc, _ := p.Marshal()
			if v == nil {
				v = []byte("any value")
			}
			proves := func(b []byte) bool {
				return VerifyMembership(root, k, v, b) == nil || VerifyAbsence(root, k, b) == nil
			}
			if !proves(enc) {
				t.Fatalf("kind %d: untampered proof of %s does not verify", kind, k)
			}
			for i := range 8 * len(enc) {
				b := bytes.Clone(enc)
				b[i/8] ^= 0x80 >> (i % 8)
				if proves(b) {
					t.Fatalf("kind %d: proof of %s with bit %d flipped still verifies", kind, k, i)
				}
			}
			for n := range len(enc) {
				if proves(enc[:n]) {
					t.Fatalf("kind %d: proof of %s truncated to %d bytes verifies", kind, k, n)
				}
				if _, err := ParseProof(enc[:n]); !errors.Is(err, ErrMalformed) {
					t.Fatalf("kind %d: proof truncated to %d bytes parses: %v", kind, n, err)
				}
			}
			for _, extra := range [][]byte{{0}, {0xff}, make([]byte, 32), make([]byte, 64)} {
				if _, err := ParseProof(append(bytes.Clone(enc), extra...)); !errors.Is(err, ErrMalformed) {
					t.Fatalf("kind %d: proof with %d trailing bytes parses: %v", kind, len(extra), err)
				}
			}
		}
	}
}

func mapUpdates(m refMap) []Update {
	var ups []Update
	for k, v := range m {
		ups = append(ups, Update{Key: k, Value: v})
	}
	return ups
}

func TestParseProofRejectsNonCanonical(t *testing.T) {
	h := Hash{1}
	valid := func(kind ProofKind, sibs ...Hash) []byte {
		b, err := (&Proof{Kind: kind, Siblings: sibs}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	header := func(kind ProofKind, depth uint16, bitmap ...byte) []byte {
		b := make([]byte, proofHeaderSize)
		b[0], b[1], b[2] = byte(kind), byte(depth>>8), byte(depth)
		copy(b[3:], bitmap)
		return b
	}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	for name, b := range map[string][]byte{
		"empty":                      nil,
		"kind 0":                     header(0, 0),
		"kind 4":                     header(4, 0),
		"depth 257":                  header(ProofEmpty, 257),
		"bit at depth":               cat(header(ProofLeaf, 1, 0xc0), h[:], h[:]),
		"bit past depth in a byte":   cat(header(ProofLeaf, 9, 0x80, 0x40), h[:], h[:]),
		"deepest sibling empty":      header(ProofLeaf, 1),
		"deepest of two empty":       cat(header(ProofLeaf, 2, 0x80), h[:]),
		"listed empty hash":          cat(header(ProofLeaf, 2, 0xc0), h[:], make([]byte, 32)),
		"missing sibling":            header(ProofLeaf, 1, 0x80),
		"other leaf missing":         cat(header(ProofOtherLeaf, 1, 0x80), h[:]),
		"other leaf on a leaf proof": cat(valid(ProofLeaf, h), make([]byte, 64)),
		"oversized":                  make([]byte, MaxProofSize+1),
	} {
		if p, err := ParseProof(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: parsed as %+v, %v", name, p, err)
		}
	}
	// Marshal refuses what Parse would refuse.
	for name, p := range map[string]*Proof{
		"deepest sibling empty": {Kind: ProofEmpty, Siblings: []Hash{h, {}}},
		"kind 0":                {Siblings: []Hash{h}},
		"other key on a leaf":   {Kind: ProofLeaf, OtherKey: Key{1}},
		"too deep":              {Kind: ProofLeaf, Siblings: make([]Hash, KeyBits+1)},
	} {
		if _, err := p.Marshal(); !errors.Is(err, ErrMalformed) {
			t.Errorf("Marshal %s: %v", name, err)
		}
	}
	// The largest proof parses.
	sibs := make([]Hash, KeyBits)
	for i := range sibs {
		sibs[i] = h
	}
	b, err := (&Proof{Kind: ProofOtherLeaf, Siblings: sibs, OtherKey: Key{1}, OtherValueHash: h}).Marshal()
	if err != nil || len(b) != MaxProofSize {
		t.Fatalf("largest proof: %d bytes, %v", len(b), err)
	}
	if _, err := ParseProof(b); err != nil {
		t.Fatalf("largest proof: %v", err)
	}
}

func TestVerifyAbsenceRejectsOtherLeafOffPath(t *testing.T) {
	// A one-key map: the proof of absence of any other key is the
	// lone leaf, at depth 0. A proof that puts it deeper, off the
	// key's path, must fail even if it hashed correctly.
	a := Key{0x00, 1}
	vh := ValueHash([]byte("a"))
	root := LeafHash(a, vh)
	p, _ := (&Proof{Kind: ProofOtherLeaf, OtherKey: a, OtherValueHash: vh}).Marshal()
	if err := VerifyAbsence(root, Key{0x80}, p); err != nil {
		t.Fatalf("absence next to the only leaf: %v", err)
	}
	if err := VerifyAbsence(root, a, p); !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("absence of the leaf's own key: %v", err)
	}
	sib := Hash{9}
	root2 := InteriorHash(sib, LeafHash(a, vh))
	p2, _ := (&Proof{Kind: ProofOtherLeaf, Siblings: []Hash{sib}, OtherKey: a, OtherValueHash: vh}).Marshal()
	if err := VerifyAbsence(root2, Key{0x80}, p2); !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("other leaf off the path: %v", err)
	}
}
