package vmap

import (
	"errors"
	"fmt"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
)

// ErrInvalidProof is wrapped by the errors of the Verify functions when a
// well-formed proof does not prove the claim: it leads to another root, is
// of the wrong kind, or its value says something else.
var ErrInvalidProof = errors.New("vmap: proof does not prove the claim")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidProof, fmt.Sprintf(format, args...))
}

// VerifyMembership checks that proof proves that the map with root root
// holds value under key. A malformed proof is an error wrapping
// ErrMalformed; one that does not prove this, ErrInvalidProof.
func VerifyMembership(root Hash, key Key, value, proof []byte) error {
	p, err := ParseProof(proof)
	if err != nil {
		return err
	}
	if p.Kind != ProofLeaf {
		return invalid("an absence proof does not prove that key %s is present", key)
	}
	if len(value) == 0 {
		return invalid("the map holds no empty values")
	}
	if p.root(key, LeafHash(key, ValueHash(value))) != root {
		return invalid("the proof of key %s and its value does not lead to root %x", key, root)
	}
	return nil
}

// VerifyAbsence checks that proof proves that the map with root root has
// no value under key.
func VerifyAbsence(root Hash, key Key, proof []byte) error {
	p, err := ParseProof(proof)
	if err != nil {
		return err
	}
	var h Hash
	switch p.Kind {
	case ProofLeaf:
		return invalid("a membership proof does not prove that key %s is absent", key)
	case ProofEmpty:
		h = EmptyHash
	case ProofOtherLeaf:
		if p.OtherKey == key {
			return invalid("the proof ends at the leaf of key %s itself", key)
		}
		if !PathID(key, len(p.Siblings)).Contains(p.OtherKey) {
			return invalid("the proof ends at the leaf of key %s, off the path of key %s", p.OtherKey, key)
		}
		h = LeafHash(p.OtherKey, p.OtherValueHash)
	}
	if p.root(key, h) != root {
		return invalid("the absence proof of key %s does not lead to root %x", key, root)
	}
	return nil
}

// VerifyCredential checks that the map with root root holds value for
// credential id of issuer, and returns the value decoded.
func VerifyCredential(root Hash, issuer string, id entry.Hash, value, proof []byte) (*CredentialValue, error) {
	if err := VerifyMembership(root, CredentialKey(issuer, id), value, proof); err != nil {
		return nil, err
	}
	v, err := ParseCredentialValue(value)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// VerifyCredentialStatus checks that, as of the map with root root,
// credential id of issuer has status want: that the map holds value for
// it and value says so. It returns the value decoded, with the indices of
// the credential's issue and latest events.
func VerifyCredentialStatus(root Hash, issuer string, id entry.Hash, want state.Status, value, proof []byte) (*CredentialValue, error) {
	v, err := VerifyCredential(root, issuer, id, value, proof)
	if err != nil {
		return nil, err
	}
	if v.Status != want {
		return nil, invalid("credential %x of %q is %s, not %s", id, issuer, v.Status, want)
	}
	return v, nil
}

// VerifySubjectHistory checks that, as of the map with root root, the
// events of issuer naming subject label are exactly those at indices, in
// ascending order: that the map holds value for the subject and that
// value's digest and count are those of indices. With no indices, it
// checks that the subject is absent from the map (value must be empty and
// proof an absence proof) and returns nil.
//
// The holder of the subject checks this against the indices the log
// lists for their label: an event the list omits (a second credential
// issued in secret) changes the digest and the count, so no proof can
// show the shorter list.
func VerifySubjectHistory(root Hash, issuer string, label entry.Hash, indices []uint64, value, proof []byte) (*SubjectValue, error) {
	key := SubjectKey(issuer, label)
	if len(indices) == 0 {
		if len(value) != 0 {
			return nil, invalid("a value is given for an empty history")
		}
		return nil, VerifyAbsence(root, key, proof)
	}
	for i := 1; i < len(indices); i++ {
		if indices[i] <= indices[i-1] {
			return nil, invalid("event indices are not strictly ascending at position %d", i)
		}
	}
	if err := VerifyMembership(root, key, value, proof); err != nil {
		return nil, err
	}
	v, err := ParseSubjectValue(value)
	if err != nil {
		return nil, err
	}
	var d entry.Hash
	for _, i := range indices {
		d = state.SubjectDigest(d, i)
	}
	if v.Events != uint64(len(indices)) || v.Digest != d {
		return nil, invalid("subject %x of %q has %d events with digest %x; the %d indices given make digest %x",
			label, issuer, v.Events, v.Digest, len(indices), d)
	}
	return v, nil
}
