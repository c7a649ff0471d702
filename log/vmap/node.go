package vmap

import (
	"context"
	"fmt"
)

// NodeID names a position in the tree: a depth, 0 (the root) to 256, and
// the first Depth bits of the keys below it. Bits of Prefix at and after
// Depth are zero, so that every position has one NodeID and NodeIDs can be
// compared with ==.
type NodeID struct {
	Depth  uint16
	Prefix Key
}

// RootID is the position of the root.
var RootID = NodeID{}

// PathID returns the position at depth on key's path.
func PathID(key Key, depth int) NodeID {
	id := NodeID{Depth: uint16(depth)}
	n := copy(id.Prefix[:], key[:depth/8])
	if r := depth % 8; r != 0 {
		id.Prefix[n] = key[n] & (0xff << (8 - r))
	}
	return id
}

// Child returns the position of the child on side bit (0 left, 1 right).
func (id NodeID) Child(bit uint8) NodeID {
	c := NodeID{Depth: id.Depth + 1, Prefix: id.Prefix}
	if bit == 1 {
		c.Prefix[id.Depth/8] |= 0x80 >> (id.Depth % 8)
	}
	return c
}

// Sibling returns the other child of the position's parent. The root has
// no sibling: Sibling must not be called on RootID.
func (id NodeID) Sibling() NodeID {
	d := id.Depth - 1
	s := id
	s.Prefix[d/8] ^= 0x80 >> (d % 8)
	return s
}

// Contains reports whether key is below the position (starts with its
// prefix).
func (id NodeID) Contains(key Key) bool { return PathID(key, int(id.Depth)) == id }

// PrefixBytes returns the first ceil(Depth/8) bytes of Prefix: with Depth,
// the canonical storage form of the position (see [ParseNodeID]).
func (id NodeID) PrefixBytes() []byte { return id.Prefix[:(int(id.Depth)+7)/8] }

// Compare orders positions by depth, then by prefix: the order of
// Diff.Writes.
func (id NodeID) Compare(o NodeID) int {
	if id.Depth != o.Depth {
		return int(id.Depth) - int(o.Depth)
	}
	return id.Prefix.Compare(o.Prefix)
}

func (id NodeID) String() string { return fmt.Sprintf("%d/%x", id.Depth, id.PrefixBytes()) }

// ParseNodeID returns the position of the given depth whose PrefixBytes are
// prefix. It rejects a prefix of the wrong length or with bits set at or
// after depth.
func ParseNodeID(depth int, prefix []byte) (NodeID, error) {
	if depth < 0 || depth > KeyBits {
		return NodeID{}, malformed("node depth %d not in 0..%d", depth, KeyBits)
	}
	if len(prefix) != (depth+7)/8 {
		return NodeID{}, malformed("node prefix of depth %d is %d bytes", depth, len(prefix))
	}
	var k Key
	copy(k[:], prefix)
	id := PathID(k, depth)
	if id.Prefix != k {
		return NodeID{}, malformed("node prefix %x has bits set after depth %d", prefix, depth)
	}
	return id, nil
}

// NodeKind is the kind of a stored node.
type NodeKind uint8

// Node kinds. The values are part of the storage encoding of nodes.
const (
	KindEmpty    NodeKind = 0 // nothing stored: an empty subtree
	KindInterior NodeKind = 1 // a subtree with two or more leaves
	KindLeaf     NodeKind = 2 // a subtree with exactly one leaf
)

// Node is what the tree stores at one position. The zero Node is the
// empty subtree.
//
// The tree is canonical: a subtree with no key is empty and stores
// nothing; a subtree with exactly one key is that key's leaf, stored at
// the subtree's position (not at depth 256); a subtree with two or more
// keys is an interior node, which stores only its hash. So the store holds
// one leaf per key and one interior node per position with at least two
// keys below it, about 1.44 per key for random keys.
type Node struct {
	Kind  NodeKind
	Hash  Hash   // EmptyHash, InteriorHash of the children, or LeafHash
	Key   Key    // leaves only
	Value []byte // leaves only; never empty
}

// NewLeaf returns the leaf node of key with value.
func NewLeaf(key Key, value []byte) Node {
	return Node{Kind: KindLeaf, Hash: LeafHash(key, ValueHash(value)), Key: key, Value: value}
}

// same reports whether a and b are the same subtree.
func same(a, b Node) bool { return a.Kind == b.Kind && a.Hash == b.Hash }

// MarshalNode returns the storage encoding of a non-empty node:
//
//	interior: 0x01 || hash                 (33 bytes)
//	leaf:     0x02 || key || value         (33 + len(value) bytes)
//
// A leaf's hash is not stored: ParseNode recomputes it.
func MarshalNode(n Node) ([]byte, error) {
	switch n.Kind {
	case KindInterior:
		return append([]byte{byte(KindInterior)}, n.Hash[:]...), nil
	case KindLeaf:
		if len(n.Value) == 0 {
			return nil, malformed("leaf %s has an empty value", n.Key)
		}
		b := make([]byte, 0, 33+len(n.Value))
		b = append(b, byte(KindLeaf))
		b = append(b, n.Key[:]...)
		return append(b, n.Value...), nil
	}
	return nil, malformed("node of kind %d is not stored", n.Kind)
}

// ParseNode decodes the storage encoding of the node stored at id, and
// checks that it may be there: an interior node above depth 256 with a
// hash that is not EmptyHash, or a leaf whose key is below id.
func ParseNode(id NodeID, b []byte) (Node, error) {
	if len(b) < 33 {
		return Node{}, malformed("stored node at %s is %d bytes", id, len(b))
	}
	switch NodeKind(b[0]) {
	case KindInterior:
		n := Node{Kind: KindInterior, Hash: Hash(b[1:])}
		if len(b) != 33 {
			return Node{}, malformed("stored interior node at %s is %d bytes", id, len(b))
		}
		return n, checkNode(id, n)
	case KindLeaf:
		if len(b) == 33 {
			return Node{}, malformed("stored leaf at %s has an empty value", id)
		}
		n := NewLeaf(Key(b[1:33]), append([]byte(nil), b[33:]...))
		return n, checkNode(id, n)
	}
	return Node{}, malformed("stored node at %s has kind %d", id, b[0])
}

// checkNode reports whether n may be stored at id.
func checkNode(id NodeID, n Node) error {
	switch n.Kind {
	case KindEmpty:
		return nil
	case KindInterior:
		if id.Depth >= KeyBits || n.Hash == EmptyHash {
			return fmt.Errorf("%w at %s", ErrCorrupt, id)
		}
		return nil
	case KindLeaf:
		if !id.Contains(n.Key) || len(n.Value) == 0 {
			return fmt.Errorf("%w: leaf of key %s at %s", ErrCorrupt, n.Key, id)
		}
		return nil
	}
	return fmt.Errorf("%w: node of kind %d at %s", ErrCorrupt, n.Kind, id)
}

// NodeWrite is one change to a store: Node at ID, or, if Node is empty,
// the removal of whatever is stored at ID.
type NodeWrite struct {
	ID   NodeID
	Node Node
}

// NodeReader reads the nodes of one tree.
//
// ReadNodes returns the nodes stored at ids, in the same order; a position
// where nothing is stored is the zero Node. Every call made during one
// [Tree.Update] or [Tree.Prove] must see the same tree: a store that
// commits while a proof is built must read from a snapshot (one read
// transaction). ReadNodes may be called concurrently.
//
// ReadNodes is called with one set of positions per tree level touched, so
// that a database answers a whole level in one query.
type NodeReader interface {
	ReadNodes(ctx context.Context, ids []NodeID) ([]Node, error)
}

// NodeWriter stores nodes.
//
// WriteNodes stores every write of a [Diff] at once: when it returns nil
// the writes are durable (for a durable store) and visible to ReadNodes;
// after an error none of them are. A log does not call it: it writes a
// Diff inside the same transaction as the batch of entries it belongs to.
type NodeWriter interface {
	WriteNodes(ctx context.Context, writes []NodeWrite) error
}
