// Package state holds credlog's state rules: which events an issuer may
// append, given everything already in the log.
//
// [Rules.Apply] is a pure function of a [Reader] (the state so far) and an
// event: it returns the [Change] the event makes, or a [*Violation] naming
// the rule it breaks, and never modifies the state it reads. The log calls
// it at admission, auditors on replay; both must reach the same verdict.
//
// The rules (DESIGN.md §5), per issuer:
//
//   - every event verifies under the key the log records for its issuer;
//     an issuer's first key is registered by an issuer-key event signed by
//     the log's key, and rotated by one signed with its current key (or,
//     visibly, by the log's key); the VRF key never changes, since a new
//     VRF key would give every subject a new label nobody watches;
//   - issue: the credential ID is new; the subject version is the
//     subject's previous version plus one; if the subject has a live
//     credential (active or suspended, and not past its validity window)
//     the issue must supersede it, which ends it; a superseded credential
//     must belong to the same subject;
//   - revoke is terminal, and nothing follows it; a superseded credential
//     takes no further events either;
//   - suspend only from active, resume only from suspended;
//   - revoke, suspend and resume name the subject the credential was
//     issued to;
//   - map-root events are signed by the log's key, name the log's origin,
//     and cover exactly the entries before them.
package state

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
)

// Status is the status of a credential.
type Status uint8

// Credential statuses. Their values are part of the map's encoding.
const (
	StatusActive     Status = 1
	StatusSuspended  Status = 2
	StatusRevoked    Status = 3
	StatusSuperseded Status = 4
)

func (s Status) String() string {
	switch s {
	case StatusActive:
		return "active"
	case StatusSuspended:
		return "suspended"
	case StatusRevoked:
		return "revoked"
	case StatusSuperseded:
		return "superseded"
	}
	return "unknown"
}

// Issuer is an issuer registered in the log.
type Issuer struct {
	Name      string
	KeyID     uint32
	PublicKey [entry.KeySize]byte
	VRFKey    [entry.KeySize]byte
}

// Credential is the state of one credential of one issuer.
type Credential struct {
	Issuer     string
	ID         entry.Hash
	Subject    entry.Hash
	Version    uint32
	NotAfter   uint64
	Status     Status
	Reason     entry.Reason // of the revoke or suspend that set Status
	IssueIndex uint64       // index of the issue event
	LastIndex  uint64       // index of the latest event
}

// Subject is the state of one subject label of one issuer.
type Subject struct {
	Issuer  string
	Label   entry.Hash
	Version uint32     // latest subject version issued
	Live    entry.Hash // live credential, or zero
	Events  uint64     // number of events naming this subject
	Digest  entry.Hash // SubjectDigest chain over the indices of those events
}

// Reader is the state so far. A missing record is (nil, nil).
type Reader interface {
	Issuer(name string) (*Issuer, error)
	Credential(issuer string, id entry.Hash) (*Credential, error)
	Subject(issuer string, label entry.Hash) (*Subject, error)
}

// Change is what one event changes: new versions of the records it
// touches. Nil fields are unchanged.
type Change struct {
	Issuer      *Issuer
	Credentials []*Credential
	Subject     *Subject
}

// SubjectDigestPrefix separates the subject digest chain from other hashes.
const SubjectDigestPrefix = "credlog-subject-events-v1\x00"

// SubjectDigest extends the digest of a subject's event list with the
// index of its next event: SHA-256(prefix || prev || uint64be(index)). The
// chain starts from the all-zero hash.
func SubjectDigest(prev entry.Hash, index uint64) entry.Hash {
	var buf [len(SubjectDigestPrefix) + entry.HashSize + 8]byte
	n := copy(buf[:], SubjectDigestPrefix)
	n += copy(buf[n:], prev[:])
	binary.BigEndian.PutUint64(buf[n:], index)
	return sha256.Sum256(buf[:])
}

// Rules applies the state rules of one log.
type Rules struct {
	// Origin is the log's origin, the name of its key.
	Origin string
	// LogKey is the log's Ed25519 key, which signs issuer registrations
	// and map-root events.
	LogKey ed25519.PublicKey
	logID  uint32
}

// NewRules returns the rules of the log named origin whose key is logKey.
func NewRules(origin string, logKey ed25519.PublicKey) *Rules {
	return &Rules{Origin: origin, LogKey: logKey, logID: keys.KeyID(origin, logKey)}
}

// LogKeyID returns the log key's signed-note key ID.
func (r *Rules) LogKeyID() uint32 { return r.logID }
