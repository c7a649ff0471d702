package cli

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credlog/credlog/api/apitest"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/monitor"
	"github.com/credlog/credlog/log/tlogproof"
	"github.com/credlog/credlog/log/witnessclient/policy"
	"github.com/credlog/credlog/log/witnessclient/witnesstest"
)

// holderWorld is an issuer, a real log with map-root entries every 20ms,
// a policy without witnesses, and a holder, alice, with a logged
// credential, her bundle and her monitor.
type holderWorld struct {
	t       *testing.T
	dir     string
	k       *issuerKeys
	lg      *testLog
	pol     string
	alice   string // file prefix of alice's credential
	state   string // alice's monitor state
	webhook *hookRecorder
}

func newHolderWorld(t *testing.T) *holderWorld {
	dir := t.TempDir()
	w := &holderWorld{t: t, dir: dir, k: keygenIn(t, dir, "holder.example"), lg: startMapLog(t)}
	w.lg.register(t, w.k.vkey, w.k.vrfPub)
	w.pol = filepath.Join(dir, "policy")
	if err := os.WriteFile(w.pol, []byte("log "+w.lg.signer.VerifierKey()+"\nquorum none\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.alice = w.issue("alice", "alice")
	w.state = filepath.Join(dir, "alice-monitor.json")
	mustRun(t, "monitor", "watch", "-state", w.state, "-cert", w.alice+".cert.der", "-vrf-key", w.k.vrfPub)
	w.webhook = newHookRecorder(t)
	return w
}

// issue issues and logs a credential for idNumber, written to dir/name.
func (w *holderWorld) issue(name, idNumber string, extra ...string) string {
	w.t.Helper()
	prefix := filepath.Join(w.dir, name)
	cmd := "issue"
	if len(extra) > 0 {
		cmd = "reissue"
	}
	// Valid from now, not from the fixed clock of the other tests: apps
	// verify at the real time, that of the log's status proofs.
	nb := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	mustRun(w.t, append([]string{"issuer", cmd, "-key", w.k.key, "-vrf-key", w.k.vrfKey, "-id-number", idNumber, "-out", prefix, "-not-before", nb}, extra...)...)
	w.submit(prefix)
	return prefix
}

func (w *holderWorld) submit(prefix string) uint64 {
	w.t.Helper()
	code, res := w.lg.submit(w.t, readFileT(w.t, prefix+".event"), false)
	if code != http.StatusOK {
		w.t.Fatalf("%s: status %d, %+v", filepath.Base(prefix), code, res)
	}
	return res.Index
}

// monitorOnce runs alice's monitor once and returns its alerts; it
// checks that the exit code agrees with them.
func (w *holderWorld) monitorOnce(extra ...string) []monitor.Alert {
	w.t.Helper()
	r := credlog(w.t, nil, append([]string{"monitor", "run", "-once", "-state", w.state, "-log", w.lg.url, "-policy", w.pol,
		"-webhook", w.webhook.url}, extra...)...)
	var alerts []monitor.Alert
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line == "" {
			continue
		}
		var a monitor.Alert
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			w.t.Fatalf("monitor output line %q: %v", line, err)
		}
		alerts = append(alerts, a)
	}
	want := 0
	if len(alerts) > 0 {
		want = ExitAlerts
	}
	if r.code != want {
		w.t.Fatalf("monitor run: exit %d with %d alerts\n%s%s", r.code, len(alerts), r.stdout, r.stderr)
	}
	return alerts
}

// monitorUntil runs the monitor until it raises n alerts in one run (the
// log's checkpoint may not yet cover an event just submitted).
func (w *holderWorld) monitorUntil(n int, extra ...string) []monitor.Alert {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if got := w.monitorOnce(extra...); len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// verify refreshes alice's bundle, once a map-root entry covers index,
// and runs credlog verify on it.
func (w *holderWorld) verifyFresh(index uint64) result {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mustRun(w.t, "bundle", "-log", w.lg.url, "-cert", w.alice+".cert.der", "-out", w.alice+".bundle")
		b := readFileT(w.t, w.alice+".bundle")
		if mapRootIndex(w.t, b) > index || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return w.verify(time.Now(), w.alice+".bundle")
}

func (w *holderWorld) verify(now time.Time, bundleFile string) result {
	return credlogAt(now, "verify", "-bundle", bundleFile, "-policy", w.pol, "-issuer-key", w.k.vkey, "-vrf-key", w.k.vrfPub, "-max-age", "10m")
}

// mapRootIndex returns the index of a bundle's map-root entry.
func mapRootIndex(t *testing.T, b []byte) uint64 {
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "map-root-proof "); ok {
			text, err := decodeEntryText([]byte(rest), "base64")
			if err != nil {
				t.Fatal(err)
			}
			p, err := tlogproof.Parse(text)
			if err != nil {
				t.Fatal(err)
			}
			return p.Index
		}
	}
	t.Fatalf("bundle without a map-root-proof line:\n%s", b)
	return 0
}

// checkEvidence checks that an event alert proves itself against the
// log's key: its entry is in its signed checkpoint.
func (w *holderWorld) checkEvidence(a monitor.Alert, typ entry.Type) {
	w.t.Helper()
	if a.Alert != monitor.AlertEvent || a.Event == nil || a.Event.Type != typ.String() {
		w.t.Fatalf("alert %+v, want a %s event alert", a, typ)
	}
	pol, err := policy.Parse([]byte("log " + w.lg.signer.VerifierKey() + "\nquorum none\n"))
	if err != nil {
		w.t.Fatal(err)
	}
	p, err := tlogproof.Parse([]byte(a.Evidence.Proof))
	if err != nil {
		w.t.Fatal(err)
	}
	if _, _, err := p.Verify(a.Evidence.Entry, logOrigin, pol.Logs[0].Verifier); err != nil || p.Index != *a.Index {
		w.t.Fatalf("the alert's evidence does not verify: %v", err)
	}
}

// TestSecretRevocation: a revocation the issuer signs but does not log
// has no effect: apps still accept the credential and the holder's
// monitor is silent. Once logged, the monitor alerts (also through the
// webhook) and apps reject the credential as soon as they see a fresh
// status proof; an older bundle is accepted only until it is stale.
func TestSecretRevocation(t *testing.T) {
	w := newHolderWorld(t)
	if got := w.monitorUntil(0); len(got) != 0 {
		t.Fatalf("alerts for the holder's own credential: %+v", got)
	}
	if r := w.verifyFresh(0); r.code != 0 {
		t.Fatalf("verify: exit %d\n%s", r.code, r.stderr)
	}
	oldBundle := filepath.Join(w.dir, "alice-old.bundle")
	if err := os.WriteFile(oldBundle, readFileT(t, w.alice+".bundle"), 0o644); err != nil {
		t.Fatal(err)
	}

	revoke := filepath.Join(w.dir, "alice-revoke")
	mustRun(t, "issuer", "revoke", "-key", w.k.key, "-cert", w.alice+".cert.der", "-vrf-pub", w.k.vrfPub, "-reason", "legal-order", "-out", revoke)
	// Not logged: nothing changes.
	if r := w.verifyFresh(0); r.code != 0 {
		t.Fatalf("verify after an unlogged revocation: exit %d\n%s", r.code, r.stderr)
	}
	if got := w.monitorOnce(); len(got) != 0 {
		t.Fatalf("alerts for an unlogged revocation: %+v", got)
	}

	idx := w.submit(revoke)
	got := w.monitorUntil(1)
	if len(got) != 1 {
		t.Fatalf("logged revocation: %d alerts, want 1", len(got))
	}
	w.checkEvidence(got[0], entry.TypeRevoke)
	if *got[0].Index != idx || got[0].Event.Reason != "legal-order" {
		t.Errorf("alert for index %d, reason %q; want %d, legal-order", *got[0].Index, got[0].Event.Reason, idx)
	}
	if hooked := w.webhook.alerts(); len(hooked) != 1 || *hooked[0].Index != idx {
		t.Errorf("webhook received %+v, want the revocation alert", hooked)
	}
	if again := w.monitorOnce(); len(again) != 0 {
		t.Errorf("the revocation alerted twice: %+v", again)
	}

	if r := w.verifyFresh(idx); r.code != ExitNotActive || !strings.Contains(r.stderr, "revoked") {
		t.Fatalf("verify with a fresh status proof: exit %d\n%s", r.code, r.stderr)
	}
	if r := w.verify(time.Now(), oldBundle); r.code != 0 {
		t.Errorf("the bundle from before the revocation, still fresh: exit %d\n%s", r.code, r.stderr)
	}
	if r := w.verify(time.Now().Add(11*time.Minute), oldBundle); r.code != ExitStale {
		t.Errorf("the bundle from before the revocation, stale: exit %d\n%s", r.code, r.stderr)
	}
}

// TestSilentReissue: the issuer issues a second credential for alice's
// ID number. Her monitor, in full and in light mode, alerts with the
// logged issue event as evidence; once she authorizes it, it is silent.
func TestSilentReissue(t *testing.T) {
	w := newHolderWorld(t)
	light := filepath.Join(w.dir, "alice-light.json")
	mustRun(t, "monitor", "watch", "-state", light, "-cert", w.alice+".cert.der", "-vrf-key", w.k.vrfPub)
	if got := w.monitorUntil(0); len(got) != 0 {
		t.Fatalf("alerts before the reissue: %+v", got)
	}
	second := w.issue("alice-2", "alice", "-supersedes", w.alice+".cert.der", "-version", "2")
	ev := readEvent(t, second, w.k.verifier(t))

	got := w.monitorUntil(1)
	if len(got) != 1 {
		t.Fatalf("silent reissue: %d alerts, want 1", len(got))
	}
	w.checkEvidence(got[0], entry.TypeIssue)
	if *got[0].Event.Credential != monitor.Hash(ev.Credential) {
		t.Errorf("alert names credential %x, the reissue is %x", got[0].Event.Credential[:], ev.Credential)
	}

	state := w.state
	w.state = light
	lgot := w.monitorUntil(1, "-light")
	if len(lgot) != 1 || *lgot[0].Index != *got[0].Index {
		t.Fatalf("light mode: alerts %+v, want the reissue at %d", lgot, *got[0].Index)
	}
	w.checkEvidence(lgot[0], entry.TypeIssue)
	w.state = state

	// Alice asked for it after all: authorized, the next reissue's
	// revocation of it alerts, not the reissue again.
	mustRun(t, "monitor", "authorize", "-state", w.state, "-index", strconv.FormatUint(*got[0].Index, 10))
	revoke := filepath.Join(w.dir, "alice-2-revoke")
	mustRun(t, "issuer", "revoke", "-key", w.k.key, "-cert", second+".cert.der", "-vrf-pub", w.k.vrfPub, "-out", revoke)
	idx := w.submit(revoke)
	got = w.monitorUntil(1)
	if len(got) != 1 || *got[0].Index != idx {
		t.Fatalf("after authorizing the reissue: alerts %+v, want one for the revocation at %d", got, idx)
	}
}

// TestSplitViewRefused: a log shows a second history under its key, with
// a checkpoint of the same size as one its witness cosigned. The witness
// refuses it (409) and keeps the evidence; the log, failing open,
// publishes it uncosigned; credlog verify rejects a bundle from it for
// want of the quorum, and a monitor on that policy raises a quorum alert
// and does not move to it.
func TestSplitViewRefused(t *testing.T) {
	dir := t.TempDir()
	k := keygenIn(t, dir, "split.example")
	wit := witnesstest.Start(t, "witness.split.example")
	skey, _, err := keys.Generate(logOrigin, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := keys.ParseSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	wit.AddLog(logOrigin, signer.VerifierKey())
	polText := "log " + signer.VerifierKey() + "\n" + wit.PolicyLine("w1") + "\nquorum w1\n"
	pol, err := policy.Parse([]byte(polText))
	if err != nil {
		t.Fatal(err)
	}
	polFile := filepath.Join(dir, "policy")
	if err := os.WriteFile(polFile, []byte(polText), 0o644); err != nil {
		t.Fatal(err)
	}
	// The honest history, witnessed: the issuer, alice's and carol's
	// credentials. Three entries, so that the witness can prove any fork
	// the other log shows it: the other log has at least three entries
	// (its registration, bob's credential, a map-root entry), and which
	// of its sizes it sends depends on timing. At the size the witness
	// cosigned, another root is evidence; past it, a consistency proof
	// from size 3 implies the root at 3 (from a power of two, 2, it would
	// not: RFC 9162 takes that root as given).
	good := apitest.StartWith(t, apitest.Options{Signer: signer, MapEpoch: time.Hour, Witnesses: pol})
	goodLog := &testLog{url: good.URL, signer: signer}
	goodLog.register(t, k.vkey, k.vrfPub)
	for _, name := range []string{"alice", "carol"} {
		prefix := filepath.Join(dir, name)
		mustRun(t, "issuer", "issue", "-key", k.key, "-vrf-key", k.vrfKey, "-id-number", name, "-out", prefix)
		if code, res := goodLog.submit(t, readFileT(t, prefix+".event"), true); code != http.StatusOK {
			t.Fatalf("submit to the honest log: %d %+v", code, res)
		}
	}
	if size, ok := wit.Latest(logOrigin); !ok || size != 3 {
		t.Fatalf("the witness has not cosigned the honest log of 3 entries: %d, %v", size, ok)
	}
	// The same key, another history shown to the same witness, which
	// refuses it; the log publishes it anyway (fail-open).
	forked := apitest.StartWith(t, apitest.Options{Signer: signer, MapEpoch: 20 * time.Millisecond, Witnesses: pol, FailOpen: true})
	bad := &testLog{url: forked.URL, signer: signer}
	bad.register(t, k.vkey, k.vrfPub)

	prefix := filepath.Join(dir, "bob")
	mustRun(t, "issuer", "issue", "-key", k.key, "-vrf-key", k.vrfKey, "-id-number", "bob", "-out", prefix,
		"-not-before", time.Now().Add(-time.Minute).UTC().Format(time.RFC3339))
	if code, res := bad.submit(t, readFileT(t, prefix+".event"), false); code != http.StatusOK {
		t.Fatalf("submit to the forked log: %d %+v", code, res)
	}
	var r result
	deadline := time.Now().Add(20 * time.Second)
	for {
		r = credlog(t, nil, "bundle", "-log", bad.url, "-cert", prefix+".cert.der", "-out", prefix+".bundle", "-wait", "0")
		if r.code == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r.code != 0 {
		t.Fatalf("bundle from the forked log: exit %d\n%s", r.code, r.stderr)
	}
	v := credlog(t, nil, "verify", "-bundle", prefix+".bundle", "-policy", polFile, "-issuer-key", k.vkey, "-vrf-key", k.vrfPub)
	if v.code != ExitQuorum {
		t.Fatalf("verify of a bundle from the forked history: exit %d\n%s", v.code, v.stderr)
	}

	// The witness refused the fork and kept the evidence.
	var evidence []json.RawMessage
	for deadline := time.Now().Add(20 * time.Second); len(evidence) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(wit.URL() + "evidence")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&evidence) != nil {
			t.Fatalf("witness evidence: status %d", resp.StatusCode)
		}
		resp.Body.Close()
	}
	if len(evidence) == 0 {
		t.Fatal("the witness kept no evidence of the forked history")
	}
	if size, _ := wit.Latest(logOrigin); size != 3 {
		t.Errorf("the witness moved to size %d of the forked history", size)
	}

	state := filepath.Join(dir, "monitor.json")
	mr := credlog(t, nil, "monitor", "run", "-once", "-state", state, "-log", bad.url, "-policy", polFile)
	if mr.code != ExitAlerts || !strings.Contains(mr.stdout, `"alert":"quorum"`) {
		t.Fatalf("monitor of the forked log: exit %d\n%s%s", mr.code, mr.stdout, mr.stderr)
	}
	st, err := monitor.Load(state)
	if err != nil || st.Checkpoint != "" {
		t.Fatalf("the monitor moved to an uncosigned checkpoint: %v %q", err, st.Checkpoint)
	}
}

// hookRecorder is a webhook receiver on loopback.
type hookRecorder struct {
	url string
	mu  sync.Mutex
	got []monitor.Alert
}

func newHookRecorder(t *testing.T) *hookRecorder {
	h := &hookRecorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var a monitor.Alert
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&a) != nil {
			http.Error(rw, "bad alert", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.got = append(h.got, a)
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

func (h *hookRecorder) alerts() []monitor.Alert {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]monitor.Alert(nil), h.got...)
}
