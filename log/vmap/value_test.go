package vmap

import (
	"bytes"
	"errors"
	"testing"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
)

func TestCredentialValue(t *testing.T) {
	for _, v := range []CredentialValue{
		{Status: state.StatusActive, LastIndex: 7, IssueIndex: 7},
		{Status: state.StatusSuspended, Reason: entry.ReasonLegalOrder, LastIndex: 9, IssueIndex: 7},
		{Status: state.StatusRevoked, Reason: entry.ReasonKeyCompromise, LastIndex: 1 << 60, IssueIndex: 0},
		{Status: state.StatusRevoked, Reason: entry.ReasonSuperseded, LastIndex: 3, IssueIndex: 2},
		{Status: state.StatusSuperseded, Reason: entry.ReasonSuperseded, LastIndex: 5, IssueIndex: 5},
	} {
		b, err := v.Marshal()
		if err != nil || len(b) != CredentialValueSize {
			t.Fatalf("Marshal %+v: %x, %v", v, b, err)
		}
		got, err := ParseCredentialValue(b)
		if err != nil || *got != v {
			t.Fatalf("Parse(Marshal(%+v)) = %+v, %v", v, got, err)
		}
	}
	good, _ := (&CredentialValue{Status: state.StatusSuspended, Reason: entry.ReasonOther, LastIndex: 2, IssueIndex: 1}).Marshal()
	for name, mod := range map[string]func([]byte) []byte{
		"short":                 func(b []byte) []byte { return b[:len(b)-1] },
		"trailing byte":         func(b []byte) []byte { return append(b, 0) },
		"subject tag":           func(b []byte) []byte { b[0] = TagSubject; return b },
		"status 0":              func(b []byte) []byte { b[1] = 0; return b },
		"status 5":              func(b []byte) []byte { b[1] = 5; return b },
		"active with reason":    func(b []byte) []byte { b[1] = byte(state.StatusActive); return b },
		"suspended reason 0":    func(b []byte) []byte { b[2] = 0; return b },
		"suspended reason 7":    func(b []byte) []byte { b[2] = 7; return b },
		"superseded other":      func(b []byte) []byte { b[1] = byte(state.StatusSuperseded); return b },
		"issue after last":      func(b []byte) []byte { b[18] = 3; return b },
		"empty":                 func(b []byte) []byte { return nil },
		"a subject value":       func(b []byte) []byte { return subjectSample(t) },
		"revoked reason 0xff":   func(b []byte) []byte { b[1], b[2] = byte(state.StatusRevoked), 0xff; return b },
		"high issue index byte": func(b []byte) []byte { b[11] = 1; return b },
	} {
		if v, err := ParseCredentialValue(mod(bytes.Clone(good))); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: parsed as %+v, %v", name, v, err)
		}
	}
}

func subjectSample(t *testing.T) []byte {
	t.Helper()
	b, err := (&SubjectValue{Digest: entry.Hash{1}, Events: 3, Version: 2, Live: entry.Hash{2}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSubjectValue(t *testing.T) {
	for _, v := range []SubjectValue{
		{Digest: entry.Hash{1}, Events: 1, Version: 1, Live: entry.Hash{9}},
		{Digest: entry.Hash{31: 1}, Events: 1 << 40, Version: 1<<32 - 1},
	} {
		b, err := v.Marshal()
		if err != nil || len(b) != SubjectValueSize {
			t.Fatalf("Marshal %+v: %x, %v", v, b, err)
		}
		got, err := ParseSubjectValue(b)
		if err != nil || *got != v {
			t.Fatalf("Parse(Marshal(%+v)) = %+v, %v", v, got, err)
		}
	}
	good := subjectSample(t)
	for name, mod := range map[string]func([]byte) []byte{
		"short":             func(b []byte) []byte { return b[:len(b)-1] },
		"trailing byte":     func(b []byte) []byte { return append(b, 0) },
		"credential tag":    func(b []byte) []byte { b[0] = TagCredential; return b },
		"zero digest":       func(b []byte) []byte { copy(b[1:33], make([]byte, 32)); return b },
		"zero events":       func(b []byte) []byte { b[40] = 0; return b },
		"version 0":         func(b []byte) []byte { b[44] = 0; return b },
		"version > events":  func(b []byte) []byte { b[44] = 4; return b },
		"empty":             func(b []byte) []byte { return nil },
		"a credential":      func(b []byte) []byte { b, _ = (&CredentialValue{Status: 1}).Marshal(); return b },
		"tag 0":             func(b []byte) []byte { b[0] = 0; return b },
		"version high byte": func(b []byte) []byte { b[41] = 1; return b },
	} {
		if v, err := ParseSubjectValue(mod(bytes.Clone(good))); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: parsed as %+v, %v", name, v, err)
		}
	}
}

func TestKeysAreDistinct(t *testing.T) {
	// The same 32 bytes as a credential ID and as a subject label, or
	// under two issuers, make four different keys.
	h := entry.Hash{7}
	keys := map[Key]string{
		CredentialKey("a.example", h): "credential a",
		CredentialKey("b.example", h): "credential b",
		SubjectKey("a.example", h):    "subject a",
		SubjectKey("b.example", h):    "subject b",
	}
	if len(keys) != 4 {
		t.Fatalf("keys collide: %v", keys)
	}
}

func TestNodeEncoding(t *testing.T) {
	k := Key{0xab, 0xcd}
	id := PathID(k, 12)
	if got := id.PrefixBytes(); !bytes.Equal(got, []byte{0xab, 0xc0}) {
		t.Fatalf("PrefixBytes = %x", got)
	}
	if back, err := ParseNodeID(12, []byte{0xab, 0xc0}); err != nil || back != id {
		t.Fatalf("ParseNodeID = %v, %v", back, err)
	}
	for _, bad := range []struct {
		depth  int
		prefix []byte
	}{{12, []byte{0xab, 0xc8}}, {12, []byte{0xab}}, {257, make([]byte, 33)}, {-1, nil}, {0, []byte{0}}} {
		if _, err := ParseNodeID(bad.depth, bad.prefix); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseNodeID(%d, %x): %v", bad.depth, bad.prefix, err)
		}
	}
	leaf := NewLeaf(k, []byte("v"))
	for _, n := range []Node{leaf, {Kind: KindInterior, Hash: Hash{1}}} {
		b, err := MarshalNode(n)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseNode(id, b)
		if err != nil || !same(got, n) || got.Key != n.Key || !bytes.Equal(got.Value, n.Value) {
			t.Fatalf("ParseNode(MarshalNode(%+v)) = %+v, %v", n, got, err)
		}
	}
	lb, _ := MarshalNode(leaf)
	if _, err := ParseNode(PathID(Key{0x00}, 1), lb); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("leaf off its path: %v", err)
	}
	if _, err := ParseNode(PathID(k, 256), append([]byte{1}, make([]byte, 32)...)); err == nil {
		t.Fatal("interior node with the empty hash accepted")
	}
	for _, b := range [][]byte{nil, {1}, {2}, lb[:33], append([]byte{3}, make([]byte, 32)...), append([]byte{1}, make([]byte, 33)...)} {
		if _, err := ParseNode(id, b); err == nil {
			t.Errorf("ParseNode(%x) accepted", b)
		}
	}
	if _, err := MarshalNode(Node{}); err == nil {
		t.Fatal("MarshalNode of the empty node")
	}
}
