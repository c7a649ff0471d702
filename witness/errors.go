package witness

import (
	"errors"
	"fmt"
	"time"
)

// Errors returned by [Witness.AddCheckpoint]. Each maps to one HTTP status
// code of c2sp.org/tlog-witness; see [Witness.Handler].
var (
	// ErrMalformed means the request could not be parsed, or its old size
	// is larger than the checkpoint size (400 Bad Request).
	ErrMalformed = errors.New("witness: malformed request")
	// ErrUnknownLog means the checkpoint's origin is not a configured log
	// (404 Not Found).
	ErrUnknownLog = errors.New("witness: unknown log")
	// ErrUntrusted means the checkpoint carries no valid signature from a
	// key trusted for its origin, or a signature from a trusted key failed
	// to verify (403 Forbidden).
	ErrUntrusted = errors.New("witness: no valid signature from a trusted log key")
	// ErrBadProof means the consistency proof does not verify (422).
	ErrBadProof = errors.New("witness: consistency proof does not verify")
	// ErrRootMismatch means the checkpoint has the size of the latest
	// cosigned checkpoint but a different root hash (422).
	ErrRootMismatch = errors.New("witness: same tree size as the latest cosigned checkpoint, different root hash")
	// ErrNonEmptyRoot means a checkpoint of size zero has a root hash
	// other than the empty tree's (422).
	ErrNonEmptyRoot = errors.New("witness: checkpoint of size 0 with a root hash other than the empty tree's")

	// ErrStateChanged is returned by [Store.Advance] when the stored state
	// is no longer the one the caller read: nothing was written.
	ErrStateChanged = errors.New("witness: stored checkpoint changed concurrently")
)

// ConflictError is returned when the request's old size is not the size of
// the latest checkpoint the witness cosigned for the log (409 Conflict).
type ConflictError struct {
	// Size is the size of the latest cosigned checkpoint, 0 if none.
	Size uint64
}

// Error implements error.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("witness: old size does not match the latest cosigned size %d", e.Size)
}

// RateLimitError is returned when a log exceeded its requests-per-day
// limit (429 Too Many Requests).
type RateLimitError struct {
	// RetryAfter is how long until the log may send another request.
	RetryAfter time.Duration
}

// Error implements error.
func (e *RateLimitError) Error() string {
	return fmt.Sprintf("witness: log is over its request limit, retry after %s", e.RetryAfter)
}
