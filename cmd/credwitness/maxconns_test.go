package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/credlog/credlog/cmd/internal/proctest"
)

// TestServeMaxConns runs credwitness serve with -max-conns 2: with two
// idle connections held open, a request gets 503 with Connection: close
// and Retry-After; once one closes, requests are served again.
func TestServeMaxConns(t *testing.T) {
	dir := t.TempDir()
	db, key := filepath.Join(dir, "w.db"), filepath.Join(dir, "w.key")
	mustRun(t, "keygen", "-name", "witness.example/w1", "-out", key)
	addr := proctest.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "-db", db, "-key", key, "-listen", addr, "-max-conns", "2"}, io.Discard, &stderr)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d: %s", code, stderr.String())
		}
	}()
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}
	healthz := func() (*http.Response, error) {
		resp, err := hc.Get("http://" + addr + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	for i := 0; ; i++ {
		if resp, err := healthz(); err == nil && resp.StatusCode == http.StatusOK {
			break
		}
		if i == 500 {
			t.Fatal("server did not come up")
		}
		time.Sleep(10 * time.Millisecond)
	}

	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	var resp *http.Response
	var err error
	for range 1000 { // the held connections are accepted asynchronously
		if resp, err = healthz(); err != nil || resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("request beyond -max-conns: %v (want a 503 answer, not an error)", err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !resp.Close {
		t.Fatalf("request beyond -max-conns: %d %v (close %v), want 503 with Retry-After and Connection: close",
			resp.StatusCode, resp.Header, resp.Close)
	}

	// Closing a held connection frees its slot: requests are served again.
	held[0].Close()
	for range 1000 {
		if resp, err = healthz(); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after a held connection closed: %v %v, want 200", resp, err)
	}
}
