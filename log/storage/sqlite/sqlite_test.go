package sqlite_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/storage/sqlite"
	"github.com/credlog/credlog/log/storage/storagetest"
	"github.com/credlog/credlog/log/tiles"
	"github.com/credlog/credlog/log/vmap"
	"github.com/credlog/credlog/log/vmap/vmaptest"
)

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	storagetest.Run(t, func(t *testing.T, name string) storage.Storage {
		s, err := sqlite.Open(context.Background(), filepath.Join(dir, name+".db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func BenchmarkCommit(b *testing.B) {
	for _, n := range []int{256, 4096} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			storagetest.BenchmarkCommit(b, s, n)
		})
	}
}

// commitEntries commits a batch of n synthetic entries to s.
func commitEntries(t *testing.T, s *sqlite.Storage, n int) *storage.TreeState {
	t.Helper()
	ctx := context.Background()
	ts, err := s.Tree(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tiles.NewBuilder(ts.Size, ts.Edge,
		func(l, i uint64) ([]byte, error) { return s.ReadTile(ctx, l, i) },
		func(_, i uint64) ([]byte, error) { return s.ReadBundle(ctx, i) })
	if err != nil {
		t.Fatal(err)
	}
	sb := &storage.Batch{Start: ts.Size}
	var data [][]byte
	for i := range n {
		e := fmt.Appendf(nil, "entry %d", ts.Size+uint64(i))
		data = append(data, e)
		sb.Entries = append(sb.Entries, storage.Entry{Index: ts.Size + uint64(i), LeafHash: tiles.LeafHash(e), Issuer: "iss"})
	}
	u, err := b.Append(data)
	if err != nil {
		t.Fatal(err)
	}
	sb.SetTree(u)
	if err := s.Commit(ctx, sb); err != nil {
		t.Fatal(err)
	}
	return &sb.Tree
}

// dirHashes returns the SHA-256 of every file in dir, by name.
func dirHashes(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][32]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

// checkReadOnly opens path read-only, checks that it holds want and
// refuses writes, and that nothing in its directory changed.
func checkReadOnly(t *testing.T, path string, want *storage.TreeState) {
	t.Helper()
	ctx := context.Background()
	before := dirHashes(t, filepath.Dir(path))
	s, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := s.Tree(ctx)
	if err != nil || ts.Size != want.Size || ts.Root != want.Root {
		t.Errorf("read-only tree = %+v, %v; want size %d", ts, err, want.Size)
	}
	if _, err := s.ReadBundle(ctx, 0); err != nil {
		t.Errorf("read-only ReadBundle: %v", err)
	}
	if err := s.PutCheckpoint(ctx, want.Size+1, []byte("cp")); err == nil {
		t.Error("PutCheckpoint on a read-only database succeeded")
	}
	if err := s.Commit(ctx, &storage.Batch{Start: ts.Size, Tree: *ts}); err == nil {
		t.Error("Commit on a read-only database succeeded")
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if after := dirHashes(t, filepath.Dir(path)); !maps.Equal(before, after) {
		t.Errorf("opening read-only changed the directory:\nbefore %x\nafter  %x", before, after)
	}
}

func TestOpenReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	commitEntries(t, s, 300)
	want := commitEntries(t, s, 20)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkReadOnly(t, path, want)

	if _, err := sqlite.OpenReadOnly(context.Background(), filepath.Join(t.TempDir(), "absent.db")); err == nil {
		t.Error("OpenReadOnly of a missing file succeeded")
	}
	notLog := filepath.Join(t.TempDir(), "other.db")
	if err := os.WriteFile(notLog, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.OpenReadOnly(context.Background(), notLog); err == nil {
		t.Error("OpenReadOnly of a file that is not a credlog database succeeded")
	}
}

// TestOpenReadOnlyAfterCrash reads a database whose writer process exited
// without closing it, leaving its write-ahead log and -shm index behind.
func TestOpenReadOnlyAfterCrash(t *testing.T) {
	if dir := os.Getenv("CREDLOG_SQLITE_CRASH_DIR"); dir != "" {
		s, err := sqlite.Open(context.Background(), filepath.Join(dir, "log.db"))
		if err != nil {
			t.Fatal(err)
		}
		commitEntries(t, s, 300)
		ts := commitEntries(t, s, 20)
		os.WriteFile(filepath.Join(dir, "root"), ts.Root[:], 0o600)
		os.Exit(0) // no Close: as if killed
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOpenReadOnlyAfterCrash$")
	cmd.Env = append(os.Environ(), "CREDLOG_SQLITE_CRASH_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("writer: %v\n%s", err, out)
	}
	root, err := os.ReadFile(filepath.Join(dir, "root"))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "root"))
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(filepath.Join(dir, "log.db"+suffix)); err != nil {
			t.Fatalf("the writer left no %s file: %v", suffix, err)
		}
	}
	checkReadOnly(t, filepath.Join(dir, "log.db"), &storage.TreeState{Size: 320, Root: [32]byte(root)})
}

func TestMapNodes(t *testing.T) {
	dir := t.TempDir()
	n := 0
	vmaptest.Run(t, func(t *testing.T) vmaptest.Store {
		n++
		s, err := sqlite.Open(context.Background(), filepath.Join(dir, fmt.Sprintf("map-%d.db", n)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestCloseTwice: a second Close returns (it does not panic or hang).
func TestCloseTwice(t *testing.T) {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// benchMap is a stored map of 200,000 keys ("key 0", "key 1", ...) for the
// map benchmarks, and update, which computes the Diff that sets n keys
// from first to value.
func benchMap(b *testing.B) (s *sqlite.Storage, update func(first, n int, value string) *vmap.Diff) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	update = func(first, n int, value string) *vmap.Diff {
		ups := make([]vmap.Update, n)
		for i := range ups {
			ups[i] = vmap.Update{Key: benchKey(first + i), Value: []byte(value)}
		}
		d, err := vmap.NewTree(s).Update(ctx, ups)
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	for first := 0; first < benchKeys; first += 50_000 {
		if err := s.WriteNodes(ctx, update(first, 50_000, "first value").Writes); err != nil {
			b.Fatal(err)
		}
	}
	return s, update
}

const benchKeys = 200_000

func benchKey(i int) vmap.Key { return sha256.Sum256(fmt.Appendf(nil, "key %d", i)) }

// BenchmarkWriteNodes measures the writes of a map-root entry's map
// update: a Diff of 8,192 changed keys written into a stored map of
// 200,000 (WriteNodes, the statements of Commit's). One op is one Diff;
// it also reports nodes/s.
func BenchmarkWriteNodes(b *testing.B) {
	ctx := context.Background()
	s, update := benchMap(b)
	nodes := 0
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		d := update((i*8192)%benchKeys, 8192, fmt.Sprint("value ", i))
		nodes += len(d.Writes)
		b.StartTimer()
		if err := s.WriteNodes(ctx, d.Writes); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(nodes)/b.Elapsed().Seconds(), "nodes/s")
}

// BenchmarkMapReads measures the map's reads in a stored map of 200,000
// keys: a proof of a key (what the map endpoints serve), and the reads of
// an update of 1,024 keys (what the log's map worker does for a batch),
// whose writes are not stored.
func BenchmarkMapReads(b *testing.B) {
	ctx := context.Background()
	s, update := benchMap(b)
	tree := vmap.NewTree(s)
	b.Run("prove", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, v, err := tree.Prove(ctx, benchKey(i*7919%benchKeys)); err != nil || v == nil {
				b.Fatalf("prove: %v (value %q)", err, v)
			}
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proofs/s")
	})
	b.Run("update", func(b *testing.B) {
		i := 0
		for b.Loop() {
			update(i*1024%benchKeys, 1024, "new value")
			i++
		}
		b.ReportMetric(float64(1024*b.N)/b.Elapsed().Seconds(), "keys/s")
	})
}
