package replay

import (
	"encoding/base64"
	"errors"
	"fmt"
)

// Classes of *EntryError and *TreeError, for errors.Is.
var (
	// ErrMalformed: an entry does not parse as an event.
	ErrMalformed = errors.New("replay: malformed entry")
	// ErrSignature: an entry's signature does not verify under the key the
	// log records for its issuer (state rule bad-signature).
	ErrSignature = errors.New("replay: bad signature")
	// ErrRule: an entry breaks a state rule other than bad-signature; the
	// error chain holds the *state.Violation.
	ErrRule = errors.New("replay: state rule broken")
	// ErrMapRoot: a map-root entry commits to a root that is not the map's
	// over the entries before it; the chain holds the *vmap.MismatchError.
	ErrMapRoot = errors.New("replay: map-root entry has a wrong root")
	// ErrTree: the entries served do not hash to the checkpoint's root.
	ErrTree = errors.New("replay: entries do not match the checkpoint")
)

// EntryError is an entry, committed to by a verified checkpoint, that
// fails a check: signed evidence against the log (or its issuer).
type EntryError struct {
	Class      error  // ErrMalformed, ErrSignature, ErrRule or ErrMapRoot
	Index      uint64 // the entry's index
	Entry      []byte // the entry's bytes
	Checkpoint *Checkpoint
	Err        error // what failed: a parse error, a *state.Violation, a *vmap.MismatchError
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("entry %d: %v (checked against the checkpoint of size %d)", e.Index, e.Err, e.Checkpoint.Size)
}

// Unwrap returns the class and the cause.
func (e *EntryError) Unwrap() []error { return []error{e.Class, e.Err} }

// TreeError says that the entries served for [From, Checkpoint.Size) do
// not give the checkpoint's root with the entries before them.
type TreeError struct {
	Checkpoint *Checkpoint
	From       uint64 // the Replayer's size before the Advance
	Computed   []byte // the root the entries give
	// Located says whether the first bad entry was found: the log's
	// level-0 hash tiles give the checkpoint's root, and the entry at
	// Index does not have the leaf hash they hold (or is missing).
	Located bool
	Index   uint64
	Entry   []byte // the entry served at Index, nil if none
	// Detail says what was wrong, when it was the bundle rather than an
	// entry's bytes (a bundle that does not parse, or holds the wrong
	// number of entries).
	Detail string
}

func (e *TreeError) Error() string {
	s := fmt.Sprintf("entries [0, %d) give root %s, the checkpoint of size %d has %s", e.Checkpoint.Size,
		base64.StdEncoding.EncodeToString(e.Computed), e.Checkpoint.Size, base64.StdEncoding.EncodeToString(e.Checkpoint.Hash))
	if e.Computed == nil {
		s = fmt.Sprintf("the entries served cannot be those of the checkpoint of size %d", e.Checkpoint.Size)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Located {
		return fmt.Sprintf("entry %d: not the entry the log committed to: %s", e.Index, s)
	}
	return s + " (the bad entry could not be located from the hash tiles)"
}

// Unwrap returns ErrTree.
func (e *TreeError) Unwrap() error { return ErrTree }
