package entry

import (
	"golang.org/x/crypto/cryptobyte"
)

// SignaturePrefix separates the domain of event signatures from every
// other use of an issuer's key (checkpoints, notes, certificates).
const SignaturePrefix = "credlog-event-v1\x00"

// Marshal returns the canonical encoding of e, signature included.
func (e *Event) Marshal() ([]byte, error) {
	b, err := e.marshalSigned()
	if err != nil {
		return nil, err
	}
	return append(b, e.Signature[:]...), nil
}

// SignedMessage returns the bytes the signature covers: SignaturePrefix
// followed by the encoding of every field but the signature.
func (e *Event) SignedMessage() ([]byte, error) {
	b, err := e.marshalSigned()
	if err != nil {
		return nil, err
	}
	return append([]byte(SignaturePrefix), b...), nil
}

func (e *Event) marshalSigned() ([]byte, error) {
	if err := e.Check(); err != nil {
		return nil, err
	}
	// The largest event (an issue with a 128-byte issuer name and a
	// superseded credential) is 356 bytes with its signature.
	b := cryptobyte.NewBuilder(make([]byte, 0, 384))
	b.AddUint8(Version)
	b.AddUint8(uint8(e.Type))
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(e.Issuer)) })
	b.AddUint32(e.KeyID)
	b.AddUint64(e.Time)
	switch e.Type {
	case TypeIssue:
		b.AddBytes(e.Subject[:])
		b.AddBytes(e.Credential[:])
		b.AddUint64(e.NotBefore)
		b.AddUint64(e.NotAfter)
		b.AddUint32(e.Version)
		if e.Supersedes != nil {
			b.AddUint8(1)
			b.AddBytes(e.Supersedes[:])
		} else {
			b.AddUint8(0)
		}
		b.AddBytes(e.Commitment[:])
	case TypeRevoke, TypeSuspend:
		b.AddBytes(e.Subject[:])
		b.AddBytes(e.Credential[:])
		b.AddUint8(uint8(e.Reason))
	case TypeResume:
		b.AddBytes(e.Subject[:])
		b.AddBytes(e.Credential[:])
	case TypeIssuerKey:
		b.AddBytes(e.PublicKey[:])
		b.AddBytes(e.VRFKey[:])
	case TypeMapRoot:
		b.AddUint64(e.TreeSize)
		b.AddBytes(e.MapRoot[:])
	}
	out, err := b.Bytes()
	if err != nil {
		return nil, malformed("couldn't encode: %v", err)
	}
	if len(out)+SignatureSize > MaxSize {
		return nil, malformed("encoding is %d bytes, over the %d-byte limit", len(out)+SignatureSize, MaxSize)
	}
	return out, nil
}

// Parse decodes one entry. It accepts only the canonical encoding that
// Marshal produces: every error wraps ErrMalformed and names the problem.
func Parse(data []byte) (*Event, error) {
	if len(data) > MaxSize {
		return nil, malformed("entry is %d bytes, over the %d-byte limit", len(data), MaxSize)
	}
	s := cryptobyte.String(data)
	var version, typ uint8
	if !s.ReadUint8(&version) {
		return nil, malformed("empty entry")
	}
	if version != Version {
		return nil, malformed("unknown version %d", version)
	}
	if !s.ReadUint8(&typ) {
		return nil, malformed("truncated before the event type")
	}
	e := &Event{Type: Type(typ)}
	if !e.Type.Valid() {
		return nil, malformed("unknown event type %d", typ)
	}
	var name cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&name) || !s.ReadUint32(&e.KeyID) || !s.ReadUint64(&e.Time) {
		return nil, malformed("truncated %s event header", e.Type)
	}
	e.Issuer = string(name)
	if err := e.parseBody(&s); err != nil {
		return nil, err
	}
	if !s.CopyBytes(e.Signature[:]) {
		return nil, malformed("truncated %s event signature", e.Type)
	}
	if !s.Empty() {
		return nil, malformed("%d trailing bytes", len(s))
	}
	if err := e.Check(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Event) parseBody(s *cryptobyte.String) error {
	truncated := malformed("truncated %s event body", e.Type)
	switch e.Type {
	case TypeIssue:
		var flag uint8
		if !s.CopyBytes(e.Subject[:]) || !s.CopyBytes(e.Credential[:]) ||
			!s.ReadUint64(&e.NotBefore) || !s.ReadUint64(&e.NotAfter) ||
			!s.ReadUint32(&e.Version) || !s.ReadUint8(&flag) {
			return truncated
		}
		if flag > 1 {
			return malformed("supersedes flag is %d, not 0 or 1", flag)
		}
		if flag == 1 {
			e.Supersedes = new(Hash)
			if !s.CopyBytes(e.Supersedes[:]) {
				return truncated
			}
		}
		if !s.CopyBytes(e.Commitment[:]) {
			return truncated
		}
	case TypeRevoke, TypeSuspend:
		var r uint8
		if !s.CopyBytes(e.Subject[:]) || !s.CopyBytes(e.Credential[:]) || !s.ReadUint8(&r) {
			return truncated
		}
		e.Reason = Reason(r)
	case TypeResume:
		if !s.CopyBytes(e.Subject[:]) || !s.CopyBytes(e.Credential[:]) {
			return truncated
		}
	case TypeIssuerKey:
		if !s.CopyBytes(e.PublicKey[:]) || !s.CopyBytes(e.VRFKey[:]) {
			return truncated
		}
	case TypeMapRoot:
		if !s.ReadUint64(&e.TreeSize) || !s.CopyBytes(e.MapRoot[:]) {
			return truncated
		}
	}
	return nil
}
