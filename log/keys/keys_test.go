package keys_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/log/keys"
)

// TestInteropWithNote generates many keys (so that base64 key data with
// '+' and '/' occurs) and checks each against x/mod's note package: a note
// signed through our Signer opens with note's verifier, and our raw key
// signs what note's verifier accepts.
func TestInteropWithNote(t *testing.T) {
	for i := 0; i < 64; i++ {
		skey, vkey, err := keys.Generate("issuer.example", rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s, err := keys.ParseSigner(skey)
		if err != nil {
			t.Fatalf("ParseSigner(%s): %v", skey, err)
		}
		v, err := keys.ParseVerifier(vkey)
		if err != nil {
			t.Fatalf("ParseVerifier(%s): %v", vkey, err)
		}
		if s.VerifierKey() != vkey || keys.VerifierKey(v.Name, v.Public) != vkey {
			t.Fatalf("verifier key %s, want %s", s.VerifierKey(), vkey)
		}
		nv, err := note.NewVerifier(vkey)
		if err != nil {
			t.Fatal(err)
		}
		if nv.KeyHash() != s.KeyID() || v.KeyID != s.KeyID() || keys.KeyID(v.Name, v.Public) != s.KeyID() {
			t.Fatalf("key IDs differ: note %08x, ours %08x", nv.KeyHash(), s.KeyID())
		}
		msg := []byte("credlog\n")
		if !nv.Verify(msg, ed25519.Sign(s.PrivateKey(), msg)) {
			t.Fatal("note rejects a signature by the parsed private key")
		}
		signed, err := note.Sign(&note.Note{Text: "hello\n"}, s.NoteSigner())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := note.Open(signed, note.VerifierList(v.NoteVerifier())); err != nil {
			t.Fatalf("note.Open: %v", err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	skey, vkey, _ := keys.Generate("issuer.example", rand.Reader)
	for _, bad := range []string{"", "PRIVATE+KEY+x", vkey, strings.Replace(skey, "issuer", "other", 1), skey + "AA"} {
		if _, err := keys.ParseSigner(bad); !errors.Is(err, keys.ErrKey) {
			t.Errorf("ParseSigner(%q) = %v", bad, err)
		}
	}
	for _, bad := range []string{"", "x+1+AA", skey, strings.Replace(vkey, "issuer", "other", 1)} {
		if _, err := keys.ParseVerifier(bad); !errors.Is(err, keys.ErrKey) {
			t.Errorf("ParseVerifier(%q) = %v", bad, err)
		}
	}
}

func TestKeyFilePermissions(t *testing.T) {
	dir := t.TempDir()
	skey, _, _ := keys.Generate("issuer.example", rand.Reader)
	path := filepath.Join(dir, "issuer.key")
	if err := keys.WritePrivateFile(path, skey); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o", fi.Mode().Perm())
	}
	got, err := keys.ReadPrivateFile(path)
	if err != nil || got != skey {
		t.Fatalf("ReadPrivateFile = %q, %v", got, err)
	}
	if err := keys.WritePrivateFile(path, skey); err == nil {
		t.Fatal("an existing key file was overwritten")
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o666} {
		os.Chmod(path, mode)
		if _, err := keys.ReadPrivateFile(path); !errors.Is(err, keys.ErrPermissions) {
			t.Errorf("mode %04o: %v", mode, err)
		} else if !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("error does not say how to fix it: %v", err)
		}
	}
	os.Chmod(path, 0o400)
	if _, err := keys.ReadPrivateFile(path); err != nil {
		t.Errorf("mode 0400 refused: %v", err)
	}
}
