package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/transparency-dev/formats/log"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/replay"
)

// fullMode replays the log (package replay) and turns what the replay
// sees into alerts.
type fullMode struct {
	m *Monitor
	r *replay.Replayer
	// pending are the events naming watched items that the replay saw
	// but that no checkpoint confirmed yet: Advance calls back before it
	// compares the root. They are raised once one does, also after a
	// failed Advance (the Replayer does not call back twice).
	pending []pendingEvent
}

type pendingEvent struct {
	it  Item
	idx uint64
	raw []byte
	ev  *entry.Event
}

func newFullMode(m *Monitor) *fullMode { return &fullMode{m: m} }

func (f *fullMode) onEntry(e *replay.Entry) error {
	if e.Event == nil || e.Err != nil {
		return nil // the violation comes back from Advance
	}
	for _, it := range f.m.watched(e.Event) {
		f.pending = append(f.pending, pendingEvent{it: it, idx: e.Index, raw: e.Raw, ev: e.Event})
	}
	return nil
}

// advance replays the log up to the checkpoint raw (cp), which verified
// against the policy. A monitor that has just started first replays up
// to its stored checkpoint, so that the log's history is checked against
// the checkpoint it verified before the restart.
func (f *fullMode) advance(ctx context.Context, raw []byte, cp *log.Checkpoint) error {
	m := f.m
	if f.r == nil {
		key, err := replay.LogKey(m.cfg.Policy.Logs[0])
		if err != nil {
			return err
		}
		f.r = replay.New(m.origin(), key, m.cfg.Fetcher, replay.Options{OnEntry: f.onEntry})
	}
	if f.r.Err() != nil {
		return errStop // alerted when it failed
	}
	if stored := m.st.Checkpoint; stored != "" {
		scp, _, err := replay.VerifyCheckpoint([]byte(stored), m.cfg.Policy)
		if err != nil {
			return fmt.Errorf("monitor: the stored checkpoint does not verify: %w", err)
		}
		if f.r.Size() < scp.Size {
			if err := f.step(ctx, scp, stored, raw); err != nil {
				return err
			}
		}
	}
	rcp, _, err := replay.VerifyCheckpoint(raw, m.cfg.Policy)
	if err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	if err := f.step(ctx, rcp, m.st.Checkpoint, raw); err != nil {
		return err
	}
	m.accept(raw)
	return nil
}

// step advances the replay to cp. For the evidence of a split view, prev
// is the checkpoint verified before (if any) and cur the log's latest
// checkpoint: cp is one of them. A restarted monitor catching up to its
// stored checkpoint advances to prev; otherwise to cur.
func (f *fullMode) step(ctx context.Context, cp *replay.Checkpoint, prev string, cur []byte) error {
	m := f.m
	err := f.r.Advance(ctx, cp)
	var te *replay.TreeError
	if errors.As(err, &te) {
		f.pending = nil
		return m.stop(m.raiseOnce("tree "+prev+"\x00"+string(cur), &Alert{Alert: AlertSplitView,
			Message: fmt.Sprintf("the entries the log serves do not give the root of its checkpoint of size %d, "+
				"so the log's latest checkpoint (size %s) does not extend the one verified before: %v", cp.Size, cpSize(cur), te),
			Evidence: Evidence{Checkpoint: string(cur), Previous: prev, Entry: te.Entry}}))
	}
	var ee *replay.EntryError
	if err != nil && !errors.As(err, &ee) {
		return err // fetching failed: the replay goes on from here next time
	}
	// The checkpoint's root confirmed every entry replayed.
	for _, p := range f.pending {
		if m.st.known(p.idx) || m.st.isOwn(p.ev) || m.st.alerted(p.idx) {
			continue
		}
		proof, err := m.inclusion(ctx, p.idx, p.raw, cp.Raw, cp.Size, cp.Hash)
		if err != nil {
			return err
		}
		if err := m.eventAlert(p.it, p.idx, p.raw, p.ev, proof, cp.Raw); err != nil {
			return err
		}
	}
	f.pending = nil
	if ee == nil {
		return nil
	}
	proof, perr := m.inclusion(ctx, ee.Index, ee.Entry, cp.Raw, cp.Size, cp.Hash)
	if perr != nil {
		return perr
	}
	idx := ee.Index
	a := &Alert{Alert: AlertViolation, Index: &idx,
		Message:  fmt.Sprintf("entry %d breaks the log's rules: %v", ee.Index, ee.Err),
		Evidence: Evidence{Entry: ee.Entry, Proof: string(proof), Checkpoint: string(cp.Raw)}}
	if ev, err := entry.Parse(ee.Entry); err == nil {
		a.Event = summarize(ev)
	}
	return m.stop(m.raiseOnce(fmt.Sprintf("violation %d", ee.Index), a))
}

// cpSize returns the size line of a checkpoint, verified by the caller.
func cpSize(raw []byte) string {
	lines := bytes.SplitN(raw, []byte("\n"), 3)
	if len(lines) < 2 {
		return "?"
	}
	return string(lines[1])
}
