package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credlog/credlog/log/keys"
)

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	r := mustRun(t, "issuer", "keygen", "-name", "id.example.gov", "-dir", dir)
	k := &issuerKeys{name: "id.example.gov", dir: dir}
	base := filepath.Join(dir, k.name)
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{
		{base + ".key", 0o600},
		{base + ".vkey", 0o644},
		{base + ".vrf.key", 0o600},
		{base + ".vrf.pub", 0o644},
	} {
		checkMode(t, f.path, f.mode)
	}

	skey, err := keys.ReadPrivateFile(base + ".key")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(skey, "PRIVATE+KEY+id.example.gov+") {
		t.Errorf("signing key file starts %.20q", skey)
	}
	signer, err := keys.ParseSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	vkey := strings.TrimSpace(readString(t, base+".vkey"))
	if vkey != signer.VerifierKey() {
		t.Errorf("vkey file %q is not the signing key's %q", vkey, signer.VerifierKey())
	}
	vrfText, err := keys.ReadPrivateFile(base + ".vrf.key")
	if err != nil {
		t.Fatal(err)
	}
	name, vrfKey, err := keys.ParseVRFPrivate(vrfText)
	if err != nil || name != k.name {
		t.Fatalf("VRF key: name %q, err %v", name, err)
	}
	vrfPub := strings.TrimSpace(readString(t, base+".vrf.pub"))
	pubName, pub, err := keys.ParseVRFPublic(vrfPub)
	if err != nil || pubName != k.name {
		t.Fatalf("VRF public key: name %q, err %v", pubName, err)
	}
	if !bytes.Equal(pub, vrfKey.PublicKey()) {
		t.Error("VRF public key file does not match the VRF private key")
	}
	for _, want := range []string{vkey, vrfPub} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("keygen output does not show %q:\n%s", want, r.stdout)
		}
	}
}

func TestKeygenRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	k := keygenIn(t, dir, "issuer.example")
	before := readString(t, k.key)
	r := credlog(t, nil, "issuer", "keygen", "-name", "issuer.example", "-dir", dir)
	if r.code != ExitFailure || !strings.Contains(r.stderr, k.key) || !strings.Contains(r.stderr, "exists") {
		t.Errorf("second keygen: exit %d, stderr %q; want 1 and a message naming %s", r.code, r.stderr, k.key)
	}
	if readString(t, k.key) != before {
		t.Error("second keygen changed the signing key")
	}

	// One existing file stops all of them from being written.
	dir2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir2, "other.vrf.pub"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := credlog(t, nil, "issuer", "keygen", "-name", "other", "-dir", dir2); r.code != ExitFailure {
		t.Errorf("keygen over an existing .vrf.pub: exit %d, want 1", r.code)
	}
	if _, err := os.Stat(filepath.Join(dir2, "other.key")); !os.IsNotExist(err) {
		t.Errorf("keygen wrote other.key though other.vrf.pub existed (stat: %v)", err)
	}
}

func TestKeygenBadName(t *testing.T) {
	for _, name := range []string{"a+b", "a b", "a/b", ".."} {
		r := credlog(t, nil, "issuer", "keygen", "-name", name, "-dir", t.TempDir())
		if r.code != ExitUsage {
			t.Errorf("keygen -name %q: exit %d, want 2 (stderr %q)", name, r.code, r.stderr)
		}
	}
}

// TestKeygenSigningOnly checks that -signing-only writes the signing key
// pair alone, for the next key of a rotation.
func TestKeygenSigningOnly(t *testing.T) {
	dir := t.TempDir()
	r := mustRun(t, "issuer", "keygen", "-signing-only", "-name", "id.example.gov", "-dir", dir)
	base := filepath.Join(dir, "id.example.gov")
	checkMode(t, base+".key", 0o600)
	checkMode(t, base+".vkey", 0o644)
	for _, f := range []string{base + ".vrf.key", base + ".vrf.pub"} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("keygen -signing-only wrote %s (stat: %v)", f, err)
		}
	}
	if strings.Contains(r.stdout, "vrf") {
		t.Errorf("keygen -signing-only output mentions a VRF key:\n%s", r.stdout)
	}
}
