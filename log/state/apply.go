package state

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/vrf"
)

// Apply checks that ev, appended at log index index, obeys the rules given
// the state st, and returns what it changes. It does not modify st.
//
// verified, if not nil, is a public key under which the caller has already
// checked ev's signature (the log verifies in parallel, ahead of its
// sequencer); Apply then only checks that it is the key the rules require.
// Otherwise Apply verifies the signature itself.
//
// A broken rule is returned as a *Violation; other errors come from st.
func (r *Rules) Apply(st Reader, ev *entry.Event, index uint64, verified ed25519.PublicKey) (*Change, error) {
	if err := ev.Check(); err != nil {
		return nil, err
	}
	key, err := r.signerKey(st, ev)
	if err != nil {
		return nil, err
	}
	if verified == nil || !bytes.Equal(verified, key) {
		if err := ev.VerifySignature(key); err != nil {
			return nil, unauthorized(RuleBadSignature, "%v", err)
		}
	}
	switch ev.Type {
	case entry.TypeIssuerKey:
		return r.applyIssuerKey(st, ev)
	case entry.TypeMapRoot:
		if ev.TreeSize != index {
			return nil, conflict(RuleMapRootSize, "map-root at index %d covers %d entries", index, ev.TreeSize)
		}
		return &Change{}, nil
	case entry.TypeIssue:
		return applyIssue(st, ev, index)
	default:
		return applyStatus(st, ev, index)
	}
}

// signerKey returns the key that must have signed ev.
func (r *Rules) signerKey(st Reader, ev *entry.Event) (ed25519.PublicKey, error) {
	if ev.Type == entry.TypeMapRoot {
		if ev.Issuer != r.Origin || ev.KeyID != r.logID {
			return nil, unauthorized(RuleMapRootSigner, "map-root names %q key %08x, not the log %q key %08x", ev.Issuer, ev.KeyID, r.Origin, r.logID)
		}
		return r.LogKey, nil
	}
	iss, err := st.Issuer(ev.Issuer)
	if err != nil {
		return nil, fmt.Errorf("couldn't read issuer %q: %w", ev.Issuer, err)
	}
	switch {
	case ev.Type == entry.TypeIssuerKey && ev.KeyID == r.logID:
		// Registration, or a rotation the operator forces: the log's key.
		return r.LogKey, nil
	case iss == nil && ev.Type == entry.TypeIssuerKey:
		return nil, unauthorized(RuleRegistrationSigner, "first key of issuer %q must be signed by the log key %08x, not %08x", ev.Issuer, r.logID, ev.KeyID)
	case iss == nil:
		return nil, unauthorized(RuleUnknownIssuer, "issuer %q is not registered in the log", ev.Issuer)
	case ev.KeyID != iss.KeyID:
		return nil, unauthorized(RuleWrongKey, "issuer %q signs with key %08x, event names key %08x", ev.Issuer, iss.KeyID, ev.KeyID)
	}
	return ed25519.PublicKey(iss.PublicKey[:]), nil
}

func (r *Rules) applyIssuerKey(st Reader, ev *entry.Event) (*Change, error) {
	iss, err := st.Issuer(ev.Issuer)
	if err != nil {
		return nil, fmt.Errorf("couldn't read issuer %q: %w", ev.Issuer, err)
	}
	if ev.Issuer == r.Origin {
		return nil, conflict(RuleRegistrationSigner, "issuer name %q is the log's own origin", ev.Issuer)
	}
	next := &Issuer{Name: ev.Issuer, PublicKey: ev.PublicKey, VRFKey: ev.VRFKey}
	next.KeyID = keyID(ev.Issuer, ev.PublicKey[:])
	if iss == nil {
		// The VRF key is fixed for good at registration: a key no proof
		// can verify under would make every label of the issuer
		// unverifiable.
		if err := vrf.CheckPublicKey(ev.VRFKey[:]); err != nil {
			return nil, conflict(RuleVRFKeyInvalid, "issuer %q: %v", ev.Issuer, err)
		}
	}
	if iss != nil {
		if iss.VRFKey != ev.VRFKey {
			return nil, conflict(RuleVRFKeyFixed, "issuer %q cannot change its VRF key", ev.Issuer)
		}
		if iss.PublicKey == ev.PublicKey {
			return nil, conflict(RuleKeyUnchanged, "issuer %q already signs with key %08x", ev.Issuer, iss.KeyID)
		}
	}
	return &Change{Issuer: next}, nil
}

func applyIssue(st Reader, ev *entry.Event, index uint64) (*Change, error) {
	old, err := st.Credential(ev.Issuer, ev.Credential)
	if err != nil {
		return nil, fmt.Errorf("couldn't read credential: %w", err)
	}
	if old != nil {
		return nil, conflict(RuleIssueNotNew, "credential %x was already issued at index %d", ev.Credential, old.IssueIndex)
	}
	sub, err := st.Subject(ev.Issuer, ev.Subject)
	if err != nil {
		return nil, fmt.Errorf("couldn't read subject: %w", err)
	}
	if sub == nil {
		sub = &Subject{Issuer: ev.Issuer, Label: ev.Subject}
	}
	if ev.Version != sub.Version+1 {
		return nil, conflict(RuleVersionNotDense, "subject %x is at version %d, issue names version %d", ev.Subject, sub.Version, ev.Version)
	}
	ch := &Change{}
	var live *Credential
	var zero entry.Hash
	if sub.Live != zero {
		if live, err = st.Credential(ev.Issuer, sub.Live); err != nil {
			return nil, fmt.Errorf("couldn't read credential: %w", err)
		}
		if live == nil {
			return nil, fmt.Errorf("state: subject %x names live credential %x that does not exist", ev.Subject, sub.Live)
		}
		if !isLive(live, ev.Time) {
			live = nil
		}
	}
	if ev.Supersedes != nil {
		prev := live
		if live == nil || live.ID != *ev.Supersedes {
			if prev, err = st.Credential(ev.Issuer, *ev.Supersedes); err != nil {
				return nil, fmt.Errorf("couldn't read credential: %w", err)
			}
		}
		if prev == nil {
			return nil, conflict(RuleUnknownCredential, "superseded credential %x was never issued by %q", *ev.Supersedes, ev.Issuer)
		}
		if prev.Subject != ev.Subject {
			return nil, conflict(RuleSupersedesOther, "superseded credential %x belongs to another subject", *ev.Supersedes)
		}
	}
	if live != nil {
		if ev.Supersedes == nil || *ev.Supersedes != live.ID {
			return nil, conflict(RuleMustSupersede, "subject %x has live credential %x (version %d), which the issue must supersede", ev.Subject, live.ID, live.Version)
		}
		ended := *live
		ended.Status = StatusSuperseded
		ended.Reason = entry.ReasonSuperseded
		ch.Credentials = append(ch.Credentials, &ended)
	}
	ch.Credentials = append(ch.Credentials, &Credential{
		Issuer: ev.Issuer, ID: ev.Credential, Subject: ev.Subject, Version: ev.Version,
		NotAfter: ev.NotAfter, Status: StatusActive, IssueIndex: index, LastIndex: index,
	})
	next := *sub
	next.Version = ev.Version
	next.Live = ev.Credential
	next.Events++
	next.Digest = SubjectDigest(sub.Digest, index)
	ch.Subject = &next
	return ch, nil
}

// isLive reports whether c is active or suspended and within its validity
// window at time t.
func isLive(c *Credential, t uint64) bool {
	return (c.Status == StatusActive || c.Status == StatusSuspended) && t < c.NotAfter
}

func applyStatus(st Reader, ev *entry.Event, index uint64) (*Change, error) {
	c, err := st.Credential(ev.Issuer, ev.Credential)
	if err != nil {
		return nil, fmt.Errorf("couldn't read credential: %w", err)
	}
	if c == nil {
		return nil, conflict(RuleUnknownCredential, "credential %x was never issued by %q", ev.Credential, ev.Issuer)
	}
	if c.Subject != ev.Subject {
		return nil, conflict(RuleSubjectMismatch, "credential %x was issued to another subject label", ev.Credential)
	}
	switch c.Status {
	case StatusRevoked:
		return nil, conflict(RuleRevokedIsTerminal, "credential %x was revoked; no %s may follow", ev.Credential, ev.Type)
	case StatusSuperseded:
		return nil, conflict(RuleSupersededIsEnded, "credential %x was superseded; no %s may follow", ev.Credential, ev.Type)
	}
	next := *c
	next.LastIndex = index
	switch ev.Type {
	case entry.TypeRevoke:
		next.Status, next.Reason = StatusRevoked, ev.Reason
	case entry.TypeSuspend:
		if c.Status != StatusActive {
			return nil, conflict(RuleSuspendFromActive, "credential %x is %s, not active", ev.Credential, c.Status)
		}
		next.Status, next.Reason = StatusSuspended, ev.Reason
	case entry.TypeResume:
		if c.Status != StatusSuspended {
			return nil, conflict(RuleResumeFromSuspend, "credential %x is %s, not suspended", ev.Credential, c.Status)
		}
		next.Status, next.Reason = StatusActive, 0
	default:
		return nil, errors.New("state: unreachable event type")
	}
	sub, err := st.Subject(ev.Issuer, ev.Subject)
	if err != nil {
		return nil, fmt.Errorf("couldn't read subject: %w", err)
	}
	if sub == nil {
		return nil, fmt.Errorf("state: credential %x names subject %x that does not exist", ev.Credential, ev.Subject)
	}
	ns := *sub
	if next.Status == StatusRevoked && ns.Live == c.ID {
		ns.Live = entry.Hash{}
	}
	ns.Events++
	ns.Digest = SubjectDigest(sub.Digest, index)
	return &Change{Credentials: []*Credential{&next}, Subject: &ns}, nil
}
