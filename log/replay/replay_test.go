package replay_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/api/apitest"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/fsck/fscktest"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/replay"
	"github.com/credlog/credlog/log/replay/replaytest"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/vmap"
	"github.com/credlog/credlog/log/witnessclient/policy"
)

const origin = "replay.example/credlog"

// testLog is the entries of a log under construction, with its key and
// one registered issuer.
type testLog struct {
	key     *keys.Signer
	iss     *fscktest.Issuer
	work    *fscktest.Workload
	entries [][]byte
}

func newTestLog(t testing.TB) *testLog {
	t.Helper()
	skey, _, err := keys.Generate(origin, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := keys.ParseSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := fscktest.NewIssuer("issuer.example")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := iss.Registration(key)
	if err != nil {
		t.Fatal(err)
	}
	return &testLog{key: key, iss: iss, work: iss.Workload("replay", 1), entries: [][]byte{reg}}
}

// add appends n events of the issuer's workload.
func (l *testLog) add(t testing.TB, n int) {
	t.Helper()
	for range n {
		e, err := l.work.Next()
		if err != nil {
			t.Fatal(err)
		}
		l.entries = append(l.entries, e)
	}
}

// addMapRoot appends a map-root entry signed by the log, committing to
// root, or to the right root if root is nil.
func (l *testLog) addMapRoot(t testing.TB, root *vmap.Hash) {
	t.Helper()
	if root == nil {
		rb := vmap.NewRebuilder(state.NewRules(origin, l.key.Public()))
		for _, e := range l.entries {
			if err := rb.Add(context.Background(), e); err != nil {
				t.Fatal(err)
			}
		}
		r, err := rb.Root(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		root = &r
	}
	ev := &entry.Event{Type: entry.TypeMapRoot, Issuer: origin, KeyID: l.key.KeyID(), Time: fscktest.T0,
		TreeSize: uint64(len(l.entries)), MapRoot: *root}
	l.addSigned(t, ev, l.key)
}

// addSigned appends ev signed by s.
func (l *testLog) addSigned(t testing.TB, ev *entry.Event, s *keys.Signer) {
	t.Helper()
	if err := ev.Sign(s.PrivateKey()); err != nil {
		t.Fatal(err)
	}
	raw, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	l.entries = append(l.entries, raw)
}

// policy returns the policy naming only the log's key.
func (l *testLog) policy(t testing.TB) *policy.Policy {
	t.Helper()
	pol, err := policy.Parse([]byte("log " + l.key.VerifierKey() + "\nquorum none\n"))
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// site is a log served from a directory in the tlog-tiles layout.
type site struct {
	dir     string
	fetcher *client.HTTPFetcher
}

// serve serves an empty directory over HTTP, where publish writes the log.
func serve(t testing.TB) *site {
	t.Helper()
	dir := t.TempDir()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	f, err := client.NewHTTPFetcher(u, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return &site{dir: dir, fetcher: f}
}

// publish writes the first n entries of l to s as tlog-tiles, with a
// checkpoint signed by the log. mutate, if not nil, changes the entries
// written to the bundles after the tiles and checkpoint are computed.
func (l *testLog) publish(t testing.TB, s *site, n int, mutate func([][]byte)) {
	t.Helper()
	root := replaytest.WriteLog(t, s.dir, l.entries[:n], mutate)
	replaytest.WriteFile(t, filepath.Join(s.dir, "checkpoint"), replaytest.SignCheckpoint(t, l.key, uint64(n), root[:]))
}

// serveLog serves the whole of l.
func (l *testLog) serveLog(t testing.TB, mutate func([][]byte)) *site {
	t.Helper()
	s := serve(t)
	l.publish(t, s, len(l.entries), mutate)
	return s
}

// checkpoint fetches and verifies the site's checkpoint.
func (s *site) checkpoint(t testing.TB, pol *policy.Policy) *replay.Checkpoint {
	t.Helper()
	cp, _, err := replay.FetchCheckpoint(context.Background(), s.fetcher, pol)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// replayer returns a Replayer of l's log reading s, that records the
// entries OnEntry sees.
func (l *testLog) replayer(s *site, opts replay.Options, seen *[]*replay.Entry) *replay.Replayer {
	if seen != nil {
		opts.OnEntry = func(e *replay.Entry) error {
			*seen = append(*seen, e)
			return nil
		}
	}
	return replay.New(origin, l.key.Public(), s.fetcher, opts)
}

// TestAdvanceIncremental follows a log through three checkpoints,
// crossing bundle boundaries with partial bundles, and checks that every
// entry is seen once, in order, with its change.
func TestAdvanceIncremental(t *testing.T) {
	l := newTestLog(t)
	l.add(t, 300)
	l.addMapRoot(t, nil)
	l.add(t, 4000)
	l.addMapRoot(t, nil)
	var seen []*replay.Entry
	s := serve(t)
	r := l.replayer(s, replay.Options{Workers: 3, Fetches: 2}, &seen)
	for _, n := range []int{1, 130, 302, 302, len(l.entries)} {
		l.publish(t, s, n, nil)
		cp := s.checkpoint(t, l.policy(t))
		if err := r.Advance(context.Background(), cp); err != nil {
			t.Fatalf("Advance to %d: %v", n, err)
		}
		if r.Size() != uint64(n) || !bytes.Equal(r.Root(), cp.Hash) || r.Checkpoint() != cp {
			t.Fatalf("after Advance to %d: size %d", n, r.Size())
		}
	}
	if len(seen) != len(l.entries) {
		t.Fatalf("OnEntry saw %d entries, want %d", len(seen), len(l.entries))
	}
	for i, e := range seen {
		if e.Index != uint64(i) || !bytes.Equal(e.Raw, l.entries[i]) || e.Event == nil || e.Change == nil || e.Err != nil {
			t.Fatalf("entry %d seen as %+v", i, e)
		}
	}
	if r.MapRoots() != 2 {
		t.Errorf("MapRoots = %d, want 2", r.MapRoots())
	}
	if iss, err := r.State().Issuer("issuer.example"); err != nil || iss == nil {
		t.Errorf("State().Issuer = %v, %v", iss, err)
	}
}

// TestRealLog replays a log that the real server built: two issuers'
// workloads and the map-root entries the sequencer appended, over the
// HTTP API's tlog-tiles read path.
func TestRealLog(t *testing.T) {
	ctx := context.Background()
	lg := apitest.Start(t, origin, 20*time.Millisecond)
	counts := map[entry.Type]int{}
	var total int
	for i, name := range []string{"a.example", "b.example"} {
		iss, err := fscktest.NewIssuer(name)
		if err != nil {
			t.Fatal(err)
		}
		reg, err := iss.Registration(lg.Signer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lg.Client.Submit(ctx, reg, false); err != nil {
			t.Fatal(err)
		}
		counts[entry.TypeIssuerKey]++
		w := iss.Workload(name, uint64(i))
		var batch [][]byte
		for range 600 {
			e, err := w.Next()
			if err != nil {
				t.Fatal(err)
			}
			ev, _ := entry.Parse(e)
			counts[ev.Type]++
			batch = append(batch, e)
		}
		res, err := lg.Client.SubmitBatch(ctx, batch, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Error != "" {
				t.Fatalf("submit: %+v", r)
			}
		}
		total += 1 + len(batch)
	}
	u, _ := url.Parse(lg.URL)
	f, err := client.NewHTTPFetcher(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Parse([]byte("log " + lg.Signer.VerifierKey() + "\nquorum none\n"))
	if err != nil {
		t.Fatal(err)
	}
	cp, _, err := replay.FetchCheckpoint(ctx, f, pol)
	if err != nil {
		t.Fatal(err)
	}
	got := map[entry.Type]int{}
	r := replay.New(origin, lg.Signer.Public(), f, replay.Options{OnEntry: func(e *replay.Entry) error {
		got[e.Event.Type]++
		return nil
	}})
	if err := r.Advance(ctx, cp); err != nil {
		t.Fatal(err)
	}
	if got[entry.TypeMapRoot] == 0 || uint64(got[entry.TypeMapRoot]) != r.MapRoots() {
		t.Errorf("map-root entries: seen %d, checked %d", got[entry.TypeMapRoot], r.MapRoots())
	}
	delete(got, entry.TypeMapRoot)
	if cp.Size < uint64(total) || len(got) != len(counts) {
		t.Fatalf("size %d, want at least %d; types %v, want %v", cp.Size, total, got, counts)
	}
	for typ, n := range counts {
		if got[typ] != n {
			t.Errorf("%s: %d entries, want %d", typ, got[typ], n)
		}
	}
	h := replay.New(origin, lg.Signer.Public(), f, replay.Options{HashesOnly: true})
	if err := h.Advance(ctx, cp); err != nil || h.Size() != cp.Size {
		t.Fatalf("hashes only: %v, size %d", err, h.Size())
	}
}

// TestEntryErrors checks each typed error of a failed entry: it names the
// entry, carries its bytes and the checkpoint, reaches OnEntry, and
// fails the Replayer for good.
func TestEntryErrors(t *testing.T) {
	cases := []struct {
		name  string
		bad   func(t *testing.T, l *testLog)
		class error
		check func(t *testing.T, err error)
	}{
		{"malformed", func(t *testing.T, l *testLog) {
			l.entries = append(l.entries, []byte{1, 0xff, 0})
		}, replay.ErrMalformed, func(t *testing.T, err error) {
			if !errors.Is(err, entry.ErrMalformed) {
				t.Errorf("%v does not wrap entry.ErrMalformed", err)
			}
		}},
		{"bad signature", func(t *testing.T, l *testLog) {
			l.add(t, 1)
			ev, err := entry.Parse(l.entries[len(l.entries)-1])
			if err != nil {
				t.Fatal(err)
			}
			other, err := fscktest.NewIssuer("issuer.example")
			if err != nil {
				t.Fatal(err)
			}
			l.entries = l.entries[:len(l.entries)-1]
			ev.KeyID = l.iss.Signer.KeyID()
			l.addSigned(t, ev, other.Signer)
		}, replay.ErrSignature, func(t *testing.T, err error) {
			if v := (*state.Violation)(nil); !errors.As(err, &v) || v.Rule != state.RuleBadSignature {
				t.Errorf("%v is not a bad-signature violation", err)
			}
		}},
		{"rule", func(t *testing.T, l *testLog) {
			l.entries = append(l.entries, l.entries[1]) // the first issue, again
		}, replay.ErrRule, func(t *testing.T, err error) {
			if v := (*state.Violation)(nil); !errors.As(err, &v) || v.Rule != state.RuleIssueNotNew {
				t.Errorf("%v is not an issue-not-new violation", err)
			}
		}},
		{"map root", func(t *testing.T, l *testLog) {
			l.addMapRoot(t, &vmap.Hash{1})
		}, replay.ErrMapRoot, func(t *testing.T, err error) {
			if m := (*vmap.MismatchError)(nil); !errors.As(err, &m) || m.Logged != (vmap.Hash{1}) {
				t.Errorf("%v is not the map-root mismatch", err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newTestLog(t)
			l.add(t, 700)
			c.bad(t, l)
			bad := len(l.entries) - 1
			l.add(t, 300) // entries after it are hashed, to confirm the root
			s := l.serveLog(t, nil)
			var seen []*replay.Entry
			r := l.replayer(s, replay.Options{}, &seen)
			cp := s.checkpoint(t, l.policy(t))
			err := r.Advance(context.Background(), cp)
			ee := (*replay.EntryError)(nil)
			if !errors.As(err, &ee) || !errors.Is(err, c.class) {
				t.Fatalf("Advance: %v, want an *EntryError of class %v", err, c.class)
			}
			if ee.Index != uint64(bad) || !bytes.Equal(ee.Entry, l.entries[bad]) || ee.Checkpoint != cp {
				t.Errorf("error names entry %d (%x), checkpoint %p; want %d", ee.Index, ee.Entry, ee.Checkpoint, bad)
			}
			c.check(t, err)
			if last := seen[len(seen)-1]; len(seen) != bad+1 || last.Err != err || last.Index != uint64(bad) {
				t.Errorf("OnEntry saw %d entries, the last with error %v", len(seen), last.Err)
			}
			if err2 := r.Advance(context.Background(), cp); err2 != err {
				t.Errorf("second Advance: %v, want the same error", err2)
			}
			h := l.replayer(s, replay.Options{HashesOnly: true}, nil)
			if err := h.Advance(context.Background(), cp); err != nil {
				t.Errorf("hashes only: %v", err)
			}
		})
	}
}

// TestTreeErrors checks that entries the checkpoint does not commit to
// are a *TreeError, in both modes, and never an EntryError: a changed
// byte is located from the hash tiles.
func TestTreeErrors(t *testing.T) {
	l := newTestLog(t)
	l.add(t, 1000)
	const bad = 777
	for _, hashesOnly := range []bool{false, true} {
		s := l.serveLog(t, func(es [][]byte) { es[bad][40] ^= 1 })
		r := l.replayer(s, replay.Options{HashesOnly: hashesOnly}, nil)
		err := r.Advance(context.Background(), s.checkpoint(t, l.policy(t)))
		te := (*replay.TreeError)(nil)
		if !errors.As(err, &te) || !errors.Is(err, replay.ErrTree) || errors.Is(err, replay.ErrSignature) {
			t.Fatalf("hashes only %v: Advance: %v, want a *TreeError", hashesOnly, err)
		}
		if !te.Located || te.Index != bad || bytes.Equal(te.Entry, l.entries[bad]) || len(te.Entry) != len(l.entries[bad]) {
			t.Errorf("hashes only %v: located %v at %d, want %d", hashesOnly, te.Located, te.Index, bad)
		}
	}

	// A checkpoint with another root: no entry is to blame.
	s := l.serveLog(t, nil)
	replaytest.WriteFile(t, filepath.Join(s.dir, "checkpoint"), replaytest.SignCheckpoint(t, l.key, uint64(len(l.entries)), make([]byte, 32)))
	err := l.replayer(s, replay.Options{}, nil).Advance(context.Background(), s.checkpoint(t, l.policy(t)))
	if te := (*replay.TreeError)(nil); !errors.As(err, &te) || te.Located {
		t.Fatalf("Advance: %v, want an unlocated *TreeError", err)
	}

	// A bundle with an entry too few.
	s = l.serveLog(t, nil)
	path := filepath.Join(s.dir, layout.EntriesPath(1, 0))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	replaytest.WriteFile(t, path, data[:len(data)-len(l.entries[511])-2])
	err = l.replayer(s, replay.Options{}, nil).Advance(context.Background(), s.checkpoint(t, l.policy(t)))
	if te := (*replay.TreeError)(nil); !errors.As(err, &te) || !te.Located || te.Index != 256 {
		t.Fatalf("Advance: %v, want a *TreeError at 256", err)
	}
}

// TestCallbackErrorAndResume stops Advance from OnEntry and goes on with
// a second Advance, from where it stopped.
func TestCallbackErrorAndResume(t *testing.T) {
	l := newTestLog(t)
	l.add(t, 3000)
	s := l.serveLog(t, nil)
	stop := errors.New("stop")
	var seen []uint64
	r := replay.New(origin, l.key.Public(), s.fetcher, replay.Options{OnEntry: func(e *replay.Entry) error {
		seen = append(seen, e.Index)
		if e.Index == 2100 && len(seen) == 2101 {
			return stop
		}
		return nil
	}})
	cp := s.checkpoint(t, l.policy(t))
	if err := r.Advance(context.Background(), cp); err != stop {
		t.Fatalf("Advance: %v, want the callback's error", err)
	}
	if r.Size() != 2101 || r.Checkpoint() != nil {
		t.Fatalf("after the callback's error: size %d, checkpoint %v", r.Size(), r.Checkpoint())
	}
	if err := r.Advance(context.Background(), cp); err != nil {
		t.Fatal(err)
	}
	for i, idx := range seen {
		if idx != uint64(i) {
			t.Fatalf("OnEntry saw %d at position %d", idx, i)
		}
	}
	if len(seen) != len(l.entries) || r.Checkpoint() != cp {
		t.Fatalf("saw %d entries, want %d", len(seen), len(l.entries))
	}
}

// TestVerifyCheckpoint checks the log signature and the witness quorum.
func TestVerifyCheckpoint(t *testing.T) {
	l := newTestLog(t)
	s := l.serveLog(t, nil)
	raw, err := os.ReadFile(filepath.Join(s.dir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	wskey, wvkey, err := note.GenerateKey(rand.Reader, "witness.example")
	if err != nil {
		t.Fatal(err)
	}
	cvkey, err := fnote.VKeyToCosignatureV1(wvkey)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Parse([]byte("log " + l.key.VerifierKey() + "\nwitness w1 " + cvkey + "\nquorum w1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := replay.VerifyCheckpoint(raw, pol); !errors.Is(err, replay.ErrQuorum) {
		t.Errorf("uncosigned: %v, want ErrQuorum", err)
	}
	cosigned := replaytest.Cosign(t, raw, l.key.VerifierKey(), wskey)
	cp, _, err := replay.VerifyCheckpoint(cosigned, pol)
	if err != nil || len(cp.Witnesses) != 1 || cp.Witnesses[0] != "w1" || cp.Size != uint64(len(l.entries)) {
		t.Errorf("cosigned: %+v, %v", cp, err)
	}
	other := newTestLog(t)
	wrong, err := policy.Parse([]byte("log " + keys.VerifierKey(origin, other.key.Public()) + "\nquorum none\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := replay.VerifyCheckpoint(raw, wrong); !errors.Is(err, replay.ErrCheckpoint) {
		t.Errorf("wrong log key: %v, want ErrCheckpoint", err)
	}
}

// TestFetchErrorIsNotFinal: a bundle the log does not serve stops Advance
// with an error that is not a failed check, and a later Advance goes on.
func TestFetchErrorIsNotFinal(t *testing.T) {
	l := newTestLog(t)
	l.add(t, 5000)
	s := l.serveLog(t, nil)
	path := filepath.Join(s.dir, layout.EntriesPath(10, 0))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	var seen []*replay.Entry
	r := l.replayer(s, replay.Options{}, &seen)
	cp := s.checkpoint(t, l.policy(t))
	err = r.Advance(context.Background(), cp)
	if !errors.Is(err, os.ErrNotExist) || errors.Is(err, replay.ErrTree) || r.Err() != nil {
		t.Fatalf("Advance: %v (Err %v), want a fetch error", err, r.Err())
	}
	if r.Size() != 2048 || len(seen) != 2048 {
		t.Fatalf("after the fetch error: size %d, %d entries seen; want the first chunk, 2048", r.Size(), len(seen))
	}
	replaytest.WriteFile(t, path, data)
	if err := r.Advance(context.Background(), cp); err != nil {
		t.Fatal(err)
	}
	for i, e := range seen {
		if e.Index != uint64(i) {
			t.Fatalf("entry %d seen at position %d", e.Index, i)
		}
	}
	if len(seen) != len(l.entries) {
		t.Fatalf("saw %d entries, want %d", len(seen), len(l.entries))
	}
}
