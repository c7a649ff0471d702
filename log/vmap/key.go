package vmap

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"

	"github.com/credlog/credlog/log/entry"
)

// KeyBits is the length of a key in bits, and the greatest depth of a node.
const KeyBits = 256

// Key is a 256-bit map key. Bit 0 is the most significant bit of byte 0;
// bit i chooses the child of the node at depth i on the key's path (0 is
// left, 1 is right).
type Key [32]byte

// Bit returns bit i of k, 0 or 1.
func (k Key) Bit(i int) uint8 { return k[i/8] >> (7 - uint(i%8)) & 1 }

// Compare orders keys as unsigned 256-bit big-endian integers, which is
// also the left-to-right order of their leaves.
func (k Key) Compare(o Key) int { return bytes.Compare(k[:], o[:]) }

func (k Key) String() string { return hex.EncodeToString(k[:]) }

// Key derivation prefixes.
const (
	CredentialKeyPrefix = "credlog-map-credential-v1\x00"
	SubjectKeyPrefix    = "credlog-map-subject-v1\x00"
)

// CredentialKey returns the key of credential id of issuer:
//
//	SHA-256(CredentialKeyPrefix || id || issuer)
//
// DESIGN.md §8 writes H("credential" || credential ID). The issuer is
// added because the state rules keep credentials per issuer: two issuers
// may each log the same credential ID, and without the issuer in the key
// one of them could overwrite the other's status in the map. The
// fixed-length ID comes first so that the issuer, last, needs no length
// prefix: the encoding is injective for names of any length.
func CredentialKey(issuer string, id entry.Hash) Key {
	return derive(CredentialKeyPrefix, id, issuer)
}

// SubjectKey returns the key of subject label of issuer:
//
//	SHA-256(SubjectKeyPrefix || label || issuer)
//
// (DESIGN.md §8: H("subject" || issuer || subject label), with the
// fixed-length label first, as in [CredentialKey].)
func SubjectKey(issuer string, label entry.Hash) Key {
	return derive(SubjectKeyPrefix, label, issuer)
}

func derive(prefix string, h entry.Hash, issuer string) Key {
	d := sha256.New()
	d.Write([]byte(prefix))
	d.Write(h[:])
	d.Write([]byte(issuer))
	var k Key
	d.Sum(k[:0])
	return k
}
