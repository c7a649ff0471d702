package vmap

import (
	"crypto/sha256"

	"github.com/credlog/credlog/log/entry"
)

// Hash is a SHA-256 output: a node hash, a value hash or a map root. It is
// the same type as the MapRoot field of a map-root entry.
type Hash = entry.Hash

// Domain-separation prefixes of the two node hashes. Each is 20 bytes, so a
// leaf or interior hash input is 84 bytes: two SHA-256 blocks, the least
// that 64 bytes of payload need, so the prefixes cost nothing. They keep
// map nodes apart from RFC 6962 log nodes (0x00 and 0x01 prefixes) and
// from every other hash credlog computes.
const (
	LeafPrefix     = "credlog-map-leaf-v1\x00"
	InteriorPrefix = "credlog-map-node-v1\x00"
)

// EmptyHash is the hash of an empty subtree, at any depth, and so the root
// of the empty map: 32 zero bytes, which is no SHA-256 output anyone can
// find an input for.
var EmptyHash Hash

// ValueHash returns SHA-256(value), the value's contribution to its leaf.
func ValueHash(value []byte) Hash { return sha256.Sum256(value) }

// LeafHash returns the hash of the leaf holding key with a value whose
// ValueHash is vh: SHA-256(LeafPrefix || key || vh).
func LeafHash(key Key, vh Hash) Hash {
	var buf [len(LeafPrefix) + 64]byte
	n := copy(buf[:], LeafPrefix)
	n += copy(buf[n:], key[:])
	copy(buf[n:], vh[:])
	return sha256.Sum256(buf[:])
}

// InteriorHash returns the hash of an interior node from the hashes of its
// children: SHA-256(InteriorPrefix || left || right). Either child may be
// EmptyHash.
func InteriorHash(left, right Hash) Hash {
	var buf [len(InteriorPrefix) + 64]byte
	n := copy(buf[:], InteriorPrefix)
	n += copy(buf[n:], left[:])
	copy(buf[n:], right[:])
	return sha256.Sum256(buf[:])
}
