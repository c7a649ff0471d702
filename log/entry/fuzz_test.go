package entry_test

import (
	"bytes"
	"testing"

	"github.com/credlog/credlog/log/entry"
)

// FuzzParse checks that Parse never panics and that whatever it accepts
// re-encodes to the same bytes: one valid encoding per event.
func FuzzParse(f *testing.F) {
	for _, ev := range samples() {
		b, err := ev.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{1})
	f.Add([]byte{1, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := entry.Parse(data)
		if err != nil {
			return
		}
		b, err := ev.Marshal()
		if err != nil {
			t.Fatalf("parsed event does not marshal: %v", err)
		}
		if !bytes.Equal(b, data) {
			t.Fatalf("non-canonical encoding accepted:\n in %x\nout %x", data, b)
		}
	})
}
