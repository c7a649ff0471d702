package vmap

import (
	"fmt"
	"slices"

	"github.com/credlog/credlog/log/state"
)

// CredentialUpdate returns the map update that records credential c.
func CredentialUpdate(c *state.Credential) (Update, error) {
	v, err := NewCredentialValue(c).Marshal()
	if err != nil {
		return Update{}, fmt.Errorf("couldn't encode credential %x of %q: %w", c.ID, c.Issuer, err)
	}
	return Update{Key: CredentialKey(c.Issuer, c.ID), Value: v}, nil
}

// SubjectUpdate returns the map update that records subject s.
func SubjectUpdate(s *state.Subject) (Update, error) {
	v, err := NewSubjectValue(s).Marshal()
	if err != nil {
		return Update{}, fmt.Errorf("couldn't encode subject %x of %q: %w", s.Label, s.Issuer, err)
	}
	return Update{Key: SubjectKey(s.Issuer, s.Label), Value: v}, nil
}

// Pending collects the map updates of a run of log entries: the latest
// value of every credential and subject they changed. Issuer records are
// not in the map. The zero Pending is empty and ready to use.
//
// A log keeps one from one map-root entry to the next, and applies it in
// the batch that appends the next one; see [Rebuilder].
type Pending struct {
	vals map[Key][]byte
}

// AddChange records what one event changed.
func (p *Pending) AddChange(ch *state.Change) error {
	for _, c := range ch.Credentials {
		if err := p.addCredential(c); err != nil {
			return err
		}
	}
	if ch.Subject != nil {
		return p.addSubject(ch.Subject)
	}
	return nil
}

// AddChanges records what a batch of events changed.
func (p *Pending) AddChanges(ch *state.Changes) error {
	for _, c := range ch.Credentials {
		if err := p.addCredential(c); err != nil {
			return err
		}
	}
	for _, s := range ch.Subjects {
		if err := p.addSubject(s); err != nil {
			return err
		}
	}
	return nil
}

func (p *Pending) addCredential(c *state.Credential) error {
	u, err := CredentialUpdate(c)
	if err != nil {
		return err
	}
	p.set(u)
	return nil
}

func (p *Pending) addSubject(s *state.Subject) error {
	u, err := SubjectUpdate(s)
	if err != nil {
		return err
	}
	p.set(u)
	return nil
}

func (p *Pending) set(u Update) {
	if p.vals == nil {
		p.vals = make(map[Key][]byte)
	}
	p.vals[u.Key] = u.Value
}

// AddUpdates records updates (of credentials and subjects), in order:
// a later update of a key replaces an earlier one.
func (p *Pending) AddUpdates(ups []Update) {
	for _, u := range ups {
		p.set(u)
	}
}

// Len returns the number of keys pending.
func (p *Pending) Len() int { return len(p.vals) }

// Updates returns the pending updates, in key order.
func (p *Pending) Updates() []Update {
	ups := make([]Update, 0, len(p.vals))
	for k, v := range p.vals {
		ups = append(ups, Update{Key: k, Value: v})
	}
	slices.SortFunc(ups, func(a, b Update) int { return a.Key.Compare(b.Key) })
	return ups
}

// Reset empties p.
func (p *Pending) Reset() { clear(p.vals) }

// UpdatesFromChanges returns the map updates of a batch's state changes,
// in key order.
func UpdatesFromChanges(ch *state.Changes) ([]Update, error) {
	var p Pending
	if err := p.AddChanges(ch); err != nil {
		return nil, err
	}
	return p.Updates(), nil
}
