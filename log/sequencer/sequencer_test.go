package sequencer_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/sequencer"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/storage/faulty"
	"github.com/credlog/credlog/log/storage/sqlite"
	"github.com/credlog/credlog/log/vmap"
	"github.com/credlog/credlog/log/vrf"
)

const (
	origin = "log.example.org/credlog"
	issuer = "id.example.gov"
)

type env struct {
	t      testing.TB
	dir    string
	logKey *keys.Signer
	issKey ed25519.PrivateKey
	l      *sequencer.Log
	cancel context.CancelFunc
	done   chan error

	mapEpoch time.Duration // Config.MapEpoch at the next start
	mapIdle  time.Duration // Config.MapIdle at the next start
	// faults, if set at the next start, wraps the storage, which is
	// then in fs.
	faults bool
	fs     *faulty.Storage
}

func newEnv(t testing.TB) *env {
	skey, _, err := keys.Generate(origin, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := keys.ParseSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	_, ik, _ := ed25519.GenerateKey(nil)
	e := &env{t: t, dir: t.TempDir(), logKey: s, issKey: ik}
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *env) start() {
	db, err := sqlite.Open(context.Background(), filepath.Join(e.dir, "log.db"))
	if err != nil {
		e.t.Fatal(err)
	}
	var st storage.Storage = db
	if e.faults {
		e.fs = faulty.New(db)
		st = e.fs
	}
	epoch := e.mapEpoch
	if epoch == 0 {
		epoch = time.Hour // no map-root entries among the indices the tests expect
	}
	l, err := sequencer.New(context.Background(), sequencer.Config{Signer: e.logKey, Storage: st, MaxAge: 5 * time.Millisecond, PublishInterval: 20 * time.Millisecond, MapEpoch: epoch, MapIdle: e.mapIdle})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.l, e.cancel, e.done = l, cancel, make(chan error, 1)
	go func() { e.done <- l.Run(ctx) }()
}

func (e *env) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	if err := <-e.done; err != nil {
		e.t.Errorf("Run: %v", err)
	}
	e.l.Storage().Close()
	e.cancel = nil
}

func (e *env) sign(ev *entry.Event, key ed25519.PrivateKey, name string) []byte {
	ev.KeyID = keys.KeyID(name, key.Public().(ed25519.PublicKey))
	if err := ev.Sign(key); err != nil {
		e.t.Fatal(err)
	}
	b, err := ev.Marshal()
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *env) registration() []byte {
	ev := &entry.Event{Type: entry.TypeIssuerKey, Issuer: issuer, Time: 1763856000, VRFKey: testVRFKey}
	copy(ev.PublicKey[:], e.issKey.Public().(ed25519.PublicKey))
	return e.sign(ev, e.logKey.PrivateKey(), origin)
}

func (e *env) issue(n int) []byte {
	ev := &entry.Event{Type: entry.TypeIssue, Issuer: issuer, Time: 1763856000,
		Subject: sha256.Sum256(fmt.Appendf(nil, "s%d", n)), Credential: sha256.Sum256(fmt.Appendf(nil, "c%d", n)),
		NotBefore: 1763856000, NotAfter: 1795392000, Version: 1}
	return e.sign(ev, e.issKey, issuer)
}

func (e *env) revoke(n int) []byte {
	ev := &entry.Event{Type: entry.TypeRevoke, Issuer: issuer, Time: 1763856060, Reason: entry.ReasonOther,
		Subject: sha256.Sum256(fmt.Appendf(nil, "s%d", n)), Credential: sha256.Sum256(fmt.Appendf(nil, "c%d", n))}
	return e.sign(ev, e.issKey, issuer)
}

func (e *env) submit(raw []byte) sequencer.Result {
	e.t.Helper()
	ev, err := sequencer.Parse(raw)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.l.Verify(ev); err != nil {
		return sequencer.Result{Err: err}
	}
	f, err := e.l.Add(ev)
	if err != nil {
		return sequencer.Result{Err: err}
	}
	return f.Wait(context.Background())
}

func TestSequenceRestartAndPublish(t *testing.T) {
	e := newEnv(t)
	if r := e.submit(e.registration()); r.Err != nil || r.Index != 0 {
		t.Fatalf("registration = %+v", r)
	}
	// Concurrent submitters: every index is distinct and dense.
	const n = 300
	var wg sync.WaitGroup
	idx := make([]uint64, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.submit(e.issue(i))
			if r.Err != nil {
				t.Errorf("issue %d: %v", i, r.Err)
			}
			idx[i] = r.Index
		}()
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for _, i := range idx {
		if i == 0 || i > n || seen[i] {
			t.Fatalf("index %d out of range or repeated", i)
		}
		seen[i] = true
	}
	// Resubmission gets the original index.
	if r := e.submit(e.issue(7)); r.Err != nil || !r.Duplicate || r.Index != idx[7] {
		t.Fatalf("resubmission = %+v, want index %d", r, idx[7])
	}
	// A rule violation is refused and changes nothing.
	r := e.submit(e.revoke(n + 5))
	var v *state.Violation
	if !errors.As(r.Err, &v) || v.Rule != state.RuleUnknownCredential {
		t.Fatalf("revoke of an unknown credential = %+v", r)
	}
	size, err := e.l.WaitPublished(context.Background(), n+1)
	if err != nil || size != n+1 {
		t.Fatalf("published %d, %v", size, err)
	}
	_, cp, err := e.l.Storage().LatestCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	nv, _ := note.NewVerifier(e.logKey.VerifierKey())
	c, _, _, err := log.ParseCheckpoint(cp, origin, nv)
	if err != nil || c.Size != n+1 {
		t.Fatalf("checkpoint = %+v, %v", c, err)
	}
	// Restart: same size and root, and the log goes on.
	e.stop()
	e.start()
	if st := e.l.Stats(); st.Committed != n+1 || st.Published != n+1 {
		t.Fatalf("after restart: %+v", st)
	}
	if r := e.submit(e.revoke(3)); r.Err != nil || r.Index != n+1 {
		t.Fatalf("revoke after restart = %+v", r)
	}
	if r := e.submit(e.issue(7)); r.Err != nil || !r.Duplicate || r.Index != idx[7] {
		t.Fatalf("resubmission after restart = %+v", r)
	}
	ts, _ := e.l.Storage().Tree(context.Background())
	if _, err := e.l.WaitPublished(context.Background(), ts.Size); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownIssuerAndBadSignature(t *testing.T) {
	e := newEnv(t)
	r := e.submit(e.issue(1))
	var v *state.Violation
	if !errors.As(r.Err, &v) || v.Rule != state.RuleUnknownIssuer || !errors.Is(r.Err, state.ErrUnauthorized) {
		t.Fatalf("unregistered issuer = %+v", r)
	}
	e.submit(e.registration())
	raw := e.issue(1)
	raw[len(raw)-1] ^= 1
	if r := e.submit(raw); !errors.Is(r.Err, entry.ErrBadSignature) {
		t.Fatalf("bad signature = %+v", r)
	}
	ts, _ := e.l.Storage().Tree(context.Background())
	if ts.Size != 1 {
		t.Fatalf("tree grew to %d on rejected events", ts.Size)
	}
}

func TestOverload(t *testing.T) {
	e := newEnv(t)
	e.stop() // nothing drains the queue now… but a stopped log refuses.
	st, err := sqlite.Open(context.Background(), filepath.Join(e.dir, "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := sequencer.New(context.Background(), sequencer.Config{Signer: e.logKey, Storage: st, QueueSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	var overloaded bool
	for i := 0; i < 3; i++ {
		ev, _ := sequencer.Parse(e.issue(i))
		if _, err := l.Add(ev); errors.Is(err, sequencer.ErrOverloaded) {
			overloaded = true
		}
	}
	if !overloaded {
		t.Fatal("a full queue accepted a third event")
	}
}

// TestMapCacheDepthRefused: a map cache deeper than a vmap.Cache can be
// is refused, not silently made shallower.
func TestMapCacheDepthRefused(t *testing.T) {
	e := newEnv(t)
	e.stop()
	st, err := sqlite.Open(context.Background(), filepath.Join(e.dir, "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := sequencer.New(context.Background(), sequencer.Config{Signer: e.logKey, Storage: st, MapCacheDepth: vmap.MaxCacheDepth + 1}); err == nil {
		t.Error("a map cache deeper than vmap.MaxCacheDepth was accepted")
	}
}

// testVRFKey is a valid VRF public key for issuer registrations.
var testVRFKey = func() [32]byte {
	k, err := vrf.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	return [32]byte(k.PublicKey())
}()

func (e *env) status(typ entry.Type, n int) []byte {
	ev := &entry.Event{Type: typ, Issuer: issuer, Time: 1763856060,
		Subject: sha256.Sum256(fmt.Appendf(nil, "s%d", n)), Credential: sha256.Sum256(fmt.Appendf(nil, "c%d", n))}
	if typ == entry.TypeSuspend {
		ev.Reason = entry.ReasonOther
	}
	return e.sign(ev, e.issKey, issuer)
}

// TestReplayAfterResume replays a suspend after the credential was
// resumed: the rules alone would accept it again, but it is the same
// event, so it gets its original index, and an honest event queued with
// it is logged.
func TestReplayAfterResume(t *testing.T) {
	e := newEnv(t)
	for _, raw := range [][]byte{e.registration(), e.issue(1), e.status(entry.TypeSuspend, 1), e.status(entry.TypeResume, 1)} {
		if r := e.submit(raw); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	replay, err := sequencer.Parse(e.status(entry.TypeSuspend, 1))
	if err != nil {
		t.Fatal(err)
	}
	honest, err := sequencer.Parse(e.issue(2))
	if err != nil {
		t.Fatal(err)
	}
	f1, err1 := e.l.Add(replay)
	f2, err2 := e.l.Add(honest)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if r := f1.Wait(context.Background()); r.Err != nil || !r.Duplicate || r.Index != 2 {
		t.Errorf("replayed suspend: %+v, want duplicate of index 2", r)
	}
	if r := f2.Wait(context.Background()); r.Err != nil || r.Duplicate || r.Index != 4 {
		t.Errorf("honest issue: %+v, want index 4", r)
	}
}

// TestLatestCheckpointInMemory: the log's in-memory latest checkpoint is
// storage's, byte for byte, after each publication and after a restart;
// none before the first checkpoint; none once the log has stopped.
func TestLatestCheckpointInMemory(t *testing.T) {
	e := newEnv(t)
	bg := context.Background()
	if _, cp, ok := e.l.LatestCheckpoint(); ok || cp != nil {
		t.Fatalf("a fresh log has a checkpoint in memory: %q", cp)
	}
	same := func(what string) {
		t.Helper()
		size, cp, ok := e.l.LatestCheckpoint()
		ssize, scp, err := e.l.Storage().LatestCheckpoint(bg)
		if err != nil || !ok || size != ssize || !bytes.Equal(cp, scp) {
			t.Fatalf("%s: in memory %d %q (%v), stored %d %q (%v)", what, size, cp, ok, ssize, scp, err)
		}
	}
	for i, raw := range [][]byte{e.registration(), e.issue(1), e.issue(2)} {
		r := e.submit(raw)
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		if _, err := e.l.WaitPublished(bg, r.Index+1); err != nil {
			t.Fatal(err)
		}
		same(fmt.Sprintf("after event %d", i))
	}
	e.stop()
	if _, _, ok := e.l.LatestCheckpoint(); ok {
		t.Fatal("a stopped log answers the latest checkpoint from memory")
	}
	e.start()
	same("after a restart")
}
