package api_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/credlog/credlog/api"
)

// TestSlowClientDisconnected checks that credlogd's http.Server bounds
// slow clients: NewHTTPServer sets a header, body and write timeout and a
// header size limit, and a client that trickles its request headers is
// disconnected once ReadHeaderTimeout passes (shortened here from its 10s
// so the test is quick).
func TestSlowClientDisconnected(t *testing.T) {
	srv := api.NewHTTPServer("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Fatalf("unbounded server: %+v", srv)
	}
	srv.ReadHeaderTimeout = 200 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	// One header byte every 50ms, never finishing the headers.
	req := "GET /checkpoint HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 200) + "\r\n\r\n"
	var werr error
	for i := 0; i < len(req) && werr == nil && time.Since(start) < 5*time.Second; i++ {
		_, werr = c.Write([]byte{req[i]})
		time.Sleep(50 * time.Millisecond)
	}
	if werr == nil {
		// The server may close without the write failing yet: a read
		// sees the close (or a 408 and then the close).
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, rerr := io.ReadAll(c)
		var ne net.Error
		if errors.As(rerr, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after %v of trickled headers", time.Since(start))
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("disconnected only after %v", d)
	}
}
