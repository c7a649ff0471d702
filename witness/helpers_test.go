package witness_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/witness"
)

// testLog is a foreign log: a tree built by the transparency-dev/merkle
// reference implementation, checkpoints signed by golang.org/x/mod's note
// signer.
type testLog struct {
	t      testing.TB
	origin string
	signer note.Signer
	vkey   string
	tree   *testonly.Tree
	prefix string // makes the leaves of forks differ
}

func newTestLog(t testing.TB, origin string) *testLog {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return &testLog{t: t, origin: origin, signer: signer, vkey: vkey, tree: testonly.New(rfc6962.DefaultHasher)}
}

// fork returns a log with the same key and the same first size leaves,
// whose later leaves differ.
func (l *testLog) fork(size uint64) *testLog {
	f := &testLog{t: l.t, origin: l.origin, signer: l.signer, vkey: l.vkey,
		tree: testonly.New(rfc6962.DefaultHasher), prefix: l.prefix + "fork/"}
	for i := range size {
		f.tree.Append(l.tree.LeafHash(i))
	}
	return f
}

// growTo appends leaves until the tree has size leaves.
func (l *testLog) growTo(size uint64) {
	for l.tree.Size() < size {
		l.tree.AppendData(fmt.Appendf(nil, "%sleaf %d", l.prefix, l.tree.Size()))
	}
}

// text is the checkpoint text at size, plus extension lines.
func (l *testLog) text(size uint64, ext ...string) string {
	root := l.tree.HashAt(size)
	if size == 0 {
		root = rfc6962.DefaultHasher.EmptyRoot()
	}
	s := fmt.Sprintf("%s\n%d\n%s\n", l.origin, size, base64.StdEncoding.EncodeToString(root))
	for _, e := range ext {
		s += e + "\n"
	}
	return s
}

func (l *testLog) sign(text string) []byte {
	l.t.Helper()
	b, err := note.Sign(&note.Note{Text: text}, l.signer)
	if err != nil {
		l.t.Fatal(err)
	}
	return b
}

func (l *testLog) checkpoint(size uint64) []byte { return l.sign(l.text(size)) }

func (l *testLog) proof(old, size uint64) [][]byte {
	l.t.Helper()
	if old == 0 {
		return nil
	}
	p, err := l.tree.ConsistencyProof(old, size)
	if err != nil {
		l.t.Fatal(err)
	}
	return p
}

// request is an add-checkpoint body from old to size with a real proof.
func (l *testLog) request(old, size uint64) []byte {
	return body(old, l.proof(old, size), l.checkpoint(size))
}

func body(old uint64, proof [][]byte, cp []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		fmt.Fprintf(&b, "%s\n", base64.StdEncoding.EncodeToString(h))
	}
	b.WriteString("\n")
	b.Write(cp)
	return b.Bytes()
}

// env is a witness on a real SQLite database, served on loopback.
type env struct {
	t        testing.TB
	path     string
	skey     string
	opts     witness.Options
	store    *witness.SQLiteStore
	cosigner *witness.Cosigner
	w        *witness.Witness
	srv      *httptest.Server
}

func newEnv(t testing.TB, opts witness.Options) *env {
	t.Helper()
	skey, _, err := witness.GenerateKey("witness.example/w1")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, path: filepath.Join(t.TempDir(), "witness.db"), skey: skey, opts: opts}
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *env) start() {
	e.t.Helper()
	var err error
	if e.store, err = witness.OpenSQLite(context.Background(), e.path); err != nil {
		e.t.Fatal(err)
	}
	if e.cosigner, err = witness.NewCosigner(e.skey); err != nil {
		e.t.Fatal(err)
	}
	opts := e.opts
	opts.Store, opts.Cosigner = e.store, e.cosigner
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if e.w, err = witness.New(opts); err != nil {
		e.t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.w.Handler())
}

func (e *env) stop() {
	if e.srv == nil {
		return
	}
	e.srv.Close()
	e.store.Close()
	e.srv = nil
}

// restart closes everything and reopens the same database.
func (e *env) restart() {
	e.stop()
	e.start()
}

func (e *env) addLog(l *testLog) {
	e.t.Helper()
	if err := e.store.AddLog(context.Background(), l.origin, []string{l.vkey}); err != nil {
		e.t.Fatal(err)
	}
}

type response struct {
	code   int
	header http.Header
	body   string
}

func (e *env) post(b []byte) response {
	e.t.Helper()
	resp, err := http.Post(e.srv.URL+"/add-checkpoint", "text/plain", bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	return readResponse(e.t, resp)
}

func (e *env) get(path string) response {
	e.t.Helper()
	resp, err := http.Get(e.srv.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	return readResponse(e.t, resp)
}

func readResponse(t testing.TB, resp *http.Response) response {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: string(b)}
}

// mustCosign posts a request and requires a 200.
func (e *env) mustCosign(b []byte) string {
	e.t.Helper()
	r := e.post(b)
	if r.code != http.StatusOK {
		e.t.Fatalf("add-checkpoint: %d %q, want 200", r.code, r.body)
	}
	return r.body
}

// snapshot is everything the store holds, for checking that it did not
// change.
func (e *env) snapshot() string {
	e.t.Helper()
	ctx := context.Background()
	logs, err := e.store.Logs(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	for _, l := range logs {
		h, err := e.store.History(ctx, l.Origin, 0, 1<<20)
		if err != nil {
			e.t.Fatal(err)
		}
		enc.Encode(l)
		enc.Encode(h)
	}
	ev, err := e.store.Evidence(ctx, 0, 1<<20)
	if err != nil {
		e.t.Fatal(err)
	}
	enc.Encode(ev)
	return b.String()
}

func (e *env) latest(origin string) *witness.Latest {
	e.t.Helper()
	st, err := e.store.Log(context.Background(), origin)
	if err != nil {
		e.t.Fatal(err)
	}
	return st.Latest
}

func (e *env) evidence() []*witness.Evidence {
	e.t.Helper()
	ev, err := e.store.Evidence(context.Background(), 0, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	return ev
}

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }
