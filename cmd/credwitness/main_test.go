package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/cmd/internal/proctest"
	"github.com/credlog/credlog/witness"
)

// credwitness runs the command in-process and returns its exit status and
// output.
func credwitness(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := credwitness(t, args...)
	if code != 0 {
		t.Fatalf("credwitness %q: exit %d: %s", args, code, errOut)
	}
	return out
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "witness.key")
	vkey := strings.TrimSpace(mustRun(t, "keygen", "-name", "witness.example/w1", "-out", key))
	fi, err := os.Stat(key)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
	if _, err := fnote.NewVerifierForCosignatureV1(vkey); err != nil {
		t.Errorf("printed key %q is not a cosignature verifier key: %v", vkey, err)
	}
	b, _ := os.ReadFile(key)
	if !strings.HasPrefix(string(b), "PRIVATE+KEY+witness.example/w1+") {
		t.Errorf("key file is %q", b)
	}
	if code, _, errOut := credwitness(t, "keygen", "-name", "witness.example/w1", "-out", key); code != 1 {
		t.Errorf("keygen over an existing file: exit %d (%s), want 1", code, errOut)
	}
	if code, _, _ := credwitness(t, "keygen", "-name", "witness.example/w1"); code != 2 {
		t.Errorf("keygen without -out: exit %d, want 2", code)
	}
}

func TestServeRefusesReadableKey(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "witness.key")
	mustRun(t, "keygen", "-name", "witness.example/w1", "-out", key)
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := credwitness(t, "serve", "-db", filepath.Join(dir, "w.db"), "-key", key, "-listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, "permissions 0644") || !strings.Contains(errOut, "chmod 600") {
		t.Fatalf("exit %d, %q; want a refusal naming the permissions", code, errOut)
	}
}

func TestAdmin(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "w.db")
	_, vkey1, _ := note.GenerateKey(rand.Reader, "example.com/a")
	_, vkey2, _ := note.GenerateKey(rand.Reader, "example.com/a")
	_, vkey3, _ := note.GenerateKey(rand.Reader, "example.com/b")
	mustRun(t, "add-log", "-db", db, "-origin", "example.com/a", "-key", vkey1, "-key", vkey2)
	mustRun(t, "add-log", "-db", db, "-origin", "example.com/b", "-key", vkey3)
	if code, _, errOut := credwitness(t, "add-log", "-db", db, "-origin", "example.com/b", "-key", vkey1); code != 1 || !strings.Contains(errOut, "never re-keyed") {
		t.Errorf("re-keying: exit %d %q", code, errOut)
	}
	if code, _, _ := credwitness(t, "add-log", "-db", db, "-origin", "example.com/c", "-key", "nonsense"); code != 1 {
		t.Errorf("bad key: exit %d, want 1", code)
	}
	out := mustRun(t, "list", "-db", db)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("list printed %d lines:\n%s", len(lines), out)
	}
	var st witness.LogState
	if err := json.Unmarshal([]byte(lines[0]), &st); err != nil {
		t.Fatal(err)
	}
	if st.Origin != "example.com/a" || len(st.Keys) != 2 || st.OriginHash != witness.OriginHash("example.com/a") || st.Latest != nil {
		t.Errorf("list: %+v", st)
	}
	if code, _, _ := credwitness(t, "list", "-db", filepath.Join(dir, "typo.db")); code != 1 {
		t.Errorf("list of a missing database: exit %d, want 1", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "typo.db")); err == nil {
		t.Error("list created a database")
	}
	if code, _, _ := credwitness(t, "nonsense"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	if code, _, _ := credwitness(t, "list", "-db", db, "extra"); code != 2 {
		t.Errorf("extra argument: exit %d, want 2", code)
	}
	if out := mustRun(t, "evidence", "-db", db); out != "" {
		t.Errorf("evidence on a fresh database: %q", out)
	}
}

// testLog is a foreign log: a merkle/testonly tree and an x/mod note signer.
type testLog struct {
	origin string
	signer note.Signer
	vkey   string
	tree   *testonly.Tree
}

func newTestLog(t *testing.T, origin string) *testLog {
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return &testLog{origin: origin, signer: s, vkey: vkey, tree: testonly.New(rfc6962.DefaultHasher)}
}

func (l *testLog) text(size uint64) string {
	for l.tree.Size() < size {
		l.tree.AppendData(fmt.Appendf(nil, "leaf %d", l.tree.Size()))
	}
	return fmt.Sprintf("%s\n%d\n%s\n", l.origin, size, base64.StdEncoding.EncodeToString(l.tree.HashAt(size)))
}

func (l *testLog) request(t *testing.T, old, size uint64) []byte {
	text := l.text(size)
	cp, err := note.Sign(&note.Note{Text: text}, l.signer)
	if err != nil {
		t.Fatal(err)
	}
	b := fmt.Appendf(nil, "old %d\n", old)
	if old > 0 {
		p, err := l.tree.ConsistencyProof(old, size)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range p {
			b = fmt.Appendf(b, "%s\n", base64.StdEncoding.EncodeToString(h))
		}
	}
	return append(append(b, '\n'), cp...)
}

// TestServeEndToEnd runs the admin commands and the server as an operator
// would, and witnesses a foreign log over real HTTP.
func TestServeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	db, key := filepath.Join(dir, "w.db"), filepath.Join(dir, "w.key")
	wvkey := strings.TrimSpace(mustRun(t, "keygen", "-name", "witness.example/w1", "-out", key))
	l := newTestLog(t, "example.com/log")
	mustRun(t, "add-log", "-db", db, "-origin", l.origin, "-key", l.vkey)

	addr := proctest.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "-db", db, "-key", key, "-listen", addr, "-requests-per-day", "1000"}, io.Discard, &stderr)
	}()
	base := "http://" + addr
	for i := 0; ; i++ {
		resp, err := http.Get(base + "/healthz")
		if err == nil && resp.StatusCode == http.StatusOK {
			resp.Body.Close()
			break
		}
		if i == 100 {
			t.Fatalf("server did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	wv, err := fnote.NewVerifierForCosignatureV1(wvkey)
	if err != nil {
		t.Fatal(err)
	}
	var old uint64
	for _, size := range []uint64{3, 10, 64} {
		resp, err := http.Post(base+"/add-checkpoint", "", bytes.NewReader(l.request(t, old, size)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("size %d: %d %s", size, resp.StatusCode, b)
		}
		if _, err := note.Open(append([]byte(l.text(size)+"\n"), b...), note.VerifierList(wv)); err != nil {
			t.Fatalf("cosignature does not verify with the key keygen printed: %v", err)
		}
		old = size
	}
	resp, err := http.Get(base + "/" + witness.OriginHash(l.origin) + "/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	lv, _ := note.NewVerifier(l.vkey)
	if n, err := note.Open(b, note.VerifierList(lv, wv)); err != nil || len(n.Sigs) != 2 {
		t.Fatalf("monitoring checkpoint: %v\n%s", err, b)
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"credwitness_build_info", `credwitness_cosignatures_total{origin="example.com/log"} 3`,
		`credwitness_http_requests_total{code="200",endpoint="add-checkpoint"} 3`} {
		if !bytes.Contains(b, []byte(m)) {
			t.Errorf("metrics lack %s", m)
		}
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not shut down")
	}

	// The admin commands see what the server did.
	out := mustRun(t, "history", "-db", db, "-origin", l.origin)
	if n := strings.Count(out, "\n"); n != 3 {
		t.Errorf("history printed %d lines, want 3:\n%s", n, out)
	}
	var st witness.LogState
	if err := json.Unmarshal([]byte(mustRun(t, "list", "-db", db)), &st); err != nil || st.Latest == nil || st.Latest.Size != 64 {
		t.Errorf("list after serving: %+v %v", st, err)
	}
}

func TestUsage(t *testing.T) {
	for _, h := range []string{"-h", "help"} {
		code, out, _ := credwitness(t, h)
		if code != 0 || !strings.Contains(out, "credwitness serve") {
			t.Errorf("%s: exit %d, stdout %q", h, code, out)
		}
	}
	if code, _, errOut := credwitness(t, "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: exit %d, stderr %q", code, errOut)
	}
}
