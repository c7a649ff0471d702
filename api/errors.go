package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/sequencer"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage"
)

// RetryAfter is the Retry-After value, in seconds, sent with 503s.
const RetryAfter = "1"

// ErrorBody is the JSON body of every error response from the submission,
// lookup and proof endpoints.
type ErrorBody struct {
	Error string `json:"error"`
	// Rule names the state rule broken, for 403 and 409 answers to
	// submissions.
	Rule string `json:"rule,omitempty"`
}

var errBadRequest = errors.New("bad request")

// statusOf maps an error from the log to an HTTP status: the one place
// where that mapping is made.
func statusOf(err error) int {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, entry.ErrMalformed), errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, entry.ErrBadSignature), errors.Is(err, state.ErrUnauthorized):
		return http.StatusForbidden
	case errors.Is(err, state.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, errNotPublished):
		return http.StatusAccepted
	case errors.Is(err, storage.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, sequencer.ErrOverloaded), errors.Is(err, sequencer.ErrCommit), errors.Is(err, sequencer.ErrStopped),
		// The client went away or the answer took too long: the event,
		// if queued, may still be logged, and resubmitting is safe.
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// errorBody is the answer for err, answered with code: internal errors
// are logged and not described to the client.
func (s *Server) errorBody(r *http.Request, code int, err error) ErrorBody {
	if code == http.StatusInternalServerError {
		s.logger.Error("internal error", "path", r.URL.Path, "err", err)
		return ErrorBody{Error: "internal error"}
	}
	b := ErrorBody{Error: err.Error()}
	var v *state.Violation
	switch {
	case errors.As(err, &v):
		b.Rule = string(v.Rule)
	case errors.Is(err, entry.ErrBadSignature):
		// Found by the parallel verifier rather than by the rules: the
		// same rule either way.
		b.Rule = string(state.RuleBadSignature)
	}
	return b
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	if code == http.StatusInternalServerError && r.Context().Err() != nil {
		// The client went away (or the server is stopping) while the
		// answer was built: whatever failed for want of the context is
		// not an internal error, even when a library dropped the
		// context's error from the chain.
		code = http.StatusServiceUnavailable
	}
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", RetryAfter)
	}
	writeJSON(w, code, s.errorBody(r, code, err))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
