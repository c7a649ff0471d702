// Package keys reads and writes the key forms credlog uses.
//
// Signing keys are Ed25519 keys in the C2SP signed-note text forms: the
// private key "PRIVATE+KEY+<name>+<id>+<base64>" and the verifier key
// "<name>+<id>+<base64>", where id is the signed-note key ID (the first
// four bytes of SHA-256(name || "\n" || 0x01 || public key)). Generation
// and validation are delegated to golang.org/x/mod/sumdb/note; this package
// only exposes the raw Ed25519 key that event signatures need, which note
// keeps private.
//
// VRF keys (RFC 9381 ECVRF-EDWARDS25519-SHA512-TAI) have no standard text
// form; credlog uses "PRIVATE+VRF+<name>+<base64 seed>" and
// "VRF+<name>+<base64 public key>" (docs/FORMAT.md).
//
// Key files are written with mode 0600 and refused on read when their
// permissions are looser.
package keys

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// algEd25519 is the signed-note algorithm byte for Ed25519.
const algEd25519 = 1

// ErrKey is wrapped by every key parsing error.
var ErrKey = errors.New("keys: invalid key")

// Signer is an Ed25519 signing key with its signed-note name and key ID.
type Signer struct {
	name  string
	id    uint32
	key   ed25519.PrivateKey
	vkey  string
	noteS note.Signer
}

// Generate returns a new signing key named name, as private and verifier
// key texts.
func Generate(name string, rand io.Reader) (skey, vkey string, err error) {
	skey, vkey, err = note.GenerateKey(rand, name)
	if err != nil {
		return "", "", fmt.Errorf("couldn't generate key %q: %w", name, err)
	}
	return skey, vkey, nil
}

// ParseSigner parses a private key text "PRIVATE+KEY+<name>+<id>+<base64>".
func ParseSigner(skey string) (*Signer, error) {
	skey = strings.TrimSpace(skey)
	ns, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	// Names contain no '+', but base64 key data may.
	raw, err := base64.StdEncoding.DecodeString(strings.SplitN(skey, "+", 5)[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != algEd25519 {
		return nil, fmt.Errorf("%w: private key %q is not an Ed25519 key", ErrKey, ns.Name())
	}
	key := ed25519.NewKeyFromSeed(raw[1:])
	s := &Signer{name: ns.Name(), id: ns.KeyHash(), key: key, noteS: ns}
	s.vkey = VerifierKey(s.name, key.Public().(ed25519.PublicKey))
	if KeyID(s.name, key.Public().(ed25519.PublicKey)) != s.id {
		return nil, fmt.Errorf("%w: private key %q has a wrong key ID", ErrKey, s.name)
	}
	return s, nil
}

// Name returns the key's name (an issuer name or a log origin).
func (s *Signer) Name() string { return s.name }

// KeyID returns the signed-note key ID.
func (s *Signer) KeyID() uint32 { return s.id }

// Public returns the Ed25519 public key.
func (s *Signer) Public() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// PrivateKey returns the Ed25519 private key.
func (s *Signer) PrivateKey() ed25519.PrivateKey { return s.key }

// VerifierKey returns the verifier key text of s.
func (s *Signer) VerifierKey() string { return s.vkey }

// NoteSigner returns s as a signed-note signer, for checkpoints.
func (s *Signer) NoteSigner() note.Signer { return s.noteS }

// Verifier is an Ed25519 public key with its signed-note name and key ID.
type Verifier struct {
	Name   string
	KeyID  uint32
	Public ed25519.PublicKey
}

// ParseVerifier parses a verifier key text "<name>+<id>+<base64>".
func ParseVerifier(vkey string) (*Verifier, error) {
	vkey = strings.TrimSpace(vkey)
	nv, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.SplitN(vkey, "+", 3)[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != algEd25519 {
		return nil, fmt.Errorf("%w: verifier key %q is not an Ed25519 key", ErrKey, nv.Name())
	}
	return &Verifier{Name: nv.Name(), KeyID: nv.KeyHash(), Public: ed25519.PublicKey(raw[1:])}, nil
}

// NoteVerifier returns v as a signed-note verifier.
func (v *Verifier) NoteVerifier() note.Verifier {
	nv, err := note.NewVerifier(VerifierKey(v.Name, v.Public))
	if err != nil {
		panic("keys: verifier built from a valid key does not parse: " + err.Error())
	}
	return nv
}

// KeyID computes the signed-note key ID of an Ed25519 key named name.
func KeyID(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', algEd25519})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// VerifierKey returns the verifier key text of an Ed25519 key named name.
func VerifierKey(name string, pub ed25519.PublicKey) string {
	raw := append([]byte{algEd25519}, pub...)
	return fmt.Sprintf("%s+%08x+%s", name, KeyID(name, pub), base64.StdEncoding.EncodeToString(raw))
}
