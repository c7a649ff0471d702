package fsck

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage"
)

// recordKey names a credential or subject record of an issuer.
type recordKey struct {
	issuer string
	id     entry.Hash
}

// checkState compares the stored state tables with the replayed state,
// record by record.
func (c *checker) checkState() error {
	c.progress("state", 0, 0)
	ch := c.replay.Changed()
	issuers := make(map[string]*state.Issuer, len(ch.Issuers))
	for _, i := range ch.Issuers {
		issuers[i.Name] = i
	}
	creds := make(map[recordKey]*state.Credential, len(ch.Credentials))
	for _, cr := range ch.Credentials {
		creds[recordKey{cr.Issuer, cr.ID}] = cr
	}
	subjects := make(map[recordKey]*state.Subject, len(ch.Subjects))
	for _, su := range ch.Subjects {
		subjects[recordKey{su.Issuer, su.Label}] = su
	}
	err := c.s.ScanState(c.ctx, storage.StateVisitor{
		Issuer: func(st *state.Issuer) error {
			c.rep.Issuers++
			return compareRecord(fmt.Sprintf("issuer %q", st.Name), st, take(issuers, st.Name))
		},
		Credential: func(st *state.Credential) error {
			c.rep.Credentials++
			return compareRecord(fmt.Sprintf("credential %x of %q", st.ID, st.Issuer), st, take(creds, recordKey{st.Issuer, st.ID}))
		},
		Subject: func(st *state.Subject) error {
			c.rep.Subjects++
			return compareRecord(fmt.Sprintf("subject %x of %q", st.Label, st.Issuer), st, take(subjects, recordKey{st.Issuer, st.Label}))
		},
	})
	if err != nil {
		return err
	}
	if i := first(issuers, func(a, b *state.Issuer) int { return cmp.Compare(a.Name, b.Name) }); i != nil {
		return inconsistent("issuer %q: registered by the entries, but not stored", i.Name)
	}
	if cr := first(creds, func(a, b *state.Credential) int { return cmp.Compare(a.IssueIndex, b.IssueIndex) }); cr != nil {
		return inconsistent("credential %x of %q: issued by entry %d, but not stored", cr.ID, cr.Issuer, cr.IssueIndex)
	}
	if su := first(subjects, func(a, b *state.Subject) int {
		return cmp.Compare(a.Issuer+string(a.Label[:]), b.Issuer+string(b.Label[:]))
	}); su != nil {
		return inconsistent("subject %x of %q: named by %d entries, but not stored", su.Label, su.Issuer, su.Events)
	}
	return nil
}

// take removes and returns m[k] (nil if absent).
func take[K comparable, V any](m map[K]*V, k K) *V {
	v := m[k]
	delete(m, k)
	return v
}

// first returns the least value of m by cmp, or nil.
func first[K comparable, V any](m map[K]*V, cmp func(a, b *V) int) *V {
	if len(m) == 0 {
		return nil
	}
	vs := make([]*V, 0, len(m))
	for _, v := range m {
		vs = append(vs, v)
	}
	return slices.MinFunc(vs, cmp)
}

// compareRecord reports a stored record that the replay did not produce,
// or that differs from what it produced, naming the fields that differ.
func compareRecord[T comparable](what string, stored, replayed *T) error {
	if replayed == nil {
		return inconsistent("%s: stored, but no entry makes it", what)
	}
	if *stored == *replayed {
		return nil
	}
	sv, rv := reflect.ValueOf(stored).Elem(), reflect.ValueOf(replayed).Elem()
	var diffs []string
	for i := range sv.NumField() {
		if s, r := sv.Field(i).Interface(), rv.Field(i).Interface(); s != r {
			diffs = append(diffs, fmt.Sprintf("%s is %s, the replay gives %s", sv.Type().Field(i).Name, show(s), show(r)))
		}
	}
	return inconsistent("%s: stored %s", what, strings.Join(diffs, "; "))
}

// show formats a record field: hashes and keys in hex.
func show(v any) string {
	switch v := v.(type) {
	case entry.Hash:
		return fmt.Sprintf("%x", v[:])
	case [32]byte:
		return fmt.Sprintf("%x", v[:])
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(v)
}
