package cli

import (
	"context"
	"crypto/rand"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credlog/credlog/log/fsck/fscktest"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/storage/sqlite"
)

func TestFsck(t *testing.T) {
	dir := t.TempDir()
	l := fscktest.Build(t, dir, fscktest.Config{Issuers: 2, Rounds: 3, PerRound: 100, Seed: 7})

	r := mustRun(t, "fsck", "-data", dir)
	if !strings.Contains(r.stdout, "ok: 302 entries in 2 entry bundles and 3 tiles; 902 index rows; 2 issuers") || r.stderr != "" {
		t.Errorf("fsck -data of a sound log: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	// -db, with the verifier key elsewhere.
	vkey := filepath.Join(t.TempDir(), "key.vkey")
	if err := os.Rename(filepath.Join(dir, "log.vkey"), vkey); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "fsck", "-db", l.DB, "-vkey", vkey)
	r = credlog(t, nil, "fsck", "-db", l.DB)
	if r.code != ExitFailure || !strings.Contains(r.stderr, "couldn't read the log's verifier key (name its file with -vkey)") {
		t.Errorf("fsck without the verifier key: exit %d, stderr %q", r.code, r.stderr)
	}

	// An inconsistency is named, and exits 1.
	db, err := sql.Open("sqlite", "file:"+l.DB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("DELETE FROM leaves WHERE idx = 5"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	r = credlog(t, nil, "fsck", "-db", l.DB, "-vkey", vkey)
	if want := "credlog: fsck: entry 5: not in the leaf-hash index\n"; r.code != ExitFailure || r.stderr != want || r.stdout != "" {
		t.Errorf("fsck of a corrupt log: exit %d, stdout %q, stderr %q; want 1, stderr %q", r.code, r.stdout, r.stderr, want)
	}
}

func TestFsckUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"fsck"},
		{"fsck", "-data", dir, "-db", filepath.Join(dir, "log.db")},
		{"fsck", "-data", dir, "extra"},
		{"fsck", "-bogus"},
	} {
		if r := credlog(t, nil, args...); r.code != ExitUsage || !strings.Contains(r.stderr, "Run 'credlog fsck -h' for usage.") {
			t.Errorf("credlog %s: exit %d, stderr %q; want a usage error", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	// Not a data directory: a failure, not a usage error, and no database
	// is created there.
	_, vkey, err := keys.Generate(fscktest.Origin, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "log.vkey"), []byte(vkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := credlog(t, nil, "fsck", "-data", dir); r.code != ExitFailure || !strings.Contains(r.stderr, "couldn't open database") {
		t.Errorf("fsck of a directory without a log: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "log.db")); err == nil {
		t.Error("fsck created a database")
	}
	s, err := sqlite.Open(context.Background(), filepath.Join(dir, "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if r := credlog(t, nil, "fsck", "-data", dir); r.code != ExitOK || !strings.Contains(r.stdout, "ok: 0 entries") {
		t.Errorf("fsck of an empty log: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if err := os.WriteFile(filepath.Join(dir, "log.vkey"), []byte(fscktest.Origin+"+01234567+garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := credlog(t, nil, "fsck", "-data", dir); r.code != ExitFailure || !strings.Contains(r.stderr, "couldn't parse the log's verifier key") {
		t.Errorf("fsck with a bad verifier key: exit %d, stderr %q", r.code, r.stderr)
	}
}
