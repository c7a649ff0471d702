package vmap

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
)

// ErrMalformed is wrapped by every error of the parsers of this package:
// values, proofs and stored nodes that are not in their one canonical
// encoding.
var ErrMalformed = errors.New("vmap: malformed")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Value tags: the first byte of every value says which kind it is.
const (
	TagCredential = 0x01
	TagSubject    = 0x02
)

// Value sizes, in bytes.
const (
	CredentialValueSize = 1 + 1 + 1 + 8 + 8
	SubjectValueSize    = 1 + 32 + 8 + 4 + 32
)

// CredentialValue is the value under a [CredentialKey]: the credential's
// current status. Encoding (19 bytes):
//
//	uint8  0x01 (TagCredential)
//	uint8  status      1 active, 2 suspended, 3 revoked, 4 superseded
//	uint8  reason      0 when active; the reason code of the revoke or
//	                   suspend when revoked or suspended; 3 (superseded)
//	                   when superseded
//	uint64 last index  index of the latest event that changed it
//	uint64 issue index index of its issue event; <= last index
type CredentialValue struct {
	Status     state.Status
	Reason     entry.Reason
	LastIndex  uint64
	IssueIndex uint64
}

// NewCredentialValue returns the map value of a credential record.
func NewCredentialValue(c *state.Credential) *CredentialValue {
	return &CredentialValue{Status: c.Status, Reason: c.Reason, LastIndex: c.LastIndex, IssueIndex: c.IssueIndex}
}

func (v *CredentialValue) check() error {
	switch v.Status {
	case state.StatusActive:
		if v.Reason != 0 {
			return malformed("active credential value has reason %d", v.Reason)
		}
	case state.StatusSuspended, state.StatusRevoked:
		if !v.Reason.Valid() {
			return malformed("%s credential value has reason %d", v.Status, v.Reason)
		}
	case state.StatusSuperseded:
		if v.Reason != entry.ReasonSuperseded {
			return malformed("superseded credential value has reason %d", v.Reason)
		}
	default:
		return malformed("credential value has status %d", v.Status)
	}
	if v.IssueIndex > v.LastIndex {
		return malformed("credential value's issue index %d is after its last index %d", v.IssueIndex, v.LastIndex)
	}
	return nil
}

// Marshal returns the canonical encoding of v, or an error wrapping
// ErrMalformed if v has none.
func (v *CredentialValue) Marshal() ([]byte, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	b := make([]byte, CredentialValueSize)
	b[0], b[1], b[2] = TagCredential, byte(v.Status), byte(v.Reason)
	binary.BigEndian.PutUint64(b[3:], v.LastIndex)
	binary.BigEndian.PutUint64(b[11:], v.IssueIndex)
	return b, nil
}

// ParseCredentialValue decodes a credential value, accepting only what
// Marshal produces.
func ParseCredentialValue(b []byte) (*CredentialValue, error) {
	if len(b) != CredentialValueSize {
		return nil, malformed("credential value is %d bytes, not %d", len(b), CredentialValueSize)
	}
	if b[0] != TagCredential {
		return nil, malformed("credential value has tag %d", b[0])
	}
	v := &CredentialValue{
		Status:     state.Status(b[1]),
		Reason:     entry.Reason(b[2]),
		LastIndex:  binary.BigEndian.Uint64(b[3:]),
		IssueIndex: binary.BigEndian.Uint64(b[11:]),
	}
	if err := v.check(); err != nil {
		return nil, err
	}
	return v, nil
}

// SubjectValue is the value under a [SubjectKey]: what proves a subject's
// complete history. Encoding (77 bytes):
//
//	uint8     0x02 (TagSubject)
//	[32]byte  digest   state.SubjectDigest chain over the indices of
//	                   every event naming the subject; never all zero
//	uint64    events   number of those events; >= 1
//	uint32    version  latest subject version issued; 1 <= version <= events
//	[32]byte  live     ID of the live credential, or 32 zero bytes
type SubjectValue struct {
	Digest  entry.Hash
	Events  uint64
	Version uint32
	Live    entry.Hash
}

// NewSubjectValue returns the map value of a subject record.
func NewSubjectValue(s *state.Subject) *SubjectValue {
	return &SubjectValue{Digest: s.Digest, Events: s.Events, Version: s.Version, Live: s.Live}
}

func (v *SubjectValue) check() error {
	if v.Digest == (entry.Hash{}) {
		return malformed("subject value has an all-zero digest")
	}
	if v.Version == 0 || uint64(v.Version) > v.Events {
		return malformed("subject value has version %d with %d events", v.Version, v.Events)
	}
	return nil
}

// Marshal returns the canonical encoding of v, or an error wrapping
// ErrMalformed if v has none.
func (v *SubjectValue) Marshal() ([]byte, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	b := make([]byte, SubjectValueSize)
	b[0] = TagSubject
	copy(b[1:], v.Digest[:])
	binary.BigEndian.PutUint64(b[33:], v.Events)
	binary.BigEndian.PutUint32(b[41:], v.Version)
	copy(b[45:], v.Live[:])
	return b, nil
}

// ParseSubjectValue decodes a subject value, accepting only what Marshal
// produces.
func ParseSubjectValue(b []byte) (*SubjectValue, error) {
	if len(b) != SubjectValueSize {
		return nil, malformed("subject value is %d bytes, not %d", len(b), SubjectValueSize)
	}
	if b[0] != TagSubject {
		return nil, malformed("subject value has tag %d", b[0])
	}
	v := &SubjectValue{
		Digest:  entry.Hash(b[1:33]),
		Events:  binary.BigEndian.Uint64(b[33:]),
		Version: binary.BigEndian.Uint32(b[41:]),
		Live:    entry.Hash(b[45:77]),
	}
	if err := v.check(); err != nil {
		return nil, err
	}
	return v, nil
}
