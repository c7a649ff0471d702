package logd

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReadOnlyDataDir starts credlogd on a data directory it cannot write
// or database: with the database files mode 0400, and then also the
// directory mode 0500, Run fails at startup with an error naming the file
// it could not write, rather than serving a log it cannot append to. Root ignores file permissions, so as root the test is skipped;
// log/sequencer's TestReadOnlyDatabase covers a read-only database for
// every user.
func TestReadOnlyDataDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root, which writes to read-only files and directories; see log/sequencer TestReadOnlyDatabase")
	}
	dir := filepath.Join(t.TempDir(), "data")
	iss := newIssuer(t, "id.example.gov")
	cfg := Config{Origin: "log.example/credlog", DataDir: dir, Listen: "127.0.0.1:0",
		BatchMaxAge: Duration{2 * time.Millisecond}, Issuers: []IssuerConfig{iss.cfg}}
	r := start(t, cfg)
	// Stop only once the issuer's registration is logged and published.
	for i := 0; ; i++ {
		if _, err := r.c.Checkpoint(context.Background()); err == nil {
			break
		} else if i == 500 {
			t.Fatalf("no checkpoint: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	run := func() error {
		c := cfg
		return Run(context.Background(), &c, logger, func(string) {
			t.Error("credlogd started on a read-only data directory")
		})
	}
	t.Cleanup(func() {
		os.Chmod(dir, 0o700)
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				os.Chmod(p, 0o600)
			}
			return nil
		})
	})

	// The database read-only, the directory writable.
	dbs, _ := filepath.Glob(filepath.Join(dir, "log.db*"))
	for _, f := range dbs {
		if err := os.Chmod(f, 0o400); err != nil {
			t.Fatal(err)
		}
	}
	if err := run(); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "log.db")) {
		t.Fatalf("Run on a read-only database: %v; want an error naming log.db", err)
	} else {
		t.Logf("read-only database: %v", err)
	}

	// Everything read-only.
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.Chmod(filepath.Join(dir, f.Name()), 0o400); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	if err := run(); err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("Run on a read-only data directory: %v; want a permission error naming the directory", err)
	} else {
		t.Logf("read-only data directory: %v", err)
	}
}
