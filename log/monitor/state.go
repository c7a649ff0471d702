package monitor

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/credlog/credlog/log/entry"
)

// stateVersion is the version of the state file's layout.
const stateVersion = 1

// maxStateFile bounds the size of a state file read back.
const maxStateFile = 64 << 20

// ItemKind is what a watched item names.
type ItemKind string

// The kinds of watched items.
const (
	// Subject is a subject label: every event of the issuer naming it is
	// watched (issues and reissues for the holder, and the status events
	// of each of those credentials).
	Subject ItemKind = "subject"
	// Credential is a credential ID: every event naming it is watched.
	Credential ItemKind = "credential"
)

// Hash is an entry.Hash written as 64 hex digits in the state file and
// in alerts.
type Hash entry.Hash

// MarshalText implements encoding.TextMarshaler.
func (h Hash) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h[:])), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != 2*entry.HashSize {
		return fmt.Errorf("monitor: hash %q is not 64 hex digits", b)
	}
	_, err := hex.Decode(h[:], b)
	return err
}

// ParseHash parses 64 hex digits.
func ParseHash(s string) (entry.Hash, error) {
	var h Hash
	err := h.UnmarshalText([]byte(s))
	return entry.Hash(h), err
}

// Item is one watched thing: a subject label or a credential ID of an
// issuer.
type Item struct {
	Kind   ItemKind `json:"kind"`
	Issuer string   `json:"issuer"`
	ID     Hash     `json:"id"`
	// Note is the holder's own words for the item ("my ID card").
	Note string `json:"note,omitempty"`
}

func (it Item) String() string {
	return fmt.Sprintf("%s %x of %s", it.Kind, it.ID[:], it.Issuer)
}

// matches reports whether ev names the item.
func (it Item) matches(ev *entry.Event) bool {
	if ev.Issuer != it.Issuer {
		return false
	}
	switch it.Kind {
	case Subject:
		return ev.Subject == entry.Hash(it.ID)
	case Credential:
		return ev.Credential == entry.Hash(it.ID)
	}
	return false
}

// OwnCredential is a credential the holder holds: its issue event is a
// known event, never an alert.
type OwnCredential struct {
	Issuer string `json:"issuer"`
	ID     Hash   `json:"id"`
}

// Seen is what light mode last verified of one item: the map-root entry
// of the proof and the item's map value then.
type Seen struct {
	MapRootIndex uint64 `json:"map_root_index"`
	Value        []byte `json:"value,omitempty"`
	// Indices are the events naming a subject, as of that map root.
	Indices []uint64 `json:"indices,omitempty"`
}

// State is what a monitor keeps between runs, in one JSON file written
// atomically after every change.
type State struct {
	Version int `json:"version"`
	// Checkpoint is the latest checkpoint the monitor verified (log
	// signature, witness quorum, and consistency with the one before).
	Checkpoint string `json:"checkpoint,omitempty"`
	// Watch is the watch list.
	Watch []Item `json:"watch"`
	// Own lists the holder's own credentials.
	Own []OwnCredential `json:"own,omitempty"`
	// Known are the indices of events the holder marked as their own
	// ("credlog monitor authorize"): they raise no alert.
	Known []uint64 `json:"known,omitempty"`
	// Alerted are the indices of events already alerted on, so that an
	// alert is raised once, across restarts.
	Alerted []uint64 `json:"alerted,omitempty"`
	// Evidence holds the alerts about the log itself (split views,
	// inconsistent checkpoints, rule violations) already raised, by a key
	// naming what they are about, so that each is raised once.
	Raised []string `json:"raised,omitempty"`
	// Light is light mode's view of each item, by Item.String().
	Light map[string]*Seen `json:"light,omitempty"`
}

// NewState returns an empty state.
func NewState() *State { return &State{Version: stateVersion} }

// Load reads a state file; a missing file is an empty state.
func Load(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return NewState(), nil
	}
	if err != nil {
		return nil, err
	}
	st, err := ParseState(b)
	if err != nil {
		return nil, fmt.Errorf("monitor: state file %s: %w", path, err)
	}
	return st, nil
}

// ParseState decodes a state file strictly: unknown fields, trailing
// data, another version, unsorted index lists and malformed hashes are
// errors.
func ParseState(b []byte) (*State, error) {
	if len(b) > maxStateFile {
		return nil, fmt.Errorf("larger than %d bytes", maxStateFile)
	}
	st := new(State)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(st); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the object")
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("version %d, this monitor reads %d", st.Version, stateVersion)
	}
	for _, l := range [][]uint64{st.Known, st.Alerted} {
		if !slices.IsSorted(l) {
			return nil, errors.New("index lists must be sorted")
		}
	}
	for _, it := range st.Watch {
		if it.Kind != Subject && it.Kind != Credential {
			return nil, fmt.Errorf("watched item of unknown kind %q", it.Kind)
		}
	}
	return st, nil
}

// Marshal encodes the state as its file holds it.
func (st *State) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(st, "", "\t")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Save writes the state file atomically (a temporary file in the same
// directory, synced, renamed over the old one), readable only by its
// owner: the watch list says what the holder cares about.
func (st *State) Save(path string) error {
	b, err := st.Marshal()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("monitor: couldn't write state %s: %w", path, err)
	}
	return nil
}

// AddWatch adds an item to the watch list; it reports false if the item
// was already there.
func (st *State) AddWatch(it Item) bool {
	for _, w := range st.Watch {
		if w.Kind == it.Kind && w.Issuer == it.Issuer && w.ID == it.ID {
			return false
		}
	}
	st.Watch = append(st.Watch, it)
	return true
}

// AddOwn records a credential as the holder's own.
func (st *State) AddOwn(issuer string, id entry.Hash) {
	for _, o := range st.Own {
		if o.Issuer == issuer && o.ID == Hash(id) {
			return
		}
	}
	st.Own = append(st.Own, OwnCredential{Issuer: issuer, ID: Hash(id)})
}

// Authorize marks the event at index as the holder's own.
func (st *State) Authorize(index uint64) { st.Known = insertSorted(st.Known, index) }

func (st *State) isOwn(ev *entry.Event) bool {
	if ev.Type != entry.TypeIssue {
		return false
	}
	for _, o := range st.Own {
		if o.Issuer == ev.Issuer && entry.Hash(o.ID) == ev.Credential {
			return true
		}
	}
	return false
}

func (st *State) known(index uint64) bool {
	_, ok := slices.BinarySearch(st.Known, index)
	return ok
}

func (st *State) alerted(index uint64) bool {
	_, ok := slices.BinarySearch(st.Alerted, index)
	return ok
}

func (st *State) raised(key string) bool { return slices.Contains(st.Raised, key) }

func insertSorted(s []uint64, v uint64) []uint64 {
	i, ok := slices.BinarySearch(s, v)
	if ok {
		return s
	}
	return slices.Insert(s, i, v)
}
