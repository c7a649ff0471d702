package tiles_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/credlog/credlog/log/tiles"
)

// FuzzBundleEntries fuzzes the tlog-tiles entry bundle parser: nothing
// panics, an accepted bundle is exactly its entries re-encoded with their
// uint16 length prefixes, holds at most a tile's width of entries, and
// BundlePrefix agrees with it.
func FuzzBundleEntries(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 3, 'a', 'b', 'c', 0, 0})
	f.Add([]byte{0, 3, 'a', 'b'})
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, bundle []byte) {
		entries, err := tiles.BundleEntries(bundle)
		if err != nil {
			return
		}
		if len(entries) > tiles.Width {
			t.Fatalf("%d entries", len(entries))
		}
		var again []byte
		for _, e := range entries {
			again = binary.BigEndian.AppendUint16(again, uint16(len(e)))
			again = append(again, e...)
		}
		if !bytes.Equal(again, bundle) {
			t.Fatalf("bundle %x re-encodes as %x", bundle, again)
		}
		for n := 0; n <= len(entries); n++ {
			p, err := tiles.BundlePrefix(bundle, n)
			if err != nil {
				t.Fatalf("prefix of %d entries: %v", n, err)
			}
			got, err := tiles.BundleEntries(p)
			if err != nil || len(got) != n {
				t.Fatalf("prefix of %d entries holds %d (%v)", n, len(got), err)
			}
		}
	})
}
