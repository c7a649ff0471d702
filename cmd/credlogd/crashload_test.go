package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/transparency-dev/formats/log"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/log/fsck/fscktest"
	"github.com/credlog/credlog/log/tlogproof"
)

// load submits the workload's events until ctx is done: one or a batch of
// up to 16 per request, a third of the requests waiting for a checkpoint.
// A request that gets no answer (the log was killed) is sent again, with
// the same events, until it gets one: a resubmission is idempotent.
func (h *harness) load(ctx context.Context, rng *rand.Rand, w *fscktest.Workload) {
	for ctx.Err() == nil {
		n := 1
		batch := rng.IntN(2) == 0
		if batch {
			n = 1 + rng.IntN(16)
		}
		events := make([][]byte, n)
		for i := range events {
			ev, err := w.Next()
			if err != nil {
				h.errorf("couldn't make an event: %v", err)
				return
			}
			events[i] = ev
		}
		if !h.submit(ctx, events, batch, rng.IntN(3) == 0) {
			return
		}
	}
}

// submit sends events until the log answers for each of them, and
// records the acknowledgements. It returns false when the load must stop.
func (h *harness) submit(ctx context.Context, events [][]byte, batch, wait bool) bool {
	for len(events) > 0 {
		results, err := h.send(ctx, events, batch, wait)
		switch {
		case ctx.Err() != nil:
			return false
		case api.IsStatus(err, http.StatusServiceUnavailable):
			time.Sleep(20 * time.Millisecond)
			continue
		case err != nil && !errors.As(err, new(*api.HTTPError)):
			// No answer: the log is down, or was killed mid-request.
			h.mu.Lock()
			h.retries++
			h.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			continue
		case err != nil:
			h.errorf("submission of %d events refused: %v", len(events), err)
			return false
		}
		retry := len(results)
		for i, r := range results {
			switch r.Status {
			case 0, http.StatusAccepted:
				h.ack(events[i], r)
			case http.StatusServiceUnavailable:
				// Not queued: resubmit it and what follows it.
				retry = min(retry, i)
			default:
				h.errorf("event %d of a batch refused: %d %s (rule %q)", i, r.Status, r.Error, r.Rule)
				return false
			}
		}
		events = events[retry:]
	}
	return true
}

func (h *harness) send(ctx context.Context, events [][]byte, batch, wait bool) ([]api.SubmitResult, error) {
	c := h.current()
	if !batch {
		r, err := c.Submit(ctx, events[0], wait)
		if err != nil {
			return nil, err
		}
		return []api.SubmitResult{*r}, nil
	}
	return c.SubmitBatch(ctx, events, wait)
}

// ack records that the log acknowledged event at r.Index, and checks the
// tlog-proof of a synchronous submission.
func (h *harness) ack(event []byte, r api.SubmitResult) {
	h.mu.Lock()
	prev, seen := h.acks[r.Index]
	first, acked := h.byEvent[string(event)]
	h.acks[r.Index] = event
	h.byEvent[string(event)] = r.Index
	h.mu.Unlock()
	if seen && string(prev) != string(event) {
		h.errorf("index %d acknowledged for two different events", r.Index)
	}
	if acked && first != r.Index {
		h.errorf("an event acknowledged at index %d, then at %d", first, r.Index)
	}
	if r.Proof == "" {
		return
	}
	p, err := tlogproof.Parse([]byte(r.Proof))
	if err != nil {
		h.errorf("proof of event %d: %v", r.Index, err)
		return
	}
	if _, _, err := p.Verify(event, crashOrigin, h.key.NoteVerifier()); err != nil || p.Index != r.Index {
		h.errorf("proof of event %d (index %d in the proof): %v", r.Index, p.Index, err)
		return
	}
	h.sawCheckpoint(p.Checkpoint, "a tlog-proof")
}

// sawCheckpoint records a published checkpoint, checks its signature, and
// that no other checkpoint of its size with another root was seen. It
// returns its size.
func (h *harness) sawCheckpoint(signed []byte, from string) (uint64, bool) {
	cp, _, _, err := log.ParseCheckpoint(signed, crashOrigin, h.key.NoteVerifier())
	if err != nil {
		h.errorf("checkpoint from %s: %v\n%s", from, err, signed)
		return 0, false
	}
	h.mu.Lock()
	root, seen := h.roots[cp.Size]
	if !seen {
		h.cps[cp.Size], h.roots[cp.Size] = signed, [32]byte(cp.Hash)
	}
	h.mu.Unlock()
	if seen && root != [32]byte(cp.Hash) {
		h.errorf("two checkpoints of size %d with different roots, the second from %s: %x and %x", cp.Size, from, root, cp.Hash)
		return 0, false
	}
	return cp.Size, true
}
