package postgres_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/storage/postgres"
	"github.com/credlog/credlog/log/storage/postgres/pgtest"
	"github.com/credlog/credlog/log/storage/storagetest"
	"github.com/credlog/credlog/log/tiles"
	"github.com/credlog/credlog/log/vmap/vmaptest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func open(t testing.TB, dsn string) *postgres.Storage {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	dsns := map[string]string{}
	storagetest.Run(t, func(t *testing.T, name string) storage.Storage {
		dsn, ok := dsns[name]
		if !ok {
			dsn = pgtest.DSN(t)
			dsns[name] = dsn
		}
		return open(t, dsn)
	})
}

func TestMapNodes(t *testing.T) {
	vmaptest.Run(t, func(t *testing.T) vmaptest.Store {
		s := open(t, pgtest.DSN(t))
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func BenchmarkCommit(b *testing.B) {
	for _, n := range []int{256, 4096} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			s := open(b, pgtest.DSN(b))
			defer s.Close()
			storagetest.BenchmarkCommit(b, s, n)
		})
	}
}

// TestConcurrentOpen opens one new database from several goroutines at
// once: the migrations are applied exactly once.
func TestConcurrentOpen(t *testing.T) {
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			s, err := postgres.Open(context.Background(), dsn)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, dsn)
	var n, max int
	if err := conn.QueryRow(context.Background(), "SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != postgres.SchemaVersion || max != postgres.SchemaVersion {
		t.Fatalf("schema_migrations has %d rows up to version %d, want %d", n, max, postgres.SchemaVersion)
	}
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestNewerSchema refuses a database migrated by a newer credlog.
func TestNewerSchema(t *testing.T) {
	dsn := pgtest.DSN(t)
	open(t, dsn).Close()
	conn := connect(t, dsn)
	if _, err := conn.Exec(context.Background(), "INSERT INTO schema_migrations (version) VALUES ($1)", postgres.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Open(context.Background(), dsn); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a database with a newer schema: %v", err)
	}
	if _, err := postgres.OpenReadOnly(context.Background(), dsn); err == nil {
		t.Fatal("OpenReadOnly of a database with a newer schema succeeded")
	}
}

// TestConcurrentCommit runs two committers of the same batch at once:
// exactly one succeeds, the other gets a ConflictError.
func TestConcurrentCommit(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	a, b := open(t, dsn), open(t, dsn)
	defer a.Close()
	defer b.Close()
	for round := range 20 {
		ts, err := a.Tree(ctx)
		if err != nil {
			t.Fatal(err)
		}
		bld, err := tiles.NewBuilder(ts.Size, ts.Edge,
			func(l, i uint64) ([]byte, error) { return a.ReadTile(ctx, l, i) },
			func(_, i uint64) ([]byte, error) { return a.ReadBundle(ctx, i) })
		if err != nil {
			t.Fatal(err)
		}
		var batches [2]*storage.Batch
		for j := range batches {
			e := []byte("round " + strconv.Itoa(round) + " committer " + strconv.Itoa(j))
			sb := &storage.Batch{Start: ts.Size, Entries: []storage.Entry{{Index: ts.Size, LeafHash: tiles.LeafHash(e), Issuer: "iss"}}}
			u, err := bld.Clone().Append([][]byte{e})
			if err != nil {
				t.Fatal(err)
			}
			sb.SetTree(u)
			batches[j] = sb
		}
		var errs [2]error
		var wg sync.WaitGroup
		for j, s := range []*postgres.Storage{a, b} {
			wg.Go(func() { errs[j] = s.Commit(ctx, batches[j]) })
		}
		wg.Wait()
		var ok, conflicts int
		for _, err := range errs {
			var ce *storage.ConflictError
			switch {
			case err == nil:
				ok++
			case errors.As(err, &ce) && ce.Stored == ts.Size+1:
				conflicts++
			default:
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		if ok != 1 || conflicts != 1 {
			t.Fatalf("round %d: %d commits succeeded and %d conflicted, want 1 and 1", round, ok, conflicts)
		}
		if ts2, _ := b.Tree(ctx); ts2.Size != ts.Size+1 {
			t.Fatalf("round %d: tree size %d, want %d", round, ts2.Size, ts.Size+1)
		}
	}
}

// TestReadOnly checks that OpenReadOnly reads and refuses to write.
func TestReadOnly(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	s := open(t, dsn)
	if err := s.PutCheckpoint(ctx, 1, []byte("cp")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	r, err := postgres.OpenReadOnly(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if size, _, err := r.LatestCheckpoint(ctx); err != nil || size != 1 {
		t.Fatalf("LatestCheckpoint = %d, %v", size, err)
	}
	if err := r.PutCheckpoint(ctx, 2, []byte("cp2")); err == nil {
		t.Fatal("PutCheckpoint on a read-only storage succeeded")
	}
	if _, err := postgres.OpenReadOnly(ctx, pgtest.DSN(t)); err == nil {
		t.Fatal("OpenReadOnly of an empty database succeeded")
	}
}

// TestLeader checks the sequencer lease: one holder at a time, released
// when its connection ends, and a taken-over holder fenced off.
func TestLeader(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	a, b := open(t, dsn), open(t, dsn)
	defer a.Close()
	defer b.Close()
	if url, held, err := a.LeaderURL(ctx); err != nil || held || url != "" {
		t.Fatalf("LeaderURL before any lease = %q, %v, %v", url, held, err)
	}
	la, err := a.AcquireLeader(ctx, "http://a/", 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if url, held, err := b.LeaderURL(ctx); err != nil || !held || url != "http://a/" {
		t.Fatalf("LeaderURL = %q, %v, %v; want http://a/, held", url, held, err)
	}
	if err := a.PutCheckpoint(ctx, 1, []byte("a1")); err != nil {
		t.Fatal(err)
	}
	// b waits while a holds the lease.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := b.AcquireLeader(short, "http://b/", 50*time.Millisecond); err == nil {
		t.Fatal("b acquired the lease that a holds")
	}
	// Kill a's lease connection from the server side, as a dying process
	// would lose it: a notices, b takes over with a new epoch.
	var pid int32
	conn := connect(t, dsn)
	if err := conn.QueryRow(ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	lb, err := b.AcquireLeader(ctx, "http://b/", 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Release()
	if lb.Epoch() != la.Epoch()+1 {
		t.Fatalf("epochs %d then %d", la.Epoch(), lb.Epoch())
	}
	<-la.Lost()
	la.Release()
	// a is fenced: it can neither commit nor publish any more.
	if err := a.PutCheckpoint(ctx, 2, []byte("a2")); !errors.Is(err, postgres.ErrNotLeader) {
		t.Fatalf("PutCheckpoint of the old leader: %v", err)
	}
	ts, _ := a.Tree(ctx)
	if err := a.Commit(ctx, &storage.Batch{Start: ts.Size, Tree: *ts}); !errors.Is(err, postgres.ErrNotLeader) {
		t.Fatalf("Commit of the old leader: %v", err)
	}
	if err := b.PutCheckpoint(ctx, 2, []byte("b2")); err != nil {
		t.Fatal(err)
	}
	if url, held, err := a.LeaderURL(ctx); err != nil || !held || url != "http://b/" {
		t.Fatalf("LeaderURL = %q, %v, %v; want http://b/, held", url, held, err)
	}
}
