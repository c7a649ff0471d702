package replay_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/transparency-dev/tessera/client"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/fsck/fscktest"
	"github.com/credlog/credlog/log/replay"
	"github.com/credlog/credlog/log/replay/replaytest"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/vmap"
)

// benchEntries is the size of the benchmarks' log: events of two issuers
// with a map-root entry every 4096 entries.
const benchEntries = 100_000

// benchLog builds the benchmarks' log once, in a directory in the
// tlog-tiles layout.
func benchLog(b *testing.B) (*testLog, string) {
	b.Helper()
	l := newTestLog(b)
	iss2, err := fscktest.NewIssuer("second.example")
	if err != nil {
		b.Fatal(err)
	}
	reg, err := iss2.Registration(l.key)
	if err != nil {
		b.Fatal(err)
	}
	l.entries = append(l.entries, reg)
	works := []*fscktest.Workload{l.work, iss2.Workload("bench", 2)}
	ctx := context.Background()
	rb := vmap.NewRebuilder(state.NewRules(origin, l.key.Public()))
	for _, e := range l.entries {
		if err := rb.Add(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	for len(l.entries) < benchEntries {
		if len(l.entries)%4096 == 4095 {
			root, err := rb.Root(ctx)
			if err != nil {
				b.Fatal(err)
			}
			ev := &entry.Event{Type: entry.TypeMapRoot, Issuer: origin, KeyID: l.key.KeyID(), Time: fscktest.T0,
				TreeSize: uint64(len(l.entries)), MapRoot: root}
			l.addSigned(b, ev, l.key)
		} else {
			e, err := works[len(l.entries)%2].Next()
			if err != nil {
				b.Fatal(err)
			}
			l.entries = append(l.entries, e)
		}
		if err := rb.Add(ctx, l.entries[len(l.entries)-1]); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	root := replaytest.WriteLog(b, dir, l.entries, nil)
	replaytest.WriteFile(b, filepath.Join(dir, "checkpoint"), replaytest.SignCheckpoint(b, l.key, uint64(len(l.entries)), root[:]))
	return l, dir
}

// benchReplay replays the benchmark log b.N times from f and reports
// entries per second.
func benchReplay(b *testing.B, l *testLog, f replay.Fetcher, opts replay.Options) {
	pol := l.policy(b)
	cp, _, err := replay.FetchCheckpoint(context.Background(), f.(replay.CheckpointReader), pol)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu := cpuTime()
	for range b.N {
		r := replay.New(origin, l.key.Public(), f, opts)
		if err := r.Advance(context.Background(), cp); err != nil {
			b.Fatal(err)
		}
	}
	n := float64(b.N) * float64(cp.Size)
	b.ReportMetric(n/b.Elapsed().Seconds(), "entries/s")
	// CPU time per entry (of the whole process, an HTTP server included),
	// which depends less than entries/s on what else the machine runs.
	b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/n, "cpu-ns/entry")
}

// BenchmarkReplay measures a full replay (signatures, rules, map, tree) and
// a hashes-only one, reading the log from files (tessera's FileFetcher)
// and over loopback HTTP (an http.FileServer).
func BenchmarkReplay(b *testing.B) {
	l, dir := benchLog(b)
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	u, _ := url.Parse(srv.URL + "/")
	hf, err := client.NewHTTPFetcher(u, srv.Client())
	if err != nil {
		b.Fatal(err)
	}
	ff := client.FileFetcher{Root: dir}
	b.Run("full/file", func(b *testing.B) { benchReplay(b, l, ff, replay.Options{}) })
	b.Run("full/http", func(b *testing.B) { benchReplay(b, l, hf, replay.Options{}) })
	b.Run("hashes/file", func(b *testing.B) { benchReplay(b, l, ff, replay.Options{HashesOnly: true}) })
	b.Run("hashes/http", func(b *testing.B) { benchReplay(b, l, hf, replay.Options{HashesOnly: true}) })
}
