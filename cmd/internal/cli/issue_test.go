package cli

import (
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credlog/credlog/log/credential"
	"github.com/credlog/credlog/log/entry"
)

// issueIn issues a credential for idNumber with prefix dir/out.
func issueIn(t *testing.T, k *issuerKeys, out, idNumber string, extra ...string) (string, *entry.Event) {
	t.Helper()
	prefix := filepath.Join(k.dir, out)
	args := append([]string{"issuer", "issue", "-key", k.key, "-vrf-key", k.vrfKey, "-id-number", idNumber, "-out", prefix}, extra...)
	mustRun(t, args...)
	return prefix, readEvent(t, prefix, k.verifier(t))
}

// checkCredential checks that the event records the certificate at
// prefix.cert.der: its SHA-256 and its VRF label.
func checkCredential(t *testing.T, k *issuerKeys, ev *entry.Event, prefix, idNumber string) *credential.Credential {
	t.Helper()
	der, err := os.ReadFile(prefix + ".cert.der")
	if err != nil {
		t.Fatal(err)
	}
	if ev.Credential != fileID(t, prefix+".cert.der") {
		t.Errorf("event credential ID %x is not the SHA-256 of the certificate", ev.Credential)
	}
	c, err := credential.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	if c.IDNumber != idNumber || c.Issuer != k.name {
		t.Errorf("certificate is for %q from %q, want %q from %q", c.IDNumber, c.Issuer, idNumber, k.name)
	}
	label, err := c.Label(k.vrfPublic(t))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Subject != label {
		t.Errorf("event subject %x is not the certificate's VRF label %x", ev.Subject, label)
	}
	if err := c.CheckSignature(k.verifier(t).Public); err != nil {
		t.Error(err)
	}
	return c
}

func TestIssue(t *testing.T) {
	k := keygenIn(t, t.TempDir(), "id.example.gov")
	prefix, ev := issueIn(t, k, "alice", "7501011234")
	c := checkCredential(t, k, ev, prefix, "7501011234")

	if ev.Type != entry.TypeIssue || ev.Version != 1 || ev.Supersedes != nil {
		t.Errorf("event: type %s version %d supersedes %v; want issue, 1, none", ev.Type, ev.Version, ev.Supersedes)
	}
	if want := uint64(testMinute.Unix()); ev.Time != want || ev.NotBefore != want {
		t.Errorf("time %d, not before %d: want both %d (now rounded down to the minute)", ev.Time, ev.NotBefore, want)
	}
	if want := uint64(testMinute.Add(8760 * time.Hour).Unix()); ev.NotAfter != want {
		t.Errorf("not after %d, want %d (default validity one year)", ev.NotAfter, want)
	}
	if uint64(c.Certificate.NotBefore.Unix()) != ev.NotBefore || uint64(c.Certificate.NotAfter.Unix()) != ev.NotAfter {
		t.Errorf("certificate validity %v–%v differs from the event's", c.Certificate.NotBefore, c.Certificate.NotAfter)
	}

	// The generated holder key pair is the certificate's key.
	checkMode(t, prefix+".holder.key", 0o600)
	checkMode(t, prefix+".holder.pub", 0o644)
	holderPub, err := readHolderKey(prefix + ".holder.pub")
	if err != nil {
		t.Fatal(err)
	}
	if !holderPub.Equal(c.Certificate.PublicKey) {
		t.Error("certificate key is not the generated holder key")
	}
	if strings.Contains(readString(t, prefix+".event.b64"), "7501011234") {
		t.Error("event text holds the ID number")
	}
}

func TestIssueOptions(t *testing.T) {
	k := keygenIn(t, t.TempDir(), "id.example.gov")
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := filepath.Join(k.dir, "holder.pub")
	_, pemPub, err := holderKeyPEM(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubPEM, pemPub, 0o644); err != nil {
		t.Fatal(err)
	}
	prefix, ev := issueIn(t, k, "bob", "8002029999",
		"-name", "Bob Example", "-holder-key", pubPEM, "-not-before", "2025-01-01T00:00:30.9Z",
		"-validity", "720h", "-version", "3", "-time", "1735689600")
	c := checkCredential(t, k, ev, prefix, "8002029999")
	if !c.Certificate.PublicKey.(ed25519.PublicKey).Equal(priv.Public()) {
		t.Error("certificate key is not the -holder-key")
	}
	if c.Certificate.Subject.CommonName != "Bob Example" {
		t.Errorf("certificate name %q", c.Certificate.Subject.CommonName)
	}
	if _, err := os.Stat(prefix + ".holder.key"); !os.IsNotExist(err) {
		t.Errorf("issue with -holder-key wrote a holder key (stat: %v)", err)
	}
	nb := time.Date(2025, 1, 1, 0, 0, 30, 0, time.UTC)
	if ev.Time != 1735689600 || ev.Version != 3 || ev.NotBefore != uint64(nb.Unix()) || ev.NotAfter != uint64(nb.Add(720*time.Hour).Unix()) {
		t.Errorf("event time %d version %d validity %d–%d", ev.Time, ev.Version, ev.NotBefore, ev.NotAfter)
	}

	// Without -out, the prefix names the credential.
	dir := t.TempDir()
	t.Chdir(dir)
	r := mustRun(t, "issuer", "issue", "-key", k.key, "-vrf-key", k.vrfKey, "-id-number", "1")
	matches, _ := filepath.Glob(filepath.Join(dir, "cred-*.event"))
	if len(matches) != 1 {
		t.Fatalf("issue without -out wrote %v", matches)
	}
	ev = readEvent(t, strings.TrimSuffix(matches[0], ".event"), k.verifier(t))
	if want := "cred-" + hex.EncodeToString(ev.Credential[:8]) + ".event"; filepath.Base(matches[0]) != want {
		t.Errorf("default output %s, want %s", filepath.Base(matches[0]), want)
	}
	if !strings.Contains(r.stdout, hex.EncodeToString(ev.Credential[:])) {
		t.Errorf("summary does not show the credential ID:\n%s", r.stdout)
	}
}

func TestIssueRefusesOverwrite(t *testing.T) {
	k := keygenIn(t, t.TempDir(), "id.example.gov")
	prefix, _ := issueIn(t, k, "alice", "1")
	before := readString(t, prefix+".event")
	r := credlog(t, nil, "issuer", "issue", "-key", k.key, "-vrf-key", k.vrfKey, "-id-number", "1", "-out", prefix)
	if r.code != ExitFailure || !strings.Contains(r.stderr, prefix+".cert.der") {
		t.Errorf("issue over existing files: exit %d, stderr %q", r.code, r.stderr)
	}
	if readString(t, prefix+".event") != before {
		t.Error("issue overwrote an event")
	}
}

func TestIssueVRFKeyOfAnotherIssuer(t *testing.T) {
	dir := t.TempDir()
	a := keygenIn(t, dir, "a.example")
	b := keygenIn(t, dir, "b.example")
	r := credlog(t, nil, "issuer", "issue", "-key", a.key, "-vrf-key", b.vrfKey, "-id-number", "1", "-out", filepath.Join(dir, "x"))
	if r.code != ExitFailure || !strings.Contains(r.stderr, `"b.example"`) {
		t.Errorf("issue with another issuer's VRF key: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestReissue(t *testing.T) {
	k := keygenIn(t, t.TempDir(), "id.example.gov")
	first, ev1 := issueIn(t, k, "v1", "42")
	for _, tc := range []struct {
		name       string
		supersedes string
	}{
		{"cert file", first + ".cert.der"},
		{"hex ID", hex.EncodeToString(ev1.Credential[:])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := filepath.Join(k.dir, "v2-"+strings.ReplaceAll(tc.name, " ", "-"))
			mustRun(t, "issuer", "reissue", "-key", k.key, "-vrf-key", k.vrfKey, "-id-number", "42",
				"-supersedes", tc.supersedes, "-version", "2", "-out", prefix)
			ev := readEvent(t, prefix, k.verifier(t))
			checkCredential(t, k, ev, prefix, "42")
			if ev.Supersedes == nil || *ev.Supersedes != ev1.Credential {
				t.Errorf("reissue supersedes %v, want %x", ev.Supersedes, ev1.Credential)
			}
			if ev.Version != 2 || ev.Subject != ev1.Subject {
				t.Errorf("reissue version %d subject %x; want 2 and the first credential's subject", ev.Version, ev.Subject)
			}
		})
	}

	base := []string{"issuer", "reissue", "-key", k.key, "-vrf-key", k.vrfKey, "-out", filepath.Join(k.dir, "bad")}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no supersedes", []string{"-id-number", "42", "-version", "2"}, ExitUsage, "-supersedes is required"},
		{"no version", []string{"-id-number", "42", "-supersedes", first + ".cert.der"}, ExitUsage, "-version"},
		{"version 1", []string{"-id-number", "42", "-supersedes", first + ".cert.der", "-version", "1"}, ExitUsage, "-version"},
		{"other subject", []string{"-id-number", "43", "-supersedes", first + ".cert.der", "-version", "2"}, ExitFailure, "another ID number"},
		{"not a credential", []string{"-id-number", "42", "-supersedes", first + ".event", "-version", "2"}, ExitFailure, "couldn't parse credential"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := credlog(t, nil, append(base, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tc.code, tc.want)
			}
		})
	}
}
