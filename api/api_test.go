package api_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/sequencer"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/tlogproof"
	"github.com/credlog/credlog/log/vmap"
)

var ctx = context.Background()

// TestLifecycleEndToEnd registers an issuer, then issues, suspends,
// resumes, revokes and reissues over HTTP, synchronously, verifying each
// returned tlog-proof, and checks the lookups.
func TestLifecycleEndToEnd(t *testing.T) {
	tl := newTestLog(t, true, nil)
	steps := []struct {
		name string
		raw  []byte
	}{
		{"register", tl.registration()},
		{"issue", tl.issue(1, 10, 1, -1)},
		{"suspend", tl.status(entry.TypeSuspend, 1, 10)},
		{"resume", tl.status(entry.TypeResume, 1, 10)},
		{"revoke", tl.status(entry.TypeRevoke, 1, 10)},
		{"reissue", tl.issue(1, 11, 2, 10)},
	}
	for i, st := range steps {
		r, err := tl.c.Submit(ctx, st.raw, true)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if r.Index != uint64(i) || r.Duplicate {
			t.Fatalf("%s: index %d (dup %v), want %d", st.name, r.Index, r.Duplicate, i)
		}
		p, err := tlogproof.Parse([]byte(r.Proof))
		if err != nil {
			t.Fatalf("%s: proof: %v", st.name, err)
		}
		if _, _, err := p.Verify(st.raw, origin, tl.verifier()); err != nil {
			t.Fatalf("%s: proof does not verify: %v", st.name, err)
		}
	}
	lr, err := tl.c.LookupCredential(ctx, cred(10))
	if err != nil {
		t.Fatal(err)
	}
	if got := indices(lr); got != "1 2 3 4" {
		t.Fatalf("credential 10 events at %s", got)
	}
	for _, ev := range lr.Events {
		if !bytes.Equal(ev.Entry, steps[ev.Index].raw) {
			t.Fatalf("lookup returned other bytes for %d", ev.Index)
		}
		p, _ := tlogproof.Parse([]byte(ev.Proof))
		if _, _, err := p.Verify(ev.Entry, origin, tl.verifier()); err != nil {
			t.Fatalf("lookup proof for %d: %v", ev.Index, err)
		}
	}
	lr, err = tl.c.LookupSubject(ctx, subj(1))
	if err != nil || indices(lr) != "1 2 3 4 5" {
		t.Fatalf("subject events = %s, %v", indices(lr), err)
	}
	lr, err = tl.c.LookupSubject(ctx, subj(99))
	if err != nil || len(lr.Events) != 0 {
		t.Fatalf("unknown subject = %+v, %v", lr, err)
	}
	// Resubmission returns the original index.
	r, err := tl.c.Submit(ctx, steps[1].raw, false)
	if err != nil || r.Index != 1 || !r.Duplicate {
		t.Fatalf("resubmission = %+v, %v", r, err)
	}
}

func indices(lr *api.LookupResponse) string {
	var s []string
	for _, e := range lr.Events {
		s = append(s, itoa(e.Index))
	}
	return strings.Join(s, " ")
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// snapshot captures the stored state that must not change on bad input.
func snapshot(t *testing.T, tl *testLog) string {
	ts, err := tl.store.Tree(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, cp, _ := tl.store.LatestCheckpoint(ctx)
	return itoa(ts.Size) + string(ts.Root[:]) + string(cp)
}

func TestSubmissionErrors(t *testing.T) {
	tl := newTestLog(t, true, nil)
	if _, err := tl.c.Submit(ctx, tl.registration(), true); err != nil {
		t.Fatal(err)
	}
	if _, err := tl.c.Submit(ctx, tl.issue(1, 10, 1, -1), true); err != nil {
		t.Fatal(err)
	}
	badSig := tl.issue(2, 20, 1, -1)
	badSig[len(badSig)-3] ^= 0x10
	stranger := *tl
	_, stranger.issKey, _ = ed25519GenerateKey()
	unknownIssuer := func() []byte {
		ev := &entry.Event{Type: entry.TypeIssue, Issuer: "rogue.example", Time: t0, Subject: subj(3), Credential: cred(30),
			NotBefore: t0, NotAfter: t0 + 1, Version: 1}
		return tl.sign(ev, stranger.issKey, "rogue.example")
	}()
	tests := []struct {
		name   string
		body   []byte
		status int
		rule   state.Rule
	}{
		{"garbage", []byte("not an event"), http.StatusBadRequest, ""},
		{"empty", []byte{}, http.StatusBadRequest, ""},
		{"trailing byte", append(tl.issue(2, 20, 1, -1), 0), http.StatusBadRequest, ""},
		{"bad signature", badSig, http.StatusForbidden, state.RuleBadSignature},
		{"unknown key", stranger.issue(2, 20, 1, -1), http.StatusForbidden, state.RuleWrongKey},
		{"unknown issuer", unknownIssuer, http.StatusForbidden, state.RuleUnknownIssuer},
		{"issue not new", tl.issue(2, 10, 1, -1), http.StatusConflict, state.RuleIssueNotNew},
		{"resume active", tl.status(entry.TypeResume, 1, 10), http.StatusConflict, state.RuleResumeFromSuspend},
		{"must supersede", tl.issue(1, 12, 2, -1), http.StatusConflict, state.RuleMustSupersede},
		{"version gap", tl.issue(4, 40, 3, -1), http.StatusConflict, state.RuleVersionNotDense},
		{"oversized", make([]byte, api.MaxEventBody+1), http.StatusRequestEntityTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, tl)
			_, err := tl.c.Submit(ctx, tt.body, false)
			var he *api.HTTPError
			if !errors.As(err, &he) || he.Status != tt.status {
				t.Fatalf("got %v, want status %d", err, tt.status)
			}
			if string(tt.rule) != he.Body.Rule {
				t.Errorf("rule %q, want %q", he.Body.Rule, tt.rule)
			}
			if he.Body.Error == "" {
				t.Error("no error message")
			}
			if after := snapshot(t, tl); after != before {
				t.Error("stored state changed")
			}
		})
	}
}

func TestBatchRejectsOnlyTheBadEvent(t *testing.T) {
	tl := newTestLog(t, true, nil)
	bad := tl.issue(3, 30, 1, -1)
	bad[len(bad)-1] ^= 1
	res, err := tl.c.SubmitBatch(ctx, [][]byte{tl.registration(), tl.issue(1, 10, 1, -1), bad, tl.issue(2, 20, 1, -1), []byte{1, 2}}, true)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{0, 0, http.StatusForbidden, 0, http.StatusBadRequest} {
		if res[i].Status != want {
			t.Errorf("event %d: status %d (%s), want %d", i, res[i].Status, res[i].Error, want)
		}
		if want == 0 && res[i].Proof == "" {
			t.Errorf("event %d: no proof", i)
		}
	}
	// The registration sequences first, so the issues follow it.
	if res[1].Index == res[3].Index || res[1].Index == 0 || res[3].Index == 0 {
		t.Errorf("indices %d and %d", res[1].Index, res[3].Index)
	}
	// Malformed batch framing rejects the request.
	resp, err := http.Post(tl.srv.URL+"/events/batch", "application/octet-stream", bytes.NewReader([]byte{0, 9, 1}))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("truncated batch: %d", resp.StatusCode)
	}
}

func TestOverloadAnswers503(t *testing.T) {
	tl := newTestLog(t, false, func(c *sequencer.Config) { c.QueueSize = 1 })
	// One queued event fills the queue; nothing drains it.
	ev, err := sequencer.Parse(tl.registration())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tl.l.Add(ev); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		resp, err := http.Post(tl.srv.URL+"/events", "application/octet-stream", bytes.NewReader(tl.issue(i, i, 1, -1)))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
			return
		}
		if i > 100 {
			t.Fatalf("no 503 from a full queue; last status %d", resp.StatusCode)
		}
	}
}

// TestInterop checks what credlog serves with other implementations: the
// checkpoint with x/mod's note and transparency-dev's formats, inclusion
// and consistency proofs built from the tiles by tessera's client and by
// x/mod's tlog, against credlog's roots.
func TestInterop(t *testing.T) {
	tl := newTestLog(t, true, nil)
	raws := [][]byte{tl.registration()}
	for i := 0; i < 700; i++ {
		raws = append(raws, tl.issue(i, i, 1, -1))
	}
	var sizes []uint64
	for i := 0; i < len(raws); i += 233 {
		res, err := tl.c.SubmitBatch(ctx, raws[i:min(i+233, len(raws))], true)
		if err != nil {
			t.Fatal(err)
		}
		for j, r := range res {
			if r.Status != 0 {
				t.Fatalf("submission failed: %+v", r)
			}
			// A batch is sequenced in the order it was given.
			if r.Index != uint64(i+j) {
				t.Fatalf("event %d of the batch at %d logged at %d", j, i, r.Index)
			}
		}
		cp, _ := tl.c.Checkpoint(ctx)
		c, _, _, err := log.ParseCheckpoint(cp, origin, tl.verifier())
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, c.Size)
	}
	cpRaw, err := tl.c.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(cpRaw, note.VerifierList(tl.verifier()))
	if err != nil {
		t.Fatalf("note.Open: %v", err)
	}
	if lines := strings.Split(n.Text, "\n"); len(lines) != 4 || lines[0] != origin {
		t.Fatalf("checkpoint text %q: want exactly origin, size, root", n.Text)
	}
	cp, _, _, err := log.ParseCheckpoint(cpRaw, origin, tl.verifier())
	if err != nil {
		t.Fatal(err)
	}
	size := cp.Size
	if size != uint64(len(raws)) {
		t.Fatalf("size %d", size)
	}

	// tessera's client over HTTP.
	u, _ := url.Parse(tl.srv.URL + "/")
	f, err := client.NewHTTPFetcher(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := client.NewProofBuilder(ctx, size, f.ReadTile)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint64{0, 1, 255, 256, 500, size - 1} {
		h, err := pb.InclusionProof(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, size, rfc6962.DefaultHasher.HashLeaf(raws[i]), h, cp.Hash); err != nil {
			t.Fatalf("tessera-built inclusion proof for %d: %v", i, err)
		}
		// The server-built proof is the same.
		sh, err := tl.c.InclusionProof(ctx, i, size)
		if err != nil || len(sh) != len(h) {
			t.Fatalf("server inclusion proof: %v", err)
		}
		for k := range h {
			if !bytes.Equal(h[k], sh[k]) {
				t.Fatalf("server-built inclusion proof differs at %d", k)
			}
		}
	}
	for _, old := range sizes[:len(sizes)-1] {
		oldCp, err := tl.c.CheckpointAt(ctx, old)
		if err != nil {
			t.Fatalf("checkpoint %d not kept: %v", old, err)
		}
		oc, _, _, err := log.ParseCheckpoint(oldCp, origin, tl.verifier())
		if err != nil {
			t.Fatal(err)
		}
		h, err := pb.ConsistencyProof(ctx, old, size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old, size, h, oc.Hash, cp.Hash); err != nil {
			t.Fatalf("consistency %d→%d: %v", old, size, err)
		}
		sh, err := tl.c.ConsistencyProof(ctx, old, size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old, size, sh, oc.Hash, cp.Hash); err != nil {
			t.Fatalf("server consistency %d→%d: %v", old, size, err)
		}
	}

	// x/mod's tlog, reading the tiles over HTTP through its own tile
	// authentication.
	tree := tlog.Tree{N: int64(size)}
	copy(tree.Hash[:], cp.Hash)
	hr := tlog.TileHashReader(tree, &httpTiles{t: t, base: tl.srv.URL})
	for _, i := range []int64{0, 300, int64(size) - 1} {
		rp, err := tlog.ProveRecord(int64(size), i, hr)
		if err != nil {
			t.Fatalf("tlog.ProveRecord(%d): %v", i, err)
		}
		if err := tlog.CheckRecord(rp, int64(size), tree.Hash, i, tlog.RecordHash(raws[i])); err != nil {
			t.Fatalf("tlog.CheckRecord(%d): %v", i, err)
		}
	}
	oc, _ := tl.c.CheckpointAt(ctx, sizes[0])
	old, _, _, _ := log.ParseCheckpoint(oc, origin, tl.verifier())
	tp, err := tlog.ProveTree(int64(size), int64(old.Size), hr)
	if err != nil {
		t.Fatal(err)
	}
	var oldHash tlog.Hash
	copy(oldHash[:], old.Hash)
	if err := tlog.CheckTree(tp, int64(size), tree.Hash, int64(old.Size), oldHash); err != nil {
		t.Fatalf("tlog.CheckTree: %v", err)
	}
	// Entry bundles hold the entries, in order.
	b, err := client.GetEntryBundle(ctx, f.ReadEntryBundle, 1, size)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Entries) != 256 || !bytes.Equal(b.Entries[0], raws[256]) {
		t.Fatalf("bundle 1 has %d entries", len(b.Entries))
	}
}

// httpTiles is an x/mod tlog.TileReader over credlog's C2SP tile paths.
type httpTiles struct {
	t    *testing.T
	base string
}

func (h *httpTiles) Height() int { return 8 }

func (h *httpTiles) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	var out [][]byte
	for _, tile := range ts {
		p := uint8(0)
		if tile.W < 256 {
			p = uint8(tile.W)
		}
		resp, err := http.Get(h.base + "/" + layout.TilePath(uint64(tile.L), uint64(tile.N), p))
		if err != nil {
			return nil, err
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return nil, errors.New(resp.Status)
		}
		out = append(out, data)
	}
	return out, nil
}

func (h *httpTiles) SaveTiles([]tlog.Tile, [][]byte) {}

func TestReadPath(t *testing.T) {
	tl := newTestLog(t, true, nil)
	raws := [][]byte{tl.registration()}
	for i := 0; i < 300; i++ {
		raws = append(raws, tl.issue(i, i, 1, -1))
	}
	if _, err := tl.c.SubmitBatch(ctx, raws, true); err != nil {
		t.Fatal(err)
	}
	get := func(path string, gzip bool) *http.Response {
		req, _ := http.NewRequest("GET", tl.srv.URL+path, nil)
		// Set, so that the transport neither asks for gzip by itself nor
		// decompresses.
		req.Header.Set("Accept-Encoding", "identity")
		if gzip {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("GET %s: %v after %d bytes", path, err, n)
		}
		// Whatever the encoding, a length given is the body's.
		if resp.ContentLength >= 0 && resp.ContentLength != n {
			t.Errorf("GET %s: Content-Length %d, body of %d bytes", path, resp.ContentLength, n)
		}
		return resp
	}
	for path, want := range map[string]int{
		"/tile/0/000":             200,
		"/tile/0/001.p/45":        200,
		"/tile/0/001":             404, // not full yet
		"/tile/0/001.p/46":        404, // wider than the tree
		"/tile/1/000.p/1":         200,
		"/tile/entries/000":       200,
		"/tile/entries/001.p/45":  200,
		"/tile/entries/001.p/200": 404,
		"/tile/0/0":               400,
		"/tile/0/x000/000":        400,
		"/tile/0/000.p/0":         400,
		"/tile/0/000.p/256":       400,
		"/tile/0/000.p/045":       400,
		"/tile/entries/x":         400,
		"/tile/64/000":            400,
		"/tile/0/002":             404,
	} {
		resp := get(path, false)
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
		if want == 200 && !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("GET %s: Cache-Control %q", path, resp.Header.Get("Cache-Control"))
		}
		if want == 200 && (resp.ContentLength <= 0 || len(resp.TransferEncoding) > 0) {
			t.Errorf("GET %s: Content-Length %d, Transfer-Encoding %q: want the length, not chunks", path, resp.ContentLength, resp.TransferEncoding)
		}
	}
	if resp := get("/tile/0/000", true); resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("tile with Accept-Encoding: gzip came as %q", resp.Header.Get("Content-Encoding"))
	}
	if resp := get("/checkpoint", false); resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("checkpoint: %d, Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	get("/checkpoint", false)
	resp, err := http.Get(tl.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(metrics, []byte(`credlog_http_requests_total{code="200",route="/checkpoint"}`)) {
		t.Errorf("metrics lack the request count of /checkpoint:\n%s", metrics)
	}
	if resp := get("/healthz", false); resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
	for path, want := range map[string]int{
		"/proof/inclusion?index=1&size=301":          200,
		"/proof/inclusion?index=301&size=301":        400,
		"/proof/inclusion?index=1&size=300":          404, // no checkpoint of that size
		"/proof/inclusion?index=01&size=301":         400,
		"/proof/inclusion?size=301":                  400,
		"/proof/consistency?old=0&size=301":          200,
		"/proof/consistency?old=302&size=301":        400,
		"/lookup/credential/zz":                      404,
		"/lookup/subject/" + strings.Repeat("A", 64): 404,
	} {
		if resp := get(path, false); resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// TestConcurrentSubmitters has several issuer clients submit at once, each
// resubmitting some events: every event gets one index, the indices are
// dense, and a resubmission answers the original index.
func TestConcurrentSubmitters(t *testing.T) {
	tl := newTestLog(t, true, nil)
	if _, err := tl.c.Submit(ctx, tl.registration(), false); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 40
	indices := make([][]uint64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				n := w*each + i
				raw := tl.issue(n, n, 1, -1)
				r, err := tl.c.Submit(ctx, raw, false)
				if err != nil {
					t.Error(err)
					return
				}
				indices[w] = append(indices[w], r.Index)
				if i%10 == 0 {
					again, err := tl.c.Submit(ctx, raw, false)
					if err != nil || again.Index != r.Index || !again.Duplicate {
						t.Errorf("resubmission of %d: %+v, %v; first logged at %d", n, again, err, r.Index)
					}
				}
			}
		}()
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for _, ix := range indices {
		for _, i := range ix {
			if seen[i] || i == 0 || i > workers*each {
				t.Fatalf("index %d given twice or out of range", i)
			}
			seen[i] = true
		}
	}
	if len(seen) != workers*each {
		t.Fatalf("%d distinct indices, want %d", len(seen), workers*each)
	}
	ts, err := tl.store.Tree(ctx)
	if err != nil || ts.Size != workers*each+1 {
		t.Fatalf("tree size %d (%v), want %d", ts.Size, err, workers*each+1)
	}
}

// TestBatchKeepsOrder submits an issue and changes of the same credential
// in one batch: they are sequenced in the given order, so each rule holds.
func TestBatchKeepsOrder(t *testing.T) {
	tl := newTestLog(t, true, nil)
	res, err := tl.c.SubmitBatch(ctx, [][]byte{
		tl.registration(),
		tl.issue(1, 1, 1, -1),
		tl.status(entry.TypeSuspend, 1, 1),
		tl.status(entry.TypeResume, 1, 1),
		tl.status(entry.TypeRevoke, 1, 1),
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Status != 0 || r.Index != uint64(i) || r.Proof == "" {
			t.Errorf("event %d: %+v", i, r)
		}
	}
}

// getMap fetches a map proof.
func getMap(t *testing.T, tl *testLog, path string) (*api.MapProofResponse, int) {
	t.Helper()
	resp, err := http.Get(tl.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var mp api.MapProofResponse
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&mp); err != nil {
			t.Fatal(err)
		}
	}
	return &mp, resp.StatusCode
}

// TestMapProofs checks the map endpoints end to end: a credential's status
// and a subject's complete history, each proved against the root of a
// map-root entry that is itself proved in a signed checkpoint.
func TestMapProofs(t *testing.T) {
	tl := newTestLog(t, true, func(c *sequencer.Config) { c.MapEpoch = 20 * time.Millisecond })
	credPath := "/map/credential/" + hexOf(cred(1)) + "?issuer=" + issuer
	if _, code := getMap(t, tl, credPath); code != http.StatusNotFound {
		t.Fatalf("map proof before any map-root: %d, want 404", code)
	}
	var last uint64
	for _, raw := range [][]byte{tl.registration(), tl.issue(1, 1, 1, -1), tl.status(entry.TypeRevoke, 1, 1), tl.issue(1, 2, 2, 1)} {
		r, err := tl.c.Submit(ctx, raw, false)
		if err != nil {
			t.Fatal(err)
		}
		last = r.Index
	}
	// Wait for a map-root after the last event, covered by a checkpoint.
	var mp *api.MapProofResponse
	for range 500 {
		var code int
		mp, code = getMap(t, tl, credPath)
		if code == http.StatusOK && mp.MapRootIndex > last && mp.MapRootProof != "" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if mp.MapRootProof == "" {
		t.Fatal("no map-root entry covered by a checkpoint")
	}
	mr, err := entry.Parse(mp.MapRootEntry)
	if err != nil || mr.Type != entry.TypeMapRoot || mr.TreeSize != mp.MapRootIndex {
		t.Fatalf("map-root entry: %+v, %v", mr, err)
	}
	p, err := tlogproof.Parse([]byte(mp.MapRootProof))
	if err != nil || p.Index != mp.MapRootIndex {
		t.Fatalf("map-root proof: %v", err)
	}
	if _, _, err := p.Verify(mp.MapRootEntry, origin, tl.verifier()); err != nil {
		t.Fatalf("map-root proof does not verify: %v", err)
	}
	root := vmap.Hash(mr.MapRoot)
	if _, err := vmap.VerifyCredentialStatus(root, issuer, cred(1), state.StatusRevoked, mp.Value, mp.Proof); err != nil {
		t.Fatalf("revoked credential: %v", err)
	}
	if _, err := vmap.VerifyCredentialStatus(root, issuer, cred(1), state.StatusActive, mp.Value, mp.Proof); err == nil {
		t.Fatal("a revoked credential proved active")
	}
	sp, code := getMap(t, tl, "/map/subject/"+hexOf(subj(1))+"?issuer="+issuer)
	if code != http.StatusOK || sp.MapRootIndex != mp.MapRootIndex || len(sp.Indices) != 3 {
		t.Fatalf("subject proof: %d, %+v", code, sp)
	}
	if _, err := vmap.VerifySubjectHistory(root, issuer, subj(1), sp.Indices, sp.Value, sp.Proof); err != nil {
		t.Fatalf("subject history: %v", err)
	}
	if _, err := vmap.VerifySubjectHistory(root, issuer, subj(1), sp.Indices[:2], sp.Value, sp.Proof); err == nil {
		t.Fatal("a history without the reissue verified")
	}
	// An unknown credential is proved absent; a bad issuer is a 400.
	ap, code := getMap(t, tl, "/map/credential/"+hexOf(cred(99))+"?issuer="+issuer)
	if code != http.StatusOK || ap.Value != nil || vmap.VerifyAbsence(root, vmap.CredentialKey(issuer, cred(99)), ap.Proof) != nil {
		t.Fatalf("absence: %d, %+v", code, ap)
	}
	if _, code := getMap(t, tl, "/map/credential/"+hexOf(cred(1))+"?issuer=bad%20name"); code != http.StatusBadRequest {
		t.Fatalf("bad issuer: %d", code)
	}
}

// waitMapProof polls path until it is proved under a map-root entry
// after index after, and returns that proof and the entry's map root.
func waitMapProof(t *testing.T, tl *testLog, path string, after uint64) (*api.MapProofResponse, vmap.Hash) {
	t.Helper()
	for range 500 {
		mp, code := getMap(t, tl, path)
		if code == http.StatusOK && mp.MapRootIndex > after {
			mr, err := entry.Parse(mp.MapRootEntry)
			if err != nil || mr.Type != entry.TypeMapRoot {
				t.Fatalf("map-root entry: %+v, %v", mr, err)
			}
			return mp, vmap.Hash(mr.MapRoot)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: no proof under a map-root entry after %d", path, after)
	return nil, vmap.Hash{}
}

// TestMapProofsAcrossMapRoots: the server keeps the map's top levels in
// memory for proofs; after a later map-root entry, proofs come from the
// new map, not from nodes kept from the old one.
func TestMapProofsAcrossMapRoots(t *testing.T) {
	tl := newTestLog(t, true, func(c *sequencer.Config) { c.MapEpoch = 20 * time.Millisecond })
	credPath := "/map/credential/" + hexOf(cred(1)) + "?issuer=" + issuer
	var last uint64
	submit := func(raws ...[]byte) {
		for _, raw := range raws {
			r, err := tl.c.Submit(ctx, raw, false)
			if err != nil {
				t.Fatal(err)
			}
			last = r.Index
		}
	}
	submit(tl.registration(), tl.issue(1, 1, 1, -1))
	for i := 2; i < 40; i++ {
		submit(tl.issue(i, i, 1, -1))
	}
	mp, root := waitMapProof(t, tl, credPath, last)
	if _, err := vmap.VerifyCredentialStatus(root, issuer, cred(1), state.StatusActive, mp.Value, mp.Proof); err != nil {
		t.Fatalf("active credential: %v", err)
	}
	// Proofs of other keys fill the cache with this map's top levels.
	for i := 2; i < 40; i++ {
		if _, code := getMap(t, tl, "/map/credential/"+hexOf(cred(i))+"?issuer="+issuer); code != http.StatusOK {
			t.Fatalf("credential %d: %d", i, code)
		}
	}
	submit(tl.status(entry.TypeRevoke, 1, 1))
	mp2, root2 := waitMapProof(t, tl, credPath, last)
	if root2 == root {
		t.Fatal("the revocation did not change the map root")
	}
	if _, err := vmap.VerifyCredentialStatus(root2, issuer, cred(1), state.StatusRevoked, mp2.Value, mp2.Proof); err != nil {
		t.Fatalf("revoked credential, under the later map-root entry: %v", err)
	}
}

func hexOf(h entry.Hash) string { return hex.EncodeToString(h[:]) }

// bundleCounter counts the entry bundles read from storage.
type bundleCounter struct {
	storage.Storage
	n atomic.Int64
}

func (b *bundleCounter) ReadBundle(ctx context.Context, index uint64) ([]byte, error) {
	b.n.Add(1)
	return b.Storage.ReadBundle(ctx, index)
}

// TestLookupBundleCache: a lookup reads a full, published entry bundle
// through the read cache (storage once, then memory), and a bundle that
// may still grow from storage every time; the answers are the same
// either way.
func TestLookupBundleCache(t *testing.T) {
	var bc *bundleCounter
	tl := newTestLog(t, true, func(c *sequencer.Config) {
		bc = &bundleCounter{Storage: c.Storage}
		c.Storage = bc
	})
	raws := [][]byte{tl.registration()}
	for i := 0; i < 300; i++ {
		raws = append(raws, tl.issue(i, i, 1, -1))
	}
	if _, err := tl.c.SubmitBatch(ctx, raws, true); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cred  int
		reads int64 // bundle reads by three lookups
	}{
		{10, 1},  // entry 11, in the full bundle 0
		{280, 3}, // entry 281, in the partial bundle 1
	} {
		before := bc.n.Load()
		for range 3 {
			lr, err := tl.c.LookupCredential(ctx, cred(c.cred))
			if err != nil {
				t.Fatal(err)
			}
			if len(lr.Events) != 1 || !bytes.Equal(lr.Events[0].Entry, raws[c.cred+1]) || lr.Events[0].Proof == "" {
				t.Fatalf("lookup of credential %d: %+v", c.cred, lr)
			}
		}
		if got := bc.n.Load() - before; got != c.reads {
			t.Errorf("three lookups of credential %d read %d entry bundles from storage, want %d", c.cred, got, c.reads)
		}
	}
}
