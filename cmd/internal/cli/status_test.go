package cli

import (
	"bytes"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credlog/credlog/log/entry"
)

func TestStatusEvents(t *testing.T) {
	k := keygenIn(t, t.TempDir(), "id.example.gov")
	cert, issued := issueIn(t, k, "alice", "7501011234")
	credHex, subjHex := hex.EncodeToString(issued.Credential[:]), hex.EncodeToString(issued.Subject[:])

	for _, tc := range []struct {
		name   string
		typ    entry.Type
		args   []string
		reason entry.Reason
	}{
		{"revoke cert vrf-pub", entry.TypeRevoke, []string{"-cert", cert + ".cert.der", "-vrf-pub", k.vrfPub, "-reason", "key-compromise"}, entry.ReasonKeyCompromise},
		{"revoke hex default reason", entry.TypeRevoke, []string{"-credential", credHex, "-subject", subjHex}, entry.ReasonOther},
		{"suspend cert vrf-key", entry.TypeSuspend, []string{"-cert", cert + ".cert.der", "-vrf-key", k.vrfKey, "-reason", "legal-order"}, entry.ReasonLegalOrder},
		{"suspend hex", entry.TypeSuspend, []string{"-credential", credHex, "-subject", subjHex, "-reason", "holder-request"}, entry.ReasonHolderRequest},
		{"resume cert", entry.TypeResume, []string{"-cert", cert + ".cert.der", "-vrf-pub", k.vrfPub}, 0},
		{"resume hex", entry.TypeResume, []string{"-credential", credHex, "-subject", subjHex}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := filepath.Join(k.dir, strings.ReplaceAll(tc.name, " ", "-"))
			args := append([]string{"issuer", tc.typ.String(), "-key", k.key, "-out", prefix, "-time", "1800000000"}, tc.args...)
			r := mustRun(t, args...)
			ev := readEvent(t, prefix, k.verifier(t))
			if ev.Type != tc.typ || ev.Reason != tc.reason || ev.Time != 1800000000 {
				t.Errorf("event %s reason %s time %d; want %s reason %s time 1800000000", ev.Type, ev.Reason, ev.Time, tc.typ, tc.reason)
			}
			if ev.Credential != issued.Credential || ev.Subject != issued.Subject {
				t.Errorf("event names credential %x subject %x; want the issued %x %x", ev.Credential, ev.Subject, issued.Credential, issued.Subject)
			}
			if !strings.Contains(r.stdout, "type: "+tc.typ.String()) || !strings.Contains(r.stdout, credHex) {
				t.Errorf("summary:\n%s", r.stdout)
			}
		})
	}
}

func TestStatusErrors(t *testing.T) {
	dir := t.TempDir()
	k := keygenIn(t, dir, "id.example.gov")
	other := keygenIn(t, dir, "other.example")
	cert, issued := issueIn(t, k, "alice", "1")
	credHex := hex.EncodeToString(issued.Credential[:])
	out := filepath.Join(dir, "x")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no out", []string{"revoke", "-key", k.key, "-credential", credHex, "-subject", credHex}, ExitUsage, "-out is required"},
		{"no key", []string{"revoke", "-out", out, "-credential", credHex, "-subject", credHex}, ExitUsage, "-key is required"},
		{"no credential", []string{"suspend", "-key", k.key, "-out", out}, ExitUsage, "-credential"},
		{"no subject", []string{"suspend", "-key", k.key, "-out", out, "-credential", credHex}, ExitUsage, "-subject is required"},
		{"short hex", []string{"revoke", "-key", k.key, "-out", out, "-credential", "abcd", "-subject", credHex}, ExitUsage, "-credential must be 32 bytes"},
		{"bad reason", []string{"revoke", "-key", k.key, "-out", out, "-credential", credHex, "-subject", credHex, "-reason", "whim"}, ExitUsage, "whim"},
		{"resume has no reason", []string{"resume", "-key", k.key, "-out", out, "-credential", credHex, "-subject", credHex, "-reason", "other"}, ExitUsage, "-reason"},
		{"cert without vrf", []string{"revoke", "-key", k.key, "-out", out, "-cert", cert + ".cert.der"}, ExitUsage, "-vrf-key or -vrf-pub"},
		{"cert and hex", []string{"revoke", "-key", k.key, "-out", out, "-cert", cert + ".cert.der", "-vrf-pub", k.vrfPub, "-credential", credHex}, ExitUsage, "exclusive"},
		{"both vrf keys", []string{"revoke", "-key", k.key, "-out", out, "-cert", cert + ".cert.der", "-vrf-pub", k.vrfPub, "-vrf-key", k.vrfKey}, ExitUsage, "exclusive"},
		{"vrf without cert", []string{"revoke", "-key", k.key, "-out", out, "-credential", credHex, "-subject", credHex, "-vrf-pub", k.vrfPub}, ExitUsage, "only used with -cert"},
		{"wrong VRF key", []string{"revoke", "-key", k.key, "-out", out, "-cert", cert + ".cert.der", "-vrf-pub", other.vrfPub}, ExitFailure, "other.example"},
		{"other issuer's cert", []string{"revoke", "-key", other.key, "-out", out, "-cert", cert + ".cert.der", "-vrf-pub", other.vrfPub}, ExitFailure, "issued by"},
		{"missing cert", []string{"revoke", "-key", k.key, "-out", out, "-cert", filepath.Join(dir, "nope.der"), "-vrf-pub", k.vrfPub}, ExitFailure, "nope.der"},
		{"missing key", []string{"revoke", "-key", filepath.Join(dir, "nope.key"), "-out", out, "-credential", credHex, "-subject", credHex}, ExitFailure, "nope.key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := credlog(t, nil, append([]string{"issuer"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tc.code, tc.want)
			}
		})
	}
}

func TestRotateKey(t *testing.T) {
	dir := t.TempDir()
	old := keygenIn(t, dir, "id.example.gov")
	next := keygenIn(t, t.TempDir(), "id.example.gov")
	for _, tc := range []struct{ name, newKey string }{
		{"private", next.key},
		{"vkey", next.vkey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := filepath.Join(dir, "rotate-"+tc.name)
			mustRun(t, "issuer", "rotate-key", "-key", old.key, "-new-key", tc.newKey, "-vrf-pub", old.vrfPub, "-out", prefix)
			ev := readEvent(t, prefix, old.verifier(t)) // signed by the old key
			if ev.Type != entry.TypeIssuerKey {
				t.Errorf("type %s", ev.Type)
			}
			if !bytes.Equal(next.verifier(t).Public, ev.PublicKey[:]) {
				t.Error("event's public key is not the new key")
			}
			if !bytes.Equal(ev.VRFKey[:], old.vrfPublic(t)) {
				t.Error("event's VRF key is not the issuer's")
			}
			if ev.Time != uint64(testMinute.Unix()) {
				t.Errorf("time %d, want %d", ev.Time, testMinute.Unix())
			}
			if ev.VerifySignature(next.verifier(t).Public) == nil {
				t.Error("rotation verifies under the new key")
			}
		})
	}

	stranger := keygenIn(t, dir, "stranger.example")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"other name", []string{"-key", old.key, "-new-key", stranger.key, "-vrf-pub", old.vrfPub}, ExitFailure, "keeps its name"},
		{"same key", []string{"-key", old.key, "-new-key", old.vkey, "-vrf-pub", old.vrfPub}, ExitFailure, "is the current key"},
		{"other VRF key", []string{"-key", old.key, "-new-key", next.vkey, "-vrf-pub", stranger.vrfPub}, ExitFailure, "stranger.example"},
		{"no vrf-pub", []string{"-key", old.key, "-new-key", next.vkey}, ExitUsage, "-vrf-pub is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"issuer", "rotate-key", "-out", filepath.Join(dir, "bad")}, tc.args...)
			r := credlog(t, nil, args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tc.code, tc.want)
			}
		})
	}
}
