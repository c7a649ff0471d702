package logd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	fwitness "github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/witnessclient/witnesstest"
)

// witnessed is a credlogd set up with witnesses: its key is made before
// the first run, so that the witnesses can trust it.
type witnessed struct {
	t      *testing.T
	cfg    Config
	vkey   string
	v      note.Verifier
	ws     []*witnesstest.Witness
	policy string
	iss    issuerKeys
}

// newWitnessed starts n credwitness witnesses that trust a new log key,
// and configures a log whose quorum is a group of them with threshold k.
func newWitnessed(t *testing.T, n int, k string) *witnessed {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	const origin = "log.example/credlog"
	skey, vkey, err := keys.Generate(origin, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.WritePrivateFile(filepath.Join(dir, "log.key"), skey); err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	w := &witnessed{t: t, vkey: vkey, v: v, iss: newIssuer(t, "id.example.gov")}
	var b strings.Builder
	b.WriteString("log " + vkey + "\n")
	var names []string
	for i := range n {
		ws := witnesstest.Start(t, fmt.Sprintf("w%d.example", i+1))
		ws.AddLog(origin, vkey)
		w.ws = append(w.ws, ws)
		names = append(names, fmt.Sprintf("w%d", i+1))
		b.WriteString(ws.PolicyLine(names[i]))
	}
	fmt.Fprintf(&b, "group g %s %s\nquorum g\n", k, strings.Join(names, " "))
	w.policy = b.String()
	path := filepath.Join(t.TempDir(), "policy.txt")
	if err := os.WriteFile(path, []byte(w.policy), 0o644); err != nil {
		t.Fatal(err)
	}
	w.cfg = Config{Origin: origin, DataDir: dir, Listen: "127.0.0.1:0", BatchMaxAge: Duration{2 * time.Millisecond},
		Issuers: []IssuerConfig{w.iss.cfg}, WitnessPolicy: path, WitnessTimeout: Duration{5 * time.Second}}
	return w
}

// checkpoint returns the log's current /checkpoint, verified.
func (w *witnessed) checkpoint(r *running) ([]byte, *log.Checkpoint) {
	w.t.Helper()
	raw, err := r.c.Checkpoint(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	cp, _, _, err := log.ParseCheckpoint(raw, w.cfg.Origin, w.v)
	if err != nil {
		w.t.Fatal(err)
	}
	return raw, cp
}

// cosigners returns the witnesses (indices into w.ws) whose cosignatures
// on the checkpoint verify with transparency-dev/formats' cosignature/v1
// verifier, and checks that formats' own policy evaluation agrees that the
// quorum is met.
func (w *witnessed) cosigners(raw []byte) []int {
	w.t.Helper()
	var got []int
	for i, ws := range w.ws {
		v, err := fnote.NewVerifierForCosignatureV1(ws.VKey())
		if err != nil {
			w.t.Fatal(err)
		}
		if n, err := note.Open(raw, note.VerifierList(v)); err == nil && len(n.Sigs) == 1 {
			got = append(got, i)
		}
	}
	g, err := fwitness.ParsePolicy([]byte(w.policy))
	if err != nil {
		w.t.Fatal(err)
	}
	if !g.Satisfied(raw) {
		w.t.Errorf("transparency-dev/formats: the published checkpoint does not satisfy the policy:\n%s", raw)
	}
	return got
}

// metric reads one sample from the log's /metrics, -1 if absent.
func metric(t *testing.T, r *running, sample string) float64 {
	t.Helper()
	resp, err := http.Get(r.url + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if name, value, ok := strings.Cut(sc.Text(), " "); ok && name == sample {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	return -1
}

// waitMetric polls a sample until it reaches at least min.
func waitMetric(t *testing.T, r *running, sample string, min float64) {
	t.Helper()
	for range 1000 {
		if metric(t, r, sample) >= min {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never reached %v", sample, min)
}

// TestWitnessedPublication runs credlogd with three credwitness witnesses
// and a 2-of-3 policy, over real HTTP: all up, checkpoints carry valid
// cosignatures; one down, the log still publishes; all down, nothing new
// is published but submissions are acknowledged with their indexes; back
// up, publication catches up; and a witness that lost its state is
// brought back by a 409 and a retry.
func TestWitnessedPublication(t *testing.T) {
	w := newWitnessed(t, 3, "2")
	ctx := context.Background()
	r := start(t, w.cfg)

	// All up: the issuer's registration is published, cosigned.
	waitSize(t, r, w.v, w.cfg.Origin, 1)
	raw, _ := w.checkpoint(r)
	if got := w.cosigners(raw); len(got) < 2 {
		t.Fatalf("size 1 cosigned by %v", got)
	}

	// One down.
	w.ws[2].Stop()
	res, err := r.c.SubmitBatch(ctx, [][]byte{w.iss.issue(t, 1), w.iss.issue(t, 2)}, true)
	if err != nil {
		t.Fatal(err)
	}
	if res[1].Index != 2 {
		t.Fatalf("results %+v", res)
	}
	raw, cp := w.checkpoint(r)
	if got := w.cosigners(raw); cp.Size != 3 || !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("size %d cosigned by %v, want 3 by w1 and w2", cp.Size, got)
	}

	// All down: submissions are durable and acknowledged, nothing is
	// published.
	w.ws[0].Stop()
	w.ws[1].Stop()
	before := metric(t, r, `credlog_witness_rounds_total{result="no_quorum"}`)
	res, err = r.c.SubmitBatch(ctx, [][]byte{w.iss.issue(t, 3), w.iss.issue(t, 4), w.iss.issue(t, 5)}, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range res {
		if x.Status != 0 || x.Index != uint64(3+i) {
			t.Fatalf("event %d: %+v", i, x)
		}
	}
	waitMetric(t, r, `credlog_witness_rounds_total{result="no_quorum"}`, max(before, 0)+2)
	if raw2, cp := w.checkpoint(r); cp.Size != 3 || !bytes.Equal(raw2, raw) {
		t.Fatalf("published size %d with every witness down", cp.Size)
	}
	if v := metric(t, r, `credlog_witness_lag_entries{witness="w1"}`); v != 3 {
		t.Errorf("w1 lag %v, want 3", v)
	}
	if v := metric(t, r, `credlog_witness_request_errors_total{kind="network",witness="w1"}`); v < 2 {
		t.Errorf("w1 network errors %v", v)
	}

	// Back up: publication catches up.
	for _, ws := range w.ws {
		ws.Start()
	}
	cp = waitSize(t, r, w.v, w.cfg.Origin, 6)
	raw, _ = w.checkpoint(r)
	if got := w.cosigners(raw); cp.Size != 6 || len(got) < 2 {
		t.Fatalf("size %d cosigned by %v", cp.Size, got)
	}
	lr, err := r.c.LookupCredential(ctx, credentialID(5))
	if err != nil || len(lr.Events) != 1 || lr.Events[0].Index != 5 {
		t.Fatalf("lookup of an event logged while witnesses were down: %+v, %v", lr, err)
	}

	// w3 loses its state: its 409 corrects the log's view, and the retry
	// from old size 0 is cosigned.
	w.ws[2].Wipe()
	if _, err := r.c.Submit(ctx, w.iss.issue(t, 6), true); err != nil {
		t.Fatal(err)
	}
	raw, cp = w.checkpoint(r)
	if got := w.cosigners(raw); cp.Size != 7 || !slices.Contains(got, 2) {
		t.Errorf("size %d cosigned by %v, want w3 among them", cp.Size, got)
	}
	if size, ok := w.ws[2].Latest(w.cfg.Origin); !ok || size != 7 {
		t.Errorf("wiped w3 cosigned %d, %v", size, ok)
	}
	if v := metric(t, r, `credlog_witness_requests_total{code="409",witness="w3"}`); v != 1 {
		t.Errorf("w3: %v 409 answers, want 1", v)
	}
	if v := metric(t, r, `credlog_witness_cosigned_size{witness="w3"}`); v != 7 {
		t.Errorf("w3 cosigned size metric %v", v)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// credentialID is the credential ID of issuerKeys.issue(t, n).
func credentialID(n int) [32]byte { return sha256.Sum256(fmt.Appendf(nil, "credential %d", n)) }

// TestWitnessFailOpen: with witness_fail_open, a checkpoint is published
// with the cosignatures obtained when the quorum is not met, with a
// warning.
func TestWitnessFailOpen(t *testing.T) {
	w := newWitnessed(t, 2, "all")
	w.cfg.WitnessFailOpen = true
	w.ws[1].Stop()
	logs := &witnesstest.SyncBuffer{}
	r := startWith(t, w.cfg, slog.New(slog.NewTextHandler(logs, nil)))
	waitSize(t, r, w.v, w.cfg.Origin, 1)
	raw, _ := w.checkpoint(r)
	var got []int
	for i, ws := range w.ws {
		v, _ := fnote.NewVerifierForCosignatureV1(ws.VKey())
		if n, err := note.Open(raw, note.VerifierList(v)); err == nil && len(n.Sigs) == 1 {
			got = append(got, i)
		}
	}
	if !slices.Equal(got, []int{0}) {
		t.Errorf("cosigned by %v, want w1 only", got)
	}
	for _, want := range []string{
		`level=WARN msg="witness_fail_open is set`,
		`level=WARN msg="publishing a checkpoint without the witness quorum (witness_fail_open)" size=1 cosigned=[w1]`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no %q in the log:\n%s", want, logs)
		}
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

func TestWitnessConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`{"witness_policy": "p.txt", "witness_timeout": "3s", "witness_fail_open": true}`))
	if err != nil || c.WitnessPolicy != "p.txt" || c.WitnessTimeout.Duration != 3*time.Second || !c.WitnessFailOpen {
		t.Fatalf("ParseConfig = %+v, %v", c, err)
	}
	if _, err := ParseConfig([]byte(`{"witness_fail_closed": true}`)); err == nil {
		t.Error("unknown witness key accepted")
	}
	for name, c := range map[string]Config{
		"fail open without policy": {WitnessFailOpen: true},
		"timeout without policy":   {WitnessTimeout: Duration{time.Second}},
	} {
		if err := c.SetDefaults(); err == nil || !strings.Contains(err.Error(), "need witness_policy") {
			t.Errorf("%s: %v", name, err)
		}
	}

	w := newWitnessed(t, 1, "all")
	other, _, err := keys.Generate("other.example/log", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, err := keys.ParseSigner(other)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for name, tc := range map[string]struct{ policy, err string }{
		"missing file":    {"", "couldn't read the witness policy"},
		"bad policy":      {"quorum none\nquorum none\n", "policy: line 2: second quorum line (the first is on line 1)"},
		"another log":     {"log " + otherSigner.VerifierKey() + "\nquorum none\n", "but not this log's key"},
		"unreachable":     {"witness w1 " + w.ws[0].VKey() + "\nquorum w1\n", `quorum "w1" cannot be met by the witnesses that have URLs`},
		"bad witness key": {"witness w1 " + w.vkey + " http://127.0.0.1:1/\nquorum w1\n", "signature type 0x01 is a plain Ed25519 note key"},
	} {
		cfg := w.cfg
		cfg.WitnessPolicy = filepath.Join(t.TempDir(), "policy.txt")
		if tc.policy != "" {
			if err := os.WriteFile(cfg.WitnessPolicy, []byte(tc.policy), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := Run(context.Background(), &cfg, logger, nil); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: Run = %v, want %q", name, err, tc.err)
		}
	}
}
