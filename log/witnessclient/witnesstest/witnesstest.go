// Package witnesstest runs real credwitness witnesses (package witness) in
// the test's process, over HTTP on loopback, with their SQLite state in the
// test's temporary directory: for tests of the log's witness client that
// stop, restart and wipe witnesses.
package witnesstest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/credlog/credlog/witness"
)

// Witness is one running (or stopped) witness. Its address does not change
// across Stop and Start.
type Witness struct {
	t    testing.TB
	name string
	skey string
	vkey string
	dir  string
	addr string

	mu    sync.Mutex
	gen   int // database generation, bumped by Wipe
	logs  map[string][]string
	store *witness.SQLiteStore
	srv   *http.Server
	done  chan struct{}
}

// Start starts a witness whose cosigner key is named name. It is stopped
// when the test ends.
func Start(t testing.TB, name string) *Witness {
	t.Helper()
	skey, vkey, err := witness.GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &Witness{t: t, name: name, skey: skey, vkey: vkey, dir: t.TempDir(), addr: ln.Addr().String(), logs: map[string][]string{}}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.start(ln)
	t.Cleanup(w.Stop)
	return w
}

// VKey returns the witness's cosignature verifier key (type 0x04).
func (w *Witness) VKey() string { return w.vkey }

// URL returns the witness's submission prefix, "http://<addr>/".
func (w *Witness) URL() string { return "http://" + w.addr + "/" }

// PolicyLine returns the witness's line for a c2sp.org/tlog-policy file.
func (w *Witness) PolicyLine(name string) string {
	return "witness " + name + " " + w.vkey + " " + w.URL() + "\n"
}

// AddLog makes the witness trust a log's keys for its origin, now and
// after a Wipe. A log is added once.
func (w *Witness) AddLog(origin string, vkeys ...string) {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.logs[origin]; ok {
		w.t.Fatalf("log %q added twice", origin)
	}
	w.logs[origin] = vkeys
	if w.store != nil {
		if err := w.store.AddLog(context.Background(), origin, vkeys); err != nil {
			w.t.Fatal(err)
		}
	}
}

// Latest returns the size of the latest checkpoint of origin the witness
// cosigned, and false if none. The witness must be running.
func (w *Witness) Latest(origin string) (uint64, bool) {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	st, err := w.store.Log(context.Background(), origin)
	if err != nil {
		w.t.Fatal(err)
	}
	if st.Latest == nil {
		return 0, false
	}
	return st.Latest.Size, true
}

// Stop closes the witness's listener, connections and database: clients
// get connection refused. Stopping a stopped witness does nothing.
func (w *Witness) Stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.srv == nil {
		return
	}
	w.srv.Close()
	<-w.done
	w.store.Close()
	w.srv, w.store = nil, nil
}

// Start restarts a stopped witness on the same address and database.
func (w *Witness) Start() {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.srv != nil {
		return
	}
	var ln net.Listener
	var err error
	for range 100 { // the port may linger briefly after Close
		if ln, err = net.Listen("tcp", w.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		w.t.Fatalf("couldn't listen on %s again: %v", w.addr, err)
	}
	w.start(ln)
}

// Wipe restarts the witness on a new, empty database that trusts the same
// logs: a witness that lost its state.
func (w *Witness) Wipe() {
	w.t.Helper()
	w.Stop()
	w.mu.Lock()
	w.gen++
	w.mu.Unlock()
	w.Start()
}

// start opens the database and serves on ln. w.mu is held.
func (w *Witness) start(ln net.Listener) {
	w.t.Helper()
	ctx := context.Background()
	store, err := witness.OpenSQLite(ctx, filepath.Join(w.dir, "witness-"+strconv.Itoa(w.gen)+".db"))
	if err != nil {
		w.t.Fatal(err)
	}
	for origin, keys := range w.logs {
		if _, err := store.Log(ctx, origin); errors.Is(err, witness.ErrUnknownLog) {
			if err := store.AddLog(ctx, origin, keys); err != nil {
				w.t.Fatal(err)
			}
		}
	}
	cosigner, err := witness.NewCosigner(w.skey)
	if err != nil {
		w.t.Fatal(err)
	}
	wt, err := witness.New(witness.Options{Store: store, Cosigner: cosigner,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		w.t.Fatal(err)
	}
	w.store = store
	w.srv = &http.Server{Handler: wt.Handler(), ReadHeaderTimeout: 10 * time.Second}
	w.done = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		srv.Serve(ln)
	}(w.srv, w.done)
}

// SyncBuffer is a bytes.Buffer safe for concurrent writes, for capturing
// the log lines of servers under test.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
