// Package edsig verifies Ed25519 signatures with exactly the rules of
// crypto/ed25519.Verify, in about 60% of its time.
//
// The arithmetic is curve25519-voi's (github.com/oasisprotocol/curve25519-voi),
// under its VerifyOptionsStdLib: the cofactorless equation, s below the
// group order, R compared by its canonical encoding, any A that decodes.
// Every verifier of a log must accept the same signatures, or a signer
// could write entries that some auditors accept and others reject; the
// tests and FuzzMatchesStdlib check this package against crypto/ed25519,
// including keys and signatures with small-order components, on which
// the cofactored equation that batch verification needs would disagree
// (batch verification is not used for that reason).
//
// Public keys are expanded once into curve25519-voi's precomputed form
// and kept, up to MaxCachedKeys of them: a log has few signers, and each
// verifies thousands of events.
package edsig

import (
	"crypto/ed25519"
	"sync"
	"sync/atomic"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// MaxCachedKeys bounds the expanded public keys kept in memory (a few
// KiB each). Keys beyond it are verified without being kept.
const MaxCachedKeys = 1024

var (
	opts   = &voi.Options{Verify: voi.VerifyOptionsStdLib}
	cache  sync.Map // [32]byte → *voi.ExpandedPublicKey
	cached atomic.Int64
)

// Verify reports whether sig is a valid Ed25519 signature of msg by pub,
// as crypto/ed25519.Verify does; unlike it, Verify does not panic on a
// public key of the wrong length, it returns false.
func Verify(pub ed25519.PublicKey, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	k := [32]byte(pub)
	if x, ok := cache.Load(k); ok {
		return voi.VerifyExpandedWithOptions(x.(*voi.ExpandedPublicKey), msg, sig, opts)
	}
	if cached.Add(1) > MaxCachedKeys {
		// Full: verify without expanding the key, which would cost more
		// than it saves on one signature.
		cached.Add(-1)
		return voi.VerifyWithOptions(voi.PublicKey(pub), msg, sig, opts)
	}
	x, err := voi.NewExpandedPublicKey(voi.PublicKey(pub))
	if err != nil {
		// Not a point: crypto/ed25519 rejects every signature too.
		cached.Add(-1)
		return false
	}
	if v, loaded := cache.LoadOrStore(k, x); loaded {
		cached.Add(-1)
		x = v.(*voi.ExpandedPublicKey)
	}
	return voi.VerifyExpandedWithOptions(x, msg, sig, opts)
}
