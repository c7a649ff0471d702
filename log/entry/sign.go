package entry

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/credlog/credlog/log/edsig"
)

// ErrBadSignature is returned when an event's signature does not verify.
var ErrBadSignature = errors.New("entry: bad signature")

// Sign sets e.Signature to the Ed25519 signature of e.SignedMessage() by
// key. The caller sets e.KeyID to the key's signed-note key ID first.
func (e *Event) Sign(key ed25519.PrivateKey) error {
	msg, err := e.SignedMessage()
	if err != nil {
		return err
	}
	copy(e.Signature[:], ed25519.Sign(key, msg))
	return nil
}

// VerifySignature checks e.Signature against pub, with the rules of
// crypto/ed25519 (package edsig).
func (e *Event) VerifySignature(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key is %d bytes", ErrBadSignature, len(pub))
	}
	msg, err := e.SignedMessage()
	if err != nil {
		return err
	}
	if !edsig.Verify(pub, msg, e.Signature[:]) {
		return fmt.Errorf("%w: %s event of %q does not verify under key %08x", ErrBadSignature, e.Type, e.Issuer, e.KeyID)
	}
	return nil
}
