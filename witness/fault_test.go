package witness_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/credlog/credlog/witness"
)

// hookStore is a witness.Store whose Advance runs a hook first, and may
// fail before or after the real Advance.
type hookStore struct {
	*witness.SQLiteStore
	before      func()
	failBefore  bool
	failAfter   bool
	advanceSeen int
}

var errInjected = errors.New("injected storage failure")

func (s *hookStore) Advance(ctx context.Context, prev *witness.Latest, next *witness.HistoryEntry) error {
	s.advanceSeen++
	if s.before != nil {
		f := s.before
		s.before = nil
		f()
	}
	if s.failBefore {
		return errInjected
	}
	if err := s.SQLiteStore.Advance(ctx, prev, next); err != nil {
		return err
	}
	if s.failAfter {
		return errInjected
	}
	return nil
}

func newHookedWitness(t *testing.T, e *env) (*witness.Witness, *hookStore) {
	hs := &hookStore{SQLiteStore: e.store}
	w, err := witness.New(witness.Options{Store: hs, Cosigner: e.cosigner, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return w, hs
}

// TestLostCompareAndSwap makes a fork win the race between checking and
// storing, deterministically: the loser re-reads the state, answers 409,
// and keeps the conflicting checkpoint as evidence.
func TestLostCompareAndSwap(t *testing.T) {
	e := newEnv(t, witness.Options{})
	l := newTestLog(t, "example.com/log")
	e.addLog(l)
	l.growTo(8)
	e.mustCosign(l.request(0, 8))
	a, b := l.fork(8), l.fork(8)
	b.prefix = "b/"
	a.growTo(16)
	b.growTo(16)

	w, hs := newHookedWitness(t, e)
	hs.before = func() {
		// The other branch lands between the loser's check and its swap.
		if _, err := e.w.AddCheckpoint(context.Background(), b.request(8, 16)); err != nil {
			t.Errorf("racing request: %v", err)
		}
	}
	_, err := w.AddCheckpoint(context.Background(), a.request(8, 16))
	var conflict *witness.ConflictError
	if !errors.As(err, &conflict) || conflict.Size != 16 {
		t.Fatalf("loser got %v, want a conflict at 16", err)
	}
	if latest := e.latest(l.origin); !bytes.Equal(latest.Root, b.tree.HashAt(16)) {
		t.Fatal("the loser's root was stored")
	}
	if ev := e.evidence(); len(ev) != 1 || !bytes.Equal(ev[0].SecondRoot, a.tree.HashAt(16)) {
		t.Fatalf("evidence: %+v", ev)
	}
}

// TestStorageFailures injects failures before and after the state is
// persisted: no cosignature is returned unless the state is durable, and
// the witness never cosigns anything inconsistent afterwards.
func TestStorageFailures(t *testing.T) {
	e := newEnv(t, witness.Options{})
	l := newTestLog(t, "example.com/log")
	e.addLog(l)
	l.growTo(20)
	e.mustCosign(l.request(0, 8))
	w, hs := newHookedWitness(t, e)
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()

	hs.failBefore = true
	before := e.snapshot()
	resp, err := http.Post(srv.URL+"/add-checkpoint", "", bytes.NewReader(l.request(8, 12)))
	if err != nil {
		t.Fatal(err)
	}
	if r := readResponse(t, resp); r.code != http.StatusInternalServerError || r.body != "internal error\n" {
		t.Fatalf("failure before persisting: %d %q, want 500", r.code, r.body)
	}
	if e.snapshot() != before {
		t.Fatal("state changed after a failure before persisting")
	}

	hs.failBefore, hs.failAfter = false, true
	if cosig, err := w.AddCheckpoint(context.Background(), l.request(8, 12)); !errors.Is(err, errInjected) || cosig != nil {
		t.Fatalf("failure after persisting: %q %v", cosig, err)
	}
	// The state moved to 12; the client learns it from a 409 and goes on.
	if r := e.post(l.request(8, 16)); r.code != http.StatusConflict || r.body != "12\n" {
		t.Fatalf("after the failure: %d %q, want 409 12", r.code, r.body)
	}
	fork := l.fork(10)
	fork.growTo(16)
	if r := e.post(fork.request(12, 16)); r.code != http.StatusUnprocessableEntity {
		t.Fatalf("inconsistent checkpoint after the failure: %d, want 422", r.code)
	}
	e.mustCosign(l.request(12, 16))
}
