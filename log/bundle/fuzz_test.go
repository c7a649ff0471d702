package bundle_test

import (
	"bytes"
	"testing"

	"github.com/credlog/credlog/log/bundle"
)

// FuzzParse: Parse never panics, and what it accepts is canonical: it
// encodes back to the same bytes.
func FuzzParse(f *testing.F) {
	f.Add([]byte(bundle.Header + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := bundle.Parse(data)
		if err != nil {
			return
		}
		if got := b.Marshal(); !bytes.Equal(got, data) {
			t.Fatalf("Parse accepted a non-canonical encoding:\n%q\nre-encodes as\n%q", data, got)
		}
	})
}
