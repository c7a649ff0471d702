package credential_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/credlog/credlog/log/credential"
	"github.com/credlog/credlog/log/vrf"
)

// FuzzParse checks that Parse never panics, and that what it accepts is
// consistent: the ID is the SHA-256 of the input, the proof has the right
// size, and the methods of the credential do not panic either.
//
// More seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	iss := newIssuer(f, "id.example.gov", 1)
	der, _ := iss.issue(f, testIDNumber)
	f.Add(der)
	f.Add(der[:len(der)/2])
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{})
	pub, vrfPub := iss.public(), iss.vrf.PublicKey()

	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		c, err := credential.Parse(in)
		if !bytes.Equal(in, orig) {
			t.Fatal("Parse modified its input")
		}
		if err != nil {
			if c != nil {
				t.Fatal("Parse returned a credential with an error")
			}
			if !errors.Is(err, credential.ErrMalformed) {
				t.Fatalf("Parse error %q does not wrap ErrMalformed", err)
			}
			return
		}
		if c.ID != sha256.Sum256(in) {
			t.Fatalf("ID = %x, want SHA-256 of the input", c.ID)
		}
		if !bytes.Equal(c.DER, in) {
			t.Fatal("DER differs from the input")
		}
		if c.IDNumber == "" || c.IDNumber != c.Certificate.Subject.SerialNumber {
			t.Fatalf("ID number %q, subject serial %q", c.IDNumber, c.Certificate.Subject.SerialNumber)
		}
		if len(c.Proof) != vrf.ProofSize {
			t.Fatalf("proof is %d bytes", len(c.Proof))
		}
		_ = c.CheckSignature(pub)
		if _, err := c.Label(vrfPub); err != nil && !errors.Is(err, credential.ErrLabel) {
			t.Fatalf("Label error %q does not wrap ErrLabel", err)
		}
		if c.CheckSignature(nil) == nil {
			t.Fatal("CheckSignature(nil) = nil")
		}
	})
}
