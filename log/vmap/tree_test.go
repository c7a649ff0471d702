package vmap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// keyGen draws keys: uniformly, or clustered around a few bases so that
// keys share long prefixes, down to all 255 first bits.
type keyGen struct {
	rng   *rand.Rand
	bases []Key
}

func newKeyGen(seed uint64, clustered bool) *keyGen {
	g := &keyGen{rng: rand.New(rand.NewPCG(seed, 0x6b657973))}
	if clustered {
		for range 3 {
			g.bases = append(g.bases, g.uniform())
		}
	}
	return g
}

func (g *keyGen) uniform() Key {
	var k Key
	for i := 0; i < len(k); i += 8 {
		v := g.rng.Uint64()
		for j := range 8 {
			k[i+j] = byte(v >> (8 * j))
		}
	}
	return k
}

// key returns a uniform key or, for a clustered generator, often a base
// key with its bits from a random position on randomized.
func (g *keyGen) key() Key {
	k := g.uniform()
	if len(g.bases) == 0 {
		return k
	}
	b := g.bases[g.rng.IntN(len(g.bases))]
	var shared int
	switch g.rng.IntN(8) {
	case 0:
		shared = KeyBits - 1 - g.rng.IntN(12)
	case 1, 2:
		shared = g.rng.IntN(KeyBits)
	default:
		return k
	}
	p := PathID(b, shared).Prefix
	for i := shared; i < KeyBits; i++ {
		p[i/8] |= k[i/8] & (0x80 >> (i % 8))
	}
	return p
}

func (g *keyGen) value() []byte {
	v := make([]byte, 1+g.rng.IntN(120)) // some over the inline size of MemoryStore
	for i := range v {
		v[i] = byte(g.rng.Uint32())
	}
	return v
}

// randomBatch returns a batch of updates on m: inserts, overwrites,
// deletions of present keys and deletions of absent ones.
func (g *keyGen) randomBatch(m refMap, n int) []Update {
	present := make([]Key, 0, len(m))
	for k := range m {
		present = append(present, k)
	}
	slices.SortFunc(present, func(a, b Key) int { return a.Compare(b) })
	seen := make(map[Key]bool)
	var ups []Update
	for range n {
		var u Update
		switch op := g.rng.IntN(10); {
		case op < 5 || len(present) == 0:
			u = Update{Key: g.key(), Value: g.value()}
		case op < 7:
			u = Update{Key: present[g.rng.IntN(len(present))], Value: g.value()}
		case op < 9:
			u = Update{Key: present[g.rng.IntN(len(present))]}
		default:
			u = Update{Key: g.key()}
		}
		if !seen[u.Key] {
			seen[u.Key] = true
			ups = append(ups, u)
		}
	}
	return ups
}

func TestUpdateMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		seed      uint64
		clustered bool
	}{{1, false}, {2, false}, {3, true}, {4, true}, {5, true}} {
		t.Run(fmt.Sprintf("seed=%d/clustered=%v", tc.seed, tc.clustered), func(t *testing.T) {
			g := newKeyGen(tc.seed, tc.clustered)
			s, m := NewMemoryStore(), refMap{}
			tree := NewTree(s)
			prev := EmptyHash
			for batch := range 60 {
				n := g.rng.IntN(40)
				if batch%15 == 7 {
					n = 1200 // enough to fork goroutines
				}
				ups := g.randomBatch(m, n)
				d := apply(t, s, m, ups)
				if want := refRoot(m); d.Root != want || d.Base != prev {
					t.Fatalf("batch %d: diff from %x to %x, reference from %x to %x", batch, d.Base, d.Root, prev, want)
				}
				prev = d.Root
				seen := make(map[NodeID]bool)
				for _, w := range d.Writes {
					if seen[w.ID] {
						t.Fatalf("batch %d: two writes at %s", batch, w.ID)
					}
					seen[w.ID] = true
				}
				if r, err := tree.Root(context.Background()); err != nil || r != d.Root {
					t.Fatalf("batch %d: stored root %x, %v; diff root %x", batch, r, err, d.Root)
				}
				checkStore(t, s, m)
				checkProofs(t, g, tree, m, d.Root)
			}
		})
	}
}

// checkProofs proves present and absent keys and checks each proof, and
// each proof against other keys, with the verifiers.
func checkProofs(t *testing.T, g *keyGen, tree *Tree, m refMap, root Hash) {
	t.Helper()
	var keys []Key
	for k := range m {
		keys = append(keys, k)
		if len(keys) == 10 {
			break
		}
	}
	for range 10 {
		keys = append(keys, g.key())
	}
	proofs := make([][]byte, len(keys))
	for i, k := range keys {
		proofs[i] = checkProof(t, tree, m, root, k)
	}
	for i, a := range keys {
		for _, b := range keys {
			if a == b {
				continue
			}
			if err := VerifyMembership(root, b, m[a], proofs[i]); err == nil {
				t.Fatalf("proof of %s verifies membership of %s with %s's value", a, b, a)
			}
			if v, ok := m[b]; ok {
				if err := VerifyMembership(root, b, v, proofs[i]); err == nil {
					t.Fatalf("proof of %s verifies membership of %s", a, b)
				}
			}
			// An absence proof for a shows the absence of every key
			// under the same empty subtree or beside the same leaf;
			// it must never show the absence of a present key.
			if err := VerifyAbsence(root, b, proofs[i]); err == nil {
				if _, ok := m[b]; ok {
					t.Fatalf("proof of %s verifies the absence of present key %s", a, b)
				}
			}
		}
	}
}

func checkProof(t *testing.T, tree *Tree, m refMap, root Hash, k Key) []byte {
	t.Helper()
	p, v, err := tree.Prove(context.Background(), k)
	if err != nil {
		t.Fatalf("Prove(%s): %v", k, err)
	}
	enc, err := p.Marshal()
	if err != nil {
		t.Fatalf("Marshal proof of %s: %v", k, err)
	}
	q, err := ParseProof(enc)
	if err != nil || !reflect.DeepEqual(p, q) {
		t.Fatalf("proof of %s does not round-trip: %v", k, err)
	}
	nonEmpty := 0
	for _, s := range p.Siblings {
		if s != EmptyHash {
			nonEmpty++
		}
	}
	size := proofHeaderSize + 32*nonEmpty
	if p.Kind == ProofOtherLeaf {
		size += 64
	}
	if len(enc) != size {
		t.Fatalf("proof of %s is %d bytes, want %d", k, len(enc), size)
	}
	want, present := m[k]
	if present {
		if p.Kind != ProofLeaf || !bytes.Equal(v, want) {
			t.Fatalf("Prove(%s) = kind %d value %x, want the value %x", k, p.Kind, v, want)
		}
		if err := VerifyMembership(root, k, v, enc); err != nil {
			t.Fatalf("membership of %s: %v", k, err)
		}
		if err := VerifyMembership(root, k, append(bytes.Clone(v), 0), enc); !errors.Is(err, ErrInvalidProof) {
			t.Fatalf("membership of %s with another value: %v", k, err)
		}
		if err := VerifyAbsence(root, k, enc); !errors.Is(err, ErrInvalidProof) {
			t.Fatalf("membership proof of %s verifies its absence: %v", k, err)
		}
		return enc
	}
	if p.Kind == ProofLeaf || v != nil {
		t.Fatalf("Prove(absent %s) = kind %d value %x", k, p.Kind, v)
	}
	if err := VerifyAbsence(root, k, enc); err != nil {
		t.Fatalf("absence of %s: %v", k, err)
	}
	if err := VerifyMembership(root, k, []byte{1}, enc); !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("absence proof of %s verifies membership: %v", k, err)
	}
	return enc
}

func TestEmptyAndSingleton(t *testing.T) {
	ctx := context.Background()
	s, m := NewMemoryStore(), refMap{}
	tree := NewTree(s)
	if r, err := tree.Root(ctx); err != nil || r != EmptyHash {
		t.Fatalf("empty root %x, %v", r, err)
	}
	k := Key{0x80}
	checkProof(t, tree, m, EmptyHash, k)
	// An empty batch changes nothing.
	if d := apply(t, s, m, nil); d.Root != EmptyHash || len(d.Writes) != 0 {
		t.Fatalf("empty batch: %+v", d)
	}
	d := apply(t, s, m, []Update{{Key: k, Value: []byte("v")}})
	if want := LeafHash(k, ValueHash([]byte("v"))); d.Root != want {
		t.Fatalf("one-key root %x, want its leaf hash %x", d.Root, want)
	}
	p := checkProof(t, tree, m, d.Root, k)
	if len(p) != proofHeaderSize {
		t.Fatalf("one-key proof is %d bytes", len(p))
	}
	checkProof(t, tree, m, d.Root, Key{0x40})
	// Deleting the last key empties the store.
	if d := apply(t, s, m, []Update{{Key: k}}); d.Root != EmptyHash || s.Len() != 0 {
		t.Fatalf("after deleting the only key: root %x, %d nodes", d.Root, s.Len())
	}
}

func TestDeepestKeys(t *testing.T) {
	// Two keys that differ only in their last bit have their leaves at
	// depth 256, under 255 interior nodes with one empty child each.
	var a, b Key
	for i := range a {
		a[i] = 0x5a
	}
	b = a
	b[31] ^= 1
	s, m := NewMemoryStore(), refMap{}
	tree := NewTree(s)
	d := apply(t, s, m, []Update{{Key: a, Value: []byte("a")}, {Key: b, Value: []byte("b")}})
	if d.Root != refRoot(m) {
		t.Fatal("root differs from the reference")
	}
	checkStore(t, s, m)
	p, _, err := tree.Prove(context.Background(), a)
	if err != nil || len(p.Siblings) != KeyBits {
		t.Fatalf("proof of a depth-256 leaf: %d siblings, %v", len(p.Siblings), err)
	}
	enc := checkProof(t, tree, m, d.Root, a)
	if len(enc) != proofHeaderSize+32 {
		t.Fatalf("proof with one non-empty sibling is %d bytes", len(enc))
	}
	c := a
	c[31] ^= 2
	checkProof(t, tree, m, d.Root, c)
	// Removing one lifts the other back to the root.
	if d := apply(t, s, m, []Update{{Key: b}}); d.Root != LeafHash(a, ValueHash([]byte("a"))) || s.Len() != 1 {
		t.Fatalf("after deleting b: root %x, %d nodes", d.Root, s.Len())
	}
	checkStore(t, s, m)
}

// TestProveReadsPastItsHint proves, with one Tree, keys of a map of
// random keys until its first read is sized for them, then keys whose
// paths go much deeper (to depth 256): the proofs must be those of a
// fresh Tree, whatever the first read missed.
func TestProveReadsPastItsHint(t *testing.T) {
	g := newKeyGen(7, false)
	s, m := NewMemoryStore(), refMap{}
	apply(t, s, m, g.randomBatch(m, 2000))
	var a Key
	for i := range a {
		a[i] = 0xc3
	}
	b, c := a, a
	b[31] ^= 1
	c[20] ^= 1
	d := apply(t, s, m, []Update{{Key: a, Value: []byte("a")}, {Key: b, Value: []byte("b")}, {Key: c, Value: []byte("c")}})
	tree := NewTree(s)
	for range 300 {
		checkProof(t, tree, m, d.Root, g.key())
	}
	if first := tree.firstChunk(); first >= proveChunk {
		t.Fatalf("after 300 proofs in a map of %d keys, Prove first reads %d levels", len(m), first)
	}
	for _, k := range []Key{a, b, c, g.key(), a} {
		got := checkProof(t, tree, m, d.Root, k)
		p, _, err := NewTree(s).Prove(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := p.Marshal(); !bytes.Equal(got, want) {
			t.Fatalf("proof of %s differs from a fresh Tree's", k)
		}
	}
}

func TestUpdateRejectsRepeatedKey(t *testing.T) {
	_, err := NewTree(NewMemoryStore()).Update(context.Background(), []Update{{Key: Key{1}, Value: []byte{1}}, {Key: Key{1}}})
	if err == nil {
		t.Fatal("a batch that updates a key twice was accepted")
	}
}

func TestUpdateDoesNotKeepCallerBuffers(t *testing.T) {
	s, m := NewMemoryStore(), refMap{}
	v := []byte("value")
	apply(t, s, m, []Update{{Key: Key{1}, Value: v}, {Key: Key{2}, Value: []byte("x")}})
	m[Key{1}] = bytes.Clone(v)
	v[0] = 'X'
	checkStore(t, s, m)
}
