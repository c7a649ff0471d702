package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKindOf(t *testing.T) {
	k := keygenIn(t, t.TempDir(), "id.example.gov")
	prefix, _ := issueIn(t, k, "alice", "1")
	for _, tc := range []struct {
		file string
		want keyKind
	}{
		{k.key, kindSigner},
		{k.vkey, kindVerifier},
		{k.vrfKey, kindVRFPrivate},
		{k.vrfPub, kindVRFPublic},
		{prefix + ".holder.pub", kindPEM},
		{prefix + ".holder.key", kindPEM},
		{prefix + ".event.b64", kindUnknown},
		{prefix + ".cert.der", kindUnknown},
	} {
		if got := kindOf([]byte(readString(t, tc.file))); got != tc.want {
			t.Errorf("kindOf(%s) = %v, want %v", filepath.Base(tc.file), got, tc.want)
		}
	}
}

// TestWrongKeyKind gives each key flag a key of another kind: the error
// names the file, what it is and what the flag wants, even when the file
// given for a private key has a public key's permissions.
func TestWrongKeyKind(t *testing.T) {
	dir := t.TempDir()
	k := keygenIn(t, dir, "id.example.gov")
	cert, _ := issueIn(t, k, "alice", "1")
	next := keygenIn(t, t.TempDir(), k.name)
	out := filepath.Join(dir, "x")
	issue := func(key, vrfKey string, extra ...string) []string {
		return append([]string{"issuer", "issue", "-key", key, "-vrf-key", vrfKey, "-id-number", "2", "-out", out}, extra...)
	}
	revoke := func(key string, extra ...string) []string {
		return append([]string{"issuer", "revoke", "-key", key, "-cert", cert + ".cert.der", "-out", out}, extra...)
	}
	rotate := func(newKey, vrfPub string) []string {
		return []string{"issuer", "rotate-key", "-key", k.key, "-new-key", newKey, "-vrf-pub", vrfPub, "-out", out}
	}
	for _, tc := range []struct {
		name string
		args []string
		file string
		want string
	}{
		{"VRF key as signing key", issue(k.vrfKey, k.vrfKey), k.vrfKey, "is a VRF key (NAME.vrf.key), not a signing key (NAME.key)"},
		{"verifier key as signing key", issue(k.vkey, k.vrfKey), k.vkey, "is a verifier key (NAME.vkey), not a signing key (NAME.key)"},
		{"VRF public key as signing key", revoke(k.vrfPub, "-vrf-pub", k.vrfPub), k.vrfPub, "is a VRF public key (NAME.vrf.pub), not a signing key"},
		{"signing key as VRF key", issue(k.key, k.key), k.key, "is a signing key (NAME.key), not a VRF key (NAME.vrf.key)"},
		{"VRF public key as VRF key", issue(k.key, k.vrfPub), k.vrfPub, "is a VRF public key (NAME.vrf.pub), not a VRF key (NAME.vrf.key)"},
		{"verifier key as VRF public key", revoke(k.key, "-vrf-pub", k.vkey), k.vkey, "is a verifier key (NAME.vkey), not a VRF public key (NAME.vrf.pub)"},
		{"VRF key as VRF public key", revoke(k.key, "-vrf-pub", k.vrfKey), k.vrfKey, "is a VRF key (NAME.vrf.key), not a VRF public key"},
		{"signing key as holder key", issue(k.key, k.vrfKey, "-holder-key", next.key), next.key, "give the holder's public key"},
		{"VRF public key as holder key", issue(k.key, k.vrfKey, "-holder-key", k.vrfPub), k.vrfPub, "not an Ed25519 public key"},
		{"holder private key as holder key", issue(k.key, k.vrfKey, "-holder-key", cert+".holder.key"), cert + ".holder.key", `PEM block is "PRIVATE KEY", want "PUBLIC KEY"`},
		{"VRF key as new key", rotate(next.vrfKey, k.vrfPub), next.vrfKey, "not a signing key (NAME.key) or a verifier key (NAME.vkey)"},
		{"verifier key as VRF public key in rotation", rotate(next.vkey, k.vkey), k.vkey, "not a VRF public key"},
		{"key as certificate", revoke(k.key, "-vrf-pub", k.vrfPub, "-cert", k.vkey), k.vkey, "couldn't parse credential"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := credlog(t, nil, tc.args...)
			if r.code != ExitFailure || !strings.Contains(r.stderr, tc.file) || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 1, %s and %q", r.code, r.stderr, tc.file, tc.want)
			}
			if _, err := os.Stat(out + ".event"); err == nil {
				t.Error("wrote an event despite the wrong key")
				os.Remove(out + ".event")
				os.Remove(out + ".event.b64")
			}
		})
	}
}

// TestUnreadableFiles gives each file flag of each command a missing file
// and a directory: exit 1, and the error names the file.
func TestUnreadableFiles(t *testing.T) {
	dir := t.TempDir()
	k := keygenIn(t, dir, "id.example.gov")
	cert, issued := issueIn(t, k, "alice", "1")
	next := keygenIn(t, t.TempDir(), k.name)
	out := filepath.Join(dir, "x")
	for _, bad := range []string{filepath.Join(dir, "missing"), t.TempDir()} {
		for _, tc := range []struct {
			name string
			args []string
		}{
			{"keygen dir", []string{"issuer", "keygen", "-name", "n.example", "-dir", filepath.Join(bad, "sub")}},
			{"issue key", []string{"issuer", "issue", "-key", bad, "-vrf-key", k.vrfKey, "-id-number", "1", "-out", out}},
			{"issue vrf-key", []string{"issuer", "issue", "-key", k.key, "-vrf-key", bad, "-id-number", "1", "-out", out}},
			{"issue holder-key", []string{"issuer", "issue", "-key", k.key, "-vrf-key", k.vrfKey, "-id-number", "1", "-holder-key", bad, "-out", out}},
			{"reissue supersedes", []string{"issuer", "reissue", "-key", k.key, "-vrf-key", k.vrfKey, "-id-number", "1", "-supersedes", bad, "-version", "2", "-out", out}},
			{"revoke cert", []string{"issuer", "revoke", "-key", k.key, "-cert", bad, "-vrf-pub", k.vrfPub, "-out", out}},
			{"suspend vrf-pub", []string{"issuer", "suspend", "-key", k.key, "-cert", cert + ".cert.der", "-vrf-pub", bad, "-out", out}},
			{"suspend vrf-key", []string{"issuer", "suspend", "-key", k.key, "-cert", cert + ".cert.der", "-vrf-key", bad, "-out", out}},
			{"resume key", []string{"issuer", "resume", "-key", bad, "-credential", hexOf(issued.Credential), "-subject", hexOf(issued.Subject), "-out", out}},
			{"rotate key", []string{"issuer", "rotate-key", "-key", bad, "-new-key", next.vkey, "-vrf-pub", k.vrfPub, "-out", out}},
			{"rotate new-key", []string{"issuer", "rotate-key", "-key", k.key, "-new-key", bad, "-vrf-pub", k.vrfPub, "-out", out}},
			{"rotate vrf-pub", []string{"issuer", "rotate-key", "-key", k.key, "-new-key", next.vkey, "-vrf-pub", bad, "-out", out}},
			{"entry show", []string{"entry", "show", bad}},
			{"output directory", []string{"issuer", "resume", "-key", k.key, "-credential", hexOf(issued.Credential), "-subject", hexOf(issued.Subject), "-out", filepath.Join(bad, "sub", "x")}},
		} {
			t.Run(filepath.Base(bad)+"/"+tc.name, func(t *testing.T) {
				r := credlog(t, nil, tc.args...)
				if r.code != ExitFailure || !strings.Contains(r.stderr, bad) {
					t.Errorf("exit %d, stderr %q; want 1 and a message naming %s", r.code, r.stderr, bad)
				}
			})
		}
	}
}
