package main

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
)

// TestSignEvents checks that a seed always yields the same valid, signed
// events, with the credential IDs that read looks up.
func TestSignEvents(t *testing.T) {
	skey, _, err := keys.Generate(issuerName, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := keys.ParseSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	a, err := signEvents(s, "seed", 5, 50)
	if err != nil {
		t.Fatal(err)
	}
	b, err := signEvents(s, "seed", 10, 10)
	if err != nil {
		t.Fatal(err)
	}
	creds := map[entry.Hash]bool{}
	for i, raw := range a {
		ev, err := entry.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := ev.VerifySignature(s.Public()); err != nil {
			t.Fatal(err)
		}
		if ev.Type != entry.TypeIssue || ev.Version != 1 || ev.Credential != credentialID("seed", 5+i) || creds[ev.Credential] {
			t.Fatalf("event %d: %+v", i, ev)
		}
		creds[ev.Credential] = true
	}
	for i := range b {
		if !bytes.Equal(b[i], a[5+i]) {
			t.Fatalf("event %d of the seed differs between runs", 10+i)
		}
	}
	if credentialID("seed", 1) == credentialID("other", 1) || subjectLabel("seed", 1) == subjectLabel("seed", 2) {
		t.Error("seeds or numbers collide")
	}
}
