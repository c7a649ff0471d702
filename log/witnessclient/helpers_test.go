package witnessclient_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	flog "github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/log/witnessclient"
	"github.com/credlog/credlog/log/witnessclient/policy"
	"github.com/credlog/credlog/log/witnessclient/witnesstest"
)

const origin = "log.example/credlog"

// testLog is a log for the client to witness: a tree built by the
// transparency-dev/merkle reference implementation, checkpoints signed with
// an x/mod note key. It is the client's ProofSource.
type testLog struct {
	t      testing.TB
	signer note.Signer
	vkey   string
	tree   *testonly.Tree
}

func newTestLog(t testing.TB) *testLog {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return &testLog{t: t, signer: s, vkey: vkey, tree: testonly.New(rfc6962.DefaultHasher)}
}

func (l *testLog) growTo(size uint64) {
	for l.tree.Size() < size {
		l.tree.AppendData(fmt.Appendf(nil, "entry %d", l.tree.Size()))
	}
}

// checkpoint returns the log-signed checkpoint of the tree at size.
func (l *testLog) checkpoint(size uint64) []byte {
	l.t.Helper()
	root := l.tree.HashAt(size)
	text := fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root))
	b, err := note.Sign(&note.Note{Text: text}, l.signer)
	if err != nil {
		l.t.Fatal(err)
	}
	return b
}

func (l *testLog) ConsistencyProof(_ context.Context, old, size uint64) ([][]byte, error) {
	return l.tree.ConsistencyProof(old, size)
}

// addCheckpoint posts an add-checkpoint request from old to size directly
// to a witness, as another client of the same log would.
func (l *testLog) addCheckpoint(url string, old, size uint64) int {
	l.t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	if old > 0 {
		p, err := l.tree.ConsistencyProof(old, size)
		if err != nil {
			l.t.Fatal(err)
		}
		for _, h := range p {
			fmt.Fprintf(&b, "%s\n", base64.StdEncoding.EncodeToString(h))
		}
	}
	b.WriteString("\n")
	b.Write(l.checkpoint(size))
	resp, err := http.Post(url+"add-checkpoint", "text/plain", &b)
	if err != nil {
		l.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// env is a log, its witnesses and a policy naming them w1, w2, ….
type env struct {
	t      *testing.T
	log    *testLog
	ws     []*witnesstest.Witness
	policy string
	reg    *prometheus.Registry
	m      *witnessclient.Metrics // shared by the env's clients
	logs   *witnesstest.SyncBuffer
}

// newEnv starts n credwitness witnesses that trust the log, and writes a
// policy with a group of them of threshold k as the quorum.
func newEnv(t *testing.T, n int, k string) *env {
	e := &env{t: t, log: newTestLog(t), reg: prometheus.NewRegistry(), logs: &witnesstest.SyncBuffer{}}
	e.m = witnessclient.NewMetrics(e.reg)
	var b strings.Builder
	b.WriteString("log " + e.log.vkey + "\n")
	var names []string
	for i := range n {
		w := witnesstest.Start(t, fmt.Sprintf("w%d.example", i+1))
		w.AddLog(origin, e.log.vkey)
		e.ws = append(e.ws, w)
		names = append(names, fmt.Sprintf("w%d", i+1))
		b.WriteString(w.PolicyLine(names[i]))
	}
	fmt.Fprintf(&b, "group g %s %s\nquorum g\n", k, strings.Join(names, " "))
	e.policy = b.String()
	return e
}

func (e *env) client(mod func(*witnessclient.Config)) *witnessclient.Client {
	e.t.Helper()
	p, err := policy.Parse([]byte(e.policy))
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := witnessclient.Config{Policy: p, LogKey: e.log.vkey, Proofs: e.log,
		Logger:  slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: e.m}
	if mod != nil {
		mod(&cfg)
	}
	c, err := witnessclient.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// publish grows the log to size and has c witness its checkpoint.
func (e *env) publish(c *witnessclient.Client, size uint64) ([]byte, error) {
	e.log.growTo(size)
	return c.Publish(context.Background(), size, e.log.checkpoint(size))
}

// cosigners verifies a published checkpoint with transparency-dev/formats
// alone: the log's signature through its checkpoint parser, and each
// witness's cosignature/v1 with its verifier. It returns the witnesses
// (indices into e.ws) whose cosignature verified.
func (e *env) cosigners(cp []byte) []int {
	e.t.Helper()
	lv, err := fnote.NewVerifier(e.log.vkey)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, _, _, err := flog.ParseCheckpoint(cp, origin, lv); err != nil {
		e.t.Fatalf("checkpoint does not verify under the log key: %v", err)
	}
	var got []int
	for i, w := range e.ws {
		v, err := fnote.NewVerifierForCosignatureV1(w.VKey())
		if err != nil {
			e.t.Fatal(err)
		}
		n, err := note.Open(cp, note.VerifierList(v))
		if err == nil && len(n.Sigs) == 1 {
			if ts, err := fnote.CoSigV1Timestamp(n.Sigs[0]); err != nil || ts.IsZero() {
				e.t.Errorf("witness %d: cosignature timestamp %v, %v", i+1, ts, err)
			}
			got = append(got, i)
		}
	}
	return got
}

// metric returns the value of the sample whose name and labels (in
// exposition order) start line, or -1 if there is none.
func (e *env) metric(line string) float64 {
	e.t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && name == line {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				e.t.Fatal(err)
			}
			return v
		}
	}
	return -1
}
