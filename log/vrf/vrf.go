// Package vrf implements the verifiable random function
// ECVRF-EDWARDS25519-SHA512-TAI (suite string 0x03) specified in RFC 9381.
//
// A proof pi for an input alpha is produced with a private key and can be
// checked by anyone holding the matching public key; a valid proof yields the
// 64-byte output beta, which is unique for a given public key and alpha.
//
// The package is written directly on top of filippo.io/edwards25519 because
// the Go module proxy serves no vetted implementation of this suite. It is
// checked against the test vectors of RFC 9381, Appendix B.3.
//
// Keys have the Ed25519 form of RFC 8032, Section 5.1.5: the private key is a
// 32-byte seed, h = SHA-512(seed), the secret scalar x is the clamped lower
// half of h, the upper half of h is the prefix used for nonce generation
// (RFC 9381, Section 5.4.2.2), and the public key is the 32-byte encoding of
// Y = x*B. A seed therefore yields the same public key under this package and
// under crypto/ed25519, but a key should be used for only one of the two.
//
// Operations on secret values (the scalar x, the prefix and the nonce k) are
// constant time. Hashing alpha to a curve point (try-and-increment) depends
// only on the public key and alpha, and verification and proof-to-hash only
// handle public values; these use variable-time code.
//
// Decoding is strict: public keys and the Gamma component of proofs must be
// canonical encodings of curve points (RFC 8032, Section 5.1.3), the scalar s
// of a proof must be less than the group order L, and public keys of small
// order are rejected (RFC 9381, Section 5.4.5).
package vrf

import (
	"bytes"
	cryptorand "crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"io"
	"strconv"

	"filippo.io/edwards25519"
)

const (
	// SeedSize is the size of a private key seed, as in RFC 8032.
	SeedSize = 32
	// PublicKeySize is the size of an encoded public key.
	PublicKeySize = 32
	// ProofSize is the size of a proof: Gamma (32) || c (16) || s (32).
	ProofSize = 80
	// OutputSize is the size of the VRF output beta.
	OutputSize = 64
)

var (
	// ErrInvalidProof is returned when a well-formed proof does not verify.
	ErrInvalidProof = errors.New("vrf: invalid proof")
	// ErrMalformedProof is returned when a proof cannot be decoded: it has
	// the wrong length, Gamma is not a canonical point encoding, or s >= L.
	ErrMalformedProof = errors.New("vrf: malformed proof")
	// ErrInvalidPublicKey is returned when a public key has the wrong
	// length, is not a canonical point encoding, or has small order.
	ErrInvalidPublicKey = errors.New("vrf: invalid public key")
)

// Suite parameters (RFC 9381, Section 5.5).
const (
	suiteString = 0x03 // ECVRF-EDWARDS25519-SHA512-TAI
	pointSize   = 32   // ptLen
	scalarSize  = 32   // qLen
	cSize       = 16   // cLen

	encodeToCurveFront = 0x01
	encodeToCurveBack  = 0x00
	challengeFront     = 0x02
	challengeBack      = 0x00
	proofToHashFront   = 0x03
	proofToHashBack    = 0x00
)

// PrivateKey is an ECVRF-EDWARDS25519-SHA512-TAI private key.
type PrivateKey struct {
	seed   [SeedSize]byte
	x      edwards25519.Scalar // clamp(SHA-512(seed)[:32]) mod L
	prefix [32]byte            // SHA-512(seed)[32:]
	pk     [PublicKeySize]byte // encoding of x*B
}

// NewKeyFromSeed derives a private key from a 32-byte seed as in RFC 8032,
// Section 5.1.5. It returns an error if len(seed) != SeedSize.
func NewKeyFromSeed(seed []byte) (*PrivateKey, error) {
	if len(seed) != SeedSize {
		return nil, errors.New("vrf: bad seed length " + strconv.Itoa(len(seed)))
	}
	k := new(PrivateKey)
	copy(k.seed[:], seed)

	h := sha512.Sum512(k.seed[:])
	if _, err := k.x.SetBytesWithClamping(h[:32]); err != nil {
		panic("vrf: internal error: " + err.Error())
	}
	copy(k.prefix[:], h[32:])
	clear(h[:])

	Y := new(edwards25519.Point).ScalarBaseMult(&k.x)
	copy(k.pk[:], Y.Bytes())
	return k, nil
}

// GenerateKey returns a new private key whose seed is read from rand. If rand
// is nil, crypto/rand.Reader is used.
func GenerateKey(rand io.Reader) (*PrivateKey, error) {
	if rand == nil {
		rand = cryptorand.Reader
	}
	var seed [SeedSize]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, err
	}
	k, err := NewKeyFromSeed(seed[:])
	clear(seed[:])
	return k, err
}

// Seed returns a copy of the private key seed.
func (k *PrivateKey) Seed() []byte {
	return bytes.Clone(k.seed[:])
}

// PublicKey returns a copy of the 32-byte encoded public key.
func (k *PrivateKey) PublicKey() []byte {
	return bytes.Clone(k.pk[:])
}

// Prove returns the 80-byte proof pi for input alpha (RFC 9381, Section 5.1).
// Proofs are deterministic: the same key and alpha always give the same pi.
func (k *PrivateKey) Prove(alpha []byte) []byte {
	// H = encode_to_curve(PK, alpha). H and its encoding depend only on
	// public values.
	H, _ := encodeToCurve(k.pk[:], alpha)
	hString := H.Bytes()

	// Gamma = x*H, with constant-time scalar multiplication.
	gamma := new(edwards25519.Point).ScalarMult(&k.x, H)

	// k = nonce_generation(SK, h_string).
	nonce := nonceScalar(&k.prefix, hString)

	// U = k*B, V = k*H.
	U := new(edwards25519.Point).ScalarBaseMult(nonce)
	V := new(edwards25519.Point).ScalarMult(nonce, H)

	gammaString := gamma.Bytes()
	c := challenge(k.pk[:], hString, gammaString, U.Bytes(), V.Bytes())

	// s = (k + c*x) mod L.
	s := edwards25519.NewScalar().MultiplyAdd(challengeScalar(c[:]), &k.x, nonce)

	pi := make([]byte, 0, ProofSize)
	pi = append(pi, gammaString...)
	pi = append(pi, c[:]...)
	pi = append(pi, s.Bytes()...)
	return pi
}

// Verify checks that proof is a valid proof for alpha under publicKey
// (RFC 9381, Section 5.3, with key validation). On success it returns the
// 64-byte output beta. It returns ErrInvalidPublicKey, ErrMalformedProof or
// ErrInvalidProof otherwise.
func Verify(publicKey, proof, alpha []byte) (beta []byte, err error) {
	Y, err := validateKey(publicKey)
	if err != nil {
		return nil, err
	}
	gamma, cString, s, err := decodeProof(proof)
	if err != nil {
		return nil, err
	}

	H, _ := encodeToCurve(publicKey, alpha)
	hString := H.Bytes()

	negC := edwards25519.NewScalar().Negate(challengeScalar(cString))

	// U = s*B - c*Y.
	U := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(negC, Y, s)
	// V = s*H - c*Gamma.
	V := new(edwards25519.Point).VarTimeMultiScalarMult(
		[]*edwards25519.Scalar{s, negC},
		[]*edwards25519.Point{H, gamma},
	)

	// decodeProof accepts only canonical encodings, so proof[:pointSize]
	// is point_to_string(Gamma), and publicKey is point_to_string(Y).
	c := challenge(publicKey, hString, proof[:pointSize], U.Bytes(), V.Bytes())
	if subtle.ConstantTimeCompare(c[:], cString) != 1 {
		return nil, ErrInvalidProof
	}
	return gammaToHash(gamma), nil
}

// ProofToHash returns the output beta of proof without verifying it
// (RFC 9381, Section 5.2). It must only be used on proofs that have been
// verified, or whose validity is otherwise established. It returns
// ErrMalformedProof if the proof cannot be decoded.
func ProofToHash(proof []byte) ([]byte, error) {
	gamma, _, _, err := decodeProof(proof)
	if err != nil {
		return nil, err
	}
	return gammaToHash(gamma), nil
}

// gammaToHash computes beta = SHA-512(suite || 0x03 || point_to_string(8*Gamma) || 0x00).
func gammaToHash(gamma *edwards25519.Point) []byte {
	h := sha512.New()
	h.Write([]byte{suiteString, proofToHashFront})
	h.Write(new(edwards25519.Point).MultByCofactor(gamma).Bytes())
	h.Write([]byte{proofToHashBack})
	return h.Sum(make([]byte, 0, OutputSize))
}

// decodePoint implements string_to_point: the RFC 8032 (Section 5.1.3)
// decoding, which fails on non-canonical encodings (y >= p, or x = 0 with
// the sign bit set). Only public inputs are passed to it.
func decodePoint(b []byte) (*edwards25519.Point, bool) {
	if len(b) != pointSize {
		return nil, false
	}
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		return nil, false
	}
	// edwards25519 accepts non-canonical encodings; a point's encoding is
	// canonical exactly when re-encoding gives the same bytes.
	if !bytes.Equal(p.Bytes(), b) {
		return nil, false
	}
	return p, true
}

// CheckPublicKey reports whether pk is a usable public key for this suite:
// 32 bytes, a canonical point encoding, and not of small order. It returns
// ErrInvalidPublicKey otherwise.
func CheckPublicKey(pk []byte) error {
	_, err := validateKey(pk)
	return err
}

// validateKey decodes a public key and rejects keys of small order
// (RFC 9381, Section 5.4.5).
func validateKey(pk []byte) (*edwards25519.Point, error) {
	Y, ok := decodePoint(pk)
	if !ok {
		return nil, ErrInvalidPublicKey
	}
	if new(edwards25519.Point).MultByCofactor(Y).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return nil, ErrInvalidPublicKey
	}
	return Y, nil
}

// decodeProof splits pi into (Gamma, c, s) (RFC 9381, Section 5.4.4). It
// returns c as its 16-byte string.
func decodeProof(pi []byte) (gamma *edwards25519.Point, c []byte, s *edwards25519.Scalar, err error) {
	if len(pi) != ProofSize {
		return nil, nil, nil, ErrMalformedProof
	}
	gamma, ok := decodePoint(pi[:pointSize])
	if !ok {
		return nil, nil, nil, ErrMalformedProof
	}
	c = pi[pointSize : pointSize+cSize]
	s, err = edwards25519.NewScalar().SetCanonicalBytes(pi[pointSize+cSize:])
	if err != nil {
		return nil, nil, nil, ErrMalformedProof // s >= L
	}
	return gamma, c, s, nil
}

// encodeToCurve implements ECVRF_encode_to_curve_try_and_increment
// (RFC 9381, Section 5.4.1.1) with encode_to_curve_salt = PK_string. It
// returns H and the counter value that succeeded. All inputs are public.
func encodeToCurve(salt, alpha []byte) (*edwards25519.Point, int) {
	var sum [sha512.Size]byte
	h := sha512.New()
	for ctr := 0; ctr < 256; ctr++ {
		h.Reset()
		h.Write([]byte{suiteString, encodeToCurveFront})
		h.Write(salt)
		h.Write(alpha)
		h.Write([]byte{byte(ctr), encodeToCurveBack})
		h.Sum(sum[:0])
		if p, ok := decodePoint(sum[:pointSize]); ok {
			return p.MultByCofactor(p), ctr
		}
	}
	// Each attempt succeeds with probability about 1/2, so this is never
	// reached in practice.
	panic("vrf: encode_to_curve found no point in 256 attempts")
}

// nonceHash returns k_string = SHA-512(prefix || h_string)
// (RFC 9381, Section 5.4.2.2).
func nonceHash(prefix *[32]byte, hString []byte) [sha512.Size]byte {
	h := sha512.New()
	h.Write(prefix[:])
	h.Write(hString)
	var out [sha512.Size]byte
	h.Sum(out[:0])
	return out
}

// nonceScalar returns k = string_to_int(k_string) mod L.
func nonceScalar(prefix *[32]byte, hString []byte) *edwards25519.Scalar {
	kString := nonceHash(prefix, hString)
	k, err := edwards25519.NewScalar().SetUniformBytes(kString[:])
	if err != nil {
		panic("vrf: internal error: " + err.Error())
	}
	clear(kString[:])
	return k
}

// challenge implements ECVRF_challenge_generation (RFC 9381, Section 5.4.3)
// on the encodings of Y, H, Gamma, U and V, returning the cLen-byte string c.
func challenge(y, h, gamma, u, v []byte) [cSize]byte {
	hh := sha512.New()
	hh.Write([]byte{suiteString, challengeFront})
	hh.Write(y)
	hh.Write(h)
	hh.Write(gamma)
	hh.Write(u)
	hh.Write(v)
	hh.Write([]byte{challengeBack})
	var sum [sha512.Size]byte
	hh.Sum(sum[:0])
	var c [cSize]byte
	copy(c[:], sum[:cSize])
	return c
}

// challengeScalar interprets a 16-byte little-endian challenge as a scalar.
// Since c < 2^128 < L, the conversion cannot fail.
func challengeScalar(c []byte) *edwards25519.Scalar {
	var buf [scalarSize]byte
	copy(buf[:], c)
	s, err := edwards25519.NewScalar().SetCanonicalBytes(buf[:])
	if err != nil {
		panic("vrf: internal error: " + err.Error())
	}
	return s
}
