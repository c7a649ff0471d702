package vmap

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"iter"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
)

// MismatchError is a map-root entry whose root is not the root of the map
// over the entries before it: signed evidence against the log.
type MismatchError struct {
	Index    uint64 // index of the map-root entry; it covers entries [0, Index)
	Logged   Hash   // the root the entry commits to
	Computed Hash   // the root the entries before it give
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("vmap: map-root entry %d commits to map root %x, but entries [0, %d) give %x",
		e.Index, e.Logged, e.Index, e.Computed)
}

// EntryError is an entry that cannot be replayed: it does not parse, or
// it breaks a state rule (Err is then a *state.Violation).
type EntryError struct {
	Index uint64
	Err   error
}

func (e *EntryError) Error() string { return fmt.Sprintf("vmap: entry %d: %v", e.Index, e.Err) }

func (e *EntryError) Unwrap() error { return e.Err }

// Rebuilder recomputes the map from a log, one entry at a time, and checks
// every map-root entry against it, as an auditor does. It replays the
// state rules (package state) into a state held in memory, collects the
// map updates of each entry, and applies them in one batch when it
// reaches a map-root entry, the only points where the map is observed.
// A Rebuilder is not safe for concurrent use.
type Rebuilder struct {
	rules    *state.Rules
	st       *state.Overlay
	store    *MemoryStore
	tree     *Tree
	pending  Pending
	root     Hash
	size     uint64
	mapRoots uint64
	err      error
}

// NewRebuilder returns a Rebuilder for the log whose rules are rules,
// ready for the entry at index 0.
func NewRebuilder(rules *state.Rules) *Rebuilder {
	s := NewMemoryStore()
	return &Rebuilder{rules: rules, st: state.NewOverlay(nil), store: s, tree: NewTree(s)}
}

// Add replays the entry at index Size. An entry that does not parse or
// breaks a rule is an *EntryError, after which the Rebuilder returns the
// same error for good. A map-root entry whose root is wrong is a
// *MismatchError; the entry is nonetheless counted, so that an auditor
// may go on.
func (r *Rebuilder) Add(ctx context.Context, raw []byte) error {
	if r.err != nil {
		return r.err
	}
	ev, err := entry.Parse(raw)
	if err != nil {
		r.err = &EntryError{Index: r.size, Err: err}
		return r.err
	}
	_, err = r.AddEvent(ctx, ev, nil)
	return err
}

// AddEvent is Add for an entry already parsed, ev. It returns the change
// the entry made (also with a *MismatchError). verified is passed on to
// state.Rules.Apply: a key under which the caller has already checked
// ev's signature (an auditor verifies ahead, in parallel), or nil.
func (r *Rebuilder) AddEvent(ctx context.Context, ev *entry.Event, verified ed25519.PublicKey) (*state.Change, error) {
	if r.err != nil {
		return nil, r.err
	}
	idx := r.size
	ch, err := r.rules.Apply(r.st, ev, idx, verified)
	if err != nil {
		r.err = &EntryError{Index: idx, Err: err}
		return nil, r.err
	}
	if err := r.pending.AddChange(ch); err != nil {
		r.err = &EntryError{Index: idx, Err: err}
		return nil, r.err
	}
	r.st.Put(ch)
	r.size++
	if ev.Type != entry.TypeMapRoot {
		return ch, nil
	}
	r.mapRoots++
	root, err := r.flush(ctx)
	if err != nil {
		r.err = err
		return nil, err
	}
	if root != ev.MapRoot {
		return ch, &MismatchError{Index: idx, Logged: ev.MapRoot, Computed: root}
	}
	return ch, nil
}

// flush applies the pending updates. A map-root entry makes no map
// update, so flushing after recording it gives the map over the entries
// before it.
func (r *Rebuilder) flush(ctx context.Context) (Hash, error) {
	if r.pending.Len() == 0 {
		return r.root, nil
	}
	d, err := r.tree.Update(ctx, r.pending.Updates())
	if err != nil {
		return Hash{}, fmt.Errorf("couldn't update the map: %w", err)
	}
	if err := r.store.WriteNodes(ctx, d.Writes); err != nil {
		return Hash{}, fmt.Errorf("couldn't update the map: %w", err)
	}
	r.pending.Reset()
	r.root = d.Root
	return r.root, nil
}

// Size returns the number of entries replayed.
func (r *Rebuilder) Size() uint64 { return r.size }

// MapRoots returns the number of map-root entries checked.
func (r *Rebuilder) MapRoots() uint64 { return r.mapRoots }

// State returns the state after the entries replayed.
func (r *Rebuilder) State() state.Reader { return r.st }

// Root returns the root of the map over the entries replayed.
func (r *Rebuilder) Root(ctx context.Context) (Hash, error) { return r.flush(ctx) }

// Prove returns the proof of key in the map over the entries replayed, and
// its value (nil if absent).
func (r *Rebuilder) Prove(ctx context.Context, key Key) (*Proof, []byte, error) {
	if _, err := r.flush(ctx); err != nil {
		return nil, nil, err
	}
	return r.tree.Prove(ctx, key)
}

// Rebuild replays a whole log, whose entries, from index 0, entries yields
// (with an error if one cannot be read), and checks every map-root entry.
// It stops at the first problem: a *MismatchError or *EntryError naming
// the first bad entry's index, or an error from entries. It returns the
// Rebuilder in every case, for the root and state up to where it stopped.
func Rebuild(ctx context.Context, rules *state.Rules, entries iter.Seq2[[]byte, error]) (*Rebuilder, error) {
	r := NewRebuilder(rules)
	for raw, err := range entries {
		if err != nil {
			return r, fmt.Errorf("couldn't read entry %d: %w", r.Size(), err)
		}
		if err := r.Add(ctx, raw); err != nil {
			return r, err
		}
		if err := ctx.Err(); err != nil {
			return r, err
		}
	}
	return r, nil
}
