package tlogproof_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"testing"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/log/tlogproof"
)

const origin = "log.example.org/credlog"

func setup(t testing.TB) (*tlogproof.Proof, []byte, note.Verifier) {
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	tree := testonly.New(rfc6962.DefaultHasher)
	var entries [][]byte
	for i := 0; i < 1000; i++ {
		e := []byte(fmt.Sprintf("entry %d", i))
		entries = append(entries, e)
		tree.AppendData(e)
	}
	hashes, err := tree.InclusionProof(737, 1000)
	if err != nil {
		t.Fatal(err)
	}
	cp := log.Checkpoint{Origin: origin, Size: 1000, Hash: tree.Hash()}
	signed, err := note.Sign(&note.Note{Text: string(cp.Marshal())}, signer)
	if err != nil {
		t.Fatal(err)
	}
	return &tlogproof.Proof{Index: 737, Hashes: hashes, Checkpoint: signed}, entries[737], verifier
}

func TestRoundTripAndVerify(t *testing.T) {
	p, e, v := setup(t)
	p.Extra = []byte("vrf proof bytes")
	text := p.Marshal()
	got, err := tlogproof.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Marshal(), text) {
		t.Fatal("re-encoding differs")
	}
	cp, _, err := got.Verify(e, origin, v)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != 1000 {
		t.Fatalf("checkpoint size %d", cp.Size)
	}
	if _, _, err := got.Verify([]byte("entry 736"), origin, v); !errors.Is(err, tlogproof.ErrInvalid) {
		t.Fatalf("proof verified for another entry: %v", err)
	}
	if _, _, err := got.Verify(e, "other.example/log", v); !errors.Is(err, tlogproof.ErrInvalid) {
		t.Fatalf("proof verified for another origin: %v", err)
	}
}

// TestBitFlips: no single-bit change of a proof verifies.
func TestBitFlips(t *testing.T) {
	p, e, v := setup(t)
	text := p.Marshal()
	for i := 0; i < len(text)*8; i++ {
		c := bytes.Clone(text)
		c[i/8] ^= 1 << (i % 8)
		q, err := tlogproof.Parse(c)
		if err != nil {
			continue
		}
		_, n, err := q.Verify(e, origin, v)
		if err != nil {
			continue
		}
		// x/mod's note decodes signatures with non-strict base64, so a
		// flip in the padding bits of the last character leaves the same
		// signature: acceptable only if nothing decoded changed.
		_, n0, _ := p.Verify(e, origin, v)
		if q.Index != p.Index || n.Text != n0.Text || !bytes.Equal(q.Marshal()[:len(text)-len(p.Checkpoint)], text[:len(text)-len(p.Checkpoint)]) ||
			n.Sigs[0].Base64 == n0.Sigs[0].Base64 {
			t.Fatalf("bit %d flipped still verifies:\n%s", i, c)
		}
		s0, _ := base64.StdEncoding.DecodeString(n0.Sigs[0].Base64)
		s1, _ := base64.StdEncoding.DecodeString(n.Sigs[0].Base64)
		if !bytes.Equal(s0, s1) {
			t.Fatalf("bit %d flipped gives another valid signature", i)
		}
	}
}

func TestParseRejects(t *testing.T) {
	p, _, _ := setup(t)
	good := string(p.Marshal())
	cp := string(p.Checkpoint)
	for name, in := range map[string]string{
		"no header":       "index 1\n\n" + cp,
		"wrong header":    "c2sp.org/tlog-proof@v2\nindex 1\n\n" + cp,
		"no index":        tlogproof.Header + "\n\n" + cp,
		"leading zero":    tlogproof.Header + "\nindex 01\n\n" + cp,
		"negative":        tlogproof.Header + "\nindex -1\n\n" + cp,
		"bad hash":        tlogproof.Header + "\nindex 1\nnot base64!\n\n" + cp,
		"short hash":      tlogproof.Header + "\nindex 1\nAAAA\n\n" + cp,
		"no checkpoint":   tlogproof.Header + "\nindex 1\n\n",
		"no blank line":   tlogproof.Header + "\nindex 1\n",
		"bad extra":       tlogproof.Header + "\nextra ***\nindex 1\n\n" + cp,
		"extra after idx": tlogproof.Header + "\nindex 1\nextra AAAA\n\n" + cp,
		"too many hashes": tlogproof.Header + "\nindex 1\n" + string(bytes.Repeat([]byte("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"), 64)) + "\n" + cp,
	} {
		if _, err := tlogproof.Parse([]byte(in)); !errors.Is(err, tlogproof.ErrMalformed) {
			t.Errorf("%s: Parse = %v", name, err)
		}
	}
	if _, err := tlogproof.Parse([]byte(good)); err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	p, _, _ := setup(f)
	f.Add(p.Marshal())
	p.Extra = []byte{1, 2, 3}
	f.Add(p.Marshal())
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := tlogproof.Parse(data)
		if err != nil {
			return
		}
		q2, err := tlogproof.Parse(q.Marshal())
		if err != nil {
			t.Fatalf("re-encoded proof does not parse: %v", err)
		}
		if q2.Index != q.Index || len(q2.Hashes) != len(q.Hashes) || !bytes.Equal(q2.Checkpoint, q.Checkpoint) {
			t.Fatal("re-encoded proof differs")
		}
	})
}
