package cli

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credlog/credlog/api/apitest"
)

// startMapLog starts a log, like startLog, that appends map-root entries
// every 20ms, so that status proofs cover new events at once.
func startMapLog(t *testing.T) *testLog {
	l := apitest.Start(t, logOrigin, 20*time.Millisecond)
	return &testLog{url: l.URL, signer: l.Signer}
}

// credlogAt runs a command line in-process with the clock at now.
func credlogAt(now time.Time, args ...string) result {
	var out, errb bytes.Buffer
	e := &env{stdin: bytes.NewReader(nil), stdout: &out, stderr: &errb, now: func() time.Time { return now }}
	code := run(e, args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// TestBundleVerify runs credlog bundle and credlog verify against a real
// log: a logged, active credential verifies (exit 0); a tampered,
// unlogged, stale or revoked one fails with its exit code and a one-line
// reason.
func TestBundleVerify(t *testing.T) {
	dir := t.TempDir()
	k := keygenIn(t, dir, "bundle.example")
	lg := startMapLog(t)
	lg.register(t, k.vkey, k.vrfPub)
	pol := filepath.Join(dir, "policy")
	if err := os.WriteFile(pol, []byte("log "+lg.signer.VerifierKey()+"\nquorum none\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	must := func(args ...string) result {
		t.Helper()
		r := credlogAt(now, args...)
		if r.code != 0 {
			t.Fatalf("credlog %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r
	}
	issue := func(name string, submit bool) string {
		t.Helper()
		prefix := filepath.Join(dir, name)
		must("issuer", "issue", "-key", k.key, "-vrf-key", k.vrfKey, "-id-number", name, "-out", prefix)
		if submit {
			if code, res := lg.submit(t, readFileT(t, prefix+".event"), false); code != http.StatusOK {
				t.Fatalf("%s: status %d, %+v", name, code, res)
			}
		}
		return prefix
	}
	verify := func(at time.Time, bundleFile string, want int, reason string) {
		t.Helper()
		r := credlogAt(at, "verify", "-bundle", bundleFile, "-policy", pol, "-issuer-key", k.vkey, "-vrf-key", k.vrfPub, "-max-age", "10m")
		if r.code != want || !strings.Contains(r.stderr+r.stdout, reason) {
			t.Errorf("verify %s: exit %d\n%s%s\nwant exit %d and %q", filepath.Base(bundleFile), r.code, r.stdout, r.stderr, want, reason)
		}
		if want != 0 && strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("verify %s: stderr is not one line: %q", filepath.Base(bundleFile), r.stderr)
		}
	}

	alice := issue("alice", true)
	must("bundle", "-log", lg.url, "-cert", alice+".cert.der", "-out", alice+".bundle")
	verify(now, alice+".bundle", 0, "OK: credential")
	verify(now.Add(time.Hour), alice+".bundle", ExitStale, "status proof is stale")

	// A tampered certificate in the bundle: the file still parses, the
	// event names another credential.
	bob := issue("bob", false)
	b := readFileT(t, alice+".bundle")
	lines := strings.Split(string(b), "\n")
	bobBundle := filepath.Join(dir, "bob.bundle")
	must("bundle", "-log", lg.url, "-cert", alice+".cert.der", "-out", bobBundle) // refreshed: overwrites
	other := readFileT(t, bobBundle)
	otherLines := strings.Split(string(other), "\n")
	otherLines[1] = "certificate " + b64(readFileT(t, bob+".cert.der"))
	if err := os.WriteFile(bobBundle, []byte(strings.Join(otherLines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	verify(now, bobBundle, ExitNotLogged, "not logged")
	if r := credlogAt(now, "bundle", "-log", lg.url, "-cert", bob+".cert.der", "-out", bobBundle, "-wait", "0"); r.code != ExitFailure || !strings.Contains(r.stderr, "no issue event") {
		t.Errorf("bundle of an unlogged credential: exit %d, %s", r.code, r.stderr)
	}

	bad := filepath.Join(dir, "bad.bundle")
	if err := os.WriteFile(bad, []byte(strings.Join(lines[:3], "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	verify(now, bad, ExitMalformed, "malformed")

	// Revoked: a fresh bundle says so.
	must("issuer", "revoke", "-key", k.key, "-cert", alice+".cert.der", "-vrf-pub", k.vrfPub, "-reason", "key-compromise", "-out", alice+"-revoke")
	if code, res := lg.submit(t, readFileT(t, alice+"-revoke.event"), false); code != http.StatusOK {
		t.Fatalf("revoke: status %d, %+v", code, res)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		must("bundle", "-log", lg.url, "-cert", alice+".cert.der", "-out", alice+".bundle")
		r := credlogAt(now, "verify", "-bundle", alice+".bundle", "-policy", pol, "-issuer-key", k.vkey, "-vrf-key", k.vrfPub)
		if r.code == ExitNotActive {
			if !strings.Contains(r.stderr, "revoked") {
				t.Errorf("verify of a revoked credential: %s", r.stderr)
			}
			break
		}
		if r.code != 0 || time.Now().After(deadline) {
			t.Fatalf("verify after revocation: exit %d\n%s", r.code, r.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}

	if r := credlogAt(now, "verify", "-bundle", alice+".bundle"); r.code != ExitUsage {
		t.Errorf("verify without -policy: exit %d", r.code)
	}
}

// b64 is standard base64.
func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
