package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/credlog/credlog/log/storage/postgres"
	"github.com/credlog/credlog/log/storage/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestFailover runs two credlogd processes on one PostgreSQL database
// under submission load sent to the second, which forwards it to the
// first while the first sequences. It kills the first with SIGKILL in
// the middle of its batches; the second must take the sequencer over,
// and afterwards every acknowledged event is at its acknowledged index,
// every checkpoint seen is consistent with the next, and fsck of the
// database passes. See docs/OPERATIONS.md.
func TestFailover(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	dsn := pgtest.DSN(t)
	h := newHarness(t)
	setConfig(t, h.config, "database", dsn)
	// Map-root entries before and after the kill: the new sequencer must
	// recover the map updates pending since the last one.
	setConfig(t, h.config, "map_epoch", "200ms")

	h.start() // the first instance: it takes the sequencer lease
	h.waitCheckpoint(1, 20*time.Second)
	h.mu.Lock()
	leader, leaderExited, leaderURL := h.proc, h.exited, h.url
	h.mu.Unlock()
	t.Cleanup(func() { leader.Kill() })
	h.start() // the second: a standby, serving reads and forwarding submissions
	if body := get(t, h.baseURL()+"healthz"); !strings.Contains(body, "standby") {
		t.Fatalf("the second instance's /healthz = %q; want a standby", body)
	}
	if body := get(t, leaderURL+"healthz"); strings.Contains(body, "standby") {
		t.Fatalf("the first instance's /healthz = %q; want the sequencer", body)
	}

	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range crashWorkers {
		w := h.issuer.Workload(fmt.Sprint("worker-", i), uint64(i))
		wg.Go(func() { h.load(ctx, rand.New(rand.NewPCG(uint64(i), 2)), w) })
	}
	wg.Go(func() { h.watchCheckpoints(ctx) })
	defer func() { stopLoad(); wg.Wait() }()

	before := h.waitAcks(200, time.Minute)
	if err := leader.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-leaderExited
	killed := time.Now()
	fmt.Fprintf(h.logs, "--- harness: killed the sequencing credlogd\n")
	// Events acknowledged after the kill were sequenced by the standby.
	after := h.waitAcks(before+200, time.Minute)
	t.Logf("killed the sequencer with %d events acknowledged; the standby acknowledged %d more within %v",
		before, after-before, time.Since(killed).Round(time.Millisecond))
	stopLoad()
	wg.Wait()
	acked, size := h.verify()
	t.Logf("%d events acknowledged, log size %d, %d checkpoints seen, %d retried requests", acked, size, h.checkpointCount(), h.retried())
	h.kill()

	s, err := postgres.OpenReadOnly(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h.checkStored(s)
	h.checkLogs()
}

// setConfig sets a key of the JSON configuration file.
func setConfig(t *testing.T, path, key string, value any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m[key] = value
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitAcks waits until at least n events were acknowledged, and returns
// how many were.
func (h *harness) waitAcks(n int, timeout time.Duration) int {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		h.mu.Lock()
		got := len(h.acks)
		h.mu.Unlock()
		if got >= n {
			return got
		}
		if time.Now().After(deadline) || h.t.Failed() {
			h.t.Fatalf("%d events acknowledged within %v, want %d", got, timeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
