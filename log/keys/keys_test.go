package keys_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/vrf"
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
	// A directory, and a file too large to be a key, are refused.
	sub := filepath.Join(dir, "keys.d")
	os.Mkdir(sub, 0o700)
	if _, err := keys.ReadPrivateFile(sub); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	big := filepath.Join(dir, "big.key")
	os.WriteFile(big, []byte(skey+strings.Repeat("\n", 5000)), 0o600)
	if _, err := keys.ReadPrivateFile(big); err == nil || !strings.Contains(err.Error(), "not a key") {
		t.Errorf("large file: %v", err)
	}
}

func TestVRFKeyRoundTrip(t *testing.T) {
	priv, pub, err := keys.GenerateVRF("issuer.example", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	name, k, err := keys.ParseVRFPrivate(priv)
	if err != nil || name != "issuer.example" {
		t.Fatalf("keys.ParseVRFPrivate: %q, %v", name, err)
	}
	pname, p, err := keys.ParseVRFPublic(pub)
	if err != nil || pname != "issuer.example" {
		t.Fatalf("keys.ParseVRFPublic: %q, %v", pname, err)
	}
	if !bytes.Equal(p, k.PublicKey()) {
		t.Fatal("public key text does not match the private key")
	}
	if keys.VRFPublicKey(name, k.PublicKey()) != pub {
		t.Fatal("keys.VRFPublicKey does not reproduce the generated text")
	}
	// A proof made with the parsed private key verifies under the parsed
	// public key.
	if _, err := vrf.Verify(p, k.Prove([]byte("x")), []byte("x")); err != nil {
		t.Fatal(err)
	}
}

func TestVRFKeyRejects(t *testing.T) {
	priv, pub, err := keys.GenerateVRF("issuer", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	zero32 := base64.StdEncoding.EncodeToString(make([]byte, 32))
	// The identity point (y = 1) has small order.
	ident := make([]byte, 32)
	ident[0] = 1
	for _, text := range []string{
		"",
		"VRF+issuer",
		"VRF++" + zero32,
		"VRF+a b+" + zero32,
		"KEY+issuer+" + zero32,
		pub + "=",
		pub[:len(pub)-4],
		"VRF+issuer+" + base64.StdEncoding.EncodeToString(ident),
		"VRF+issuer+" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 32)),
		priv, // a private key is not a public key
	} {
		if _, _, err := keys.ParseVRFPublic(text); !errors.Is(err, keys.ErrKey) {
			t.Errorf("keys.ParseVRFPublic(%q) = %v, want keys.ErrKey", text, err)
		}
	}
	for _, text := range []string{"", pub, "PRIVATE+VRF+issuer+AAAA", "PRIVATE+VRF+is+suer+" + zero32} {
		if _, _, err := keys.ParseVRFPrivate(text); !errors.Is(err, keys.ErrKey) {
			t.Errorf("keys.ParseVRFPrivate(%q) = %v, want keys.ErrKey", text, err)
		}
	}
	if _, _, err := keys.GenerateVRF("bad name", rand.Reader); !errors.Is(err, keys.ErrKey) {
		t.Errorf("keys.GenerateVRF with a bad name: %v", err)
	}
}
