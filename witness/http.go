package witness

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"
)

// maxListLimit is the largest page served by the listing endpoints.
const maxListLimit = 1000

// Handler returns the witness's HTTP interface:
//
//   - POST /add-checkpoint: c2sp.org/tlog-witness. 200 with the
//     cosignature line(s); 400 unparsable or old size larger than the
//     checkpoint size; 403 no valid trusted signature; 404 unknown log;
//     409 with Content-Type text/x.tlog.size and the latest cosigned size
//     when the old size is not it; 413 body over [MaxBodySize]; 422 bad
//     consistency proof, same size with another root, or size 0 with a
//     non-empty root; 429 with Retry-After over the log's daily limit.
//   - GET /<origin hash>/checkpoint: the latest cosigned checkpoint of the
//     log whose origin has that lowercase hex SHA-256, with the log
//     signatures the witness verified and its cosignature; 404 if none.
//   - GET /<origin hash>/history?after=ID: the checkpoints cosigned for
//     that log, oldest first, as a JSON array of [HistoryEntry], at most
//     1000 after the given ID.
//   - GET /evidence?after=ID: equivocation evidence, as a JSON array of
//     [Evidence], at most 1000 after the given ID.
func (w *Witness) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /add-checkpoint", w.instrument("add-checkpoint", w.serveAddCheckpoint))
	mux.Handle("GET /{origin}/checkpoint", w.instrument("checkpoint", w.serveCheckpoint))
	mux.Handle("GET /{origin}/history", w.instrument("history", w.serveHistory))
	mux.Handle("GET /evidence", w.instrument("evidence", w.serveEvidence))
	return mux
}

// statusWriter records the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

// WriteHeader records code and writes it.
func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (w *Witness) instrument(endpoint string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: rw, code: http.StatusOK}
		h(sw, r)
		w.metrics.duration.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
		w.metrics.requests.WithLabelValues(endpoint, strconv.Itoa(sw.code)).Inc()
	})
}

func (w *Witness) serveAddCheckpoint(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, MaxBodySize))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		http.Error(rw, fmt.Sprintf("request body is larger than %d bytes", MaxBodySize), http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(rw, "couldn't read request body", http.StatusBadRequest)
		return
	}
	cosig, err := w.AddCheckpoint(r.Context(), body)
	if err != nil {
		w.writeError(r.Context(), rw, err)
		return
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.Write(cosig)
}

// writeError maps an [Witness.AddCheckpoint] error to its status code.
func (w *Witness) writeError(ctx context.Context, rw http.ResponseWriter, err error) {
	var conflict *ConflictError
	var limited *RateLimitError
	switch {
	case errors.As(err, &conflict):
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", conflict.Size)
	case errors.As(err, &limited):
		rw.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(limited.RetryAfter.Seconds())), 10))
		http.Error(rw, err.Error(), http.StatusTooManyRequests)
	case errors.Is(err, ErrMalformed):
		http.Error(rw, err.Error(), http.StatusBadRequest)
	case errors.Is(err, ErrUntrusted):
		http.Error(rw, err.Error(), http.StatusForbidden)
	case errors.Is(err, ErrUnknownLog):
		http.Error(rw, err.Error(), http.StatusNotFound)
	case errors.Is(err, ErrBadProof), errors.Is(err, ErrRootMismatch), errors.Is(err, ErrNonEmptyRoot):
		http.Error(rw, err.Error(), http.StatusUnprocessableEntity)
	default:
		w.log.ErrorContext(ctx, "add-checkpoint failed", "err", err)
		http.Error(rw, "internal error", http.StatusInternalServerError)
	}
}

// logFromPath returns the log named by the {origin} path segment, or
// writes a 404 and returns nil.
func (w *Witness) logFromPath(rw http.ResponseWriter, r *http.Request) *LogState {
	s := r.PathValue("origin")
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 || hex.EncodeToString(b) != s {
		http.Error(rw, "not a lowercase hex SHA-256 origin hash", http.StatusNotFound)
		return nil
	}
	st, err := w.store.LogByOriginHash(r.Context(), [32]byte(b))
	if errors.Is(err, ErrUnknownLog) {
		http.Error(rw, "unknown log", http.StatusNotFound)
		return nil
	}
	if err != nil {
		w.log.ErrorContext(r.Context(), "couldn't read log", "err", err)
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return nil
	}
	return st
}

func (w *Witness) serveCheckpoint(rw http.ResponseWriter, r *http.Request) {
	st := w.logFromPath(rw, r)
	if st == nil {
		return
	}
	if st.Latest == nil {
		http.Error(rw, "no checkpoint cosigned for this log", http.StatusNotFound)
		return
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.Header().Set("Cache-Control", "no-cache")
	io.WriteString(rw, st.Latest.Cosigned)
}

func (w *Witness) serveHistory(rw http.ResponseWriter, r *http.Request) {
	after, ok := afterParam(rw, r)
	if !ok {
		return
	}
	st := w.logFromPath(rw, r)
	if st == nil {
		return
	}
	h, err := w.store.History(r.Context(), st.Origin, after, maxListLimit)
	if h == nil {
		h = []*HistoryEntry{}
	}
	w.writeJSON(rw, r, h, err)
}

func (w *Witness) serveEvidence(rw http.ResponseWriter, r *http.Request) {
	after, ok := afterParam(rw, r)
	if !ok {
		return
	}
	e, err := w.store.Evidence(r.Context(), after, maxListLimit)
	if e == nil {
		e = []*Evidence{}
	}
	w.writeJSON(rw, r, e, err)
}

func afterParam(rw http.ResponseWriter, r *http.Request) (int64, bool) {
	s := r.URL.Query().Get("after")
	if s == "" {
		return 0, true
	}
	after, err := strconv.ParseInt(s, 10, 64)
	if err != nil || after < 0 {
		http.Error(rw, "after must be a non-negative integer", http.StatusBadRequest)
		return 0, false
	}
	return after, true
}

func (w *Witness) writeJSON(rw http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		w.log.ErrorContext(r.Context(), "couldn't read store", "err", err)
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		w.log.ErrorContext(r.Context(), "couldn't encode JSON", "err", err)
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Cache-Control", "no-cache")
	rw.Write(append(b, '\n'))
}
