package logd

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMaxConns runs credlogd with max_conns 2: with two idle connections
// held open, a request gets 503 with Connection: close and Retry-After;
// once one closes, requests are served again.
func TestMaxConns(t *testing.T) {
	r := start(t, Config{Origin: "log.example/credlog", DataDir: t.TempDir(), Listen: "127.0.0.1:0", MaxConns: 2})
	addr := strings.TrimSuffix(strings.TrimPrefix(r.url, "http://"), "/")
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}
	getStatus := func() (int, *http.Response) {
		resp, err := hc.Get(r.url + "checkpoint")
		if err != nil {
			t.Fatalf("GET /checkpoint: %v (want an answer, not an error)", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp
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
	// The held connections are accepted asynchronously: wait until a
	// request is refused.
	var code int
	var resp *http.Response
	for range 1000 {
		if code, resp = getStatus(); code == http.StatusServiceUnavailable {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if code != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !resp.Close {
		t.Fatalf("with max_conns connections held: %d %v (close %v), want 503 with Retry-After and Connection: close",
			code, resp.Header, resp.Close)
	}
	held[0].Close()
	for range 1000 {
		if code, _ = getStatus(); code != http.StatusServiceUnavailable {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if code >= 500 {
		t.Fatalf("%d after a held connection closed, want the request served", code)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

func TestMaxConnsDefault(t *testing.T) {
	c := Config{}
	if err := c.SetDefaults(); err != nil || c.MaxConns != 4096 {
		t.Fatalf("default max_conns %d, %v", c.MaxConns, err)
	}
	c = Config{MaxConns: -1}
	if err := c.SetDefaults(); err == nil {
		t.Fatal("negative max_conns accepted")
	}
}
