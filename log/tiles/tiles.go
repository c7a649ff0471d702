// Package tiles builds the C2SP tlog-tiles form of a log: the 256-wide
// hash tiles and entry bundles that credlog stores and serves, from the
// right edge of the RFC 6962 tree kept in memory.
//
// A [Builder] holds the compact range of the tree (transparency-dev/merkle)
// and the partial tile at each level and the partial entry bundle: every
// append updates them in memory and reports exactly the tiles and bundles
// that changed, so that the log never re-reads its tree. It does no I/O.
package tiles

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Width is the number of hashes in a full tile and of entries in a full
// entry bundle. Height is log2(Width).
const (
	Width  = 256
	Height = 8
)

var rf = &compact.RangeFactory{Hash: HashChildren}

// HashChildren returns RFC 6962's hash of an interior node,
// SHA-256(0x01 || l || r), the value rfc6962.DefaultHasher.HashChildren
// returns (its test checks that they agree), for l and r of 32 bytes.
// It is written here for speed: the library's allocates a hash state and
// a buffer for every node, and a log of n entries has n-1 nodes, which the
// sequencer, replays and fsck compute by the million. This one allocates
// its result only.
func HashChildren(l, r []byte) []byte {
	if len(l) != 32 || len(r) != 32 {
		return rfc6962.DefaultHasher.HashChildren(l, r)
	}
	var b [1 + 64]byte
	b[0] = rfc6962.RFC6962NodeHashPrefix
	copy(b[1:], l)
	copy(b[33:], r)
	h := sha256.Sum256(b[:])
	return h[:]
}

// EmptyRoot is the RFC 6962 root of the empty tree.
var EmptyRoot = sha256.Sum256(nil)

// LeafHash returns the RFC 6962 leaf hash of an entry.
// It is rfc6962.DefaultHasher.HashLeaf's value (the tests check that they
// agree), computed without allocating for entries of usual size.
func LeafHash(e []byte) [32]byte {
	if len(e) >= leafBuf {
		return [32]byte(rfc6962.DefaultHasher.HashLeaf(e))
	}
	var buf [leafBuf]byte
	buf[0] = rfc6962.RFC6962LeafHashPrefix
	n := 1 + copy(buf[1:], e)
	return sha256.Sum256(buf[:n])
}

// leafBuf is the size of LeafHash's buffer on the stack.
const leafBuf = 1024

// TileID names a hash tile.
type TileID struct{ Level, Index uint64 }

// Update is what one Append changed.
type Update struct {
	Size    uint64
	Root    [32]byte
	Edge    [][]byte
	Tiles   map[TileID][]byte // changed tiles, current content
	Bundles map[uint64][]byte // changed bundles, current content
}

// Builder extends a tree and its tiles.
type Builder struct {
	rng     *compact.Range
	partial map[uint64][]byte // level → content of the rightmost partial tile
	bundle  []byte            // content of the rightmost partial bundle
}

// ReadFunc returns the stored content of a tile or bundle.
type ReadFunc func(level, index uint64) ([]byte, error)

// NewBuilder resumes a tree of size with the given compact-range hashes.
// readTile and readBundle load the partial tiles and bundle at its right
// edge, once; readBundle's level argument is always 0.
func NewBuilder(size uint64, edge [][]byte, readTile, readBundle ReadFunc) (*Builder, error) {
	rng, err := rf.NewRange(0, size, slices.Clone(edge))
	if err != nil {
		return nil, fmt.Errorf("couldn't rebuild the tree's right edge: %w", err)
	}
	b := &Builder{rng: rng, partial: make(map[uint64][]byte)}
	for level := uint64(0); size>>(Height*level) > 0; level++ {
		n := size >> (Height * level)
		if w := n % Width; w > 0 {
			t, err := readTile(level, n/Width)
			if err != nil {
				return nil, fmt.Errorf("couldn't read partial tile %d/%d: %w", level, n/Width, err)
			}
			if uint64(len(t)) < w*32 {
				return nil, fmt.Errorf("tiles: stored tile %d/%d has %d bytes, want at least %d", level, n/Width, len(t), w*32)
			}
			b.partial[level] = append([]byte(nil), t[:w*32]...)
		}
	}
	if w := size % Width; w > 0 {
		bu, err := readBundle(0, size/Width)
		if err != nil {
			return nil, fmt.Errorf("couldn't read partial entry bundle %d: %w", size/Width, err)
		}
		if bu, err = BundlePrefix(bu, int(w)); err != nil {
			return nil, fmt.Errorf("stored entry bundle %d: %w", size/Width, err)
		}
		b.bundle = bu
	}
	return b, nil
}

// Size returns the tree size.
func (b *Builder) Size() uint64 { return b.rng.End() }

// Clone returns an independent copy of b, so that a caller can prepare a
// batch and discard it if the batch cannot be committed.
func (b *Builder) Clone() *Builder {
	rng, err := rf.NewRange(0, b.rng.End(), slices.Clone(b.rng.Hashes()))
	if err != nil {
		panic("tiles: cloning a valid range: " + err.Error())
	}
	c := &Builder{rng: rng, partial: make(map[uint64][]byte, len(b.partial)), bundle: append([]byte(nil), b.bundle...)}
	for k, v := range b.partial {
		c.partial[k] = append([]byte(nil), v...)
	}
	return c
}

// Append adds entries to the tree and returns what changed.
func (b *Builder) Append(entries [][]byte) (*Update, error) {
	u := &Update{Tiles: make(map[TileID][]byte), Bundles: make(map[uint64][]byte)}
	var visitErr error
	visit := func(id compact.NodeID, hash []byte) {
		if id.Level%Height != 0 || visitErr != nil {
			return
		}
		level := uint64(id.Level / Height)
		t := b.partial[level]
		if uint64(len(t)/32) != id.Index%Width {
			visitErr = fmt.Errorf("tiles: node %d/%d out of order", id.Level, id.Index)
			return
		}
		t = append(t, hash...)
		u.Tiles[TileID{level, id.Index / Width}] = t
		if len(t) == Width*32 {
			delete(b.partial, level)
		} else {
			b.partial[level] = t
		}
	}
	for _, e := range entries {
		if len(e) > 0xffff {
			return nil, errors.New("tiles: entry over 65535 bytes")
		}
		i := b.rng.End()
		b.bundle = binary.BigEndian.AppendUint16(b.bundle, uint16(len(e)))
		b.bundle = append(b.bundle, e...)
		u.Bundles[i/Width] = b.bundle
		if i%Width == Width-1 {
			b.bundle = nil
		}
		if err := b.rng.Append(rfc6962.DefaultHasher.HashLeaf(e), visit); err != nil {
			return nil, fmt.Errorf("couldn't append to the tree: %w", err)
		}
		if visitErr != nil {
			return nil, visitErr
		}
	}
	// Partial slices were appended to in place: copy what we hand out.
	for id, t := range u.Tiles {
		u.Tiles[id] = append([]byte(nil), t...)
	}
	for id, bu := range u.Bundles {
		u.Bundles[id] = append([]byte(nil), bu...)
	}
	u.Size = b.rng.End()
	u.Root = b.Root()
	u.Edge = slices.Clone(b.rng.Hashes())
	return u, nil
}

// Root returns the tree's root hash.
func (b *Builder) Root() [32]byte {
	if b.rng.End() == 0 {
		return EmptyRoot
	}
	r, err := b.rng.GetRootHash(nil)
	if err != nil {
		panic("tiles: root of a non-empty range: " + err.Error())
	}
	var h [32]byte
	copy(h[:], r)
	return h
}

// BundlePrefix returns the first n entries of an entry bundle.
func BundlePrefix(bundle []byte, n int) ([]byte, error) {
	off := 0
	for i := 0; i < n; i++ {
		if off+2 > len(bundle) {
			return nil, fmt.Errorf("tiles: entry bundle has %d entries, want %d", i, n)
		}
		off += 2 + int(binary.BigEndian.Uint16(bundle[off:]))
		if off > len(bundle) {
			return nil, fmt.Errorf("tiles: entry bundle truncated in entry %d", i)
		}
	}
	return bundle[:off], nil
}

// BundleEntries splits an entry bundle into its entries.
func BundleEntries(bundle []byte) ([][]byte, error) {
	var out [][]byte
	for off := 0; off < len(bundle); {
		if off+2 > len(bundle) {
			return nil, fmt.Errorf("tiles: dangling byte at offset %d of entry bundle", off)
		}
		n := int(binary.BigEndian.Uint16(bundle[off:]))
		if off+2+n > len(bundle) {
			return nil, fmt.Errorf("tiles: entry %d of bundle truncated", len(out))
		}
		out = append(out, bundle[off+2:off+2+n])
		off += 2 + n
	}
	if len(out) > Width {
		return nil, fmt.Errorf("tiles: entry bundle has %d entries", len(out))
	}
	return out, nil
}
