package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credlog/credlog/cmd/internal/logd"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// server is a credlogd run in-process, with the load issuer registered.
type server struct {
	url    string
	keyDir string
}

// startServer writes the load issuer's keys, runs credlogd on a fresh data
// directory with the issuer registered, and waits for the registration's
// checkpoint. Each of opts changes the server's configuration first.
func startServer(t *testing.T, opts ...func(*logd.Config)) *server {
	t.Helper()
	dir := t.TempDir()
	prefix, err := keygen(dir)
	if err != nil {
		t.Fatal(err)
	}
	ic, err := logd.ReadIssuerFiles(prefix)
	if err != nil {
		t.Fatal(err)
	}
	cfg := logd.Config{Origin: "log.example/credload", DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0",
		BatchMaxAge: logd.Duration{Duration: 5 * time.Millisecond},
		// No map-root entries among the events, whose indices the tests check.
		MapEpoch: logd.Duration{Duration: time.Hour}, Issuers: []logd.IssuerConfig{ic}}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- logd.Run(ctx, &cfg, quiet, func(a string) { addr <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("credlogd: %v", err)
		}
	})
	var s *server
	select {
	case a := <-addr:
		s = &server{url: "http://" + a, keyDir: dir}
	case err := <-done:
		t.Fatalf("credlogd: %v", err)
	}
	s.waitSize(t, 1)
	return s
}

// waitSize waits for a published checkpoint of at least size entries and
// returns its size.
func (s *server) waitSize(t *testing.T, size uint64) uint64 {
	t.Helper()
	tg := newTarget(s.url, 1, false)
	defer tg.close()
	var buf bytes.Buffer
	for range 1000 {
		n, err := tg.checkpointSize(context.Background(), &buf)
		if err == nil && n >= size {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no checkpoint of size %d", size)
	return 0
}

func (s *server) keyFile() string { return filepath.Join(s.keyDir, issuerName+".key") }

// checkWrite checks that every event of a fresh log was acknowledged, once,
// at distinct indices after the registration, and that the log holds
// them all.
func checkWrite(t *testing.T, s *server, r *writeReport, n int) {
	t.Helper()
	if r.Acknowledged != n || r.Duplicates != 0 || len(r.Errors) != 0 || len(r.indices) != n {
		t.Fatalf("acknowledged %d of %d, duplicates %d, errors %v, indices %d", r.Acknowledged, n, r.Duplicates, r.Errors, len(r.indices))
	}
	seen := make(map[uint64]bool, n)
	for _, i := range r.indices {
		if i == 0 || i > uint64(n) || seen[i] {
			t.Fatalf("index %d out of range or given twice", i)
		}
		seen[i] = true
	}
	if size := s.waitSize(t, uint64(n)+1); size != uint64(n)+1 {
		t.Fatalf("log size %d, want %d", size, n+1)
	}
	if r.SizeBefore != 1 || r.SizeAfter != uint64(n)+1 {
		t.Errorf("report sizes %d → %d", r.SizeBefore, r.SizeAfter)
	}
	if r.CheckpointLatency == nil || r.CheckpointLatency.Count != n || r.Uncovered != 0 {
		t.Errorf("checkpoint latency %+v, uncovered %d", r.CheckpointLatency, r.Uncovered)
	}
	if r.Server.Samples == 0 || r.Server.RSSMax == 0 || r.Server.CPUSeconds <= 0 {
		t.Errorf("server use not sampled: %+v", r.Server)
	}
}

func TestWrite(t *testing.T) {
	const n = 2000
	for _, tc := range []struct {
		name        string
		batch, conc int
		rate        float64
		wait        bool
	}{
		{"batched closed loop", 100, 4, 0, false},
		{"single closed loop", 1, 16, 0, false},
		{"batched open loop", 100, 4, 20000, false},
		{"single open loop", 1, 16, 10000, false},
		{"batched wait", 100, 4, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t)
			c := writeConfig{URL: s.url, KeyFile: s.keyFile(), Seed: "test", Events: n, Concurrency: tc.conc,
				Batch: tc.batch, Rate: tc.rate, Wait: tc.wait, Poll: 5 * time.Millisecond}
			r, err := runWrite(t.Context(), c, quiet)
			if err != nil {
				t.Fatal(err)
			}
			checkWrite(t, s, r, n)
			if want := (n + tc.batch - 1) / tc.batch; r.SubmitLatency.Count != want {
				t.Errorf("%d requests answered, want %d", r.SubmitLatency.Count, want)
			}

			// The same seed again: the same events, every one a duplicate.
			c.Events, c.Concurrency, c.Rate = 100, 2, 0
			r, err = runWrite(t.Context(), c, quiet)
			if err != nil {
				t.Fatal(err)
			}
			if r.Acknowledged != 100 || r.Duplicates != 100 || len(r.Errors) != 0 || r.SizeAfter != n+1 {
				t.Fatalf("resubmission: %+v", r)
			}
		})
	}
}

func TestRead(t *testing.T) {
	const n = 2000
	s := startServer(t)
	w, err := runWrite(t.Context(), writeConfig{URL: s.url, KeyFile: s.keyFile(), Seed: "read", Events: n,
		Concurrency: 4, Batch: 250, Poll: 5 * time.Millisecond}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	checkWrite(t, s, w, n)
	for _, mode := range []string{"tiles", "proofs", "lookups"} {
		t.Run(mode, func(t *testing.T) {
			r, err := runRead(t.Context(), readConfig{URL: s.url, Mode: mode, Seed: "read", Events: n,
				Concurrency: 4, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond}, quiet)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK == 0 || r.OK != r.Requests || len(r.Errors) != 0 || r.Size != n+1 {
				t.Fatalf("%+v", r)
			}
		})
	}

	// Lookups of events another seed wrote find nothing: errors, not
	// successes.
	r, err := runRead(t.Context(), readConfig{URL: s.url, Mode: "lookups", Seed: "other", Events: n,
		Concurrency: 2, Duration: 100 * time.Millisecond}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK != 0 || r.Errors["bad answer"] != r.Requests || r.Requests == 0 {
		t.Fatalf("lookups of unwritten credentials: %+v", r)
	}
}

// TestReadMaps reads credential status proofs from the map, each checked
// against its map-root entry, once map-root entries cover the events.
func TestReadMaps(t *testing.T) {
	const n = 600
	s := startServer(t, func(c *logd.Config) { c.MapEpoch = logd.Duration{Duration: 20 * time.Millisecond} })
	w, err := runWrite(t.Context(), writeConfig{URL: s.url, KeyFile: s.keyFile(), Seed: "maps", Events: n,
		Concurrency: 2, Batch: 100, Poll: 5 * time.Millisecond}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if w.Acknowledged != n {
		t.Fatalf("write: %+v", w)
	}
	// Wait for a map-root entry after the last event.
	tg := newTarget(s.url, 1, false)
	defer tg.close()
	last := credentialID("maps", n-1)
	var buf bytes.Buffer
	for i := 0; ; i++ {
		status, err := tg.do(t.Context(), mapPath(last), nil, &buf)
		if err == nil && status == http.StatusOK && checkMapProof(buf.Bytes(), last) == nil {
			break
		}
		if i == 500 {
			t.Fatalf("no map proof of the last credential: %d %v %s", status, err, buf.Bytes())
		}
		time.Sleep(10 * time.Millisecond)
	}

	r, err := runRead(t.Context(), readConfig{URL: s.url, Mode: "maps", Seed: "maps", Events: n,
		Concurrency: 4, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK == 0 || r.OK != r.Requests || len(r.Errors) != 0 {
		t.Fatalf("%+v", r)
	}

	// Credentials another seed would have written are absent from the
	// map: the server proves their absence, which is not the status asked.
	r, err = runRead(t.Context(), readConfig{URL: s.url, Mode: "maps", Seed: "other", Events: n,
		Concurrency: 2, Duration: 100 * time.Millisecond}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK != 0 || r.Errors["bad answer"] != r.Requests || r.Requests == 0 {
		t.Fatalf("map proofs of unwritten credentials: %+v", r)
	}
}

// TestCommandLine runs keygen, write and read as command lines, with JSON
// reports.
func TestCommandLine(t *testing.T) {
	s := startServer(t)
	ctx := t.Context()
	var out, errOut bytes.Buffer
	cmd := func(args ...string) int {
		out.Reset()
		errOut.Reset()
		return run(ctx, args, &out, &errOut, quiet)
	}

	dir := t.TempDir()
	if code := cmd("keygen", "-dir", dir); code != 0 {
		t.Fatalf("keygen: %d %s", code, errOut.String())
	}
	for _, f := range []string{".key", ".vkey", ".vrf.key", ".vrf.pub"} {
		if _, err := os.Stat(filepath.Join(dir, issuerName+f)); err != nil {
			t.Fatal(err)
		}
	}
	if code := cmd("keygen", "-dir", dir); code != 1 || !strings.Contains(errOut.String(), "refusing to overwrite") {
		t.Fatalf("keygen over existing keys: %d %s", code, errOut.String())
	}

	if code := cmd("write", "-url", s.url, "-key", s.keyFile(), "-events", "500", "-batch", "50", "-json"); code != 0 {
		t.Fatalf("write: %d %s", code, errOut.String())
	}
	var wr writeReport
	if err := json.Unmarshal(out.Bytes(), &wr); err != nil {
		t.Fatalf("write report: %v\n%s", err, out.String())
	}
	if wr.Acknowledged != 500 || wr.SizeAfter != 501 || wr.SubmitLatency.Count != 10 {
		t.Fatalf("write report: %s", out.String())
	}

	if code := cmd("read", "-url", s.url, "-mode", "lookups", "-events", "500", "-duration", "100ms", "-warmup", "0s"); code != 0 {
		t.Fatalf("read: %d %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "errors:      none") {
		t.Fatalf("read report:\n%s", out.String())
	}

	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"write"},
		{"write", "-key", "k", "-batch", "0"},
		{"read", "-mode", "maps"},
		{"read", "-mode", "frob", "-events", "5"},
		{"read", "-mode", "lookups"},
		{"keygen", "extra"},
	} {
		if code := cmd(args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}
