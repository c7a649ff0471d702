package sequencer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/tiles"
)

// Event is a parsed event ready for the sequencer.
type Event struct {
	Raw  []byte
	Ev   *entry.Event
	Leaf [32]byte
	// verified is the key under which Verify checked the signature, or nil
	// when the key is not known yet (the sequencer then checks it).
	verified ed25519.PublicKey
}

// Parse decodes raw into an Event. Errors wrap entry.ErrMalformed.
func Parse(raw []byte) (*Event, error) {
	ev, err := entry.Parse(raw)
	if err != nil {
		return nil, err
	}
	return &Event{Raw: raw, Ev: ev, Leaf: tiles.LeafHash(raw)}, nil
}

// Verify checks the event's signature under the key the log currently
// records for its issuer (or the log's key, for issuer registrations). It
// is safe for concurrent use and meant to run in parallel ahead of the
// sequencer. A signature by a key the log does not know yet is left for
// the sequencer to judge with the state rules; a bad signature under a
// known key is an error wrapping entry.ErrBadSignature.
func (l *Log) Verify(e *Event) error {
	key, err := l.keyFor(e.Ev)
	if err != nil {
		return err
	}
	if key == nil {
		return nil
	}
	if err := e.Ev.VerifySignature(key); err != nil {
		return err
	}
	e.verified = key
	return nil
}

func (l *Log) keyFor(ev *entry.Event) (ed25519.PublicKey, error) {
	if ev.KeyID == l.rules.LogKeyID() && (ev.Type == entry.TypeIssuerKey || ev.Type == entry.TypeMapRoot) {
		return l.rules.LogKey, nil
	}
	l.keysMu.RLock()
	k, ok := l.keys[ev.Issuer]
	l.keysMu.RUnlock()
	if !ok {
		iss, err := l.store.Issuer(ev.Issuer)
		if err != nil {
			return nil, fmt.Errorf("couldn't read issuer %q: %w", ev.Issuer, err)
		}
		if iss == nil {
			return nil, nil
		}
		k = issuerKey{id: iss.KeyID, pub: ed25519.PublicKey(bytes.Clone(iss.PublicKey[:]))}
		l.keysMu.Lock()
		if _, ok := l.keys[ev.Issuer]; !ok {
			l.keys[ev.Issuer] = k
		}
		l.keysMu.Unlock()
	}
	if k.id != ev.KeyID {
		return nil, nil
	}
	return k.pub, nil
}

// Result is the outcome of one event.
type Result struct {
	Index uint64
	// Duplicate is true when the event was already logged: Index is the
	// index it was logged at.
	Duplicate bool
	Err       error
}

// Future resolves to an event's Result once it is durable or rejected.
type Future struct {
	done chan struct{}
	res  Result
}

// Wait blocks until the event is durable or rejected, or ctx is done.
func (f *Future) Wait(ctx context.Context) Result {
	select {
	case <-f.done:
		return f.res
	case <-ctx.Done():
		return Result{Err: ctx.Err()}
	}
}

type pending struct {
	*Event
	f *Future
}

func (p *pending) resolve(idx uint64, dup bool, err error) {
	p.f.res = Result{Index: idx, Duplicate: dup, Err: err}
	close(p.f.done)
}

// Add queues a parsed (and ideally verified) event. It never blocks: when
// the queue is full it returns ErrOverloaded and the event is not queued.
func (l *Log) Add(e *Event) (*Future, error) {
	l.mu.Lock()
	stopped := l.stopped
	l.mu.Unlock()
	if stopped != nil {
		return nil, ErrStopped
	}
	p := &pending{Event: e, f: &Future{done: make(chan struct{})}}
	select {
	case l.queue <- p:
		l.m.queued.Inc()
		return p.f, nil
	default:
		l.m.overloads.Inc()
		return nil, ErrOverloaded
	}
}
