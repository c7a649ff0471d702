package vmap

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
)

// ProofKind says what a proof's path ends at.
type ProofKind uint8

// Proof kinds. Their values are the first byte of a proof's encoding.
const (
	// ProofLeaf: the path ends at the leaf of the key proved. A
	// membership proof.
	ProofLeaf ProofKind = 1
	// ProofEmpty: the path ends at an empty subtree. An absence proof.
	ProofEmpty ProofKind = 2
	// ProofOtherLeaf: the path ends at the leaf of another key, whose
	// subtree therefore holds no other key. An absence proof.
	ProofOtherLeaf ProofKind = 3
)

const (
	proofHeaderSize = 1 + 2 + 32
	// MaxProofSize is the size of the largest valid proof: a path to
	// depth 256 with no empty sibling, ending at another key's leaf.
	MaxProofSize = proofHeaderSize + KeyBits*32 + 64
)

// Proof is a path from the root to the node where a key's search ends:
// its leaf (membership) or, for a key not in the map, an empty subtree or
// another key's leaf (absence).
//
// Encoding:
//
//	uint8     kind           1 ProofLeaf, 2 ProofEmpty, 3 ProofOtherLeaf
//	uint16    depth          d, the depth of the node the path ends at, 0..256
//	[32]byte  bitmap         bit i (bit 7-i%8 of byte i/8) is set iff
//	                         Siblings[i] is not EmptyHash; bits >= d are 0
//	[32]byte  siblings…      the non-empty siblings, in order of level
//	[32]byte  other key      ProofOtherLeaf only
//	[32]byte  other value    ProofOtherLeaf only: ValueHash of its value
//
// It is canonical, since the tree is: if d > 0, bit d-1 is set (a node
// whose sibling is empty would have been stored one level up), and a hash
// listed is never EmptyHash.
type Proof struct {
	Kind ProofKind
	// Siblings[i] is the hash of the sibling at level i: the child, at
	// depth i+1, of the path's node at depth i that is off the path.
	// len(Siblings) is the depth the path ends at.
	Siblings []Hash
	// OtherKey and OtherValueHash are the key and ValueHash of the leaf
	// the path ends at, for ProofOtherLeaf.
	OtherKey       Key
	OtherValueHash Hash
}

func (p *Proof) check() error {
	d := len(p.Siblings)
	if d > KeyBits {
		return malformed("proof depth %d is over %d", d, KeyBits)
	}
	if p.Kind < ProofLeaf || p.Kind > ProofOtherLeaf {
		return malformed("unknown proof kind %d", p.Kind)
	}
	if d > 0 && p.Siblings[d-1] == EmptyHash {
		return malformed("proof's deepest sibling, at level %d, is empty", d-1)
	}
	if p.Kind != ProofOtherLeaf && (p.OtherKey != Key{} || p.OtherValueHash != Hash{}) {
		return malformed("proof of kind %d carries another leaf", p.Kind)
	}
	return nil
}

// Marshal returns the canonical encoding of p, or an error wrapping
// ErrMalformed if p has none.
func (p *Proof) Marshal() ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	b := make([]byte, proofHeaderSize, proofHeaderSize+32*len(p.Siblings)+64)
	b[0] = byte(p.Kind)
	binary.BigEndian.PutUint16(b[1:], uint16(len(p.Siblings)))
	for i, s := range p.Siblings {
		if s != EmptyHash {
			b[3+i/8] |= 0x80 >> (i % 8)
			b = append(b, s[:]...)
		}
	}
	if p.Kind == ProofOtherLeaf {
		b = append(b, p.OtherKey[:]...)
		b = append(b, p.OtherValueHash[:]...)
	}
	return b, nil
}

// ParseProof decodes a proof, accepting only the canonical encoding that
// Marshal produces: every error wraps ErrMalformed.
func ParseProof(b []byte) (*Proof, error) {
	if len(b) < proofHeaderSize {
		return nil, malformed("proof is %d bytes, shorter than its %d-byte header", len(b), proofHeaderSize)
	}
	if len(b) > MaxProofSize {
		return nil, malformed("proof is %d bytes, over %d", len(b), MaxProofSize)
	}
	p := &Proof{Kind: ProofKind(b[0])}
	d := int(binary.BigEndian.Uint16(b[1:]))
	if d > KeyBits {
		return nil, malformed("proof depth %d is over %d", d, KeyBits)
	}
	bitmap := b[3:proofHeaderSize]
	count := 0
	for i, x := range bitmap {
		if i*8+8 > d && x&(0xff>>max(0, d-i*8)) != 0 {
			return nil, malformed("proof bitmap has bits set at or after depth %d", d)
		}
		count += bits.OnesCount8(x)
	}
	want := proofHeaderSize + 32*count
	if p.Kind == ProofOtherLeaf {
		want += 64
	}
	if len(b) != want {
		return nil, malformed("proof is %d bytes, its kind and bitmap say %d", len(b), want)
	}
	rest := b[proofHeaderSize:]
	if d > 0 {
		p.Siblings = make([]Hash, d)
	}
	for i := range d {
		if bitmap[i/8]&(0x80>>(i%8)) != 0 {
			p.Siblings[i] = Hash(rest[:32])
			rest = rest[32:]
			if p.Siblings[i] == EmptyHash {
				return nil, malformed("proof lists EmptyHash for level %d instead of clearing its bit", i)
			}
		}
	}
	if p.Kind == ProofOtherLeaf {
		p.OtherKey, p.OtherValueHash = Key(rest[:32]), Hash(rest[32:64])
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	return p, nil
}

// root returns the root that the path computes from the hash of the node
// it ends at, for key.
func (p *Proof) root(key Key, h Hash) Hash {
	for i := len(p.Siblings) - 1; i >= 0; i-- {
		if key.Bit(i) == 0 {
			h = InteriorHash(h, p.Siblings[i])
		} else {
			h = InteriorHash(p.Siblings[i], h)
		}
	}
	return h
}

// proveChunk is how many levels Prove reads at once: one round trip to
// the store unless the path is deeper, which in a map of 2^30 random keys
// happens for one key in a thousand.
const proveChunk = 40

// proveMargin is how many levels past the mean depth of its paths so far
// a Tree's Prove reads first. The depths of the paths of random keys
// spread by a level or two about their mean, so that a few proofs in a
// hundred need a second read; with proveChunk levels, most of the
// positions read would be below the path's end, in a map of a few
// million keys as in one of a billion.
const proveMargin = 4

// firstChunk returns how many levels Prove reads first.
func (t *Tree) firstChunk() int {
	if m := t.proofDepth.Load(); m > 0 {
		return min(int(m+15)/16+proveMargin, proveChunk)
	}
	return proveChunk
}

// recordDepth folds the depth at which a proof's path ended into the
// Tree's running mean (weight 1/8, in sixteenths).
func (t *Tree) recordDepth(depth int) {
	d := int32(min(depth, proveChunk)) * 16
	for {
		m := t.proofDepth.Load()
		next := d
		if m > 0 {
			next = m + (d-m)/8
		}
		if next == m || t.proofDepth.CompareAndSwap(m, next) {
			return
		}
	}
}

// Prove returns the proof of key's value, or of its absence, and the value
// (nil if key is absent).
func (t *Tree) Prove(ctx context.Context, key Key) (*Proof, []byte, error) {
	p := &Proof{}
	chunk := t.firstChunk()
	for depth := 0; ; {
		// The path's nodes and their siblings from depth on, read at
		// once; some of them are usually not needed.
		end := min(depth+chunk, KeyBits+1)
		chunk = proveChunk
		ids := make([]NodeID, 0, 2*(end-depth))
		for d := depth; d < end; d++ {
			ids = append(ids, PathID(key, d))
			if d > 0 {
				ids = append(ids, PathID(key, d).Sibling())
			} else {
				ids = append(ids, RootID) // a placeholder, to keep pairs
			}
		}
		nodes, err := t.r.ReadNodes(ctx, ids)
		if err != nil {
			return nil, nil, fmt.Errorf("couldn't read map nodes for key %s: %w", key, err)
		}
		if len(nodes) != len(ids) {
			return nil, nil, fmt.Errorf("vmap: store returned %d nodes for %d positions", len(nodes), len(ids))
		}
		for i := 0; depth < end; i, depth = i+1, depth+1 {
			n := nodes[2*i]
			if err := checkNode(ids[2*i], n); err != nil {
				return nil, nil, err
			}
			if depth > 0 {
				sib := nodes[2*i+1]
				if err := checkNode(ids[2*i+1], sib); err != nil {
					return nil, nil, err
				}
				if err := checkChildren(PathID(key, depth-1), n, sib); err != nil {
					return nil, nil, err
				}
				p.Siblings = append(p.Siblings, sib.Hash)
			}
			if n.Kind != KindInterior {
				t.recordDepth(depth)
				return finish(p, key, n)
			}
		}
	}
}

// finish completes a proof whose path ends at n.
func finish(p *Proof, key Key, n Node) (*Proof, []byte, error) {
	var value []byte
	switch {
	case n.Kind == KindEmpty:
		p.Kind = ProofEmpty
	case n.Key == key:
		p.Kind, value = ProofLeaf, n.Value
	default:
		p.Kind, p.OtherKey, p.OtherValueHash = ProofOtherLeaf, n.Key, ValueHash(n.Value)
	}
	if err := p.check(); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return p, value, nil
}
