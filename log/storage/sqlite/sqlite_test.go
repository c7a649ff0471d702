package sqlite_test

import (
	"context"
	"path/filepath"
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
