package api

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"

	"github.com/credlog/credlog/log/sequencer"
)

// SubmitResult is the answer for one submitted event.
type SubmitResult struct {
	Index     uint64 `json:"index"`
	Duplicate bool   `json:"duplicate,omitempty"`
	// Proof is a C2SP tlog-proof@v1 of the event, for synchronous
	// submissions (?wait=checkpoint).
	Proof string `json:"proof,omitempty"`
	// Status and Error are set, in batch answers, for a rejected event.
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
	Rule   string `json:"rule,omitempty"`
}

// BatchResult is the answer to POST /events/batch: one result per event,
// in order.
type BatchResult struct {
	Results []SubmitResult `json:"results"`
}

func (s *Server) serveSubmitOne(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxEventBody))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res := s.submit(r.Context(), [][]byte{body}, r.URL.Query().Get("wait") == "checkpoint")[0]
	if errors.Is(res.err, errNotPublished) {
		// Durable, so the index stands; only the proof is missing.
		res.Error = res.err.Error()
		writeJSON(w, http.StatusAccepted, res.SubmitResult)
		return
	}
	if res.err != nil {
		s.writeError(w, r, res.err)
		return
	}
	writeJSON(w, http.StatusOK, res.SubmitResult)
}

func (s *Server) serveSubmitBatch(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBatchBody))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	raws, err := splitBatch(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	results := s.submit(r.Context(), raws, r.URL.Query().Get("wait") == "checkpoint")
	out := BatchResult{Results: make([]SubmitResult, len(results))}
	for i, res := range results {
		out.Results[i] = res.SubmitResult
		if res.err == nil {
			continue
		}
		code := statusOf(res.err)
		b := s.errorBody(r, code, res.err)
		out.Results[i] = SubmitResult{Status: code, Error: b.Error, Rule: b.Rule}
		switch code {
		case http.StatusAccepted:
			// Durable: the index stands, only the proof is missing.
			out.Results[i].Index = res.Index
		case http.StatusServiceUnavailable:
			w.Header().Set("Retry-After", RetryAfter)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// splitBatch splits a body of uint16 length-prefixed events.
func splitBatch(body []byte) ([][]byte, error) {
	var out [][]byte
	for len(body) > 0 {
		if len(body) < 2 {
			return nil, fmt.Errorf("%w: dangling byte at the end of the batch", errBadRequest)
		}
		n := int(binary.BigEndian.Uint16(body))
		if n == 0 || len(body) < 2+n {
			return nil, fmt.Errorf("%w: event %d of the batch is empty or truncated", errBadRequest, len(out))
		}
		out = append(out, body[2:2+n])
		body = body[2+n:]
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: empty batch", errBadRequest)
	}
	return out, nil
}

// AppendBatch appends an event to a batch body for POST /events/batch.
func AppendBatch(batch, event []byte) []byte {
	batch = binary.BigEndian.AppendUint16(batch, uint16(len(event)))
	return append(batch, event...)
}

// errNotPublished: the event is durable at its index, but no checkpoint
// covering it was published within the synchronous submission timeout.
var errNotPublished = errors.New("not yet published")

type submitted struct {
	SubmitResult
	err error
}

// submit parses and verifies events in parallel, queues them in the order
// they were given (a batch may hold an issue and a later change of the
// same credential), and waits for each to be durable (and, if wait,
// published).
func (s *Server) submit(ctx context.Context, raws [][]byte, wait bool) []submitted {
	out := make([]submitted, len(raws))
	events := make([]*sequencer.Event, len(raws))
	futures := make([]*sequencer.Future, len(raws))
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(raws)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				ev, err := sequencer.Parse(raws[i])
				if err == nil {
					err = s.log.Verify(ev)
				}
				events[i], out[i].err = ev, err
			}
		}()
	}
	for i := range raws {
		work <- i
	}
	close(work)
	wg.Wait()
	var refused error
	for i, ev := range events {
		switch {
		case out[i].err != nil:
		case refused != nil:
			// Once the queue refuses an event, it refuses the rest of
			// the batch: a later event must not be logged without an
			// earlier one it may depend on.
			out[i].err = refused
		default:
			futures[i], out[i].err = s.log.Add(ev)
			refused = out[i].err
		}
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		res := f.Wait(ctx)
		out[i].Index, out[i].Duplicate, out[i].err = res.Index, res.Duplicate, res.Err
	}
	if !wait {
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SyncTimeout)
	defer cancel()
	var max uint64
	for _, o := range out {
		if o.err == nil {
			max = maxU(max, o.Index+1)
		}
	}
	if max == 0 {
		return out
	}
	if _, err := s.log.WaitPublished(ctx, max); err != nil {
		for i := range out {
			if out[i].err == nil {
				out[i].err = fmt.Errorf("%w: logged at index %d but no checkpoint covers it yet: %w", errNotPublished, out[i].Index, err)
			}
		}
		return out
	}
	pb, err := s.newProver(ctx)
	for i := range out {
		if out[i].err != nil {
			continue
		}
		if err != nil {
			out[i].err = err
			continue
		}
		p, err := pb.proof(ctx, out[i].Index)
		if err != nil {
			out[i].err = err
			continue
		}
		out[i].Proof = string(p.Marshal())
	}
	return out
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}
