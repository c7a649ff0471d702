package tiles_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/credlog/credlog/log/tiles"
)

// store keeps what a Builder reports, as storage would.
type store struct {
	tiles   map[tiles.TileID][]byte
	bundles map[uint64][]byte
}

func newStore() *store {
	return &store{tiles: map[tiles.TileID][]byte{}, bundles: map[uint64][]byte{}}
}

func (s *store) apply(u *tiles.Update) {
	for id, t := range u.Tiles {
		s.tiles[id] = t
	}
	for i, b := range u.Bundles {
		s.bundles[i] = b
	}
}

func (s *store) readTile(l, i uint64) ([]byte, error) {
	if t, ok := s.tiles[tiles.TileID{Level: l, Index: i}]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("no tile %d/%d", l, i)
}

func (s *store) readBundle(_, i uint64) ([]byte, error) {
	if b, ok := s.bundles[i]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("no bundle %d", i)
}

func entryN(i int) []byte {
	return []byte(fmt.Sprintf("entry %d %s", i, bytes.Repeat([]byte{'x'}, i%50)))
}

// TestAgainstTlog builds a tree in random batches, restarting the builder
// from "storage" now and then, and checks every tile, bundle and root
// against golang.org/x/mod/sumdb/tlog.
func TestAgainstTlog(t *testing.T) {
	const n = 70000
	s := newStore()
	b, err := tiles.NewBuilder(0, nil, s.readTile, s.readBundle)
	if err != nil {
		t.Fatal(err)
	}
	var hashes []tlog.Hash // tlog's stored hashes, for reference
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for x, id := range idx {
			out[x] = hashes[id]
		}
		return out, nil
	})
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; {
		k := min(1+r.IntN(700), n-i)
		var batch [][]byte
		for j := 0; j < k; j++ {
			e := entryN(i + j)
			batch = append(batch, e)
			sh, err := tlog.StoredHashes(int64(i+j), e, hr)
			if err != nil {
				t.Fatal(err)
			}
			hashes = append(hashes, sh...)
		}
		u, err := b.Append(batch)
		if err != nil {
			t.Fatal(err)
		}
		s.apply(u)
		i += k
		want, err := tlog.TreeHash(int64(i), hr)
		if err != nil {
			t.Fatal(err)
		}
		if u.Root != want || u.Size != uint64(i) {
			t.Fatalf("size %d: root %x, want %x", i, u.Root, want)
		}
		if r.IntN(10) == 0 { // restart from storage
			if b, err = tiles.NewBuilder(u.Size, u.Edge, s.readTile, s.readBundle); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The C2SP tlog-tiles example: a 70,000-entry tree has full tiles
	// 0/000…0/272 and partial 0/273.p/112, full 1/000 and partial
	// 1/001.p/17, and partial 2/000.p/1.
	wantTiles := map[tiles.TileID]int{{Level: 1, Index: 0}: 256, {Level: 1, Index: 1}: 17, {Level: 2, Index: 0}: 1, {Level: 0, Index: 273}: 112}
	for i := uint64(0); i < 273; i++ {
		wantTiles[tiles.TileID{Level: 0, Index: i}] = 256
	}
	if len(s.tiles) != len(wantTiles) {
		t.Errorf("%d tiles stored, want %d", len(s.tiles), len(wantTiles))
	}
	for id, w := range wantTiles {
		got := s.tiles[id]
		if len(got) != w*32 {
			t.Errorf("tile %d/%d has width %d, want %d", id.Level, id.Index, len(got)/32, w)
			continue
		}
		ref, err := tlog.ReadTileData(tlog.Tile{H: 8, L: int(id.Level), N: int64(id.Index), W: w}, hr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, ref) {
			t.Errorf("tile %d/%d differs from tlog's", id.Level, id.Index)
		}
	}
	if len(s.bundles) != 274 {
		t.Errorf("%d bundles, want 274", len(s.bundles))
	}
	for i := 0; i < n; i += 997 {
		es, err := tiles.BundleEntries(s.bundles[uint64(i/256)])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(es[i%256], entryN(i)) {
			t.Fatalf("entry %d differs in its bundle", i)
		}
	}
}

func TestBundleParsing(t *testing.T) {
	b := []byte{0, 1, 'a', 0, 2, 'b', 'c'}
	es, err := tiles.BundleEntries(b)
	if err != nil || len(es) != 2 || string(es[1]) != "bc" {
		t.Fatalf("BundleEntries = %q, %v", es, err)
	}
	if p, err := tiles.BundlePrefix(b, 1); err != nil || !bytes.Equal(p, b[:3]) {
		t.Fatalf("BundlePrefix = %x, %v", p, err)
	}
	for _, bad := range [][]byte{{0}, {0, 2, 'a'}, {0, 1, 'a', 0}} {
		if _, err := tiles.BundleEntries(bad); err == nil {
			t.Errorf("BundleEntries(%x) accepted", bad)
		}
	}
	if _, err := tiles.BundlePrefix(b, 3); err == nil {
		t.Error("BundlePrefix beyond the bundle accepted")
	}
}

func TestCloneIsIndependent(t *testing.T) {
	s := newStore()
	b, _ := tiles.NewBuilder(0, nil, s.readTile, s.readBundle)
	u, _ := b.Append([][]byte{[]byte("a"), []byte("b"), []byte("c")})
	c := b.Clone()
	if _, err := c.Append([][]byte{[]byte("d")}); err != nil {
		t.Fatal(err)
	}
	if b.Size() != 3 || b.Root() != u.Root {
		t.Fatalf("appending to a clone changed the original")
	}
	u2, _ := b.Append([][]byte{[]byte("e")})
	u3, _ := c.Clone().Append(nil)
	if u2.Root == u3.Root {
		t.Fatal("different trees have one root")
	}
}

// TestHashesMatchLibrary checks LeafHash and HashChildren against the
// RFC 6962 hasher they stand in for, on entries around the size where
// LeafHash changes method.
func TestHashesMatchLibrary(t *testing.T) {
	h := rfc6962.DefaultHasher
	for _, n := range []int{0, 1, 31, 32, 210, 1022, 1023, 1024, 5000} {
		e := make([]byte, n)
		for i := range e {
			e[i] = byte(i*7 + n)
		}
		if got, want := tiles.LeafHash(e), h.HashLeaf(e); !bytes.Equal(got[:], want) {
			t.Errorf("LeafHash of %d bytes = %x, want %x", n, got, want)
		}
		l, r := h.HashLeaf(e), h.HashLeaf(append(e, 1))
		if got, want := tiles.HashChildren(l, r), h.HashChildren(l, r); !bytes.Equal(got, want) {
			t.Errorf("HashChildren = %x, want %x", got, want)
		}
	}
	// Other lengths than 32 bytes are hashed as the library hashes them.
	if got, want := tiles.HashChildren([]byte("ab"), []byte("c")), h.HashChildren([]byte("ab"), []byte("c")); !bytes.Equal(got, want) {
		t.Errorf("HashChildren of short inputs = %x, want %x", got, want)
	}
}
