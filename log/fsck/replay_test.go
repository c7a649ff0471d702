package fsck_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/fsck"
	"github.com/credlog/credlog/log/fsck/fscktest"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/storage/sqlite"
	"github.com/credlog/credlog/log/tiles"
)

// rawLog writes entries to a new database as they are, rules or not, with
// their tiles, indexes and the state of those that obey the rules: the log
// a sequencer without rules would have written. It returns the database.
func rawLog(t *testing.T, logKey *keys.Signer, entries [][]byte) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "log.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rules := state.NewRules(logKey.Name(), logKey.Public())
	st := state.NewOverlay(nil)
	b := &storage.Batch{}
	for i, raw := range entries {
		e := storage.Entry{Index: uint64(i), LeafHash: tiles.LeafHash(raw)}
		if ev, err := entry.Parse(raw); err == nil {
			e.Issuer, e.Credential, e.Subject = ev.Issuer, ev.Credential, ev.Subject
			rules.ApplyTo(st, ev, uint64(i), nil)
		}
		b.Entries = append(b.Entries, e)
	}
	tb, err := tiles.NewBuilder(0, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := tb.Append(entries)
	if err != nil {
		t.Fatal(err)
	}
	b.SetTree(u)
	b.State = st.Changed()
	// The storage keeps an entry's credential and subject with their
	// records: an entry the rules refused changed none, so it gets
	// records of its own, as a log that stored it would have written.
	creds, subjects := map[storage.RecordKey]bool{}, map[storage.RecordKey]bool{}
	for _, c := range b.State.Credentials {
		creds[storage.RecordKey{Issuer: c.Issuer, ID: c.ID}] = true
	}
	for _, su := range b.State.Subjects {
		subjects[storage.RecordKey{Issuer: su.Issuer, ID: su.Label}] = true
	}
	var zero entry.Hash
	for _, e := range b.Entries {
		if k := (storage.RecordKey{Issuer: e.Issuer, ID: e.Credential}); e.Credential != zero && !creds[k] {
			creds[k] = true
			b.State.Credentials = append(b.State.Credentials, &state.Credential{Issuer: e.Issuer, ID: e.Credential, Subject: e.Subject, LastIndex: e.Index})
		}
		if k := (storage.RecordKey{Issuer: e.Issuer, ID: e.Subject}); e.Subject != zero && !subjects[k] {
			subjects[k] = true
			b.State.Subjects = append(b.State.Subjects, &state.Subject{Issuer: e.Issuer, Label: e.Subject})
		}
	}
	if err := s.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	return path
}

// signed signs ev with s, naming s's key.
func signed(t *testing.T, ev *entry.Event, s *keys.Signer) []byte {
	t.Helper()
	ev.KeyID = s.KeyID()
	if err := ev.Sign(s.PrivateKey()); err != nil {
		t.Fatal(err)
	}
	raw, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func newSigner(t *testing.T, name string) *keys.Signer {
	t.Helper()
	skey, _, err := keys.Generate(name, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := keys.ParseSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCheckReplay checks logs whose entries were written without the
// state rules, and a key rotation in the middle of an entry bundle, which
// the parallel signature checks must not get wrong.
func TestCheckReplay(t *testing.T) {
	logKey := newSigner(t, fscktest.Origin)
	v, err := keys.ParseVerifier(logKey.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	iss, err := fscktest.NewIssuer("id.example")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := iss.Registration(logKey)
	if err != nil {
		t.Fatal(err)
	}
	w := iss.Workload("w", 1)
	next := func() []byte {
		ev, err := w.Next()
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	key2 := newSigner(t, "id.example")
	rotation := func(by *keys.Signer) []byte {
		ev := &entry.Event{Type: entry.TypeIssuerKey, Issuer: "id.example", Time: fscktest.T0 + 5000}
		copy(ev.PublicKey[:], key2.Public())
		_, vrfPub, _ := keys.ParseVRFPublic(iss.VRFPub)
		copy(ev.VRFKey[:], vrfPub)
		return signed(t, ev, by)
	}
	issue := func(by *keys.Signer, n byte) []byte {
		return signed(t, &entry.Event{Type: entry.TypeIssue, Issuer: "id.example", Time: fscktest.T0 + 6000,
			Subject: sha256.Sum256([]byte{'s', n}), Credential: sha256.Sum256([]byte{'c', n}),
			NotBefore: fscktest.T0, NotAfter: fscktest.T0 + 1000, Version: 1}, by)
	}
	// 300 entries: the first bundle registers the issuer and uses its
	// first key, the second rotates it in its middle.
	sound := [][]byte{reg}
	for len(sound) < 260 {
		sound = append(sound, next())
	}
	sound = append(sound, issue(iss.Signer, 1), rotation(iss.Signer), issue(key2, 2))
	for _, tc := range []struct {
		name    string
		entries [][]byte
		want    string
	}{
		{"rotation in a bundle", sound, ""},
		{"old key after a rotation in the same bundle", append(sound[:len(sound):len(sound)], issue(iss.Signer, 3)),
			"entry 263: issue event does not replay: state: rule wrong-key"},
		{"signed by a key not the issuer's", append(sound[:len(sound):len(sound)], issue(newSigner(t, "id.example"), 4)),
			"entry 263: issue event does not replay: state: rule wrong-key"},
		{"forged signature under the current key", [][]byte{reg, func() []byte {
			b := next()
			b[len(b)-1] ^= 1
			return b
		}()}, "entry 1: issue event does not replay: state: rule bad-signature"},
		{"unregistered issuer", [][]byte{next()}, "entry 0: issue event does not replay: state: rule unknown-issuer"},
		{"status change of an unknown credential", [][]byte{reg, signed(t, &entry.Event{Type: entry.TypeRevoke, Issuer: "id.example",
			Time: fscktest.T0, Subject: sha256.Sum256([]byte("s")), Credential: sha256.Sum256([]byte("c")), Reason: entry.ReasonOther}, iss.Signer)},
			"entry 1: revoke event does not replay: state: rule unknown-credential"},
		{"malformed entry", [][]byte{reg, []byte("not an entry")}, "entry 1: entry: malformed event: unknown version 110"},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			_, err := check(t, rawLog(t, logKey, tc.entries), v)
			var inc *fsck.Inconsistency
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("fsck: %v; want success", err)
			case tc.want == "":
			case !errors.As(err, &inc) || !strings.HasPrefix(err.Error(), tc.want):
				t.Fatalf("fsck: %v\nwant %s", err, tc.want)
			}
		})
	}
}
