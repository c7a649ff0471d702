package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
)

// testNow is the clock of in-process runs: not on a minute boundary, so
// that tests see the rounding.
var testNow = time.Date(2025, 3, 4, 5, 6, 7, 500_000_000, time.UTC)

// testMinute is testNow rounded down to the minute.
var testMinute = time.Date(2025, 3, 4, 5, 6, 0, 0, time.UTC)

type result struct {
	code           int
	stdout, stderr string
}

// credlog runs a command line in-process, in dir, with stdin.
func credlog(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: bytes.NewReader(stdin), stdout: &out, stderr: &errb, now: func() time.Time { return testNow }}
	code := run(e, args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// mustRun runs a command line that must succeed.
func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := credlog(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("credlog %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// issuerKeys are the files keygen wrote for an issuer.
type issuerKeys struct {
	name, dir                 string
	key, vkey, vrfKey, vrfPub string
}

func keygenIn(t *testing.T, dir, name string) *issuerKeys {
	t.Helper()
	mustRun(t, "issuer", "keygen", "-name", name, "-dir", dir)
	base := filepath.Join(dir, name)
	return &issuerKeys{name: name, dir: dir, key: base + ".key", vkey: base + ".vkey", vrfKey: base + ".vrf.key", vrfPub: base + ".vrf.pub"}
}

func (k *issuerKeys) verifier(t *testing.T) *keys.Verifier {
	t.Helper()
	v, err := keys.ParseVerifier(readString(t, k.vkey))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (k *issuerKeys) vrfPublic(t *testing.T) []byte {
	t.Helper()
	_, pub, err := keys.ParseVRFPublic(readString(t, k.vrfPub))
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readEvent parses PREFIX.event, checks that PREFIX.event.b64 holds the
// same bytes, and checks the signature under v.
func readEvent(t *testing.T, prefix string, v *keys.Verifier) *entry.Event {
	t.Helper()
	raw, err := os.ReadFile(prefix + ".event")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := entry.Parse(raw)
	if err != nil {
		t.Fatalf("%s.event: %v", prefix, err)
	}
	b64 := readString(t, prefix+".event.b64")
	if !strings.HasSuffix(b64, "\n") {
		t.Errorf("%s.event.b64 does not end in a newline", prefix)
	}
	if dec, err := decodeEntryText([]byte(b64), "base64"); err != nil || !bytes.Equal(dec, raw) {
		t.Errorf("%s.event.b64 does not hold the bytes of %s.event (err %v)", prefix, prefix, err)
	}
	if ev.Issuer != v.Name || ev.KeyID != v.KeyID {
		t.Errorf("event names issuer %q key %08x, want %q key %08x", ev.Issuer, ev.KeyID, v.Name, v.KeyID)
	}
	if err := ev.VerifySignature(v.Public); err != nil {
		t.Errorf("%s.event: %v", prefix, err)
	}
	return ev
}

func fileID(t *testing.T, path string) entry.Hash {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %04o, want %04o", path, got, want)
	}
}

// hexOf returns h in hex, as the -credential and -subject flags take it.
func hexOf(h entry.Hash) string { return hex.EncodeToString(h[:]) }
