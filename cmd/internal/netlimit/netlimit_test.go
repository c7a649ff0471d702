package netlimit_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/credlog/credlog/cmd/internal/netlimit"
)

// serve runs an HTTP server on a loopback listener limited to n
// connections, and returns the listener and the base URL.
func serve(t *testing.T, n int) (*netlimit.Listener, string) {
	t.Helper()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := netlimit.New(tcp, n)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok\n")
		}),
		ReadHeaderTimeout: time.Minute,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != http.ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	})
	return l, "http://" + tcp.Addr().String()
}

// hold opens n idle connections and waits until the listener holds them.
func hold(t *testing.T, l *netlimit.Listener, addr string, n int) []net.Conn {
	t.Helper()
	var conns []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	waitFor(t, fmt.Sprintf("%d open connections", n), func() bool { return l.Open() == n })
	return conns
}

// waitFor polls cond until it holds, failing the test after many tries.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("never reached: %s", what)
}

// get sends one request on a new connection.
func get(url string) (*http.Response, string, error) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}
	resp, err := c.Get(url)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// checkRejected checks the 503 answer to a connection beyond the limit.
func checkRejected(t *testing.T, resp *http.Response, body string) {
	t.Helper()
	if resp.StatusCode != http.StatusServiceUnavailable || !resp.Close ||
		resp.Header.Get("Retry-After") != "1" || body != "too many connections\n" {
		t.Errorf("beyond the limit: %d close=%v Retry-After %q body %q; want 503, Connection: close, Retry-After 1",
			resp.StatusCode, resp.Close, resp.Header.Get("Retry-After"), body)
	}
}

func TestLimit(t *testing.T) {
	const n = 3
	l, url := serve(t, n)
	addr := url[len("http://"):]
	conns := hold(t, l, addr, n)

	resp, body, err := get(url + "/")
	if err != nil {
		t.Fatalf("request beyond the limit: %v (want a 503 answer, not an error)", err)
	}
	checkRejected(t, resp, body)

	// A client that sends nothing gets the answer too.
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.ReadResponse(bufio.NewReader(raw), nil)
	if err != nil {
		t.Fatalf("silent client beyond the limit: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	checkRejected(t, resp, string(b))
	raw.Close()
	if l.Open() != n || l.Rejected() != 2 {
		t.Errorf("after two rejections: %d open, %d rejected; want %d and 2", l.Open(), l.Rejected(), n)
	}

	// Closing one connection frees its slot.
	conns[0].Close()
	waitFor(t, "a request served after a connection closed", func() bool {
		resp, body, err := get(url + "/")
		return err == nil && resp.StatusCode == http.StatusOK && body == "ok\n"
	})
	for _, c := range conns[1:] {
		c.Close()
	}
	waitFor(t, "every slot released", func() bool { return l.Open() == 0 })

	// Every slot can be taken again: none leaked.
	hold(t, l, addr, n)
	if resp, body, err := get(url + "/"); err != nil {
		t.Fatal(err)
	} else {
		checkRejected(t, resp, body)
	}
}

// TestFloodBeyondLimit sends many concurrent requests while every slot is
// held: each gets a complete 503, none hangs or is reset, and afterwards
// no slot or goroutine is left behind.
func TestFloodBeyondLimit(t *testing.T) {
	const n, flood = 2, 40
	baseline := runtime.NumGoroutine()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := netlimit.New(tcp, n)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), ReadHeaderTimeout: time.Minute}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	addr := tcp.Addr().String()
	held := hold(t, l, addr, n)

	var wg sync.WaitGroup
	errs := make(chan error, flood)
	for range flood {
		wg.Go(func() {
			resp, body, err := get("http://" + addr + "/")
			switch {
			case err != nil:
				errs <- err
			case resp.StatusCode != http.StatusServiceUnavailable || body != "too many connections\n":
				errs <- fmt.Errorf("%d %q", resp.StatusCode, body)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("request beyond the limit: %v", err)
	}
	if got := l.Rejected(); got != flood {
		t.Errorf("%d connections rejected, want %d", got, flood)
	}
	for _, c := range held {
		c.Close()
	}
	waitFor(t, "every slot released", func() bool { return l.Open() == 0 })
	srv.Close()
	if err := <-done; err != http.ErrServerClosed {
		t.Fatal(err)
	}
	waitFor(t, fmt.Sprintf("goroutines back to %d", baseline), func() bool { return runtime.NumGoroutine() <= baseline })
}

func TestNewRejectsZero(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New with a limit of 0 did not panic")
		}
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	netlimit.New(ln, 0)
}

// TestRejectionsBounded holds the rejection goroutines busy with silent
// clients: past the bound on rejections being written, an excess
// connection is closed at once without an answer, and the silent clients
// within the bound still get their 503.
func TestRejectionsBounded(t *testing.T) {
	l, url := serve(t, 1)
	addr := url[len("http://"):]
	hold(t, l, addr, 1)
	const within, beyond = 64, 6 // the bound is 64 for small limits
	var conns []net.Conn
	for range within + beyond {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	waitFor(t, "every connection rejected", func() bool { return l.Rejected() == within+beyond })
	answered, unanswered := 0, 0
	for _, c := range conns {
		b, err := io.ReadAll(c)
		switch {
		case err != nil:
			t.Errorf("reading a rejected connection: %v", err)
		case len(b) == 0:
			unanswered++
		case bytes.HasPrefix(b, []byte("HTTP/1.1 503 Service Unavailable\r\n")):
			answered++
		default:
			t.Errorf("rejected connection got %q", b)
		}
	}
	if answered != within || unanswered != beyond {
		t.Errorf("%d connections answered 503 and %d closed unanswered; want %d and %d", answered, unanswered, within, beyond)
	}
}
