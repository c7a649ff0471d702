package logd

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/log/storage/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// health returns the body of GET /healthz.
func health(t *testing.T, r *running) string {
	t.Helper()
	resp, err := http.Get(r.url + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestSharedDatabase runs two instances on one PostgreSQL database: the
// first sequences, the second forwards submissions to it and serves
// reads; once the first stops, the second takes over.
func TestSharedDatabase(t *testing.T) {
	dsn := pgtest.DSN(t)
	dir := filepath.Join(t.TempDir(), "data")
	iss := newIssuer(t, "id.example.gov")
	cfg := Config{Origin: "log.example/credlog", DataDir: dir, Database: dsn, Listen: "127.0.0.1:0",
		BatchMaxAge: Duration{2 * time.Millisecond}, Issuers: []IssuerConfig{iss.cfg}}
	a := start(t, cfg)
	v, _ := logVerifier(t, dir)
	waitSize(t, a, v, cfg.Origin, 1) // the issuer's registration
	b := start(t, cfg)
	if h := health(t, b); !strings.Contains(h, "standby") {
		t.Fatalf("the second instance's /healthz = %q, want a standby", h)
	}
	ctx := context.Background()
	res, err := b.c.Submit(ctx, iss.issue(t, 1), false)
	if err != nil {
		t.Fatalf("submission through the standby: %v", err)
	}
	if res.Index != 1 {
		t.Fatalf("forwarded submission logged at %d, want 1", res.Index)
	}
	waitSize(t, b, v, cfg.Origin, 2) // served by the standby, from the database
	if lr, err := b.c.LookupCredential(ctx, sha256.Sum256([]byte("credential 1"))); err != nil || len(lr.Events) != 1 || lr.Events[0].Index != 1 {
		t.Fatalf("lookup through the standby: %+v, %v", lr, err)
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	// The standby takes over: a submission succeeds once it sequences.
	var got *api.SubmitResult
	for i := 0; ; i++ {
		got, err = b.c.Submit(ctx, iss.issue(t, 2), true)
		if err == nil {
			break
		}
		if !api.IsStatus(err, http.StatusServiceUnavailable) || i == 1000 {
			t.Fatalf("submission after the first instance stopped: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got.Index != 2 || got.Proof == "" {
		t.Fatalf("submission to the new sequencer: %+v", got)
	}
	if h := health(t, b); strings.Contains(h, "standby") {
		t.Fatalf("the new sequencer's /healthz = %q", h)
	}
	// A resubmission of the first event answers its original index.
	if res, err := b.c.Submit(ctx, iss.issue(t, 1), false); err != nil || res.Index != 1 {
		t.Fatalf("resubmission after the takeover: %+v, %v", res, err)
	}
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	// An instance with a log key of its own is refused.
	other := cfg
	other.DataDir = filepath.Join(t.TempDir(), "other")
	if err := Run(ctx, &other, slog.New(slog.NewTextHandler(io.Discard, nil)), func(string) {
		t.Error("an instance with another log key started")
	}); err == nil || !strings.Contains(err.Error(), "same log key") {
		t.Fatalf("Run with another log key: %v", err)
	}
}

func TestDatabaseConfig(t *testing.T) {
	for name, c := range map[string]Config{
		"not a URL":              {Database: "host=/tmp dbname=x"},
		"advertise without a db": {Advertise: "http://127.0.0.1:1/"},
	} {
		if err := c.SetDefaults(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c := Config{Database: "postgresql://u@h/db", Advertise: "http://10.0.0.1:8080/"}
	if err := c.SetDefaults(); err != nil {
		t.Fatal(err)
	}
	p, err := ParseConfig([]byte(`{"database": "postgres://x@y/z", "advertise": "http://a/"}`))
	if err != nil || p.Database != "postgres://x@y/z" || p.Advertise != "http://a/" {
		t.Fatalf("ParseConfig: %+v, %v", p, err)
	}
}

// TestLeaseLost cuts the sequencing instance's lease connection from the
// database side: the instance stops sequencing and Run returns
// errLeaseLost, so that a supervisor restarts it as a standby.
func TestLeaseLost(t *testing.T) {
	dsn := pgtest.DSN(t)
	iss := newIssuer(t, "id.example.gov")
	cfg := Config{Origin: "log.example/credlog", DataDir: filepath.Join(t.TempDir(), "data"), Database: dsn, Listen: "127.0.0.1:0",
		BatchMaxAge: Duration{2 * time.Millisecond}, Issuers: []IssuerConfig{iss.cfg}}
	a := start(t, cfg)
	ctx := context.Background()
	for i := 0; strings.Contains(health(t, a), "standby"); i++ {
		if i == 3000 {
			t.Fatal("the only instance never took the sequencer lease")
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminated %d lease holders: %v", n, err)
	}
	for i := 0; ; i++ {
		if _, err := http.Get(a.url + "healthz"); err != nil {
			break // the instance stopped serving
		}
		if i == 3000 {
			t.Fatal("the instance still serves after losing its lease")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := a.stop(); !errors.Is(err, errLeaseLost) {
		t.Fatalf("Run after the lease was lost: %v; want %v", err, errLeaseLost)
	}
}
