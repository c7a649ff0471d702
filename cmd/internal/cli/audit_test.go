package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/api/apitest"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/fsck/fscktest"
	"github.com/credlog/credlog/log/replay/replaytest"
	"github.com/credlog/credlog/log/tiles"
)

// auditLog is a real log with a known workload, and the statistics that
// workload must give.
type auditLog struct {
	lg   *apitest.Log
	want *auditStats // without map-root entries
}

// startAuditLog starts a log that appends map-root entries every 20ms,
// registers three issuers and logs their workloads: issues, reissues,
// suspensions, resumptions and revocations.
func startAuditLog(t *testing.T) *auditLog {
	t.Helper()
	ctx := context.Background()
	lg := apitest.Start(t, logOrigin, 20*time.Millisecond)
	want := newAuditStats()
	count := func(raw []byte) {
		ev, err := entry.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		// Counted here independently of audit's code: every event of the
		// workloads is on 2026-01-01 (fscktest.T0 plus a few minutes).
		typ := ev.Type.String()
		if ev.Supersedes != nil {
			typ = "reissue"
		}
		want.ByType[typ]++
		inc(want.ByIssuer, ev.Issuer, typ)
		inc(want.ByDay, "2026-01-01", typ)
		if ev.Type == entry.TypeRevoke || ev.Type == entry.TypeSuspend {
			inc(want.ByReason, ev.Type.String(), ev.Reason.String())
		}
	}
	for i, name := range []string{"a.example", "b.example", "c.example"} {
		iss, err := fscktest.NewIssuer(name)
		if err != nil {
			t.Fatal(err)
		}
		reg, err := iss.Registration(lg.Signer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lg.Client.Submit(ctx, reg, false); err != nil {
			t.Fatal(err)
		}
		count(reg)
		w := iss.Workload(name, uint64(i))
		var batch [][]byte
		for range 150 * (i + 1) {
			e, err := w.Next()
			if err != nil {
				t.Fatal(err)
			}
			count(e)
			batch = append(batch, e)
		}
		res, err := lg.Client.SubmitBatch(ctx, batch, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Error != "" {
				t.Fatalf("submit: %+v", r)
			}
		}
	}
	return &auditLog{lg: lg, want: want}
}

func inc(m map[string]map[string]uint64, k1, k2 string) {
	if m[k1] == nil {
		m[k1] = map[string]uint64{}
	}
	m[k1][k2]++
}

// writePolicy writes a policy file of the log key vkey, with the
// witnesses' lines and quorum, to dir.
func writePolicy(t *testing.T, dir, name, vkey, witnesses, quorum string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("log "+vkey+"\n"+witnesses+"quorum "+quorum+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAuditCleanLog audits a real log: exit 0, and statistics that are
// exactly the workload's, in JSON, CSV and table form.
func TestAuditCleanLog(t *testing.T) {
	al := startAuditLog(t)
	pol := writePolicy(t, t.TempDir(), "policy", al.lg.Signer.VerifierKey(), "", "none")
	r := credlog(t, nil, "audit", "-log", al.lg.URL, "-policy", pol, "-format", "json", "-progress", "always")
	if r.code != 0 {
		t.Fatalf("audit: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var rep auditReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Log != logOrigin || rep.Entries != rep.Size || rep.Stats == nil {
		t.Fatalf("report: %+v", rep)
	}
	got := rep.Stats
	mapRoots := got.ByType["map-root"]
	if mapRoots == 0 || rep.MapRoots != mapRoots || got.ByIssuer[logOrigin]["map-root"] != mapRoots {
		t.Errorf("map-root entries: %d by type, %d checked, %d by the log", mapRoots, rep.MapRoots, got.ByIssuer[logOrigin]["map-root"])
	}
	delete(got.ByType, "map-root")
	delete(got.ByIssuer, logOrigin)
	var days uint64
	for day, m := range got.ByDay {
		days += m["map-root"]
		if delete(m, "map-root"); len(m) == 0 {
			delete(got.ByDay, day)
		}
	}
	if days != mapRoots {
		t.Errorf("map-root entries by day: %d, want %d", days, mapRoots)
	}
	wantJSON, _ := json.Marshal(al.want)
	gotJSON, _ := json.Marshal(got)
	if string(wantJSON) != string(gotJSON) {
		t.Errorf("statistics:\n got %s\nwant %s", gotJSON, wantJSON)
	}
	for _, typ := range []string{"issue", "reissue", "suspend", "resume", "revoke", "issuer-key"} {
		if al.want.ByType[typ] == 0 {
			t.Errorf("the workload has no %s event", typ)
		}
	}
	if !strings.Contains(r.stderr, fmt.Sprintf("%d of %d entries (100.0%%)", rep.Size, rep.Size)) {
		t.Errorf("no final progress line on stderr: %q", r.stderr)
	}

	// CSV: the same counts, one row per (dimension, key, event type).
	r = credlog(t, nil, "audit", "-log", al.lg.URL, "-policy", pol, "-format", "csv")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("audit -format csv: exit %d\n%s", r.code, r.stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, row := range rows[1:] {
		n, err := strconv.ParseUint(row[3], 10, 64)
		if err != nil {
			t.Fatalf("row %q: %v", row, err)
		}
		switch row[0] {
		case "issuer":
			if row[1] != logOrigin && al.want.ByIssuer[row[1]][row[2]] != n {
				t.Errorf("row %q: want %d", row, al.want.ByIssuer[row[1]][row[2]])
			}
		case "reason":
			if al.want.ByReason[row[2]][row[1]] != n {
				t.Errorf("row %q: want %d", row, al.want.ByReason[row[2]][row[1]])
			}
		}
		found[row[0]] = true
	}
	if rows[0][0] != "dimension" || len(found) != 5 {
		t.Errorf("CSV has header %q and dimensions %v", rows[0], found)
	}

	r = credlog(t, nil, "audit", "-log", al.lg.URL, "-policy", pol, "-hashes-only")
	if r.code != 0 || !strings.Contains(r.stdout, "OK: the tree root (hashes only)") {
		t.Errorf("audit -hashes-only: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = credlog(t, nil, "audit", "-log", al.lg.URL, "-policy", pol)
	if r.code != 0 || !strings.Contains(r.stdout, "a.example") || !strings.Contains(r.stdout, "holder-request") {
		t.Errorf("audit: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// copyLog copies the checkpoint, tiles and entry bundles of the log at
// url into dir, in the tlog-tiles layout, and returns the checkpoint.
func copyLog(t *testing.T, url, dir string) []byte {
	t.Helper()
	cp := httpGet(t, url+"/checkpoint")
	size, err := strconv.ParseUint(strings.Split(string(cp), "\n")[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	for level := uint64(0); size>>(8*level) > 0; level++ {
		n := size >> (8 * level)
		for i := uint64(0); i*256 < n; i++ {
			p := layout.TilePath(level, i, uint8(min(n-i*256, 256)%256))
			replaytest.WriteFile(t, filepath.Join(dir, p), httpGet(t, url+"/"+p))
		}
	}
	for i := uint64(0); i*256 < size; i++ {
		p := layout.EntriesPath(i, uint8(min(size-i*256, 256)%256))
		replaytest.WriteFile(t, filepath.Join(dir, p), httpGet(t, url+"/"+p))
	}
	replaytest.WriteFile(t, filepath.Join(dir, "checkpoint"), cp)
	return cp
}

func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return b
}

// TestAuditCopies audits copies of a real log served by an
// http.FileServer: with the witness quorum, without it, under a wrong
// log key, with one byte of one entry changed, and with a logged entry
// that breaks a rule.
func TestAuditCopies(t *testing.T) {
	al := startAuditLog(t)
	dir := t.TempDir()
	raw := copyLog(t, al.lg.URL, dir)
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()

	wskey, wvkey, err := note.GenerateKey(rand.Reader, "witness.example")
	if err != nil {
		t.Fatal(err)
	}
	cvkey, err := fnote.VKeyToCosignatureV1(wvkey)
	if err != nil {
		t.Fatal(err)
	}
	logVKey := al.lg.Signer.VerifierKey()
	pol := writePolicy(t, t.TempDir(), "policy", logVKey, "witness w1 "+cvkey+"\n", "w1")
	audit := func(want int, pol string, args ...string) result {
		t.Helper()
		r := credlog(t, nil, append([]string{"audit", "-log", srv.URL, "-policy", pol}, args...)...)
		if r.code != want {
			t.Fatalf("audit: exit %d, want %d\n%s%s", r.code, want, r.stdout, r.stderr)
		}
		return r
	}

	// Without the witness's cosignature, the checkpoint is refused.
	r := audit(ExitAuditQuorum, pol)
	if !strings.Contains(r.stderr, "quorum") {
		t.Errorf("stderr: %q", r.stderr)
	}
	cosigned := replaytest.Cosign(t, raw, logVKey, wskey)
	replaytest.WriteFile(t, filepath.Join(dir, "checkpoint"), cosigned)
	r = audit(0, pol, "-format", "json")
	if !strings.Contains(r.stdout, `"witnesses": [`+"\n"+`    "w1"`) {
		t.Errorf("report does not name the witness:\n%s", r.stdout)
	}

	// A policy with another key for the log's name.
	other, err := fscktest.NewIssuer(logOrigin)
	if err != nil {
		t.Fatal(err)
	}
	r = audit(ExitAuditSignature, writePolicy(t, t.TempDir(), "wrong", other.VKey, "", "none"))
	if !strings.Contains(r.stderr, "not signed") {
		t.Errorf("stderr: %q", r.stderr)
	}

	// One byte of entry 300 changed in the copy's bundle.
	const bad = 300
	bundlePath := filepath.Join(dir, layout.EntriesPath(bad/256, 0))
	orig, err := os.ReadFile(bundlePath)
	if err != nil {
		t.Fatal(err)
	}
	es, err := tiles.BundleEntries(orig)
	if err != nil {
		t.Fatal(err)
	}
	off := 0
	for _, e := range es[:bad%256] {
		off += 2 + len(e)
	}
	tampered := append([]byte(nil), orig...)
	tampered[off+2+20] ^= 0x40
	replaytest.WriteFile(t, bundlePath, tampered)
	r = audit(ExitAuditTree, pol, "-format", "json")
	var rep auditReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	ev := rep.Evidence
	if rep.OK || ev == nil || ev.Index == nil || *ev.Index != bad || ev.Class != "tree" ||
		string(ev.Entry) != string(tampered[off+2:off+2+len(es[bad%256])]) || ev.Checkpoint != string(cosigned) {
		t.Errorf("evidence: %+v", ev)
	}
	r = audit(ExitAuditTree, pol)
	if !strings.Contains(r.stdout, fmt.Sprintf("index           %d", bad)) || !strings.Contains(r.stderr, fmt.Sprintf("entry %d:", bad)) {
		t.Errorf("table output does not name entry %d:\n%s%s", bad, r.stdout, r.stderr)
	}
	replaytest.WriteFile(t, bundlePath, orig)

	// The log's own key signs a checkpoint over one more entry: the first
	// issue event again, which breaks a rule.
	entries := readEntries(t, dir, rep.Size)
	var dup []byte
	for _, e := range entries {
		if ev, _ := entry.Parse(e); ev != nil && ev.Type == entry.TypeIssue {
			dup = e
			break
		}
	}
	entries = append(entries, dup)
	root := replaytest.WriteLog(t, dir, entries, nil)
	cp := replaytest.SignCheckpoint(t, al.lg.Signer, uint64(len(entries)), root[:])
	replaytest.WriteFile(t, filepath.Join(dir, "checkpoint"), replaytest.Cosign(t, cp, logVKey, wskey))
	r = audit(ExitAuditViolation, pol, "-format", "csv")
	recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("CSV evidence: %v\n%s", err, r.stdout)
	}
	if e := recs[1]; e[0] != "rule" || e[1] != strconv.Itoa(len(entries)-1) || e[2] != "issue-not-new" ||
		e[4] != base64.StdEncoding.EncodeToString(dup) || !strings.HasPrefix(e[5], logOrigin+"\n") {
		t.Errorf("CSV evidence: %q", e)
	}
	audit(0, pol, "-hashes-only")
}

// readEntries reads the first size entries of the log copy in dir.
func readEntries(t *testing.T, dir string, size uint64) [][]byte {
	t.Helper()
	var out [][]byte
	for i := uint64(0); i*256 < size; i++ {
		b, err := os.ReadFile(filepath.Join(dir, layout.EntriesPath(i, uint8(min(size-i*256, 256)%256))))
		if err != nil {
			t.Fatal(err)
		}
		es, err := tiles.BundleEntries(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, es...)
	}
	return out
}
