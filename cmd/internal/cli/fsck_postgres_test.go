package cli

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/credlog/credlog/log/fsck/fscktest"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/sequencer"
	"github.com/credlog/credlog/log/storage/postgres"
	"github.com/credlog/credlog/log/storage/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// buildPostgresLog logs a registration and n events in a new PostgreSQL
// database through the sequencer, and returns the database's URL and the
// path of the log's verifier key.
func buildPostgresLog(t *testing.T, n int) (dsn, vkeyPath string) {
	t.Helper()
	ctx := context.Background()
	dsn = pgtest.DSN(t)
	skey, vkey, err := keys.Generate(fscktest.Origin, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	lk, err := keys.ParseSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	vkeyPath = filepath.Join(t.TempDir(), "log.vkey")
	if err := keys.WritePublicFile(vkeyPath, vkey); err != nil {
		t.Fatal(err)
	}
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seq, err := sequencer.New(ctx, sequencer.Config{Signer: lk, Storage: st, MaxAge: 5 * time.Millisecond, PublishInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- seq.Run(runCtx) }()
	iss, err := fscktest.NewIssuer("issuer.example")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := iss.Registration(lk)
	if err != nil {
		t.Fatal(err)
	}
	events := [][]byte{reg}
	w := iss.Workload("w", 1)
	for range n {
		ev, err := w.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	for i, raw := range events {
		e, err := sequencer.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		f, err := seq.Add(e)
		if err != nil {
			t.Fatal(err)
		}
		if res := f.Wait(ctx); res.Err != nil {
			t.Fatalf("event %d: %v", i, res.Err)
		}
	}
	if _, err := seq.WaitPublished(ctx, uint64(len(events))); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return dsn, vkeyPath
}

func TestFsckPostgres(t *testing.T) {
	dsn, vkey := buildPostgresLog(t, 40)
	r := mustRun(t, "fsck", "-database", dsn, "-vkey", vkey)
	if !strings.Contains(r.stdout, "ok: 41 entries") || r.stderr != "" {
		t.Errorf("fsck -database of a sound log: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	// -data names the directory of the verifier key.
	mustRun(t, "fsck", "-database", dsn, "-data", filepath.Dir(vkey))

	// An inconsistency is named, and exits 1.
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "DELETE FROM leaves WHERE idx = 5"); err != nil {
		t.Fatal(err)
	}
	r = credlog(t, nil, "fsck", "-database", dsn, "-vkey", vkey)
	if want := "credlog: fsck: entry 5: not in the leaf-hash index\n"; r.code != ExitFailure || r.stderr != want || r.stdout != "" {
		t.Errorf("fsck of a corrupt log: exit %d, stdout %q, stderr %q; want 1, stderr %q", r.code, r.stdout, r.stderr, want)
	}
}

func TestFsckPostgresUsage(t *testing.T) {
	for _, args := range [][]string{
		{"fsck", "-database", "postgres://u@h/db"},
		{"fsck", "-database", "dbname=x", "-vkey", "k"},
		{"fsck", "-database", "postgres://u@h/db", "-db", "log.db", "-vkey", "k"},
	} {
		if r := credlog(t, nil, args...); r.code != ExitUsage {
			t.Errorf("credlog %s: exit %d, stderr %q; want a usage error", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	// A password in the URL is never printed.
	dsn, vkey := buildPostgresLog(t, 1)
	withPassword := strings.Replace(dsn, "postgres://postgres@", "postgres://postgres:s3cret@", 1)
	if withPassword == dsn {
		t.Skipf("cannot add a password to %s", dsn)
	}
	r := credlog(t, nil, "fsck", "-database", withPassword, "-vkey", vkey)
	if strings.Contains(r.stdout+r.stderr, "s3cret") {
		t.Errorf("fsck printed the password: %q %q", r.stdout, r.stderr)
	}
}
