package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/cmd/internal/proctest"
	"github.com/credlog/credlog/log/fsck/fscktest"
	"github.com/credlog/credlog/log/keys"
)

// The crash test runs credlogd as a real process under submission load,
// kills it with SIGKILL at random moments and restarts it on the same data
// directory; after every restart it checks that nothing acknowledged was
// lost and that every published checkpoint is consistent with the next,
// and at the end it runs fsck on the data directory. See
// docs/RELIABILITY.md.

const (
	crashOrigin  = "crash.example/credlog"
	crashWorkers = 6
	// The load runs for a random time in [minUptime, maxUptime) before
	// each kill.
	minUptime = 150 * time.Millisecond
	maxUptime = 900 * time.Millisecond
)

func TestCrash(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	cycles := proctest.CrashCycles(t)
	start := time.Now()
	h := newHarness(t)
	h.start()
	h.waitCheckpoint(1, 20*time.Second) // the issuer's registration
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range crashWorkers {
		w := h.issuer.Workload(fmt.Sprint("worker-", i), uint64(i))
		wg.Go(func() { h.load(ctx, rand.New(rand.NewPCG(uint64(i), 1)), w) })
	}
	wg.Go(func() { h.watchCheckpoints(ctx) })
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill times seeded with %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for cycle := 1; cycle <= cycles && !t.Failed(); cycle++ {
		up := minUptime + time.Duration(rng.Int64N(int64(maxUptime-minUptime)))
		time.Sleep(up)
		h.kill()
		h.start()
		acked, size := h.verify()
		t.Logf("cycle %d: killed after %v; %d events acknowledged, log size %d, %d checkpoints seen, %d retried requests",
			cycle, up.Round(time.Millisecond), acked, size, h.checkpointCount(), h.retried())
	}
	stopLoad()
	wg.Wait()
	if !t.Failed() {
		h.verify()
	}
	h.kill()
	h.checkOffline()
	h.checkLogs()
	t.Logf("%d cycles in %v", cycles, time.Since(start).Round(time.Millisecond))
}

// harness is one credlogd process on a data directory, the load on it, and
// what it acknowledged and published.
type harness struct {
	t      *testing.T
	bin    string // the credlogd binary
	dir    string // its data directory
	config string // its configuration file
	logs   *os.File
	issuer *fscktest.Issuer
	key    *keys.Verifier // the log's key, known after the first start

	mu      sync.Mutex
	url     string // the running process's base URL
	client  *api.Client
	proc    *os.Process
	exited  chan struct{}
	acks    map[uint64][]byte   // acknowledged events by index
	byEvent map[string]uint64   // acknowledged indices by event
	cps     map[uint64][]byte   // published checkpoints seen, by size
	roots   map[uint64][32]byte // their roots
	retries int

	// Owned by verify: what it checked already.
	served     map[uint64]bool    // checkpoint sizes served after a restart
	consistent map[[2]uint64]bool // pairs of checkpoint sizes proved consistent
}

func newHarness(t *testing.T) *harness {
	tmp := t.TempDir()
	h := &harness{
		t: t, bin: proctest.Build(t, tmp, "credlogd"), dir: filepath.Join(tmp, "data"), config: filepath.Join(tmp, "credlogd.json"),
		acks: make(map[uint64][]byte), byEvent: make(map[string]uint64),
		cps: make(map[uint64][]byte), roots: make(map[uint64][32]byte),
		served: make(map[uint64]bool), consistent: make(map[[2]uint64]bool),
	}
	iss, err := fscktest.NewIssuer("issuer.crash.example")
	if err != nil {
		t.Fatal(err)
	}
	h.issuer = iss
	cfg, err := json.Marshal(map[string]any{
		"origin":        crashOrigin,
		"data_dir":      h.dir,
		"batch_max_age": "10ms",
		"issuers":       []map[string]string{{"name": iss.Name(), "key": iss.VKey, "vrf_key": iss.VRFPub}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	h.logs = proctest.Output(t, tmp, "credlogd")
	t.Cleanup(h.kill)
	return h
}

// start starts credlogd and waits until it serves. A port taken while
// the log was down is replaced by another.
func (h *harness) start() {
	h.t.Helper()
	for attempt := 0; attempt < 5; attempt++ {
		addr := proctest.FreeAddr(h.t)
		fmt.Fprintf(h.logs, "--- harness: starting credlogd on %s\n", addr)
		cmd := exec.Command(h.bin, "-config", h.config, "-listen", addr)
		cmd.Stdout, cmd.Stderr = h.logs, h.logs
		if err := cmd.Start(); err != nil {
			h.t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		c, err := api.NewClient("http://"+addr+"/", &http.Client{Timeout: time.Minute})
		if err != nil {
			h.t.Fatal(err)
		}
		if !waitServing(c, exited) {
			continue
		}
		h.mu.Lock()
		h.url, h.client, h.proc, h.exited = "http://"+addr+"/", c, cmd.Process, exited
		h.mu.Unlock()
		if h.key == nil {
			h.readKey()
		}
		return
	}
	h.t.Fatal("credlogd did not start")
}

// waitServing waits until the log answers HTTP, and reports whether it
// did before its process exited.
func waitServing(c *api.Client, exited chan struct{}) bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Checkpoint(ctx)
		cancel()
		if _, ok := err.(*api.HTTPError); err == nil || ok {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func (h *harness) readKey() {
	text, err := os.ReadFile(filepath.Join(h.dir, "log.vkey"))
	if err != nil {
		h.t.Fatal(err)
	}
	if h.key, err = keys.ParseVerifier(string(text)); err != nil {
		h.t.Fatal(err)
	}
	if h.key.Name != crashOrigin {
		h.t.Fatalf("log key is named %q", h.key.Name)
	}
}

// kill kills credlogd with SIGKILL, if it runs, and waits for it to exit.
func (h *harness) kill() {
	h.mu.Lock()
	proc, exited := h.proc, h.exited
	h.proc = nil
	h.mu.Unlock()
	if proc == nil {
		return
	}
	if err := proc.Signal(syscall.SIGKILL); err != nil {
		h.t.Errorf("couldn't kill credlogd: %v", err)
	}
	<-exited
	fmt.Fprintf(h.logs, "--- harness: killed credlogd\n")
}

// current returns the client of the running process.
func (h *harness) current() *api.Client {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.client
}

func (h *harness) checkpointCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.cps)
}

func (h *harness) retried() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.retries
}

// errorf reports a broken invariant from any goroutine.
func (h *harness) errorf(format string, args ...any) {
	h.t.Errorf(format, args...)
}

// waitCheckpoint waits for a published checkpoint of at least size
// entries, and returns its size.
func (h *harness) waitCheckpoint(size uint64, timeout time.Duration) uint64 {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		cp, err := h.current().Checkpoint(context.Background())
		if err == nil {
			if got, ok := h.sawCheckpoint(cp, "GET /checkpoint"); ok && got >= size {
				return got
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no checkpoint of %d entries published within %v (last error: %v)", size, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// watchCheckpoints collects every checkpoint GET /checkpoint shows until
// ctx is done.
func (h *harness) watchCheckpoints(ctx context.Context) {
	for ctx.Err() == nil {
		if cp, err := h.current().Checkpoint(ctx); err == nil {
			h.sawCheckpoint(cp, "GET /checkpoint")
		}
		time.Sleep(15 * time.Millisecond)
	}
}

// checkLogs fails the test if credlogd panicked, reported a data race or
// logged an error in any of its runs.
func (h *harness) checkLogs() {
	proctest.CheckOutput(h.t, h.logs, "credlogd", "level=ERROR")
}

// checkOffline checks the data directory of the killed log: fsck passes
// without changing a byte, every acknowledged event is stored at its
// index, and every checkpoint seen is stored as it was served.
func (h *harness) checkOffline() {
	h.t.Helper()
	before := dirHashes(h.t, h.dir)
	h.fsck()
	if after := dirHashes(h.t, h.dir); !bytes.Equal(after, before) {
		h.t.Errorf("fsck changed the data directory:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
