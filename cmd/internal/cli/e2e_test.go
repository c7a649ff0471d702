package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/api/apitest"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/tlogproof"
)

// TestEndToEnd builds the credlog binary and runs it as a real process
// through an issuer's life against a real log (SQLite, the sequencer and
// the HTTP API, in-process on a loopback port): keygen, registration by
// the log operator, issue, suspend, resume, reissue, revoke and
// rotate-key. Each event is submitted as the file the CLI wrote, and the
// log's answers (index, or the rule an event breaks) are checked.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the credlog binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "credlog")
	build := exec.Command("go", "build", "-o", bin, "github.com/credlog/credlog/cmd/credlog")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	run := func(stdin []byte, args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Stdin = bytes.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("credlog %v: %v", args, err)
		}
		return cmd.ProcessState.ExitCode(), out.String(), errb.String()
	}
	must := func(args ...string) string {
		t.Helper()
		code, out, stderr := run(nil, args...)
		if code != 0 {
			t.Fatalf("credlog %s: exit %d\n%s%s", strings.Join(args, " "), code, out, stderr)
		}
		return out
	}
	const name = "e2e.example"
	key, vrfKey, vrfPub := "keys/"+name+".key", "keys/"+name+".vrf.key", "keys/"+name+".vrf.pub"

	if code, out, stderr := run(nil, "issuer", "keygen", "-name", name, "-dir", "keys"); code != 1 || !strings.Contains(stderr, "keys/"+name+".key") {
		t.Fatalf("keygen into a missing directory: exit %d\n%s%s", code, out, stderr)
	}
	if err := os.Mkdir(filepath.Join(dir, "keys"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out := must("issuer", "keygen", "-name", name, "-dir", "keys"); !strings.Contains(out, "verifier key: "+name+"+") {
		t.Fatalf("keygen:\n%s", out)
	}

	lg := startLog(t)
	if idx := lg.register(t, filepath.Join(dir, "keys", name+".vkey"), filepath.Join(dir, vrfPub)); idx != 0 {
		t.Fatalf("registration logged at index %d, want 0", idx)
	}
	accept := func(file string, want uint64) {
		t.Helper()
		if code, res := lg.submit(t, readFileT(t, filepath.Join(dir, file)), false); code != http.StatusOK || res.Index != want {
			t.Fatalf("%s: status %d, %+v; want 200 and index %d", file, code, res, want)
		}
	}
	reject := func(file string, status int, rule string) {
		t.Helper()
		if code, res := lg.submit(t, readFileT(t, filepath.Join(dir, file)), false); code != status || res.Rule != rule {
			t.Errorf("%s: status %d, %+v; want %d and rule %s", file, code, res, status, rule)
		}
	}

	// Issue, submitted synchronously: the tlog-proof verifies the event
	// file's bytes under the log's key.
	if out := must("issuer", "issue", "-key", key, "-vrf-key", vrfKey, "-id-number", "19700101-0001", "-name", "Test Holder", "-out", "alice"); !strings.Contains(out, "type: issue\n") {
		t.Fatalf("issue:\n%s", out)
	}
	raw := readFileT(t, filepath.Join(dir, "alice.event"))
	code, res := lg.submit(t, raw, true)
	if code != http.StatusOK || res.Index != 1 {
		t.Fatalf("alice.event: status %d, %+v; want 200 and index 1", code, res)
	}
	p, err := tlogproof.Parse([]byte(res.Proof))
	if err != nil {
		t.Fatal(err)
	}
	logKey, err := keys.ParseVerifier(lg.signer.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Verify(raw, logOrigin, logKey.NoteVerifier()); err != nil {
		t.Errorf("tlog-proof of alice.event: %v", err)
	}
	ev, err := entry.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	k := &issuerKeys{name: name, dir: filepath.Join(dir, "keys"), vkey: filepath.Join(dir, "keys", name+".vkey"), vrfPub: filepath.Join(dir, vrfPub)}
	checkCredential(t, k, ev, filepath.Join(dir, "alice"), "19700101-0001")

	// The base64 form reads back through entry show.
	code, out, stderr := run(readFileT(t, filepath.Join(dir, "alice.event.b64")), "entry", "show", "-")
	if code != 0 || !strings.Contains(out, "type: issue\n") || !strings.Contains(out, "issuer: "+name+"\n") || !strings.Contains(out, "version: 1\n") {
		t.Fatalf("entry show: exit %d\n%s%s", code, out, stderr)
	}

	// Status changes, by certificate; a resume of an active credential
	// is the CLI's to sign but the log's to refuse.
	cert := []string{"-cert", "alice.cert.der", "-vrf-pub", vrfPub}
	must(append([]string{"issuer", "suspend", "-key", key, "-reason", "legal-order", "-out", "alice-suspend"}, cert...)...)
	accept("alice-suspend.event", 2)
	must(append([]string{"issuer", "resume", "-key", key, "-out", "alice-resume"}, cert...)...)
	accept("alice-resume.event", 3)
	must(append([]string{"issuer", "resume", "-key", key, "-out", "alice-resume2", "-time", "1900000000"}, cert...)...)
	reject("alice-resume2.event", http.StatusConflict, "resume-only-from-suspended")

	// Reissue ends the first credential; revoking it is then refused.
	must("issuer", "reissue", "-key", key, "-vrf-key", vrfKey, "-id-number", "19700101-0001", "-supersedes", "alice.cert.der", "-version", "2", "-out", "alice2")
	accept("alice2.event", 4)
	must(append([]string{"issuer", "revoke", "-key", key, "-out", "alice-revoke"}, cert...)...)
	reject("alice-revoke.event", http.StatusConflict, "superseded-is-ended")
	must("issuer", "revoke", "-key", key, "-cert", "alice2.cert.der", "-vrf-key", vrfKey, "-reason", "key-compromise", "-out", "alice2-revoke")
	accept("alice2-revoke.event", 5)
	if code, res := lg.submit(t, readFileT(t, filepath.Join(dir, "alice2-revoke.event")), false); code != http.StatusOK || res.Index != 5 || !res.Duplicate {
		t.Errorf("resubmitted alice2-revoke.event: status %d, %+v; want 200, index 5, duplicate", code, res)
	}

	// Rotation: afterwards the old key is refused and the new one taken.
	if err := os.Mkdir(filepath.Join(dir, "next"), 0o755); err != nil {
		t.Fatal(err)
	}
	must("issuer", "keygen", "-signing-only", "-name", name, "-dir", "next")
	must("issuer", "rotate-key", "-key", key, "-new-key", "next/"+name+".vkey", "-vrf-pub", vrfPub, "-out", "rotate")
	accept("rotate.event", 6)
	if out := must("entry", "show", "-json", "rotate.event"); !strings.Contains(out, `"public_key": "`+strings.TrimSpace(readString(t, filepath.Join(dir, "next", name+".vkey")))+`"`) {
		t.Errorf("entry show -json rotate.event:\n%s", out)
	}
	must("issuer", "issue", "-key", key, "-vrf-key", vrfKey, "-id-number", "19700101-0002", "-out", "bob-old")
	reject("bob-old.event", http.StatusForbidden, "wrong-key")
	must("issuer", "issue", "-key", "next/"+name+".key", "-vrf-key", vrfKey, "-id-number", "19700101-0002", "-out", "bob")
	accept("bob.event", 7)

	// A batch of event files, uint16 length-prefixed.
	var batch []byte
	for _, h := range []string{"carol", "dave"} {
		must("issuer", "issue", "-key", "next/"+name+".key", "-vrf-key", vrfKey, "-id-number", h, "-out", h)
		batch = api.AppendBatch(batch, readFileT(t, filepath.Join(dir, h+".event")))
	}
	if got := lg.submitBatch(t, batch); len(got) != 2 || got[0].Index != 8 || got[1].Index != 9 || got[0].Error != "" || got[1].Error != "" {
		t.Errorf("batch: %+v; want indexes 8 and 9", got)
	}

	// Failures exit non-zero and say why on stderr.
	if err := os.Chmod(filepath.Join(dir, key), 0o640); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(nil, "issuer", "issue", "-key", key, "-vrf-key", vrfKey, "-id-number", "2", "-out", "other")
	if code != 1 || !strings.HasPrefix(stderr, "credlog: issuer issue: ") || !strings.Contains(stderr, "permissions") || !strings.Contains(stderr, key) {
		t.Errorf("issue with a 0640 key: exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr = run(nil, "issuer", "issue"); code != 2 || !strings.Contains(stderr, "-key is required") {
		t.Errorf("issue without flags: exit %d, stderr %q; want 2", code, stderr)
	}
	if code, out, stderr = run(nil, "issuer", "issue", "-h"); code != 0 || stderr != "" || !strings.HasPrefix(out, "Usage: credlog issuer issue") {
		t.Errorf("issue -h: exit %d, stdout %.40q, stderr %q; want 0 and usage on stdout", code, out, stderr)
	}
	if code, _, _ = run(nil, "frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
}

// logOrigin is the origin of the test log.
const logOrigin = "log.example.org/credlog"

// testLog is a real log: SQLite on disk, the sequencer, and the HTTP API
// on a loopback port.
type testLog struct {
	url    string
	signer *keys.Signer
}

// startLog starts a log that runs until the test ends, without map-root
// entries among the indices the test expects.
func startLog(t *testing.T) *testLog {
	l := apitest.Start(t, logOrigin, time.Hour)
	return &testLog{url: l.URL, signer: l.Signer}
}

// register submits the issuer-key event, signed by the log's key, that
// registers the issuer whose verifier key and VRF public key keygen wrote
// to vkeyPath and vrfPubPath, as the log operator does; it returns the
// event's index.
func (lg *testLog) register(t *testing.T, vkeyPath, vrfPubPath string) uint64 {
	t.Helper()
	v, err := keys.ParseVerifier(readString(t, vkeyPath))
	if err != nil {
		t.Fatal(err)
	}
	_, vrfPub, err := keys.ParseVRFPublic(readString(t, vrfPubPath))
	if err != nil {
		t.Fatal(err)
	}
	ev := &entry.Event{Type: entry.TypeIssuerKey, Issuer: v.Name, KeyID: lg.signer.KeyID(), Time: uint64(time.Now().Unix())}
	copy(ev.PublicKey[:], v.Public)
	copy(ev.VRFKey[:], vrfPub)
	if err := ev.Sign(lg.signer.PrivateKey()); err != nil {
		t.Fatal(err)
	}
	raw, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	code, res := lg.submit(t, raw, false)
	if code != http.StatusOK {
		t.Fatalf("registration: status %d, %+v", code, res)
	}
	return res.Index
}

// submit POSTs body to /events, as "curl --data-binary @FILE" would, and
// returns the status and the answer (an api.SubmitResult, or an error
// body, whose fields it shares).
func (lg *testLog) submit(t *testing.T, body []byte, wait bool) (int, api.SubmitResult) {
	t.Helper()
	url := lg.url + "/events"
	if wait {
		url += "?wait=checkpoint"
	}
	var res api.SubmitResult
	return lg.post(t, url, body, &res), res
}

// submitBatch POSTs a batch body to /events/batch and returns its results.
func (lg *testLog) submitBatch(t *testing.T, body []byte) []api.SubmitResult {
	t.Helper()
	var res api.BatchResult
	if code := lg.post(t, lg.url+"/events/batch", body, &res); code != http.StatusOK {
		t.Fatalf("batch: status %d", code)
	}
	return res.Results
}

// post POSTs body to url, decodes the JSON answer into out, and returns
// the status.
func (lg *testLog) post(t *testing.T, url string, body []byte, out any) int {
	t.Helper()
	resp, err := http.Post(url, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("POST %s: status %d, undecodable answer: %v", url, resp.StatusCode, err)
	}
	return resp.StatusCode
}

// readFileT reads a file the test needs.
func readFileT(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
