package witness_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/witness"
)

// verifyBySpec checks a cosignature line on text the way
// c2sp.org/tlog-cosignature describes it, with nothing but crypto/ed25519,
// and returns its timestamp.
func verifyBySpec(t *testing.T, vkey, text, line string) time.Time {
	t.Helper()
	parts := strings.SplitN(vkey, "+", 3)
	key, _ := base64.StdEncoding.DecodeString(parts[2])
	if len(parts) != 3 || len(key) != 33 || key[0] != 0x04 {
		t.Fatalf("verifier key %q is not an Ed25519 cosignature/v1 key", vkey)
	}
	name, pub := parts[0], ed25519.PublicKey(key[1:])
	h := sha256.Sum256(append([]byte(name+"\n\x04"), pub...))
	if fmt.Sprintf("%08x", h[:4]) != parts[1] {
		t.Fatalf("verifier key ID %s, want %x", parts[1], h[:4])
	}
	rest, ok := strings.CutPrefix(line, "— "+name+" ")
	if !ok || !strings.HasSuffix(rest, "\n") || strings.Count(line, "\n") != 1 {
		t.Fatalf("cosignature %q is not one signature line from %s", line, name)
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(rest, "\n"))
	if err != nil || len(sig) != 4+8+64 {
		t.Fatalf("cosignature %q: bad encoding", line)
	}
	if !bytes.Equal(sig[:4], h[:4]) {
		t.Fatalf("cosignature key ID %x, want %x", sig[:4], h[:4])
	}
	ts := binary.BigEndian.Uint64(sig[4:12])
	msg := fmt.Sprintf("cosignature/v1\ntime %d\n%s", ts, text)
	if !ed25519.Verify(pub, []byte(msg), sig[12:]) {
		t.Fatalf("cosignature does not verify over %q", msg)
	}
	return time.Unix(int64(ts), 0)
}

// verifyWithFormats checks the cosignature with transparency-dev/formats'
// cosignature/v1 verifier through golang.org/x/mod's note.Open.
func verifyWithFormats(t *testing.T, vkey, text, cosig string) {
	t.Helper()
	v, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open([]byte(text+"\n"+cosig), note.VerifierList(v))
	if err != nil {
		t.Fatalf("formats verifier rejects the cosignature: %v", err)
	}
	if len(n.Sigs) != 1 || n.Text != text {
		t.Fatalf("got %d verified signatures over %q", len(n.Sigs), n.Text)
	}
}

// tamper returns msg with its signature from l changed, still well-formed.
func tamper(t *testing.T, l *testLog, msg []byte) []byte {
	t.Helper()
	v, _ := note.NewVerifier(l.vkey)
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := base64.StdEncoding.DecodeString(n.Sigs[0].Base64)
	sig[len(sig)-1] ^= 1
	n.Sigs[0].Base64 = base64.StdEncoding.EncodeToString(sig)
	out, err := note.Sign(n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCosignatureInterop(t *testing.T) {
	e := newEnv(t, witness.Options{})
	l := newTestLog(t, "example.com/log")
	e.addLog(l)
	l.growTo(5)
	before := time.Now().Add(-time.Second)
	cosig := e.mustCosign(l.request(0, 5))
	vkey := e.cosigner.VerifierKey()
	ts := verifyBySpec(t, vkey, l.text(5), cosig)
	if ts.Before(before) || ts.After(time.Now().Add(time.Second)) {
		t.Errorf("cosignature timestamp %v is not now", ts)
	}
	verifyWithFormats(t, vkey, l.text(5), cosig)
}

func TestTrustOnFirstUseOnlyFromOldZero(t *testing.T) {
	e := newEnv(t, witness.Options{})
	l := newTestLog(t, "example.com/log")
	e.addLog(l)
	l.growTo(10)
	before := e.snapshot()
	r := e.post(l.request(5, 10))
	if r.code != http.StatusConflict || r.body != "0\n" {
		t.Fatalf("old 5 on a log with no checkpoint: %d %q, want 409 \"0\\n\"", r.code, r.body)
	}
	if e.snapshot() != before {
		t.Fatal("state changed")
	}
	e.mustCosign(l.request(0, 10))
	if got := e.latest(l.origin); got.Size != 10 {
		t.Fatalf("latest size %d, want 10", got.Size)
	}
}

func TestConsistencyAcrossGrowths(t *testing.T) {
	e := newEnv(t, witness.Options{})
	l := newTestLog(t, "example.com/log")
	e.addLog(l)
	sizes := []uint64{0, 1, 2, 3, 7, 8, 8, 9, 16, 100, 255, 256, 257, 1000, 1000, 4097}
	var old uint64
	for _, size := range sizes {
		l.growTo(size)
		cosig := e.mustCosign(l.request(old, size))
		verifyBySpec(t, e.cosigner.VerifierKey(), l.text(size), cosig)
		old = size
	}
	latest := e.latest(l.origin)
	if latest.Size != 4097 || !bytes.Equal(latest.Root, l.tree.HashAt(4097)) {
		t.Fatalf("latest is %d %x", latest.Size, latest.Root)
	}
	if latest.Checkpoint != string(l.checkpoint(4097)) {
		t.Errorf("stored checkpoint is not the one sent, verbatim")
	}
	h, err := e.store.History(context.Background(), l.origin, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != len(sizes) {
		t.Fatalf("history has %d entries, want %d", len(h), len(sizes))
	}
	for i, entry := range h {
		if entry.Size != sizes[i] {
			t.Errorf("history[%d] size %d, want %d", i, entry.Size, sizes[i])
		}
		verifyBySpec(t, e.cosigner.VerifierKey(), l.text(sizes[i]), entry.Cosignature)
	}
	// The history is served too.
	r := e.get("/" + witness.OriginHash(l.origin) + "/history?after=" + fmt.Sprint(h[2].ID))
	var served []*witness.HistoryEntry
	if err := json.Unmarshal([]byte(r.body), &served); err != nil || r.code != http.StatusOK {
		t.Fatalf("GET history: %d %v", r.code, err)
	}
	if len(served) != len(sizes)-3 || served[0].ID != h[3].ID {
		t.Errorf("GET history after %d returned %d entries", h[2].ID, len(served))
	}
}

// TestStatusCodes is the tlog-witness status code matrix, one row each,
// over real HTTP, checking that the stored state is unchanged after every
// error.
func TestStatusCodes(t *testing.T) {
	l := newTestLog(t, "example.com/log")
	l.growTo(16)
	other := newTestLog(t, "example.com/log") // same origin, untrusted key
	other.tree = l.tree
	flipped := l.proof(8, 16)
	flipped[0] = bytes.Clone(flipped[0])
	flipped[0][0] ^= 1
	badSig := tamper(t, l, l.checkpoint(16))
	fork := l.fork(8)
	fork.growTo(16)
	tooManyProof := make([][]byte, 64)
	for i := range tooManyProof {
		tooManyProof[i] = make([]byte, 32)
	}
	empty := newTestLog(t, "example.com/empty") // no checkpoint stored
	emptySize0Bad := empty.sign(fmt.Sprintf("%s\n0\n%s\n", empty.origin, base64.StdEncoding.EncodeToString(make([]byte, 32))))

	for _, tc := range []struct {
		name string
		body []byte
		code int
	}{
		{"garbage", []byte("hello\n"), 400},
		{"empty body", nil, 400},
		{"no old line", body(8, nil, l.checkpoint(16))[len("old 8\n"):], 400},
		{"old with leading zero", append([]byte("old 08"), l.request(8, 16)[len("old 8"):]...), 400},
		{"old negative", append([]byte("old -8"), l.request(8, 16)[len("old 8"):]...), 400},
		{"old not terminated", []byte("old 8"), 400},
		{"proof line not base64", append([]byte("old 8\n!!!!\n"), l.request(8, 16)[len("old 8\n"):]...), 400},
		{"proof line 31 bytes", body(8, [][]byte{make([]byte, 31)}, l.checkpoint(16)), 400},
		{"64 proof lines", body(8, tooManyProof, l.checkpoint(16)), 400},
		{"no blank line", []byte("old 8\n" + string(l.checkpoint(16))), 400},
		{"not a note", body(8, l.proof(8, 16), []byte(l.text(16))), 400},
		{"size with leading zero", body(8, l.proof(8, 16), l.sign(strings.Replace(l.text(16), "\n16\n", "\n016\n", 1))), 400},
		{"short root hash", body(8, nil, l.sign(l.origin+"\n16\nAAAA\n")), 400},
		{"old larger than size", body(16, nil, l.checkpoint(8)), 400},
		{"untrusted key", body(8, l.proof(8, 16), other.checkpoint(16)), 403},
		{"trusted key, bad signature", body(8, l.proof(8, 16), badSig), 403},
		{"unknown origin", newTestLog(t, "example.com/unknown").request(0, 0), 404},
		{"stale old size", l.request(4, 16), 409},
		{"bit-flipped proof", body(8, flipped, l.checkpoint(16)), 422},
		{"proof for another tree", body(8, fork.proof(8, 16), l.checkpoint(16)), 422},
		{"same size, other root", body(8, nil, l.sign(l.text(8)[:len(l.origin)+3]+base64.StdEncoding.EncodeToString(make([]byte, 32))+"\n")), 422},
		{"same size, proof not empty", body(8, l.proof(4, 8), l.checkpoint(8)), 422},
		{"size 0, non-empty root", body(0, nil, emptySize0Bad), 422},
		{"old 0, proof not empty", body(0, l.proof(8, 16), empty.checkpoint(0)), 422},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, witness.Options{})
			e.addLog(l)
			e.addLog(empty)
			e.mustCosign(l.request(0, 8))
			before := e.snapshot()
			r := e.post(tc.body)
			t.Logf("%d %s", r.code, r.body)
			if r.code != tc.code {
				t.Fatalf("got %d %q, want %d", r.code, r.body, tc.code)
			}
			if tc.name == "same size, other root" {
				// Log-signed and conflicting: evidence, nothing else.
				if len(e.evidence()) != 1 || e.latest(l.origin).Size != 8 || !bytes.Equal(e.latest(l.origin).Root, l.tree.HashAt(8)) {
					t.Fatal("evidence not stored, or state changed")
				}
				return
			}
			if e.snapshot() != before {
				t.Fatal("state changed")
			}
		})
	}
}

func TestConflictResponse(t *testing.T) {
	e := newEnv(t, witness.Options{})
	l := newTestLog(t, "example.com/log")
	e.addLog(l)
	l.growTo(20)
	e.mustCosign(l.request(0, 12))
	r := e.post(l.request(3, 20))
	if r.code != http.StatusConflict {
		t.Fatalf("got %d, want 409", r.code)
	}
	if ct := r.header.Values("Content-Type"); len(ct) != 1 || ct[0] != "text/x.tlog.size" {
		t.Errorf("Content-Type %q, want exactly text/x.tlog.size", ct)
	}
	if r.body != "12\n" {
		t.Errorf("body %q, want \"12\\n\"", r.body)
	}
	// The client corrects itself from the 409.
	e.mustCosign(l.request(12, 20))
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, witness.Options{})
	l := newTestLog(t, "example.com/log")
	e.addLog(l)
	before := e.snapshot()
	big := append(l.request(0, 0), bytes.Repeat([]byte("x"), witness.MaxBodySize)...)
	if r := e.post(big); r.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %d, want 413", r.code)
	}
	if e.snapshot() != before {
		t.Fatal("state changed")
	}
}

func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t, witness.Options{})
	if r := e.get("/add-checkpoint"); r.code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /add-checkpoint: %d, want 405", r.code)
	}
}

func TestRateLimit(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	e := newEnv(t, witness.Options{RequestsPerDay: 2, Now: clock.now})
	l := newTestLog(t, "example.com/log")
	other := newTestLog(t, "example.com/other")
	e.addLog(l)
	e.addLog(other)
	l.growTo(3)
	e.mustCosign(l.request(0, 1))
	e.mustCosign(l.request(1, 2))
	before := e.snapshot()
	r := e.post(l.request(2, 3))
	if r.code != http.StatusTooManyRequests {
		t.Fatalf("third request: %d, want 429", r.code)
	}
	if ra := r.header.Get("Retry-After"); ra != "43200" {
		t.Errorf("Retry-After %q, want 43200 (half a day at 2 per day)", ra)
	}
	if e.snapshot() != before {
		t.Fatal("state changed")
	}
	// Limits are per log.
	e.mustCosign(other.request(0, 0))
	// Requests without the log's signature don't spend its budget.
	if r := e.post(body(2, nil, newTestLog(t, l.origin).checkpoint(0))); r.code != http.StatusForbidden {
		t.Fatalf("untrusted: %d, want 403", r.code)
	}
	clock.t = clock.t.Add(12 * time.Hour)
	e.mustCosign(l.request(2, 3))
}

func TestSameSizeRecosign(t *testing.T) {
	e := newEnv(t, witness.Options{})
	l := newTestLog(t, "example.com/log")
	e.addLog(l)
	l.growTo(8)
	e.mustCosign(l.request(0, 8))
	cosig := e.mustCosign(l.request(8, 8))
	verifyBySpec(t, e.cosigner.VerifierKey(), l.text(8), cosig)
	h, err := e.store.History(context.Background(), l.origin, 0, 10)
	if err != nil || len(h) != 2 {
		t.Fatalf("history: %d entries, %v; want 2", len(h), err)
	}
}

func TestEmptyTree(t *testing.T) {
	e := newEnv(t, witness.Options{})
	l := newTestLog(t, "example.com/log")
	e.addLog(l)
	e.mustCosign(l.request(0, 0))
	e.mustCosign(l.request(0, 0))
	l.growTo(5)
	e.mustCosign(l.request(0, 5)) // from size 0, no proof is needed
	if r := e.post(l.request(0, 5)); r.code != http.StatusConflict || r.body != "5\n" {
		t.Fatalf("got %d %q, want 409 5", r.code, r.body)
	}
}

func TestExtensionLines(t *testing.T) {
	e := newEnv(t, witness.Options{})
	l := newTestLog(t, "example.com/log")
	e.addLog(l)
	l.growTo(4)
	text := l.text(4, "extension one", "— two")
	cosig := e.mustCosign(body(0, nil, l.sign(text)))
	// The cosignature covers the full text, extension lines included.
	verifyBySpec(t, e.cosigner.VerifierKey(), text, cosig)
	verifyWithFormats(t, e.cosigner.VerifierKey(), text, cosig)

	before := e.snapshot()
	if r := e.post(body(4, nil, l.sign(l.text(4, "", "after empty")))); r.code != http.StatusBadRequest {
		t.Fatalf("empty extension line: %d, want 400", r.code)
	}
	if e.snapshot() != before {
		t.Fatal("state changed")
	}
}

func TestEquivocationEvidence(t *testing.T) {
	e := newEnv(t, witness.Options{})
	l := newTestLog(t, "example.com/log")
	e.addLog(l)
	l.growTo(16)
	fork := l.fork(8)
	fork.growTo(16)
	e.mustCosign(l.request(0, 8))
	e.mustCosign(l.request(8, 12))

	// A garbage proof is a bad request, not evidence.
	if r := e.post(body(12, [][]byte{make([]byte, 32)}, l.checkpoint(16))); r.code != http.StatusUnprocessableEntity {
		t.Fatalf("garbage proof: %d, want 422", r.code)
	}
	if ev := e.evidence(); len(ev) != 0 {
		t.Fatalf("garbage proof stored as evidence: %+v", ev)
	}

	// Same size as the latest, another root: 422 and evidence.
	fork.growTo(12)
	forked := fork.checkpoint(12)
	if r := e.post(body(12, nil, forked)); r.code != http.StatusUnprocessableEntity {
		t.Fatalf("fork at latest size: %d, want 422", r.code)
	}
	// Same size as an earlier cosigned checkpoint (the 409 path): evidence.
	fork2 := l.fork(4)
	fork2.growTo(8)
	if r := e.post(body(0, nil, fork2.checkpoint(8))); r.code != http.StatusConflict {
		t.Fatalf("fork at earlier size: %d, want 409", r.code)
	}
	// And with an old size larger than the checkpoint's (400): evidence too.
	fork3 := l.fork(2)
	fork3.growTo(8)
	if r := e.post(body(12, nil, fork3.checkpoint(8))); r.code != http.StatusBadRequest {
		t.Fatalf("fork with old > size: %d, want 400", r.code)
	}
	// Sent again: not stored twice.
	e.post(body(12, nil, forked))
	// Signed by an untrusted key: not evidence.
	e.post(body(12, nil, newTestLog(t, l.origin).sign(fork.text(12))))

	check := func() {
		t.Helper()
		ev := e.evidence()
		if len(ev) != 3 {
			t.Fatalf("%d pieces of evidence, want 3", len(ev))
		}
		if ev[0].Size != 12 || ev[0].First != string(l.checkpoint(12)) || ev[0].Second != string(forked) {
			t.Errorf("evidence[0] = %+v, want the two checkpoints of size 12 verbatim", ev[0])
		}
		if !bytes.Equal(ev[0].FirstRoot, l.tree.HashAt(12)) || !bytes.Equal(ev[0].SecondRoot, fork.tree.HashAt(12)) {
			t.Errorf("evidence[0] roots are wrong")
		}
		if ev[1].Size != 8 || ev[2].Size != 8 {
			t.Errorf("evidence sizes %d, %d; want 8, 8", ev[1].Size, ev[2].Size)
		}
		r := e.get("/evidence")
		var served []*witness.Evidence
		if err := json.Unmarshal([]byte(r.body), &served); err != nil || r.code != http.StatusOK {
			t.Fatalf("GET /evidence: %d %v", r.code, err)
		}
		if len(served) != 3 || served[0].Second != string(forked) {
			t.Errorf("GET /evidence served %d pieces", len(served))
		}
		// Both checkpoints verify under the log's key: the evidence stands
		// on its own.
		v, _ := note.NewVerifier(l.vkey)
		for _, cp := range []string{served[0].First, served[0].Second} {
			if _, err := note.Open([]byte(cp), note.VerifierList(v)); err != nil {
				t.Errorf("evidence checkpoint does not verify: %v", err)
			}
		}
	}
	check()
	// The state did not move, and survives a restart with the evidence.
	if latest := e.latest(l.origin); latest.Size != 12 || !bytes.Equal(latest.Root, l.tree.HashAt(12)) {
		t.Fatalf("latest moved to %d", latest.Size)
	}
	e.restart()
	check()
	e.mustCosign(l.request(12, 16))
}

func TestRestartKeepsState(t *testing.T) {
	e := newEnv(t, witness.Options{})
	l := newTestLog(t, "example.com/log")
	e.addLog(l)
	l.growTo(30)
	e.mustCosign(l.request(0, 10))
	e.mustCosign(l.request(10, 20))
	before := e.snapshot()
	e.restart()
	if e.snapshot() != before {
		t.Fatal("state differs after reopening the database")
	}
	if r := e.post(l.request(0, 30)); r.code != http.StatusConflict || r.body != "20\n" {
		t.Fatalf("after restart, old 0: %d %q, want 409 20", r.code, r.body)
	}
	e.mustCosign(l.request(20, 30))
}

// TestConcurrentForks sends many parallel requests for two forks of the
// same log, both consistent with the stored checkpoint: exactly one root
// may ever be cosigned for the new size, and the other is evidence.
func TestConcurrentForks(t *testing.T) {
	e := newEnv(t, witness.Options{})
	l := newTestLog(t, "example.com/log")
	e.addLog(l)
	l.growTo(8)
	e.mustCosign(l.request(0, 8))
	a := l.fork(8)
	b := l.fork(8)
	b.prefix = "other/"
	a.growTo(16)
	b.growTo(16)

	const n = 64
	var wg sync.WaitGroup
	type result struct {
		root []byte
		code int
	}
	results := make(chan result, n)
	for i := range n {
		f := a
		if i%2 == 1 {
			f = b
		}
		const size = 16
		req := f.request(8, size)
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(e.srv.URL+"/add-checkpoint", "", bytes.NewReader(req))
			if err != nil {
				t.Error(err)
				return
			}
			r := readResponse(t, resp)
			results <- result{code: r.code, root: f.tree.HashAt(size)}
		}()
	}
	wg.Wait()
	close(results)
	var ok int
	for r := range results {
		switch r.code {
		case http.StatusOK:
			ok++
		case http.StatusConflict:
		default:
			t.Errorf("unexpected status %d", r.code)
		}
	}
	if ok != 1 {
		t.Fatalf("%d requests cosigned, want exactly 1", ok)
	}
	h, err := e.store.History(context.Background(), l.origin, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 {
		t.Fatalf("history has %d entries, want 2", len(h))
	}
	roots := map[uint64]map[string]bool{}
	for _, entry := range h {
		if roots[entry.Size] == nil {
			roots[entry.Size] = map[string]bool{}
		}
		roots[entry.Size][string(entry.Root)] = true
	}
	for size, rs := range roots {
		if len(rs) != 1 {
			t.Errorf("%d roots cosigned for size %d", len(rs), size)
		}
	}
	// The losing fork is evidence, stored once.
	if ev := e.evidence(); len(ev) != 1 || ev[0].Size != 16 || !bytes.Equal(ev[0].FirstRoot, h[1].Root) {
		t.Errorf("evidence: %+v, want one piece at size 16 against the cosigned root", ev)
	}
}

// TestConcurrentGrowth races many valid growths from the same old size,
// plus same-size re-cosigns: the state only moves forward, and every
// cosigned checkpoint is consistent with the ones before.
func TestConcurrentGrowth(t *testing.T) {
	e := newEnv(t, witness.Options{})
	l := newTestLog(t, "example.com/log")
	e.addLog(l)
	l.growTo(200)
	e.mustCosign(l.request(0, 100))
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			old := uint64(100)
			for iter := 0; iter < 50 && old < 200; iter++ {
				size := min(200, old+uint64(i%5))
				resp, err := http.Post(e.srv.URL+"/add-checkpoint", "", bytes.NewReader(l.request(old, size)))
				if err != nil {
					t.Error(err)
					return
				}
				r := readResponse(t, resp)
				next := old
				switch r.code {
				case http.StatusOK:
					next = size
				case http.StatusConflict:
					fmt.Sscanf(r.body, "%d", &next)
				default:
					t.Errorf("status %d %q", r.code, r.body)
					return
				}
				if next < old {
					t.Errorf("witness went back from %d to %d", old, next)
					return
				}
				old = next
			}
		}()
	}
	wg.Wait()
	h, err := e.store.History(context.Background(), l.origin, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(h); i++ {
		if h[i].Size < h[i-1].Size {
			t.Fatalf("history goes back from %d to %d", h[i-1].Size, h[i].Size)
		}
		if !bytes.Equal(h[i].Root, l.tree.HashAt(h[i].Size)) {
			t.Fatalf("history[%d] root is not the tree's", i)
		}
	}
}

func TestMonitoringRead(t *testing.T) {
	e := newEnv(t, witness.Options{})
	l := newTestLog(t, "example.com/log")
	e.addLog(l)
	path := "/" + witness.OriginHash(l.origin) + "/checkpoint"
	if r := e.get(path); r.code != http.StatusNotFound {
		t.Fatalf("before any cosignature: %d, want 404", r.code)
	}
	l.growTo(10)
	// A checkpoint carrying an unknown signature too.
	stranger := newTestLog(t, "stranger.example")
	multi, err := note.Sign(&note.Note{Text: l.text(10)}, l.signer, stranger.signer)
	if err != nil {
		t.Fatal(err)
	}
	e.mustCosign(body(0, nil, multi))
	r := e.get(path)
	if r.code != http.StatusOK {
		t.Fatalf("GET %s: %d", path, r.code)
	}
	lv, _ := note.NewVerifier(l.vkey)
	wv, _ := fnote.NewVerifierForCosignatureV1(e.cosigner.VerifierKey())
	n, err := note.Open([]byte(r.body), note.VerifierList(lv, wv))
	if err != nil {
		t.Fatalf("monitoring checkpoint does not verify: %v\n%s", err, r.body)
	}
	if n.Text != l.text(10) || len(n.Sigs) != 2 || len(n.UnverifiedSigs) != 0 {
		t.Fatalf("monitoring checkpoint: text %q, %d verified and %d unknown signatures", n.Text, len(n.Sigs), len(n.UnverifiedSigs))
	}
	for _, p := range []string{
		"/" + strings.ToUpper(witness.OriginHash(l.origin)) + "/checkpoint",
		"/" + witness.OriginHash("example.com/unknown") + "/checkpoint",
		"/abc/checkpoint",
	} {
		if r := e.get(p); r.code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, r.code)
		}
	}
}

func TestStoreRefusals(t *testing.T) {
	e := newEnv(t, witness.Options{})
	l := newTestLog(t, "example.com/log")
	e.addLog(l)
	ctx := context.Background()
	other := newTestLog(t, "example.com/log")
	if err := e.store.AddLog(ctx, l.origin, []string{other.vkey}); err == nil {
		t.Error("re-keying a log succeeded")
	}
	parts := strings.SplitN(other.vkey, "+", 3)
	badID := parts[0] + "+00000000+" + parts[2]
	for _, keys := range [][]string{nil, {"garbage"}, {badID}, {other.vkey, other.vkey}} {
		if err := e.store.AddLog(ctx, "example.com/new", keys); err == nil {
			t.Errorf("AddLog with keys %q succeeded", keys)
		}
	}
	if err := e.store.AddLog(ctx, "two\nlines", []string{other.vkey}); err == nil {
		t.Error("AddLog with a newline in the origin succeeded")
	}
	if st, err := e.store.Log(ctx, l.origin); err != nil || len(st.Keys) != 1 || st.Keys[0] != l.vkey {
		t.Fatalf("log keys changed: %v %v", st, err)
	}
	// Going backwards is refused by the store itself.
	l.growTo(10)
	e.mustCosign(l.request(0, 10))
	latest := e.latest(l.origin)
	back := &witness.HistoryEntry{Origin: l.origin, Size: 5, Root: l.tree.HashAt(5), Checkpoint: "x", Cosigned: "x", Cosignature: "x"}
	if err := e.store.Advance(ctx, latest, back); err == nil {
		t.Error("store moved backwards")
	}
	fork := &witness.HistoryEntry{Origin: l.origin, Size: 10, Root: make([]byte, 32), Checkpoint: "x", Cosigned: "x", Cosignature: "x"}
	if err := e.store.Advance(ctx, latest, fork); err == nil {
		t.Error("store accepted another root at the same size")
	}
	if err := e.store.Advance(ctx, nil, fork); err != witness.ErrStateChanged {
		t.Errorf("compare-and-swap from no checkpoint: %v, want ErrStateChanged", err)
	}
}

func TestCosignerKeys(t *testing.T) {
	skey, vkey, err := witness.GenerateKey("witness.example/w")
	if err != nil {
		t.Fatal(err)
	}
	c, err := witness.NewCosigner(skey + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.VerifierKey() != vkey || c.Name() != "witness.example/w" {
		t.Errorf("got %q %q", c.VerifierKey(), c.Name())
	}
	if _, err := note.NewSigner(skey); err == nil {
		t.Error("a cosigner key (type 0x04) is usable as a plain note signer")
	}
	// A plain Ed25519 note key (type 0x01) is accepted; its verifier key
	// is the cosignature/v1 one.
	skey1, vkey1, err := note.GenerateKey(rand.Reader, "witness.example/w1")
	if err != nil {
		t.Fatal(err)
	}
	c1, err := witness.NewCosigner(skey1)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := fnote.VKeyToCosignatureV1(vkey1)
	if c1.VerifierKey() != want {
		t.Errorf("verifier key %q, want %q", c1.VerifierKey(), want)
	}
	parts := strings.SplitN(skey, "+", 5)
	for _, bad := range []string{
		"", "PRIVATE+KEY+x", strings.Join([]string{parts[0], parts[1], parts[2], "00000000", parts[4]}, "+"),
		strings.Join([]string{parts[0], parts[1], "other.name", parts[3], parts[4]}, "+"),
	} {
		if _, err := witness.NewCosigner(bad); err == nil {
			t.Errorf("NewCosigner(%q) succeeded", bad)
		}
	}
	if _, _, err := witness.GenerateKey("bad name"); err == nil {
		t.Error("GenerateKey accepted a name with a space")
	}
}

// TestEvidenceAlert checks that new evidence is posted to the alert
// webhook, once.
func TestEvidenceAlert(t *testing.T) {
	alerts := make(chan witness.Evidence, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev witness.Evidence
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("alert: %v, content type %q", err, r.Header.Get("Content-Type"))
		}
		alerts <- ev
	}))
	defer hook.Close()
	e := newEnv(t, witness.Options{AlertURL: hook.URL})
	l := newTestLog(t, "example.com/log")
	e.addLog(l)
	l.growTo(8)
	fork := l.fork(4)
	fork.growTo(8)
	e.mustCosign(l.request(0, 8))
	e.post(body(8, nil, fork.checkpoint(8)))
	e.post(body(8, nil, fork.checkpoint(8))) // known evidence: no second alert
	select {
	case ev := <-alerts:
		if ev.Size != 8 || ev.Second != string(fork.checkpoint(8)) || ev.First != string(l.checkpoint(8)) {
			t.Errorf("alert carries %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no alert")
	}
	select {
	case ev := <-alerts:
		t.Errorf("second alert for known evidence: %+v", ev)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestForkProofEvidence sends a checkpoint of a forked tree with a
// consistency proof that is correct for the forked tree: it contradicts
// the cosigned checkpoint, so it is kept as evidence with its proof,
// besides the 422. A garbage proof is not.
func TestForkProofEvidence(t *testing.T) {
	e := newEnv(t, witness.Options{})
	l := newTestLog(t, "example.com/log")
	e.addLog(l)
	l.growTo(7)
	e.mustCosign(l.request(0, 7))
	fork := l.fork(5)
	fork.growTo(20)
	if r := e.post(body(7, fork.proof(7, 20), fork.checkpoint(20))); r.code != http.StatusUnprocessableEntity {
		t.Fatalf("forked growth: %d, want 422", r.code)
	}
	ev := e.evidence()
	if len(ev) != 1 {
		t.Fatalf("%d pieces of evidence, want 1", len(ev))
	}
	got := ev[0]
	if got.Size != 7 || got.First != string(l.checkpoint(7)) || got.Second != string(fork.checkpoint(20)) ||
		!bytes.Equal(got.FirstRoot, l.tree.HashAt(7)) || !bytes.Equal(got.SecondRoot, fork.tree.HashAt(7)) || len(got.Proof) == 0 {
		t.Fatalf("evidence = %+v", got)
	}
	// The evidence stands on its own: the proof verifies between the
	// implied root and the second checkpoint's root.
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, 7, 20, got.Proof, got.SecondRoot, fork.tree.HashAt(20)); err != nil {
		t.Fatalf("stored proof does not verify: %v", err)
	}
	// A garbage proof for the same checkpoint adds nothing.
	e.post(body(7, [][]byte{make([]byte, 32), make([]byte, 32)}, fork.checkpoint(20)))
	if n := len(e.evidence()); n != 1 {
		t.Fatalf("%d pieces of evidence after a garbage proof, want 1", n)
	}
	if latest := e.latest(l.origin); latest.Size != 7 {
		t.Fatalf("latest moved to %d", latest.Size)
	}
}
