package sequencer_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/sequencer"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage/faulty"
)

// add verifies and queues raw without waiting for its result.
func (e *env) add(raw []byte) *sequencer.Future {
	e.t.Helper()
	ev, err := sequencer.Parse(raw)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.l.Verify(ev); err != nil {
		e.t.Fatal(err)
	}
	f, err := e.l.Add(ev)
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

// counter returns the value of the log's counter name.
func (e *env) counter(name string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	e.t.Fatalf("no metric %s", name)
	return 0
}

// waitFor polls cond until it holds, or fails the test after 10 s.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// overlap starts a batch of first whose commit is held, then queues rest
// and waits until the sequencer has judged them on top of it. The held
// commit does what mode says once release is called.
func (e *env) overlap(mode faulty.CommitMode, first []byte, rest ...[]byte) (held *sequencer.Future, futures []*sequencer.Future, release func()) {
	e.t.Helper()
	calls, _ := e.fs.Commits()
	overlapped := e.counter("credlog_overlapped_events_total")
	e.fs.FailCommits(mode)
	release = e.fs.HoldCommits()
	e.t.Cleanup(release) // before the log stops, if the test fails early
	held = e.add(first)
	e.waitFor("the held commit", func() bool { c, _ := e.fs.Commits(); return c > calls })
	e.fs.FailCommits(faulty.CommitOK)
	for _, raw := range rest {
		futures = append(futures, e.add(raw))
	}
	e.waitFor("the events judged during the commit", func() bool {
		return e.counter("credlog_overlapped_events_total") >= overlapped+float64(len(rest))
	})
	// Nothing judged during the commit is answered before it ends.
	for i, f := range append([]*sequencer.Future{held}, futures...) {
		select {
		case <-f.Done():
			e.t.Fatalf("event %d answered while the commit before it is held: %+v", i, f.Wait(context.Background()))
		default:
		}
	}
	return held, futures, release
}

// TestOverlappedBatch checks the batch judged while the one before it
// commits: it sees that batch's state (a revocation of the credential it
// issues passes; its entry submitted again is a duplicate), and nothing of
// it is answered before the batch before it is durable.
func TestOverlappedBatch(t *testing.T) {
	e := startEnv(t, &env{faults: true})
	if r := e.submit(e.registration()); r.Err != nil {
		t.Fatal(r.Err)
	}
	held, fs, release := e.overlap(faulty.CommitOK, e.issue(1), e.revoke(1), e.issue(1))
	release()
	if r := held.Wait(context.Background()); r.Err != nil || r.Index != 1 || r.Duplicate {
		t.Fatalf("issue: %+v", r)
	}
	if r := fs[0].Wait(context.Background()); r.Err != nil || r.Index != 2 || r.Duplicate {
		t.Fatalf("revoke judged during the issue's commit: %+v", r)
	}
	if r := fs[1].Wait(context.Background()); r.Err != nil || r.Index != 1 || !r.Duplicate {
		t.Fatalf("issue submitted again during its commit: %+v", r)
	}
	if c, err := e.l.Storage().Credential(issuer, credID(1)); err != nil || c == nil || c.Status != state.StatusRevoked || c.LastIndex != 2 {
		t.Fatalf("credential: %+v %v", c, err)
	}
	if n := e.counter("credlog_batches_rejudged_total"); n != 0 {
		t.Fatalf("%v batches judged again", n)
	}
	e.stop()
	if size := e.fsckDir(); size != 3 {
		t.Fatalf("%d entries, want 3", size)
	}
}

// TestOverlappedBatchJudgedAgain checks that a batch judged on the state
// of a batch that then fails to commit is judged again on the stored
// state, its events in the order they came. The failed batch issues a
// credential; the batch judged meanwhile has another issue of that
// credential (refused on the failed batch's state), its revocation (which
// that state allows) and the failed issue submitted again (a duplicate
// there). Judged again, the other issue is logged at the index the failed
// one had, the revocation after it, and the failed issue is refused.
func TestOverlappedBatchJudgedAgain(t *testing.T) {
	e := startEnv(t, &env{faults: true})
	if r := e.submit(e.registration()); r.Err != nil {
		t.Fatal(r.Err)
	}
	other := &entry.Event{Type: entry.TypeIssue, Issuer: issuer, Time: 1763856001,
		Subject: sha256.Sum256([]byte("s1")), Credential: credID(1),
		NotBefore: 1763856000, NotAfter: 1795392000, Version: 1}
	held, fs, release := e.overlap(faulty.CommitFailBefore, e.issue(1), e.sign(other, e.issKey, issuer), e.revoke(1), e.issue(1))
	release()
	if r := held.Wait(context.Background()); !errors.Is(r.Err, sequencer.ErrCommit) {
		t.Fatalf("issue whose commit failed: %+v", r)
	}
	if r := fs[0].Wait(context.Background()); r.Err != nil || r.Index != 1 || r.Duplicate {
		t.Fatalf("other issue: %+v", r)
	}
	if r := fs[1].Wait(context.Background()); r.Err != nil || r.Index != 2 || r.Duplicate {
		t.Fatalf("revoke: %+v", r)
	}
	r := fs[2].Wait(context.Background())
	var v *state.Violation
	if !errors.As(r.Err, &v) || v.Rule != state.RuleIssueNotNew {
		t.Fatalf("failed issue submitted again: %+v", r)
	}
	if n := e.counter("credlog_batches_rejudged_total"); n != 1 {
		t.Fatalf("%v batches judged again, want 1", n)
	}
	if c, err := e.l.Storage().Credential(issuer, credID(1)); err != nil || c == nil || c.Status != state.StatusRevoked || c.IssueIndex != 1 || c.LastIndex != 2 {
		t.Fatalf("credential: %+v %v", c, err)
	}
	e.stop()
	if size := e.fsckDir(); size != 3 {
		t.Fatalf("%d entries, want 3", size)
	}
}
