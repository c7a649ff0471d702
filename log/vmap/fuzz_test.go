package vmap

import (
	"bytes"
	"testing"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
)

// FuzzParseProof checks that ParseProof never panics, that whatever it
// accepts re-encodes to the same bytes (one encoding per proof), and that
// the verifiers never panic on any input.
func FuzzParseProof(f *testing.F) {
	h := Hash{1}
	for _, p := range []*Proof{
		{Kind: ProofEmpty},
		{Kind: ProofLeaf, Siblings: []Hash{h}},
		{Kind: ProofOtherLeaf, Siblings: []Hash{{}, h}, OtherKey: Key{0x40}, OtherValueHash: h},
	} {
		b, err := p.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		key := Key{0x40}
		VerifyMembership(h, key, []byte{1}, data)
		VerifyAbsence(h, key, data)
		p, err := ParseProof(data)
		if err != nil {
			return
		}
		b, err := p.Marshal()
		if err != nil {
			t.Fatalf("parsed proof does not marshal: %v", err)
		}
		if !bytes.Equal(b, data) {
			t.Fatalf("non-canonical proof accepted:\n in %x\nout %x", data, b)
		}
	})
}

// FuzzParseCredentialValue checks that ParseCredentialValue accepts only
// canonical encodings.
func FuzzParseCredentialValue(f *testing.F) {
	b, _ := (&CredentialValue{Status: state.StatusRevoked, Reason: entry.ReasonDeceased, LastIndex: 9, IssueIndex: 3}).Marshal()
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseCredentialValue(data)
		if err != nil {
			return
		}
		b, err := v.Marshal()
		if err != nil || !bytes.Equal(b, data) {
			t.Fatalf("non-canonical credential value accepted: %x (%v)", data, err)
		}
	})
}

// FuzzParseSubjectValue checks that ParseSubjectValue accepts only
// canonical encodings.
func FuzzParseSubjectValue(f *testing.F) {
	b, _ := (&SubjectValue{Digest: entry.Hash{1}, Events: 4, Version: 2}).Marshal()
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseSubjectValue(data)
		if err != nil {
			return
		}
		b, err := v.Marshal()
		if err != nil || !bytes.Equal(b, data) {
			t.Fatalf("non-canonical subject value accepted: %x (%v)", data, err)
		}
	})
}

// FuzzParseNode checks that ParseNode accepts only canonical node
// encodings, and only nodes that may be at their position.
func FuzzParseNode(f *testing.F) {
	leaf, _ := MarshalNode(NewLeaf(Key{0x80}, []byte("v")))
	f.Add(uint16(1), leaf)
	f.Add(uint16(3), append([]byte{1}, bytes.Repeat([]byte{7}, 32)...))
	f.Fuzz(func(t *testing.T, depth uint16, data []byte) {
		id := PathID(Key{0x80, 0x80}, int(depth%(KeyBits+1)))
		n, err := ParseNode(id, data)
		if err != nil {
			return
		}
		if err := checkNode(id, n); err != nil {
			t.Fatalf("ParseNode accepted a node that may not be at %s: %v", id, err)
		}
		b, err := MarshalNode(n)
		if err != nil || !bytes.Equal(b, data) {
			t.Fatalf("non-canonical node accepted: %x (%v)", data, err)
		}
	})
}
