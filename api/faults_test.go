package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/fsck"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/sequencer"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/storage/faulty"
	"github.com/credlog/credlog/log/tiles"
)

// newFaultyLog is newTestLog with its storage wrapped in faulty.Storage,
// which both the sequencer and the HTTP API read and write through.
func newFaultyLog(t *testing.T) (*testLog, *faulty.Storage) {
	var fs *faulty.Storage
	tl := newTestLog(t, true, func(c *sequencer.Config) {
		fs = faulty.New(c.Storage)
		c.Storage = fs
	})
	return tl, fs
}

// post submits one event synchronously over plain HTTP and returns the
// status, the Retry-After header and the decoded body.
func post(t *testing.T, tl *testLog, raw []byte) (int, string, map[string]any) {
	t.Helper()
	resp, err := http.Post(tl.srv.URL+"/events?wait=checkpoint", "application/octet-stream", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("status %d, body %q: %v", resp.StatusCode, b, err)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), body
}

// fsckLog checks the whole stored log offline, as credlog fsck does:
// entries, tiles, root, indexes, state and the consistency of every stored
// checkpoint with the next.
func fsckLog(t *testing.T, tl *testLog) *fsck.Report {
	t.Helper()
	v, err := keys.ParseVerifier(tl.logKey.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := fsck.Check(ctx, tl.store, v, fsck.Options{})
	if err != nil {
		t.Fatalf("fsck: %v", err)
	}
	return rep
}

// TestCommitFailsBeforeWriting makes every Commit fail without writing:
// submissions get 503 with Retry-After, nothing unstored is acknowledged,
// the stored log is unchanged and consistent; when the fault clears, the
// same events and new ones are appended at dense indices.
func TestCommitFailsBeforeWriting(t *testing.T) {
	tl, fs := newFaultyLog(t)
	for i, raw := range [][]byte{tl.registration(), tl.issue(1, 10, 1, -1)} {
		if r, err := tl.c.Submit(ctx, raw, true); err != nil || r.Index != uint64(i) {
			t.Fatalf("event %d: %v, %+v", i, err, r)
		}
	}
	before := snapshot(t, tl)

	fs.FailCommits(faulty.CommitFailBefore)
	failing := [][]byte{tl.issue(2, 20, 1, -1), tl.issue(3, 30, 1, -1), tl.status(entry.TypeSuspend, 1, 10)}
	for i, raw := range failing {
		code, retry, body := post(t, tl, raw)
		if code != http.StatusServiceUnavailable || retry != api.RetryAfter {
			t.Fatalf("event %d during the fault: status %d, Retry-After %q, body %v", i, code, retry, body)
		}
		if _, ok := body["index"]; ok {
			t.Fatalf("event %d: an index was acknowledged: %v", i, body)
		}
		if _, err := tl.store.LookupLeaf(ctx, tiles.LeafHash(raw)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("event %d is stored after a failed commit: %v", i, err)
		}
	}
	// A batch fails as a whole: each event gets the error.
	res, err := tl.c.SubmitBatch(ctx, failing, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Status != http.StatusServiceUnavailable {
			t.Errorf("batch event %d: %+v", i, r)
		}
	}
	if calls, failed := fs.Commits(); failed == 0 || failed > calls {
		t.Fatalf("commits %d, failed %d", calls, failed)
	}
	if after := snapshot(t, tl); after != before {
		t.Fatal("the stored log changed while commits failed")
	}
	if rep := fsckLog(t, tl); rep.Entries != 2 {
		t.Fatalf("fsck during the fault: %d entries", rep.Entries)
	}

	fs.FailCommits(faulty.CommitOK)
	for i, raw := range append(failing, tl.issue(4, 40, 1, -1)) {
		r, err := tl.c.Submit(ctx, raw, true)
		if err != nil {
			t.Fatalf("event %d after the fault: %v", i, err)
		}
		if r.Index != uint64(2+i) || r.Duplicate || r.Proof == "" {
			t.Fatalf("event %d after the fault: %+v, want index %d", i, r, 2+i)
		}
	}
	if rep := fsckLog(t, tl); rep.Entries != 6 || rep.Checkpoints < 2 {
		t.Fatalf("fsck after recovery: %+v", rep)
	}
}

// TestCommitFailsAfterWriting makes Commit write the batch and still
// report an error: the sequencer reads the stored tree, sees the batch,
// and acknowledges it at the stored indices.
func TestCommitFailsAfterWriting(t *testing.T) {
	tl, fs := newFaultyLog(t)
	if _, err := tl.c.Submit(ctx, tl.registration(), true); err != nil {
		t.Fatal(err)
	}
	fs.FailCommits(faulty.CommitFailAfter)
	for i := 1; i <= 3; i++ {
		raw := tl.issue(i, 10*i, 1, -1)
		r, err := tl.c.Submit(ctx, raw, true)
		if err != nil {
			t.Fatalf("event %d committed despite an error: %v", i, err)
		}
		if r.Index != uint64(i) {
			t.Fatalf("event %d at index %d", i, r.Index)
		}
		if idx, err := tl.store.LookupLeaf(ctx, tiles.LeafHash(raw)); err != nil || idx != r.Index {
			t.Fatalf("event %d acknowledged at %d, stored at %d (%v)", i, r.Index, idx, err)
		}
	}
	if _, failed := fs.Commits(); failed < 3 {
		t.Fatalf("only %d commits failed", failed)
	}
	fs.FailCommits(faulty.CommitOK)
	if r, err := tl.c.Submit(ctx, tl.issue(4, 40, 1, -1), true); err != nil || r.Index != 4 {
		t.Fatalf("after the fault: %v, %+v", err, r)
	}
	if rep := fsckLog(t, tl); rep.Entries != 5 {
		t.Fatalf("fsck: %+v", rep)
	}
}

// TestStorageReadsFail makes every read fail: submissions get 503 with
// Retry-After and are not stored, reads of storage get 500 without
// details, the latest checkpoint is still served (from the log's memory),
// and the log recovers when reads work again.
func TestStorageReadsFail(t *testing.T) {
	tl, fs := newFaultyLog(t)
	if _, err := tl.c.Submit(ctx, tl.registration(), true); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, tl)
	_, cp, err := tl.store.LatestCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fs.FailReads(true)
	raw := tl.issue(1, 10, 1, -1)
	code, retry, body := post(t, tl, raw)
	if code != http.StatusServiceUnavailable || retry != api.RetryAfter {
		t.Fatalf("submission while reads fail: %d, Retry-After %q, %v", code, retry, body)
	}
	resp, err := http.Get(tl.srv.URL + "/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(b, cp) {
		t.Errorf("GET /checkpoint while reads fail: %d %q, want 200 %q", resp.StatusCode, b, cp)
	}
	for _, path := range []string{"/lookup/credential/" + hexOf(cred(10)), "/tile/0/000.p/1"} {
		resp, err := http.Get(tl.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 500 || bytes.Contains(b, []byte("faulty")) {
			t.Errorf("GET %s while reads fail: %d %q", path, resp.StatusCode, b)
		}
	}
	fs.FailReads(false)
	if after := snapshot(t, tl); after != before {
		t.Fatal("the stored log changed while reads failed")
	}
	r, err := tl.c.Submit(ctx, raw, true)
	if err != nil || r.Index != 1 {
		t.Fatalf("after the fault: %v, %+v", err, r)
	}
	if _, err := tl.c.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	fsckLog(t, tl)
}
