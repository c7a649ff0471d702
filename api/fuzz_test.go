package api

import (
	"bytes"
	"testing"

	"github.com/transparency-dev/tessera/api/layout"
)

// FuzzParseTilePath checks that the tile path parser never panics and
// accepts only canonical paths: what it accepts, layout re-encodes to the
// same path.
func FuzzParseTilePath(f *testing.F) {
	for _, p := range []string{"/tile/0/000", "/tile/1/x001/234.p/7", "/tile/entries/000.p/255", "/tile/entries/x123/456",
		"/tile/0/0000", "/tile/64/000", "/tile/0/000.p/256", "/tile/0/000.p/0", "/tile/entries/000.p/"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, path string) {
		entries, level, index, width, ok := parseTilePath(path)
		if !ok {
			return
		}
		want := "/" + layout.TilePath(level, index, width)
		if entries {
			want = "/" + layout.EntriesPath(index, width)
		}
		if path != want {
			t.Fatalf("accepted %q, canonical form %q", path, want)
		}
		if width > 255 || level > 63 {
			t.Fatalf("accepted %q with level %d width %d", path, level, width)
		}
	})
}

// FuzzSplitBatch checks that batch framing is parsed exactly: what
// splitBatch accepts, AppendBatch re-encodes to the same body.
func FuzzSplitBatch(f *testing.F) {
	f.Add([]byte{0, 1, 7})
	f.Add([]byte{0, 2, 7, 8, 0, 1, 9})
	f.Add([]byte{0, 0})
	f.Add([]byte{0, 9, 1})
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := splitBatch(body)
		if err != nil {
			return
		}
		var again []byte
		for _, e := range events {
			if len(e) == 0 {
				t.Fatal("empty event accepted")
			}
			again = AppendBatch(again, e)
		}
		if !bytes.Equal(again, body) {
			t.Fatalf("batch %x re-encodes to %x", body, again)
		}
	})
}
