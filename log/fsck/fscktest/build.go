package fscktest

import (
	"context"
	"crypto/rand"
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/sequencer"
	"github.com/credlog/credlog/log/storage/sqlite"
)

// Origin is the origin of the logs Build builds.
const Origin = "fsck.example/credlog"

// Config says what log Build builds.
type Config struct {
	Issuers  int    // issuers registered, each with its own workload
	Rounds   int    // rounds of submissions, each committed and published before the next
	PerRound int    // events per round, spread over the issuers
	MaxBatch int    // the sequencer's batch bound (default 200, so that a round takes several batches)
	Seed     uint64 // seeds the workloads
	// MapMaxPending, if positive, is the sequencer's bound on map updates
	// between map-root entries: the log gets a map-root entry every so
	// many credentials and subjects changed, and at no other time. Zero
	// means a log with no map-root entry, however long building takes.
	MapMaxPending int
}

// noMapRoot is a map epoch that no build lasts.
const noMapRoot = 1000 * time.Hour

// Log is a log that Build built.
type Log struct {
	Dir     string // holds log.db and log.vkey, as credlogd's data directory does
	DB      string // the database file
	Key     *keys.Signer
	Issuers []*Issuer
	Size    uint64 // entries logged, map-root entries included
}

// Build builds a log in dir through the sequencer and SQLite: it registers
// the issuers, then logs cfg.Rounds rounds of events from their workloads,
// waiting after each round for a checkpoint that covers it. It closes the
// log cleanly, and writes the log's verifier key to dir/log.vkey.
func Build(t testing.TB, dir string, cfg Config) *Log {
	t.Helper()
	ctx := context.Background()
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = 200
	}
	skey, vkey, err := keys.Generate(Origin, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	lk, err := keys.ParseSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.WritePublicFile(filepath.Join(dir, "log.vkey"), vkey); err != nil {
		t.Fatal(err)
	}
	l := &Log{Dir: dir, DB: filepath.Join(dir, "log.db"), Key: lk}
	st, err := sqlite.Open(ctx, l.DB)
	if err != nil {
		t.Fatal(err)
	}
	mapMaxPending := cfg.MapMaxPending
	if mapMaxPending <= 0 {
		mapMaxPending = math.MaxInt
	}
	seq, err := sequencer.New(ctx, sequencer.Config{Signer: lk, Storage: st, MaxBatch: cfg.MaxBatch,
		MaxAge: 5 * time.Millisecond, PublishInterval: 10 * time.Millisecond,
		MapEpoch: noMapRoot, MapIdle: noMapRoot, MapMaxPending: mapMaxPending})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- seq.Run(runCtx) }()

	var regs [][]byte
	var loads []*Workload
	for i := range cfg.Issuers {
		iss, err := NewIssuer(fmt.Sprintf("issuer-%d.example", i))
		if err != nil {
			t.Fatal(err)
		}
		reg, err := iss.Registration(lk)
		if err != nil {
			t.Fatal(err)
		}
		l.Issuers = append(l.Issuers, iss)
		regs = append(regs, reg)
		loads = append(loads, iss.Workload(fmt.Sprint("w", i), cfg.Seed+uint64(i)))
	}
	submit(t, seq, regs)
	for range cfg.Rounds {
		var round [][]byte
		for k := range cfg.PerRound {
			ev, err := loads[k%len(loads)].Next()
			if err != nil {
				t.Fatal(err)
			}
			round = append(round, ev)
		}
		end := submit(t, seq, round)
		if _, err := seq.WaitPublished(ctx, end); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The log appended its own map-root entries among the events.
	tree, err := st.Tree(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l.Size = tree.Size
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return l
}

// submit queues events in order, waits until all are logged, and returns
// the tree size that covers them.
func submit(t testing.TB, seq *sequencer.Log, events [][]byte) uint64 {
	t.Helper()
	var fs []*sequencer.Future
	for _, raw := range events {
		ev, err := sequencer.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := seq.Verify(ev); err != nil {
			t.Fatal(err)
		}
		f, err := seq.Add(ev)
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	var end uint64
	for i, f := range fs {
		r := f.Wait(context.Background())
		if r.Err != nil || r.Duplicate {
			t.Fatalf("event %d of %d: %+v", i, len(fs), r)
		}
		end = max(end, r.Index+1)
	}
	return end
}
