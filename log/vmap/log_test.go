package vmap

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/credlog/credlog/log/credential"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/vrf"
)

const (
	testOrigin = "log.example.org/credlog"
	testIssuer = "id.example.gov"
	t0         = uint64(1763856000)
	year       = uint64(365 * 24 * 3600)
)

// testLog builds a real log: events signed with real keys, subject labels
// from a real VRF, every event checked by the state rules before it is
// appended, and map-root entries whose roots come from the reference.
type testLog struct {
	t       *testing.T
	rules   *state.Rules
	st      *state.Overlay
	logKey  ed25519.PrivateKey
	issKey  ed25519.PrivateKey
	vrfKey  *vrf.PrivateKey
	entries [][]byte
	roots   map[uint64]Hash // index of each map-root entry → its root
	subject map[entry.Hash]string
}

func newTestLog(t *testing.T, seed uint64) *testLog {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x6c6f67))
	seedBytes := func() []byte {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	lk := ed25519.NewKeyFromSeed(seedBytes())
	ik := ed25519.NewKeyFromSeed(seedBytes())
	vk, err := vrf.NewKeyFromSeed(seedBytes())
	if err != nil {
		t.Fatal(err)
	}
	l := &testLog{t: t, rules: state.NewRules(testOrigin, lk.Public().(ed25519.PublicKey)), st: state.NewOverlay(nil),
		logKey: lk, issKey: ik, vrfKey: vk, roots: make(map[uint64]Hash), subject: make(map[entry.Hash]string)}
	ev := &entry.Event{Type: entry.TypeIssuerKey, Issuer: testIssuer, Time: t0}
	copy(ev.PublicKey[:], ik.Public().(ed25519.PublicKey))
	copy(ev.VRFKey[:], vk.PublicKey())
	l.append(l.sign(ev, lk, testOrigin))
	return l
}

// label returns the subject label of an ID number.
func (l *testLog) label(idNumber string) entry.Hash {
	beta, err := vrf.ProofToHash(l.vrfKey.Prove(credential.SubjectInput(idNumber)))
	if err != nil {
		l.t.Fatal(err)
	}
	h := credential.Label(beta)
	l.subject[h] = idNumber
	return h
}

func credID(name string) entry.Hash { return sha256.Sum256([]byte("certificate " + name)) }

func (l *testLog) sign(ev *entry.Event, key ed25519.PrivateKey, name string) *entry.Event {
	ev.KeyID = keys.KeyID(name, key.Public().(ed25519.PublicKey))
	if err := ev.Sign(key); err != nil {
		l.t.Fatal(err)
	}
	return ev
}

// append checks ev against the rules and appends it; it returns its index.
func (l *testLog) append(ev *entry.Event) uint64 {
	l.t.Helper()
	idx := uint64(len(l.entries))
	if err := l.rules.ApplyTo(l.st, ev, idx, nil); err != nil {
		l.t.Fatalf("entry %d (%s): %v", idx, ev.Type, err)
	}
	b, err := ev.Marshal()
	if err != nil {
		l.t.Fatal(err)
	}
	l.entries = append(l.entries, b)
	return idx
}

func (l *testLog) issue(label, cred entry.Hash, supersedes *entry.Hash) uint64 {
	sub, _ := l.st.Subject(testIssuer, label)
	version := uint32(1)
	if sub != nil {
		version = sub.Version + 1
	}
	now := t0 + uint64(len(l.entries))
	ev := &entry.Event{Type: entry.TypeIssue, Issuer: testIssuer, Time: now, Subject: label, Credential: cred,
		NotBefore: now, NotAfter: now + year, Version: version, Supersedes: supersedes}
	return l.append(l.sign(ev, l.issKey, testIssuer))
}

func (l *testLog) status(typ entry.Type, label, cred entry.Hash) uint64 {
	ev := &entry.Event{Type: typ, Issuer: testIssuer, Time: t0 + uint64(len(l.entries)), Subject: label, Credential: cred}
	if typ == entry.TypeRevoke || typ == entry.TypeSuspend {
		ev.Reason = entry.ReasonKeyCompromise
	}
	return l.append(l.sign(ev, l.issKey, testIssuer))
}

// refState returns the reference map of the log's state so far.
func (l *testLog) refState() refMap {
	m := refMap{}
	ch := l.st.Changed()
	for _, c := range ch.Credentials {
		u, err := CredentialUpdate(c)
		if err != nil {
			l.t.Fatal(err)
		}
		m[u.Key] = u.Value
	}
	for _, s := range ch.Subjects {
		u, err := SubjectUpdate(s)
		if err != nil {
			l.t.Fatal(err)
		}
		m[u.Key] = u.Value
	}
	return m
}

// mapRoot appends a map-root entry with the reference root of the
// entries before it, and returns its index.
func (l *testLog) mapRoot() uint64 {
	idx := uint64(len(l.entries))
	root := refRoot(l.refState())
	l.append(l.mapRootEntry(idx, root))
	l.roots[idx] = root
	return idx
}

func (l *testLog) mapRootEntry(size uint64, root Hash) *entry.Event {
	ev := &entry.Event{Type: entry.TypeMapRoot, Issuer: testOrigin, Time: t0 + size, TreeSize: size, MapRoot: root}
	return l.sign(ev, l.logKey, testOrigin)
}

// random appends n events chosen at random among those the rules allow,
// with a map-root entry every so often.
func (l *testLog) random(rng *rand.Rand, n int) {
	var labels []entry.Hash
	for i := 0; i < n; i++ {
		if rng.IntN(9) == 0 {
			l.mapRoot()
			continue
		}
		if len(labels) == 0 || rng.IntN(4) == 0 {
			label := l.label(fmt.Sprintf("ID-%d-%d", len(l.entries), rng.Uint32()))
			labels = append(labels, label)
			l.issue(label, credID(fmt.Sprintf("%x-1", label)), nil)
			continue
		}
		label := labels[rng.IntN(len(labels))]
		sub, _ := l.st.Subject(testIssuer, label)
		var live *state.Credential
		if sub.Live != (entry.Hash{}) {
			live, _ = l.st.Credential(testIssuer, sub.Live)
		}
		next := credID(fmt.Sprintf("%x-%d", label, sub.Version+1))
		switch {
		case live == nil:
			l.issue(label, next, nil)
		case rng.IntN(4) == 0:
			l.issue(label, next, &live.ID)
		case live.Status == state.StatusSuspended && rng.IntN(2) == 0:
			l.status(entry.TypeResume, label, live.ID)
		case live.Status == state.StatusActive && rng.IntN(2) == 0:
			l.status(entry.TypeSuspend, label, live.ID)
		default:
			l.status(entry.TypeRevoke, label, live.ID)
		}
	}
}

func entriesOf(raw [][]byte) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		for _, b := range raw {
			if !yield(b, nil) {
				return
			}
		}
	}
}

func TestRebuildMatchesLoggedRoots(t *testing.T) {
	for seed := range uint64(3) {
		l := newTestLog(t, seed)
		l.random(rand.New(rand.NewPCG(seed, 1)), 250)
		l.mapRoot()
		r, err := Rebuild(context.Background(), l.rules, entriesOf(l.entries))
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if r.MapRoots() != uint64(len(l.roots)) || r.Size() != uint64(len(l.entries)) {
			t.Fatalf("seed %d: checked %d map roots over %d entries, logged %d over %d", seed, r.MapRoots(), r.Size(), len(l.roots), len(l.entries))
		}
		root, err := r.Root(context.Background())
		if err != nil || root != refRoot(l.refState()) {
			t.Fatalf("seed %d: final root %x, %v", seed, root, err)
		}
		// The map is also what one batch of the state's changes gives.
		ups, err := UpdatesFromChanges(l.st.Changed())
		if err != nil {
			t.Fatal(err)
		}
		d, err := NewTree(NewMemoryStore()).Update(context.Background(), ups)
		if err != nil || d.Root != root {
			t.Fatalf("seed %d: root from the state's changes %x, %v; rebuilt %x", seed, d.Root, err, root)
		}
	}
}

// tamper returns the log's entries with entry i replaced by ev.
func (l *testLog) tamper(i uint64, ev *entry.Event) [][]byte {
	b, err := ev.Marshal()
	if err != nil {
		l.t.Fatal(err)
	}
	out := slices.Clone(l.entries)
	out[i] = b
	return out
}

func TestRebuildDetectsTamperedMapRoot(t *testing.T) {
	l := newTestLog(t, 7)
	rng := rand.New(rand.NewPCG(7, 1))
	l.random(rng, 40)
	first := l.mapRoot()
	l.random(rng, 40)
	target := l.mapRoot()
	l.random(rng, 40)
	l.mapRoot()
	ctx := context.Background()

	flipped := l.roots[target]
	flipped[17] ^= 0x04
	for name, bad := range map[string]Hash{"bit flipped": flipped, "stale": l.roots[first], "empty": EmptyHash} {
		// Signed by the log's key, so only the map can tell.
		_, err := Rebuild(ctx, l.rules, entriesOf(l.tamper(target, l.mapRootEntry(target, bad))))
		me, ok := err.(*MismatchError)
		if !ok || me.Index != target || me.Logged != bad || me.Computed != l.roots[target] {
			t.Fatalf("%s root at %d: %v", name, target, err)
		}
	}
	// Two wrong roots: the first is named.
	bad := l.tamper(target, l.mapRootEntry(target, flipped))
	second := slices.Max(slices.Collect(func(yield func(uint64) bool) {
		for i := range l.roots {
			yield(i)
		}
	}))
	bad[second], _ = l.mapRootEntry(second, flipped).Marshal()
	if _, err := Rebuild(ctx, l.rules, entriesOf(bad)); err == nil || err.(*MismatchError).Index != target {
		t.Fatalf("two tampered roots: %v", err)
	}
	// A Rebuilder goes on past a mismatch, so an auditor can list them.
	r := NewRebuilder(l.rules)
	var mismatches []uint64
	for _, b := range bad {
		if err := r.Add(ctx, b); err != nil {
			mismatches = append(mismatches, err.(*MismatchError).Index)
		}
	}
	if !slices.Equal(mismatches, []uint64{target, second}) {
		t.Fatalf("mismatches at %v, want %d and %d", mismatches, target, second)
	}
	// A map-root entry signed by another key, or covering another size,
	// is a rule violation at its index.
	ev := l.mapRootEntry(target, l.roots[target])
	l.sign(ev, l.issKey, testOrigin)
	_, err := Rebuild(ctx, l.rules, entriesOf(l.tamper(target, ev)))
	if ee, ok := err.(*EntryError); !ok || ee.Index != target {
		t.Fatalf("map-root signed by the issuer: %v", err)
	}
	_, err = Rebuild(ctx, l.rules, entriesOf(l.tamper(target, l.mapRootEntry(target-1, l.roots[target]))))
	if ee, ok := err.(*EntryError); !ok || ee.Index != target {
		t.Fatalf("map-root over a shorter prefix: %v", err)
	}
	// Garbage is a malformed entry at its index.
	garbage := slices.Clone(l.entries)
	garbage[5] = append(slices.Clone(garbage[5]), 0)
	_, err = Rebuild(ctx, l.rules, entriesOf(garbage))
	if ee, ok := err.(*EntryError); !ok || ee.Index != 5 {
		t.Fatalf("entry with a trailing byte: %v", err)
	}
}

// replay feeds the log to a Rebuilder and returns, for each map-root
// entry, the proof and value of key as of its root.
func (l *testLog) proofsAt(key Key) map[uint64][2][]byte {
	l.t.Helper()
	ctx := context.Background()
	r := NewRebuilder(l.rules)
	out := make(map[uint64][2][]byte)
	for i, b := range l.entries {
		if err := r.Add(ctx, b); err != nil {
			l.t.Fatal(err)
		}
		if _, ok := l.roots[uint64(i)]; ok {
			p, v, err := r.Prove(ctx, key)
			if err != nil {
				l.t.Fatal(err)
			}
			enc, _ := p.Marshal()
			out[uint64(i)] = [2][]byte{v, enc}
		}
	}
	return out
}

// storeAt returns a store holding the map of the log's state now.
func storeOf(t *testing.T, m refMap) *MemoryStore {
	s := NewMemoryStore()
	apply(t, s, refMap{}, mapUpdates(m))
	return s
}

func TestRevokedCredentialNeverProvesActive(t *testing.T) {
	l := newTestLog(t, 11)
	rng := rand.New(rand.NewPCG(11, 1))
	l.random(rng, 30)
	label := l.label("ID-victim")
	c := credID("victim")
	issued := l.issue(label, c, nil)
	l.random(rng, 10)
	before := l.mapRoot()
	revoked := l.status(entry.TypeRevoke, label, c)
	after := []uint64{l.mapRoot()}
	l.random(rng, 30)
	after = append(after, l.mapRoot())
	proofs := l.proofsAt(CredentialKey(testIssuer, c))

	vp := proofs[before]
	if _, err := VerifyCredentialStatus(l.roots[before], testIssuer, c, state.StatusActive, vp[0], vp[1]); err != nil {
		t.Fatalf("active before the revocation: %v", err)
	}
	var forged [][]byte
	for _, last := range []uint64{issued, revoked, revoked + 1, 1 << 40} {
		b, _ := (&CredentialValue{Status: state.StatusActive, LastIndex: last, IssueIndex: issued}).Marshal()
		forged = append(forged, b)
	}
	for _, idx := range after {
		root := l.roots[idx]
		v, p := proofs[idx][0], proofs[idx][1]
		got, err := VerifyCredentialStatus(root, testIssuer, c, state.StatusRevoked, v, p)
		if err != nil || got.LastIndex != revoked || got.IssueIndex != issued {
			t.Fatalf("revoked at %d: %+v, %v", idx, got, err)
		}
		if _, err := VerifyCredentialStatus(root, testIssuer, c, state.StatusActive, v, p); err == nil {
			t.Fatalf("revoked credential proved active at %d", idx)
		}
		// The proof from before the revocation, forged values with
		// the current proof, and every proof the current map can give
		// for any key: none shows the credential active.
		candidates := [][2][]byte{vp}
		for _, f := range forged {
			candidates = append(candidates, [2][]byte{f, p})
		}
		s := storeOf(t, l.refStateAt(idx))
		s.Nodes(func(_ NodeID, n Node) bool {
			if n.Kind == KindLeaf {
				pr, _, err := NewTree(s).Prove(context.Background(), n.Key)
				if err != nil {
					t.Fatal(err)
				}
				enc, _ := pr.Marshal()
				candidates = append(candidates, [2][]byte{n.Value, enc})
				for _, f := range forged {
					candidates = append(candidates, [2][]byte{f, enc})
				}
			}
			return true
		})
		for i, cand := range candidates {
			if _, err := VerifyCredentialStatus(root, testIssuer, c, state.StatusActive, cand[0], cand[1]); err == nil {
				t.Fatalf("candidate %d proves the revoked credential active at %d", i, idx)
			}
		}
	}
}

// refStateAt returns the reference map over the entries before index i.
func (l *testLog) refStateAt(i uint64) refMap {
	r := NewRebuilder(l.rules)
	for _, b := range l.entries[:i] {
		if err := r.Add(context.Background(), b); err != nil {
			l.t.Fatal(err)
		}
	}
	m := refMap{}
	ch := r.st.Changed()
	for _, c := range ch.Credentials {
		u, _ := CredentialUpdate(c)
		m[u.Key] = u.Value
	}
	for _, s := range ch.Subjects {
		u, _ := SubjectUpdate(s)
		m[u.Key] = u.Value
	}
	if refRoot(m) != l.roots[i] {
		l.t.Fatalf("reference state before %d does not give the logged root", i)
	}
	return m
}

func TestHiddenSecondIssueCannotBeOmitted(t *testing.T) {
	l := newTestLog(t, 13)
	rng := rand.New(rand.NewPCG(13, 1))
	l.random(rng, 20)
	label := l.label("ID-holder")
	c1, c2 := credID("holder-1"), credID("holder-2")
	i1 := l.issue(label, c1, nil)
	l.random(rng, 10)
	known := l.mapRoot()
	// The issuer mints a second credential for the same person, which
	// the holder never asked for.
	i2 := l.issue(label, c2, &c1)
	l.random(rng, 10)
	idx := l.mapRoot()
	root := l.roots[idx]
	proofs := l.proofsAt(SubjectKey(testIssuer, label))
	v, p := proofs[idx][0], proofs[idx][1]

	if _, err := VerifySubjectHistory(l.roots[known], testIssuer, label, []uint64{i1}, proofs[known][0], proofs[known][1]); err != nil {
		t.Fatalf("history before the second issue: %v", err)
	}
	got, err := VerifySubjectHistory(root, testIssuer, label, []uint64{i1, i2}, v, p)
	if err != nil || got.Version != 2 || got.Live != c2 || got.Events != 2 {
		t.Fatalf("full history: %+v, %v", got, err)
	}
	var d entry.Hash
	d = state.SubjectDigest(d, i1)
	forged, _ := (&SubjectValue{Digest: d, Events: 1, Version: 1, Live: c1}).Marshal()
	absent, _, err := NewTree(storeOf(t, l.refStateAt(idx))).Prove(context.Background(), SubjectKey(testIssuer, l.label("ID-nobody")))
	if err != nil {
		t.Fatal(err)
	}
	absentEnc, _ := absent.Marshal()
	for name, c := range map[string]struct {
		indices  []uint64
		value, p []byte
	}{
		"omitting it":               {[]uint64{i1}, v, p},
		"forged value":              {[]uint64{i1}, forged, p},
		"old proof at the new root": {[]uint64{i1}, proofs[known][0], proofs[known][1]},
		"reordered":                 {[]uint64{i2, i1}, v, p},
		"repeated":                  {[]uint64{i1, i1, i2}, v, p},
		"only the hidden one":       {[]uint64{i2}, v, p},
		"empty history":             {nil, nil, absentEnc},
		"another subject's absence": {nil, nil, p},
	} {
		if got, err := VerifySubjectHistory(root, testIssuer, label, c.indices, c.value, c.p); err == nil {
			t.Errorf("%s: history verified: %+v", name, got)
		}
	}
}

func TestRebuildStopsOnReadError(t *testing.T) {
	l := newTestLog(t, 17)
	l.random(rand.New(rand.NewPCG(17, 1)), 10)
	boom := errors.New("tile fetch failed")
	entries := func(yield func([]byte, error) bool) {
		for i, b := range l.entries {
			if i == 3 {
				yield(nil, boom)
				return
			}
			if !yield(b, nil) {
				return
			}
		}
	}
	r, err := Rebuild(context.Background(), l.rules, entries)
	if !errors.Is(err, boom) || r.Size() != 3 {
		t.Fatalf("read error at entry 3: %v after %d entries", err, r.Size())
	}
}
