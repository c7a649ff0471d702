package witness

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// Signature type bytes of c2sp.org/signed-note.
const (
	algEd25519            = 0x01
	algCosignatureEd25519 = 0x04
)

// A Cosigner produces Ed25519 cosignature/v1 signatures
// (c2sp.org/tlog-cosignature): timestamped signatures over
// "cosignature/v1\ntime <T>\n" followed by the checkpoint text, under a key
// ID computed with signature type 0x04.
//
// Signing is done by transparency-dev/formats/note; this type loads and
// checks the key and formats the verifier key.
type Cosigner struct {
	signer   note.Signer
	verifier note.Verifier
	vkey     string
}

// GenerateKey returns a new cosigner key named name: the private key, in
// the signed-note form "PRIVATE+KEY+<name>+<id>+<base64(0x04 || seed)>",
// and the verifier key "<name>+<id>+<base64(0x04 || public key)>" that
// clients put in their policies. The key ID is that of signature type 0x04.
//
// The private key is tagged 0x04 rather than 0x01 on purpose: plain note
// signers (golang.org/x/mod/sumdb/note) refuse it, so the key cannot be
// reused by mistake to sign arbitrary notes.
func GenerateKey(name string) (skey, vkey string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("couldn't generate key: %w", err)
	}
	if !validName(name) {
		return "", "", fmt.Errorf("witness: invalid key name %q: it must be non-empty UTF-8 without spaces or '+'", name)
	}
	id := keyID(name, algCosignatureEd25519, pub)
	skey = fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, id,
		base64.StdEncoding.EncodeToString(append([]byte{algCosignatureEd25519}, priv.Seed()...)))
	return skey, cosignatureVKey(name, pub), nil
}

// NewCosigner returns a Cosigner for a private key in the signed-note form
// "PRIVATE+KEY+<name>+<id>+<base64>", where the key material is an Ed25519
// seed tagged 0x04 (as written by [GenerateKey]) or 0x01 (as written by
// golang.org/x/mod/sumdb/note.GenerateKey). The key ID must be the one that
// the key and name imply.
func NewCosigner(skey string) (*Cosigner, error) {
	skey = strings.TrimSpace(skey)
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return nil, errors.New("witness: private key is not of the form PRIVATE+KEY+<name>+<id>+<key>")
	}
	name := parts[2]
	id, err := strconv.ParseUint(parts[3], 16, 32)
	if err != nil || len(parts[3]) != 8 {
		return nil, fmt.Errorf("witness: private key ID %q is not 8 hex digits", parts[3])
	}
	key, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(key) != 1+ed25519.SeedSize {
		return nil, errors.New("witness: private key is not a base64 Ed25519 seed with a type byte")
	}
	if key[0] != algEd25519 && key[0] != algCosignatureEd25519 {
		return nil, fmt.Errorf("witness: private key has type 0x%02x, want 0x01 or 0x04 (Ed25519)", key[0])
	}
	pub := ed25519.NewKeyFromSeed(key[1:]).Public().(ed25519.PublicKey)
	if !validName(name) {
		return nil, fmt.Errorf("witness: invalid key name %q", name)
	}
	if want := keyID(name, key[0], pub); uint32(id) != want {
		return nil, fmt.Errorf("witness: private key ID %08x does not match the key (want %08x)", id, want)
	}
	signer, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		return nil, fmt.Errorf("witness: couldn't load cosigner key: %w", err)
	}
	vkey := cosignatureVKey(name, pub)
	verifier, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		return nil, fmt.Errorf("witness: couldn't build cosignature verifier: %w", err)
	}
	if signer.KeyHash() != verifier.KeyHash() || signer.Name() != verifier.Name() {
		return nil, errors.New("witness: cosigner and verifier keys disagree")
	}
	return &Cosigner{signer: signer, verifier: verifier, vkey: vkey}, nil
}

// Name returns the cosigner's key name.
func (c *Cosigner) Name() string { return c.signer.Name() }

// VerifierKey returns the cosigner's verifier key, with signature type 0x04.
func (c *Cosigner) VerifierKey() string { return c.vkey }

// Verifier returns a note verifier for the cosigner's signatures.
func (c *Cosigner) Verifier() note.Verifier { return c.verifier }

// cosign signs text (a checkpoint note text) and returns the signature
// line(s), each "— <name> <base64>\n", and the cosignature's timestamp. It
// verifies its own signature before returning it.
func (c *Cosigner) cosign(text string) (lines string, t time.Time, err error) {
	signed, err := note.Sign(&note.Note{Text: text}, c.signer)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("couldn't cosign: %w", err)
	}
	n, err := note.Open(signed, note.VerifierList(c.verifier))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("couldn't verify own cosignature: %w", err)
	}
	if len(n.Sigs) != 1 {
		return "", time.Time{}, errors.New("couldn't verify own cosignature")
	}
	if t, err = fnote.CoSigV1Timestamp(n.Sigs[0]); err != nil {
		return "", time.Time{}, fmt.Errorf("couldn't read cosignature timestamp: %w", err)
	}
	return string(signed[len(text)+1:]), t, nil
}

// validName reports whether name is a valid signed-note key name:
// non-empty UTF-8 with no Unicode spaces and no plus signs.
func validName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// cosignatureVKey formats an Ed25519 cosignature/v1 verifier key.
func cosignatureVKey(name string, pub ed25519.PublicKey) string {
	return fmt.Sprintf("%s+%08x+%s", name, keyID(name, algCosignatureEd25519, pub),
		base64.StdEncoding.EncodeToString(append([]byte{algCosignatureEd25519}, pub...)))
}

// keyID is SHA-256(name || "\n" || alg || public key)[:4], the key ID of
// c2sp.org/signed-note and c2sp.org/tlog-cosignature.
func keyID(name string, alg byte, pub []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{alg})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}
