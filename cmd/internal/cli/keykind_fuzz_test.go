package cli

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzKindOf fuzzes the key file kind detection that lets credlog name
// the kind of a key given where another was wanted: nothing panics, the
// kind is one of the known ones, surrounding whitespace does not change
// it, and each kind has the form it names.
func FuzzKindOf(f *testing.F) {
	f.Add([]byte("PRIVATE+KEY+log.example/credlog+1a2b3c4d+AZ\n"))
	f.Add([]byte("log.example/credlog+1a2b3c4d+AZ"))
	f.Add([]byte("PRIVATE+VRF+id.example+AZ"))
	f.Add([]byte("VRF+id.example+AZ"))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n"))
	f.Add([]byte("a+b+c"))
	f.Fuzz(func(t *testing.T, text []byte) {
		k := kindOf(text)
		if _, ok := keyKinds[k]; !ok {
			t.Fatalf("unknown kind %d", k)
		}
		if k2 := kindOf(append(append([]byte(" \n"), text...), "\t\n"...)); k2 != k {
			t.Fatalf("whitespace changes the kind from %v to %v", k, k2)
		}
		s := string(bytes.TrimSpace(text))
		switch k {
		case kindSigner:
			if !strings.HasPrefix(s, "PRIVATE+KEY+") {
				t.Fatalf("%q taken for a signing key", s)
			}
		case kindVerifier:
			if parts := strings.SplitN(s, "+", 3); len(parts) != 3 || len(parts[1]) != 8 {
				t.Fatalf("%q taken for a verifier key", s)
			}
		}
		_ = k.String()
	})
}
