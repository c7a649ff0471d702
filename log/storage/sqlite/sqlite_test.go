package sqlite_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/storage/sqlite"
	"github.com/credlog/credlog/log/storage/storagetest"
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
