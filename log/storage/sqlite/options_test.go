package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// TestWriterCache checks that Options.WriterCacheMiB sizes the writer
// connection's page cache, and that the readers keep SQLite's default.
func TestWriterCache(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ mib, want int }{{0, -defaultWriterCacheMiB << 10}, {5, -5 << 10}} {
		s, err := OpenWith(ctx, filepath.Join(t.TempDir(), "log.db"), Options{WriterCacheMiB: tc.mib})
		if err != nil {
			t.Fatal(err)
		}
		var w, r int
		if err := s.w.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&w); err != nil {
			t.Fatal(err)
		}
		if err := s.r.db.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&r); err != nil {
			t.Fatal(err)
		}
		if w != tc.want || r == w {
			t.Errorf("WriterCacheMiB %d: the writer's cache_size is %d, a reader's %d; want %d for the writer only", tc.mib, w, r, tc.want)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := OpenWith(ctx, filepath.Join(t.TempDir(), "log.db"), Options{WriterCacheMiB: -1}); err == nil {
		t.Error("a negative writer cache was accepted")
	}
}

// TestWriterTempStore checks that the writer connection keeps its
// statement journals in memory (temp_store 2) and that the readers keep
// SQLite's default (0).
func TestWriterTempStore(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var w, r int
	if err := s.w.QueryRowContext(ctx, "PRAGMA temp_store").Scan(&w); err != nil {
		t.Fatal(err)
	}
	if err := s.r.db.QueryRowContext(ctx, "PRAGMA temp_store").Scan(&r); err != nil {
		t.Fatal(err)
	}
	if w != 2 || r != 0 {
		t.Errorf("temp_store: writer %d, reader %d; want 2 and 0", w, r)
	}
}
