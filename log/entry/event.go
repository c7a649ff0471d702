package entry

import (
	"errors"
	"fmt"
)

// Version is the only encoding version this package reads and writes.
const Version = 1

// MaxSize is the largest encoded entry, in bytes. Entries travel in
// C2SP tlog-tiles entry bundles, whose entries are uint16 length-prefixed.
const MaxSize = 65535

// Sizes of the fixed-length fields.
const (
	HashSize      = 32 // credential IDs, subject labels, commitments, map roots
	KeySize       = 32 // Ed25519 and VRF public keys
	SignatureSize = 64 // Ed25519 signatures
	MaxNameLen    = 128
)

// Type is the kind of an event.
type Type uint8

// The event types. Their values are part of the encoding.
const (
	TypeIssue     Type = 1
	TypeRevoke    Type = 2
	TypeSuspend   Type = 3
	TypeResume    Type = 4
	TypeIssuerKey Type = 5
	TypeMapRoot   Type = 6
)

var typeNames = map[Type]string{
	TypeIssue:     "issue",
	TypeRevoke:    "revoke",
	TypeSuspend:   "suspend",
	TypeResume:    "resume",
	TypeIssuerKey: "issuer-key",
	TypeMapRoot:   "map-root",
}

func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Valid reports whether t is a known event type.
func (t Type) Valid() bool { _, ok := typeNames[t]; return ok }

// ParseType returns the Type named s ("issue", "revoke", …).
func ParseType(s string) (Type, error) {
	for t, n := range typeNames {
		if n == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("entry: unknown event type %q", s)
}

// Reason is the coarse reason code of a revoke or suspend event.
type Reason uint8

// The reason codes. Their values are part of the encoding.
const (
	ReasonHolderRequest Reason = 1
	ReasonKeyCompromise Reason = 2
	ReasonSuperseded    Reason = 3
	ReasonDeceased      Reason = 4
	ReasonLegalOrder    Reason = 5
	ReasonOther         Reason = 6
)

var reasonNames = map[Reason]string{
	ReasonHolderRequest: "holder-request",
	ReasonKeyCompromise: "key-compromise",
	ReasonSuperseded:    "superseded",
	ReasonDeceased:      "deceased",
	ReasonLegalOrder:    "legal-order",
	ReasonOther:         "other",
}

func (r Reason) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Valid reports whether r is a known reason code.
func (r Reason) Valid() bool { _, ok := reasonNames[r]; return ok }

// ParseReason returns the Reason named s ("holder-request", …).
func ParseReason(s string) (Reason, error) {
	for r, n := range reasonNames {
		if n == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("entry: unknown reason %q", s)
}

// Hash is a 32-byte value: a credential ID, a subject label, a commitment
// or a map root.
type Hash [HashSize]byte

// Event is one log entry. Which fields are meaningful depends on Type; the
// others must be zero (see [Event.Check]), so that an Event has exactly one
// encoding.
type Event struct {
	Type Type
	// Issuer is the issuer's name, which is also the name of its signing
	// keys. For map-root events it is the log's origin.
	Issuer string
	// KeyID is the signed-note key ID of the key that signed the event.
	KeyID uint32
	// Time is the event time in seconds since the Unix epoch.
	Time uint64

	// Subject is the subject label: ECVRF(issuer VRF key, subject
	// identifier). Set for issue, revoke, suspend and resume.
	Subject Hash
	// Credential is the credential ID: SHA-256 of the certificate DER.
	// Set for issue, revoke, suspend and resume.
	Credential Hash

	// Issue only.
	NotBefore  uint64 // validity window start, Unix seconds
	NotAfter   uint64 // validity window end, Unix seconds; > NotBefore
	Version    uint32 // subject version, 1, 2, 3 … per issuer and subject
	Supersedes *Hash  // credential replaced by this one (a reissue), or nil
	Commitment Hash   // opaque commitment the issuer may bind further data to

	// Revoke and suspend only.
	Reason Reason

	// Issuer-key only: the issuer's Ed25519 signing key and ECVRF key.
	PublicKey [KeySize]byte
	VRFKey    [KeySize]byte

	// Map-root only: the map root over entries [0, TreeSize).
	TreeSize uint64
	MapRoot  Hash

	Signature [SignatureSize]byte
}

// ErrMalformed is wrapped by every encoding and field-range error.
var ErrMalformed = errors.New("entry: malformed event")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Check reports whether the event's fields are in range and whether the
// fields its type does not use are zero.
func (e *Event) Check() error {
	if !e.Type.Valid() {
		return malformed("unknown event type %d", uint8(e.Type))
	}
	if err := CheckName(e.Issuer); err != nil {
		return err
	}
	if e.Time == 0 {
		return malformed("time is zero")
	}
	var zero Hash
	credEvent := e.Type == TypeIssue || e.Type == TypeRevoke || e.Type == TypeSuspend || e.Type == TypeResume
	if !credEvent && (e.Subject != zero || e.Credential != zero) {
		return malformed("%s event carries a subject or credential", e.Type)
	}
	if credEvent && (e.Subject == zero || e.Credential == zero) {
		return malformed("%s event has an all-zero subject label or credential ID", e.Type)
	}
	if e.Type == TypeIssue {
		if e.Version == 0 {
			return malformed("subject version is zero")
		}
		if e.NotAfter <= e.NotBefore {
			return malformed("validity window ends (%d) before it starts (%d)", e.NotAfter, e.NotBefore)
		}
		if e.Supersedes != nil && *e.Supersedes == e.Credential {
			return malformed("credential supersedes itself")
		}
	} else if e.Version != 0 || e.NotBefore != 0 || e.NotAfter != 0 || e.Supersedes != nil || e.Commitment != zero {
		return malformed("%s event carries issue fields", e.Type)
	}
	if e.Type == TypeRevoke || e.Type == TypeSuspend {
		if !e.Reason.Valid() {
			return malformed("unknown reason code %d", uint8(e.Reason))
		}
	} else if e.Reason != 0 {
		return malformed("%s event carries a reason", e.Type)
	}
	var zeroKey [KeySize]byte
	if e.Type == TypeIssuerKey {
		if e.PublicKey == zeroKey || e.VRFKey == zeroKey {
			return malformed("issuer-key event has an all-zero key")
		}
	} else if e.PublicKey != zeroKey || e.VRFKey != zeroKey {
		return malformed("%s event carries keys", e.Type)
	}
	if e.Type == TypeMapRoot {
		if e.TreeSize == 0 {
			return malformed("map-root over an empty log")
		}
	} else if e.TreeSize != 0 || e.MapRoot != zero {
		return malformed("%s event carries a map root", e.Type)
	}
	return nil
}

// CheckName reports whether s is a valid issuer name: 1 to 128 bytes of
// printable ASCII other than '+', as signed-note key names require.
func CheckName(s string) error {
	if len(s) == 0 || len(s) > MaxNameLen {
		return malformed("issuer name length %d not in 1..%d", len(s), MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '+' {
			return malformed("issuer name has byte 0x%02x at offset %d", c, i)
		}
	}
	return nil
}
