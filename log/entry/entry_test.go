package entry_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/credlog/credlog/log/entry"
)

func h(b byte) entry.Hash {
	var x entry.Hash
	for i := range x {
		x[i] = b + byte(i)
	}
	return x
}

// samples returns one valid event of every type.
func samples() map[string]*entry.Event {
	sup := h(0x90)
	key := [32]byte(h(0x40))
	vkey := [32]byte(h(0x60))
	return map[string]*entry.Event{
		"issue": {Type: entry.TypeIssue, Issuer: "id.example.gov", KeyID: 0x11223344, Time: 1763856000,
			Subject: h(1), Credential: h(2), NotBefore: 1763856000, NotAfter: 1795392000, Version: 1, Commitment: h(3)},
		"reissue": {Type: entry.TypeIssue, Issuer: "id.example.gov", KeyID: 0x11223344, Time: 1763856060,
			Subject: h(1), Credential: h(4), NotBefore: 1763856000, NotAfter: 1795392000, Version: 2, Supersedes: &sup},
		"revoke":     {Type: entry.TypeRevoke, Issuer: "id.example.gov", KeyID: 1, Time: 1763856120, Subject: h(1), Credential: h(2), Reason: entry.ReasonKeyCompromise},
		"suspend":    {Type: entry.TypeSuspend, Issuer: "id.example.gov", KeyID: 1, Time: 1763856120, Subject: h(1), Credential: h(2), Reason: entry.ReasonLegalOrder},
		"resume":     {Type: entry.TypeResume, Issuer: "id.example.gov", KeyID: 1, Time: 1763856180, Subject: h(1), Credential: h(2)},
		"issuer-key": {Type: entry.TypeIssuerKey, Issuer: "id.example.gov", KeyID: 7, Time: 1763856000, PublicKey: key, VRFKey: vkey},
		"map-root":   {Type: entry.TypeMapRoot, Issuer: "log.example.org/credlog", KeyID: 9, Time: 1763856240, TreeSize: 1000, MapRoot: h(5)},
	}
}

func TestRoundTrip(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	for name, ev := range samples() {
		t.Run(name, func(t *testing.T) {
			if err := ev.Sign(priv); err != nil {
				t.Fatal(err)
			}
			b, err := ev.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got, err := entry.Parse(b)
			if err != nil {
				t.Fatalf("Parse(Marshal) = %v", err)
			}
			b2, err := got.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, b2) {
				t.Fatalf("re-encoding differs:\n%x\n%x", b, b2)
			}
			if err := got.VerifySignature(priv.Public().(ed25519.PublicKey)); err != nil {
				t.Fatalf("signature: %v", err)
			}
		})
	}
}

func TestIssueSize(t *testing.T) {
	for _, name := range []string{"issue", "reissue"} {
		b, err := samples()[name].Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 200 || len(b) > 300 {
			t.Errorf("%s event is %d bytes, want 200..300", name, len(b))
		}
	}
}

func mustMarshal(t *testing.T, ev *entry.Event) []byte {
	t.Helper()
	b, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseRejects mutates valid encodings; each must be rejected with a
// message naming the problem.
func TestParseRejects(t *testing.T) {
	s := samples()
	issue := mustMarshal(t, s["issue"])
	reissue := mustMarshal(t, s["reissue"])
	revoke := mustMarshal(t, s["revoke"])
	// Offsets in the issue encoding: version 0, type 1, name length 2,
	// name 3..17, key ID, time, subject, credential, not-before,
	// not-after, version, flag.
	nameEnd := 3 + len("id.example.gov")
	subjectAt := nameEnd + 4 + 8
	flagAt := subjectAt + 32 + 32 + 8 + 8 + 4
	set := func(b []byte, i int, v byte) []byte {
		c := bytes.Clone(b)
		c[i] = v
		return c
	}
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "empty entry"},
		{"version 0", set(issue, 0, 0), "unknown version 0"},
		{"version 2", set(issue, 0, 2), "unknown version 2"},
		{"type 0", set(issue, 1, 0), "unknown event type 0"},
		{"type 7", set(issue, 1, 7), "unknown event type 7"},
		{"only version", issue[:1], "truncated before the event type"},
		{"truncated header", issue[:nameEnd+2], "truncated issue event header"},
		{"truncated body", issue[:flagAt], "truncated issue event body"},
		{"truncated signature", issue[:len(issue)-1], "truncated issue event signature"},
		{"trailing byte", append(bytes.Clone(issue), 0), "1 trailing bytes"},
		{"trailing garbage", append(bytes.Clone(revoke), "garbage"...), "7 trailing bytes"},
		{"empty name", append([]byte{1, 1, 0}, issue[nameEnd:]...), "issuer name length 0"},
		{"space in name", set(issue, 5, ' '), "issuer name has byte 0x20"},
		{"plus in name", set(issue, 5, '+'), "issuer name has byte 0x2b"},
		{"zero time", func() []byte { c := bytes.Clone(issue); copy(c[nameEnd+4:], make([]byte, 8)); return c }(), "time is zero"},
		{"flag 2", set(issue, flagAt, 2), "supersedes flag is 2"},
		{"flag 1 without hash", set(issue, flagAt, 1), "truncated issue event"},
		{"flag 0 with hash", set(reissue, flagAt, 0), "trailing bytes"},
		{"zero subject", func() []byte { c := bytes.Clone(issue); copy(c[subjectAt:], make([]byte, 32)); return c }(), "all-zero subject label"},
		{"version 0", func() []byte { c := bytes.Clone(issue); copy(c[flagAt-4:], []byte{0, 0, 0, 0}); return c }(), "subject version is zero"},
		{"window reversed", func() []byte { c := bytes.Clone(issue); copy(c[flagAt-12:], make([]byte, 8)); return c }(), "validity window ends"},
		{"reason 0", set(revoke, len(revoke)-65, 0), "unknown reason code 0"},
		{"reason 7", set(revoke, len(revoke)-65, 7), "unknown reason code 7"},
		{"oversized", make([]byte, entry.MaxSize+1), "over the 65535-byte limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := entry.Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse accepted %x", tt.in)
			}
			if !errors.Is(err, entry.ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestMarshalRejects checks that events with fields their type does not
// use, or out-of-range values, cannot be encoded.
func TestMarshalRejects(t *testing.T) {
	s := samples()
	sup := h(2)
	tests := []struct {
		name   string
		mutate func(*entry.Event)
		base   string
	}{
		{"revoke with version", func(e *entry.Event) { e.Version = 1 }, "revoke"},
		{"revoke with commitment", func(e *entry.Event) { e.Commitment = h(9) }, "revoke"},
		{"resume with reason", func(e *entry.Event) { e.Reason = entry.ReasonOther }, "resume"},
		{"issue with reason", func(e *entry.Event) { e.Reason = entry.ReasonOther }, "issue"},
		{"issue with keys", func(e *entry.Event) { e.PublicKey[0] = 1 }, "issue"},
		{"issue with map root", func(e *entry.Event) { e.TreeSize = 1 }, "issue"},
		{"issuer-key with subject", func(e *entry.Event) { e.Subject = h(1) }, "issuer-key"},
		{"issuer-key zero key", func(e *entry.Event) { e.PublicKey = [32]byte{} }, "issuer-key"},
		{"map-root empty log", func(e *entry.Event) { e.TreeSize = 0 }, "map-root"},
		{"self supersede", func(e *entry.Event) { e.Supersedes = &sup }, "issue"},
		{"unknown type", func(e *entry.Event) { e.Type = 42 }, "issue"},
		{"long name", func(e *entry.Event) { e.Issuer = strings.Repeat("a", 129) }, "issue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := *s[tt.base]
			tt.mutate(&ev)
			if b, err := ev.Marshal(); err == nil {
				t.Fatalf("Marshal accepted it: %x", b)
			} else if !errors.Is(err, entry.ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
		})
	}
}

func TestSignatureDomainAndTamper(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	ev := samples()["issue"]
	if err := ev.Sign(priv); err != nil {
		t.Fatal(err)
	}
	b := mustMarshal(t, ev)
	// A signature over the bare encoding (no domain prefix) must not verify.
	bare := *ev
	copy(bare.Signature[:], ed25519.Sign(priv, b[:len(b)-64]))
	if err := bare.VerifySignature(pub); !errors.Is(err, entry.ErrBadSignature) {
		t.Errorf("signature without domain prefix: got %v", err)
	}
	// Every single-bit flip of the signed bytes either fails to parse or
	// fails to verify.
	for i := 0; i < len(b)*8; i++ {
		c := bytes.Clone(b)
		c[i/8] ^= 1 << (i % 8)
		got, err := entry.Parse(c)
		if err != nil {
			continue
		}
		if err := got.VerifySignature(pub); err == nil {
			t.Fatalf("bit %d flipped still verifies", i)
		}
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if err := ev.VerifySignature(other); !errors.Is(err, entry.ErrBadSignature) {
		t.Errorf("wrong key: got %v", err)
	}
}

func TestTypeAndReasonNames(t *testing.T) {
	for _, n := range []string{"issue", "revoke", "suspend", "resume", "issuer-key", "map-root"} {
		ty, err := entry.ParseType(n)
		if err != nil || ty.String() != n {
			t.Errorf("ParseType(%q) = %v, %v", n, ty, err)
		}
	}
	for _, n := range []string{"holder-request", "key-compromise", "superseded", "deceased", "legal-order", "other"} {
		r, err := entry.ParseReason(n)
		if err != nil || r.String() != n {
			t.Errorf("ParseReason(%q) = %v, %v", n, r, err)
		}
	}
	if _, err := entry.ParseType("reissue"); err == nil {
		t.Error("ParseType accepted reissue")
	}
	if _, err := entry.ParseReason("whim"); err == nil {
		t.Error("ParseReason accepted whim")
	}
}

// TestLongestNames encodes, signs and parses every event type with an
// issuer name of the maximum length.
func TestLongestNames(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	for name, ev := range samples() {
		ev.Issuer = strings.Repeat("n", entry.MaxNameLen)
		if err := ev.Sign(key); err != nil {
			t.Fatalf("%s: Sign: %v", name, err)
		}
		b := mustMarshal(t, ev)
		got, err := entry.Parse(b)
		if err != nil {
			t.Fatalf("%s: Parse: %v", name, err)
		}
		if err := got.VerifySignature(key.Public().(ed25519.PublicKey)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(b) > 356 {
			t.Errorf("%s: %d bytes", name, len(b))
		}
	}
}
