package state_test

import (
	"crypto/ed25519"
	"errors"
	"reflect"
	"testing"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/vrf"
)

const (
	origin = "log.example.org/credlog"
	issuer = "id.example.gov"
	t0     = uint64(1763856000)
	year   = uint64(365 * 24 * 3600)
)

type fixture struct {
	t      *testing.T
	rules  *state.Rules
	st     *state.Overlay
	logKey ed25519.PrivateKey
	issKey ed25519.PrivateKey
	vrfKey [32]byte
	next   uint64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	lpub, lpriv, _ := ed25519.GenerateKey(nil)
	_, ipriv, _ := ed25519.GenerateKey(nil)
	f := &fixture{t: t, rules: state.NewRules(origin, lpub), st: state.NewOverlay(nil), logKey: lpriv, issKey: ipriv}
	vk, _ := vrf.GenerateKey(nil)
	f.vrfKey = [32]byte(vk.PublicKey())
	f.mustApply(f.register(ipriv, lpriv))
	return f
}

func (f *fixture) sign(ev *entry.Event, key ed25519.PrivateKey, name string) *entry.Event {
	f.t.Helper()
	ev.KeyID = keys.KeyID(name, key.Public().(ed25519.PublicKey))
	if err := ev.Sign(key); err != nil {
		f.t.Fatal(err)
	}
	return ev
}

func (f *fixture) register(key, signer ed25519.PrivateKey) *entry.Event {
	ev := &entry.Event{Type: entry.TypeIssuerKey, Issuer: issuer, Time: t0, VRFKey: f.vrfKey}
	copy(ev.PublicKey[:], key.Public().(ed25519.PublicKey))
	name := issuer
	if signer.Equal(f.logKey) {
		name = origin
	}
	return f.sign(ev, signer, name)
}

func (f *fixture) issue(subject, cred byte, version uint32, supersedes *entry.Hash) *entry.Event {
	ev := &entry.Event{Type: entry.TypeIssue, Issuer: issuer, Time: t0 + f.next, Subject: hash(subject), Credential: hash(cred),
		NotBefore: t0, NotAfter: t0 + year, Version: version, Supersedes: supersedes}
	return f.sign(ev, f.issKey, issuer)
}

func (f *fixture) status(typ entry.Type, subject, cred byte) *entry.Event {
	ev := &entry.Event{Type: typ, Issuer: issuer, Time: t0 + f.next, Subject: hash(subject), Credential: hash(cred)}
	if typ == entry.TypeRevoke || typ == entry.TypeSuspend {
		ev.Reason = entry.ReasonHolderRequest
	}
	return f.sign(ev, f.issKey, issuer)
}

func (f *fixture) mustApply(ev *entry.Event) {
	f.t.Helper()
	if err := f.rules.ApplyTo(f.st, ev, f.next, nil); err != nil {
		f.t.Fatalf("apply %s: %v", ev.Type, err)
	}
	f.next++
}

// mustViolate applies ev, expects the given rule and class, and checks that
// the state is unchanged.
func (f *fixture) mustViolate(ev *entry.Event, rule state.Rule, class error) {
	f.t.Helper()
	before := f.st.Changed()
	err := f.rules.ApplyTo(f.st, ev, f.next, nil)
	var v *state.Violation
	if !errors.As(err, &v) {
		f.t.Fatalf("apply %s: got %v, want violation of %s", ev.Type, err, rule)
	}
	if v.Rule != rule {
		f.t.Fatalf("apply %s: violated %s (%v), want %s", ev.Type, v.Rule, err, rule)
	}
	if !errors.Is(err, class) {
		f.t.Errorf("violation %v is not of class %v", err, class)
	}
	if after := f.st.Changed(); !sameChanges(before, after) {
		f.t.Fatalf("state changed after a violation")
	}
}

func sameChanges(a, b *state.Changes) bool {
	m := func(c *state.Changes) map[string]any {
		out := map[string]any{}
		for _, v := range c.Issuers {
			out["i"+v.Name] = *v
		}
		for _, v := range c.Credentials {
			out["c"+string(v.ID[:])] = *v
		}
		for _, v := range c.Subjects {
			out["s"+string(v.Label[:])] = *v
		}
		return out
	}
	return reflect.DeepEqual(m(a), m(b))
}

func hash(b byte) entry.Hash {
	var x entry.Hash
	for i := range x {
		x[i] = b
	}
	return x
}

func (f *fixture) cred(b byte) *state.Credential {
	c, err := f.st.Credential(issuer, hash(b))
	if err != nil || c == nil {
		f.t.Fatalf("credential %x: %v, %v", b, c, err)
	}
	return c
}

func TestLifecycle(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.issue(1, 10, 1, nil))
	f.mustApply(f.status(entry.TypeSuspend, 1, 10))
	if s := f.cred(10).Status; s != state.StatusSuspended {
		t.Fatalf("status after suspend = %s", s)
	}
	f.mustApply(f.status(entry.TypeResume, 1, 10))
	old := hash(10)
	f.mustApply(f.issue(1, 11, 2, &old))
	if s := f.cred(10).Status; s != state.StatusSuperseded {
		t.Fatalf("superseded credential is %s", s)
	}
	f.mustApply(f.status(entry.TypeRevoke, 1, 11))
	if s := f.cred(11).Status; s != state.StatusRevoked {
		t.Fatalf("status after revoke = %s", s)
	}
	sub, _ := f.st.Subject(issuer, hash(1))
	if sub.Events != 5 || sub.Version != 2 || sub.Live != (entry.Hash{}) {
		t.Fatalf("subject = %+v", sub)
	}
	// The digest is the chain over the indices of the subject's events.
	var d entry.Hash
	for i := uint64(1); i <= 5; i++ {
		d = state.SubjectDigest(d, i)
	}
	if sub.Digest != d {
		t.Fatalf("subject digest %x, want %x", sub.Digest, d)
	}
	// After a revocation the subject may be issued a new credential, with
	// the next version, superseding nothing or the revoked one.
	f.mustApply(f.issue(1, 12, 3, nil))
}

func TestRuleIssueNotNew(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.issue(1, 10, 1, nil))
	f.mustViolate(f.issue(2, 10, 1, nil), state.RuleIssueNotNew, state.ErrConflict)
}

func TestRuleVersionNotDense(t *testing.T) {
	f := newFixture(t)
	f.mustViolate(f.issue(1, 10, 2, nil), state.RuleVersionNotDense, state.ErrConflict)
	f.mustApply(f.issue(1, 10, 1, nil))
	old := hash(10)
	f.mustViolate(f.issue(1, 11, 1, &old), state.RuleVersionNotDense, state.ErrConflict)
	f.mustViolate(f.issue(1, 11, 3, &old), state.RuleVersionNotDense, state.ErrConflict)
}

func TestRuleMustSupersede(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.issue(1, 10, 1, nil))
	f.mustViolate(f.issue(1, 11, 2, nil), state.RuleMustSupersede, state.ErrConflict)
	// A suspended credential is still live: a second credential must
	// supersede it too, or resuming it would make two.
	f.mustApply(f.status(entry.TypeSuspend, 1, 10))
	f.mustViolate(f.issue(1, 11, 2, nil), state.RuleMustSupersede, state.ErrConflict)
	// Superseding an older, ended credential is not enough.
	f2 := newFixture(t)
	f2.mustApply(f2.issue(1, 10, 1, nil))
	f2.mustApply(f2.status(entry.TypeRevoke, 1, 10))
	f2.mustApply(f2.issue(1, 11, 2, nil))
	ended := hash(10)
	f2.mustViolate(f2.issue(1, 12, 3, &ended), state.RuleMustSupersede, state.ErrConflict)
}

func TestRuleSupersedesOther(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.issue(1, 10, 1, nil))
	f.mustApply(f.issue(2, 20, 1, nil))
	other := hash(20)
	f.mustViolate(f.issue(1, 11, 2, &other), state.RuleSupersedesOther, state.ErrConflict)
	unknown := hash(99)
	f.mustViolate(f.issue(1, 11, 2, &unknown), state.RuleUnknownCredential, state.ErrConflict)
}

func TestRuleUnknownCredential(t *testing.T) {
	f := newFixture(t)
	f.mustViolate(f.status(entry.TypeRevoke, 1, 10), state.RuleUnknownCredential, state.ErrConflict)
}

func TestRuleSubjectMismatch(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.issue(1, 10, 1, nil))
	f.mustViolate(f.status(entry.TypeSuspend, 2, 10), state.RuleSubjectMismatch, state.ErrConflict)
}

func TestRuleRevokedIsTerminal(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.issue(1, 10, 1, nil))
	f.mustApply(f.status(entry.TypeRevoke, 1, 10))
	for _, typ := range []entry.Type{entry.TypeRevoke, entry.TypeSuspend, entry.TypeResume} {
		f.mustViolate(f.status(typ, 1, 10), state.RuleRevokedIsTerminal, state.ErrConflict)
	}
}

func TestRuleSupersededIsEnded(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.issue(1, 10, 1, nil))
	old := hash(10)
	f.mustApply(f.issue(1, 11, 2, &old))
	f.mustViolate(f.status(entry.TypeSuspend, 1, 10), state.RuleSupersededIsEnded, state.ErrConflict)
}

func TestRuleSuspendFromActive(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.issue(1, 10, 1, nil))
	f.mustApply(f.status(entry.TypeSuspend, 1, 10))
	f.mustViolate(f.status(entry.TypeSuspend, 1, 10), state.RuleSuspendFromActive, state.ErrConflict)
}

func TestRuleResumeFromSuspended(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.issue(1, 10, 1, nil))
	f.mustViolate(f.status(entry.TypeResume, 1, 10), state.RuleResumeFromSuspend, state.ErrConflict)
}

func TestRuleUnknownIssuer(t *testing.T) {
	f := newFixture(t)
	ev := f.issue(1, 10, 1, nil)
	ev.Issuer = "other.example"
	f.sign(ev, f.issKey, "other.example")
	f.mustViolate(ev, state.RuleUnknownIssuer, state.ErrUnauthorized)
}

func TestRuleWrongKeyAndSignature(t *testing.T) {
	f := newFixture(t)
	_, stranger, _ := ed25519.GenerateKey(nil)
	ev := f.issue(1, 10, 1, nil)
	f.sign(ev, stranger, issuer)
	f.mustViolate(ev, state.RuleWrongKey, state.ErrUnauthorized)
	// Right key ID, wrong signature.
	ev = f.issue(1, 10, 1, nil)
	ev.Signature[0] ^= 1
	f.mustViolate(ev, state.RuleBadSignature, state.ErrUnauthorized)
	// A signature checked by the caller under another key is re-checked.
	ev = f.issue(1, 10, 1, nil)
	f.sign(ev, stranger, issuer)
	ev.KeyID = keys.KeyID(issuer, f.issKey.Public().(ed25519.PublicKey))
	if err := f.rules.ApplyTo(f.st, ev, f.next, stranger.Public().(ed25519.PublicKey)); !errors.Is(err, state.ErrUnauthorized) {
		t.Fatalf("pre-verified under the wrong key: %v", err)
	}
}

func TestRegistrationAndRotation(t *testing.T) {
	f := newFixture(t)
	_, k2, _ := ed25519.GenerateKey(nil)
	// Self-signed registration of a new issuer is refused.
	ev := f.register(k2, k2)
	ev.Issuer = "new.example"
	f.sign(ev, k2, "new.example")
	f.mustViolate(ev, state.RuleRegistrationSigner, state.ErrUnauthorized)
	// Rotation by the current key.
	f.mustApply(f.register(k2, f.issKey))
	old := f.issKey
	f.issKey = k2
	f.mustApply(f.issue(1, 10, 1, nil))
	// The old key no longer signs.
	f.issKey = old
	f.mustViolate(f.issue(2, 20, 1, nil), state.RuleWrongKey, state.ErrUnauthorized)
	f.issKey = k2
	// Rotation to the same key and a change of VRF key are refused.
	f.mustViolate(f.register(k2, k2), state.RuleKeyUnchanged, state.ErrConflict)
	_, k3, _ := ed25519.GenerateKey(nil)
	ev = f.register(k3, k2)
	ev.VRFKey[1] = 1
	f.sign(ev, k2, issuer)
	f.mustViolate(ev, state.RuleVRFKeyFixed, state.ErrConflict)
	// The log's key may register under the log's own name? Never.
	ev = f.register(k3, f.logKey)
	ev.Issuer = origin
	f.sign(ev, f.logKey, origin)
	f.mustViolate(ev, state.RuleRegistrationSigner, state.ErrConflict)
}

func TestMapRoot(t *testing.T) {
	f := newFixture(t)
	ev := &entry.Event{Type: entry.TypeMapRoot, Issuer: origin, Time: t0, TreeSize: f.next, MapRoot: hash(7)}
	f.mustApply(f.sign(ev, f.logKey, origin))
	ev = &entry.Event{Type: entry.TypeMapRoot, Issuer: origin, Time: t0, TreeSize: f.next + 1, MapRoot: hash(7)}
	f.mustViolate(f.sign(ev, f.logKey, origin), state.RuleMapRootSize, state.ErrConflict)
	ev = &entry.Event{Type: entry.TypeMapRoot, Issuer: origin, Time: t0, TreeSize: f.next, MapRoot: hash(7)}
	f.mustViolate(f.sign(ev, f.issKey, origin), state.RuleMapRootSigner, state.ErrUnauthorized)
}

func TestExpiredCredentialNeedsNoSupersede(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.issue(1, 10, 1, nil))
	ev := f.issue(1, 11, 2, nil)
	ev.Time = t0 + year + 1
	ev.NotBefore, ev.NotAfter = t0+year, t0+2*year
	f.mustApply(f.sign(ev, f.issKey, issuer))
}

func TestOverlayFallsThrough(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.issue(1, 10, 1, nil))
	top := state.NewOverlay(f.st)
	if err := f.rules.ApplyTo(top, f.status(entry.TypeSuspend, 1, 10), f.next, nil); err != nil {
		t.Fatal(err)
	}
	if c, _ := top.Credential(issuer, hash(10)); c.Status != state.StatusSuspended {
		t.Fatalf("top sees %s", c.Status)
	}
	if c, _ := f.st.Credential(issuer, hash(10)); c.Status != state.StatusActive {
		t.Fatalf("base changed to %s", c.Status)
	}
	if n := len(top.Changed().Credentials); n != 1 {
		t.Fatalf("top changed %d credentials", n)
	}
}

func TestRuleVRFKeyInvalid(t *testing.T) {
	f := newFixture(t)
	_, k, _ := ed25519.GenerateKey(nil)
	ev := f.register(k, f.logKey)
	ev.Issuer = "other.example"
	ev.VRFKey = [32]byte{1} // the identity point: small order
	f.sign(ev, f.logKey, origin)
	f.mustViolate(ev, state.RuleVRFKeyInvalid, state.ErrConflict)
}
