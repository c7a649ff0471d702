package state

import (
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
)

func keyID(name string, pub []byte) uint32 { return keys.KeyID(name, pub) }

type credKey struct {
	issuer string
	id     entry.Hash
}

// Overlay is a state held in memory on top of an optional base Reader:
// reads fall through to the base for records the overlay has not changed.
// The log stacks one on its stored state per batch; an auditor replays a
// whole log into one with no base. An Overlay is not safe for concurrent
// use.
type Overlay struct {
	base     Reader
	issuers  map[string]*Issuer
	creds    map[credKey]*Credential
	subjects map[credKey]*Subject
}

// NewOverlay returns an empty overlay on base, which may be nil.
func NewOverlay(base Reader) *Overlay {
	return &Overlay{
		base:     base,
		issuers:  make(map[string]*Issuer),
		creds:    make(map[credKey]*Credential),
		subjects: make(map[credKey]*Subject),
	}
}

// Issuer implements Reader.
func (o *Overlay) Issuer(name string) (*Issuer, error) {
	if v, ok := o.issuers[name]; ok || o.base == nil {
		return v, nil
	}
	return o.base.Issuer(name)
}

// Credential implements Reader.
func (o *Overlay) Credential(issuer string, id entry.Hash) (*Credential, error) {
	if v, ok := o.creds[credKey{issuer, id}]; ok || o.base == nil {
		return v, nil
	}
	return o.base.Credential(issuer, id)
}

// Subject implements Reader.
func (o *Overlay) Subject(issuer string, label entry.Hash) (*Subject, error) {
	if v, ok := o.subjects[credKey{issuer, label}]; ok || o.base == nil {
		return v, nil
	}
	return o.base.Subject(issuer, label)
}

// Put records a change.
func (o *Overlay) Put(ch *Change) {
	if ch.Issuer != nil {
		o.issuers[ch.Issuer.Name] = ch.Issuer
	}
	for _, c := range ch.Credentials {
		o.creds[credKey{c.Issuer, c.ID}] = c
	}
	if ch.Subject != nil {
		o.subjects[credKey{ch.Subject.Issuer, ch.Subject.Label}] = ch.Subject
	}
}

// Changed returns every record the overlay holds, for writing to the base.
func (o *Overlay) Changed() *Changes {
	c := &Changes{}
	for _, v := range o.issuers {
		c.Issuers = append(c.Issuers, v)
	}
	for _, v := range o.creds {
		c.Credentials = append(c.Credentials, v)
	}
	for _, v := range o.subjects {
		c.Subjects = append(c.Subjects, v)
	}
	return c
}

// Changes is the set of records a batch changed, latest version of each.
type Changes struct {
	Issuers     []*Issuer
	Credentials []*Credential
	Subjects    []*Subject
}

// ApplyTo checks ev against o with r and, if it obeys the rules, records its
// change in o. On error o is unchanged.
func (r *Rules) ApplyTo(o *Overlay, ev *entry.Event, index uint64, verified []byte) error {
	ch, err := r.Apply(o, ev, index, verified)
	if err != nil {
		return err
	}
	o.Put(ch)
	return nil
}
