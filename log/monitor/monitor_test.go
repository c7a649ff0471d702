package monitor_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/tessera/client"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/api/apitest"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/fsck/fscktest"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/monitor"
	"github.com/credlog/credlog/log/tlogproof"
	"github.com/credlog/credlog/log/witnessclient/policy"
	"github.com/credlog/credlog/log/witnessclient/witnesstest"
)

const origin = "monitor.example/log"

// world is a real log (SQLite, sequencer, HTTP API on loopback) with one
// registered issuer, behind a proxy whose target a test may switch to
// another log signed with the same key: a log showing two histories.
type world struct {
	t      *testing.T
	logs   []*apitest.Log
	target atomic.Int32
	url    string
	iss    *fscktest.Issuer
	signer *keys.Signer
	pol    *policy.Policy
	n      uint64 // events made, for their times
}

func newWorld(t *testing.T, histories int, mapEpoch time.Duration) *world {
	t.Helper()
	skey, _, err := keys.Generate(origin, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := keys.ParseSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := fscktest.NewIssuer("issuer.monitor.example")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, iss: iss, signer: signer}
	reg, err := iss.Registration(signer)
	if err != nil {
		t.Fatal(err)
	}
	for range histories {
		l := apitest.StartSigner(t, signer, mapEpoch)
		if _, err := l.Client.Submit(context.Background(), reg, true); err != nil {
			t.Fatal(err)
		}
		w.logs = append(w.logs, l)
	}
	proxy := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		u, _ := url.Parse(w.logs[w.target.Load()].URL)
		httputil.NewSingleHostReverseProxy(u).ServeHTTP(rw, r)
	}))
	t.Cleanup(proxy.Close)
	w.url = proxy.URL
	pol, err := policy.Parse([]byte("log " + signer.VerifierKey() + "\nquorum none\n"))
	if err != nil {
		t.Fatal(err)
	}
	w.pol = pol
	return w
}

func hash(s string) entry.Hash { return sha256.Sum256([]byte(s)) }

// submit logs an event in history h and waits for a checkpoint covering
// it; it returns the event's index.
func (w *world) submit(h int, ev *entry.Event) uint64 {
	w.t.Helper()
	w.n++
	ev.Issuer, ev.KeyID, ev.Time = w.iss.Name(), w.iss.Signer.KeyID(), fscktest.T0+w.n
	if ev.Type == entry.TypeIssue {
		ev.NotBefore, ev.NotAfter = fscktest.T0, fscktest.T0+10*365*86400
	}
	if err := ev.Sign(w.iss.Signer.PrivateKey()); err != nil {
		w.t.Fatal(err)
	}
	raw, err := ev.Marshal()
	if err != nil {
		w.t.Fatal(err)
	}
	res, err := w.logs[h].Client.Submit(context.Background(), raw, true)
	if err != nil {
		w.t.Fatalf("submit %s: %v", ev.Type, err)
	}
	return res.Index
}

func issue(label, cred entry.Hash, version uint32, supersedes *entry.Hash) *entry.Event {
	return &entry.Event{Type: entry.TypeIssue, Subject: label, Credential: cred, Version: version, Supersedes: supersedes}
}

func status(t entry.Type, label, cred entry.Hash) *entry.Event {
	ev := &entry.Event{Type: t, Subject: label, Credential: cred}
	if t != entry.TypeResume {
		ev.Reason = entry.ReasonLegalOrder
	}
	return ev
}

// holder is a monitor with its state file, restarted by reopen.
type holder struct {
	w      *world
	path   string
	light  bool
	m      *monitor.Monitor
	st     *monitor.State
	alerts []*monitor.Alert
}

func (w *world) holder(light bool) *holder {
	h := &holder{w: w, path: filepath.Join(w.t.TempDir(), "monitor.json"), light: light}
	st, err := monitor.Load(h.path)
	if err != nil {
		w.t.Fatal(err)
	}
	h.st = st
	h.open()
	return h
}

func (h *holder) open() {
	h.w.t.Helper()
	u, _ := url.Parse(h.w.url)
	f, err := client.NewHTTPFetcher(u, nil)
	if err != nil {
		h.w.t.Fatal(err)
	}
	m, err := monitor.New(monitor.Config{Log: mustClient(h.w.t, h.w.url), Fetcher: f, Policy: h.w.pol, Light: h.light,
		Alert: func(a *monitor.Alert) error { h.alerts = append(h.alerts, a); return nil }}, h.st)
	if err != nil {
		h.w.t.Fatal(err)
	}
	h.m = m
}

// restart saves the state and starts a new monitor from the file.
func (h *holder) restart() {
	h.w.t.Helper()
	if err := h.st.Save(h.path); err != nil {
		h.w.t.Fatal(err)
	}
	st, err := monitor.Load(h.path)
	if err != nil {
		h.w.t.Fatal(err)
	}
	h.st = st
	h.open()
}

// poll polls until the monitor has verified a checkpoint of at least
// size and, in light mode, until want alerts came (the map lags the log by
// a map epoch); it returns the alerts of those polls.
func (h *holder) poll(size uint64, want int) []*monitor.Alert {
	h.w.t.Helper()
	before := len(h.alerts)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := h.m.Poll(context.Background()); err != nil {
			h.w.t.Fatalf("poll: %v", err)
		}
		got := h.alerts[before:]
		if h.size() >= size && (len(got) >= want || !h.light) {
			return got
		}
		if time.Now().After(deadline) {
			h.w.t.Fatalf("monitor at size %d with %d alerts; want size %d and %d alerts", h.size(), len(got), size, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *holder) size() uint64 {
	if h.st.Checkpoint == "" {
		return 0
	}
	_, cp, _, err := h.w.pol.VerifyCheckpoint([]byte(h.st.Checkpoint))
	if err != nil {
		h.w.t.Fatal(err)
	}
	return cp.Size
}

// checkEvidence checks that an event alert proves itself: the entry is
// in the log's signed checkpoint, and names the item.
func (w *world) checkEvidence(a *monitor.Alert, index uint64, typ entry.Type) {
	w.t.Helper()
	if a.Alert != monitor.AlertEvent || a.Index == nil || *a.Index != index || a.Event.Type != typ.String() {
		w.t.Fatalf("alert %+v; want an event alert for the %s at %d", a, typ, index)
	}
	p, err := tlogproof.Parse([]byte(a.Evidence.Proof))
	if err != nil {
		w.t.Fatal(err)
	}
	if _, _, err := p.Verify(a.Evidence.Entry, origin, w.pol.Logs[0].Verifier); err != nil || p.Index != index {
		w.t.Fatalf("evidence of the alert at %d does not verify: %v", index, err)
	}
	ev, err := entry.Parse(a.Evidence.Entry)
	if err != nil || ev.Type != typ {
		w.t.Fatalf("evidence entry: %v, %v", ev, err)
	}
}

// TestHolderAlerts follows a holder's life in both modes: their own
// issue raises nothing; a suspension of their credential, a second
// credential for their subject (a silent reissue), and a revocation each
// raise one alert with an entry proven in a signed checkpoint; an
// authorized event raises nothing; a restart raises nothing again.
func TestHolderAlerts(t *testing.T) {
	for _, light := range []bool{false, true} {
		t.Run(fmt.Sprintf("light=%v", light), func(t *testing.T) {
			w := newWorld(t, 1, 20*time.Millisecond)
			label, mine := hash("alice"), hash("alice credential 1")
			other := hash("bob")
			h := w.holder(light)
			h.st.AddWatch(monitor.Item{Kind: monitor.Subject, Issuer: w.iss.Name(), ID: monitor.Hash(label)})
			h.st.AddWatch(monitor.Item{Kind: monitor.Credential, Issuer: w.iss.Name(), ID: monitor.Hash(mine)})
			h.st.AddOwn(w.iss.Name(), mine)

			w.submit(0, issue(other, hash("bob credential"), 1, nil))
			i := w.submit(0, issue(label, mine, 1, nil))
			if got := h.poll(i+1, 0); len(got) != 0 {
				t.Fatalf("own issue raised %d alerts: %+v", len(got), got[0])
			}

			i = w.submit(0, status(entry.TypeSuspend, label, mine))
			got := h.poll(i+1, 1)
			if len(got) != 1 {
				t.Fatalf("suspension raised %d alerts, want 1", len(got))
			}
			w.checkEvidence(got[0], i, entry.TypeSuspend)

			h.st.Authorize(w.submit(0, status(entry.TypeResume, label, mine)))
			second := hash("alice credential 2, not hers")
			j := w.submit(0, issue(label, second, 2, &mine))
			got = h.poll(j+1, 1)
			if len(got) != 1 {
				t.Fatalf("silent reissue raised %d alerts, want 1: %+v", len(got), got)
			}
			w.checkEvidence(got[0], j, entry.TypeIssue)
			if got[0].Item.Kind != monitor.Subject || *got[0].Event.Credential != monitor.Hash(second) {
				t.Errorf("reissue alert names %+v, credential %x", got[0].Item, got[0].Event.Credential)
			}

			h.restart()
			w.submit(0, issue(other, hash("bob credential 2"), 2, new(hash("bob credential"))))
			k := w.submit(0, status(entry.TypeRevoke, label, second))
			got = h.poll(k+1, 1)
			if len(got) != 1 {
				t.Fatalf("after a restart, revocation raised %d alerts, want 1: %+v", len(got), got)
			}
			w.checkEvidence(got[0], k, entry.TypeRevoke)
		})
	}
}

func mustClient(t *testing.T, u string) *api.Client {
	t.Helper()
	c, err := api.NewClient(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSplitView shows a monitor two histories signed by the log's key:
// the same size with another root, then a larger tree that does not
// extend the one verified, then (after a restart) the other history from
// the start. Each is a split-view alert carrying both signed checkpoints,
// and the monitor stays at the checkpoint it verified.
func TestSplitView(t *testing.T) {
	for _, light := range []bool{false, true} {
		t.Run(fmt.Sprintf("light=%v", light), func(t *testing.T) {
			w := newWorld(t, 2, time.Hour)
			w.submit(0, issue(hash("alice"), hash("cred a"), 1, nil))
			w.submit(1, issue(hash("alice"), hash("cred b"), 1, nil))
			h := w.holder(light)
			if got := h.poll(2, 0); len(got) != 0 {
				t.Fatalf("%d alerts on a clean log", len(got))
			}
			verified := h.st.Checkpoint

			w.target.Store(1)
			got := h.poll(0, 0)
			w.checkSplit(got, verified, 2, 2)
			if h.st.Checkpoint != verified {
				t.Fatal("the monitor moved to the other history's checkpoint")
			}
			if got := h.poll(0, 0); len(got) != 0 {
				t.Fatalf("the same split view alerted again: %+v", got)
			}

			w.submit(1, issue(hash("bob"), hash("cred c"), 1, nil))
			w.checkSplit(h.poll(0, 0), verified, 2, 3)

			h.restart()
			got = h.poll(0, 0)
			if !light {
				// The restarted replay checks the history against the
				// stored checkpoint first: the alert was raised before the
				// restart, with the same two checkpoints.
				if len(got) != 0 {
					t.Fatalf("after a restart, the same split view alerted again: %+v", got)
				}
				h.st.Raised = nil
				h.restart()
				w.checkSplit(h.poll(0, 0), verified, 2, 3)
			}
			if h.st.Checkpoint != verified {
				t.Fatal("the monitor moved to the other history's checkpoint")
			}
		})
	}
}

// checkSplit checks that alerts hold one split-view alert whose evidence
// is two checkpoints signed by the log, of sizes old and size, that
// cannot both be true; prev, if not empty, must be the older one.
func (w *world) checkSplit(alerts []*monitor.Alert, prev string, old, size uint64) {
	w.t.Helper()
	if len(alerts) != 1 || alerts[0].Alert != monitor.AlertSplitView {
		w.t.Fatalf("want one split-view alert, got %+v", alerts)
	}
	a := alerts[0]
	_, cp, _, err := w.pol.VerifyCheckpoint([]byte(a.Evidence.Checkpoint))
	if err != nil || cp.Size != size {
		w.t.Fatalf("evidence checkpoint: size %v, %v; want size %d", cp, err, size)
	}
	if prev == "" {
		return
	}
	if a.Evidence.Previous != prev {
		w.t.Fatalf("evidence previous checkpoint:\n%s\nwant\n%s", a.Evidence.Previous, prev)
	}
	_, pcp, _, err := w.pol.VerifyCheckpoint([]byte(a.Evidence.Previous))
	if err != nil || pcp.Size != old {
		w.t.Fatalf("evidence previous checkpoint: %v, %v", pcp, err)
	}
	if size == old && string(pcp.Hash) == string(cp.Hash) {
		w.t.Fatal("the two checkpoints of the evidence have the same root")
	}
}

// TestQuorum: a checkpoint without the policy's witness quorum raises one
// alert and the monitor does not move to it.
func TestQuorum(t *testing.T) {
	w := newWorld(t, 1, time.Hour)
	wit := witnesstest.Start(t, "witness.example")
	pol, err := policy.Parse([]byte("log " + w.signer.VerifierKey() + "\nwitness w1 " + wit.VKey() + "\nquorum w1\n"))
	if err != nil {
		t.Fatal(err)
	}
	w.pol = pol
	h := w.holder(false)
	for range 2 {
		if _, err := h.m.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if len(h.alerts) != 1 || h.alerts[0].Alert != monitor.AlertQuorum || h.st.Checkpoint != "" {
		t.Fatalf("alerts %+v, state checkpoint %q; want one quorum alert and no checkpoint", h.alerts, h.st.Checkpoint)
	}
}
