package fsck

import (
	"bytes"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/tessera/api/layout"

	"github.com/credlog/credlog/log/tiles"
)

// checkTiles checks the tiles above level 0 (which checkEntries checked
// against the entries): each hash is the root of the full tile below it.
func (c *checker) checkTiles() error {
	size := c.tree.Size
	c.rep.Tiles = (size + tiles.Width - 1) / tiles.Width
	c.progress("tiles", 0, 0)
	for level := uint64(1); ; level++ {
		count := size >> (tiles.Height * level) // hashes at this level
		for n := uint64(0); n*tiles.Width < count; n++ {
			width := min(tiles.Width, count-n*tiles.Width)
			t, err := c.readTile(level, n, width)
			if err != nil {
				return err
			}
			for k := range width {
				below := n*tiles.Width + k
				lower, err := c.readTile(level-1, below, tiles.Width)
				if err != nil {
					return err
				}
				if !bytes.Equal(t[k*32:(k+1)*32], subtreeRoot(lower)) {
					return inconsistent("%s: hash %d is not the root of %s", tileName(level, n), k, tileName(level-1, below))
				}
			}
			c.rep.Tiles++
		}
		if err := c.absentTile(level, (count+tiles.Width-1)/tiles.Width); err != nil {
			return err
		}
		if count == 0 {
			return nil
		}
	}
}

// subtreeRoot returns the RFC 6962 root of a perfect subtree whose leaves'
// hashes (or lower subtrees' roots) are concatenated in hashes: 2^k of
// them.
func subtreeRoot(hashes []byte) []byte {
	level := make([][]byte, len(hashes)/32)
	for i := range level {
		level[i] = hashes[i*32 : (i+1)*32]
	}
	for len(level) > 1 {
		for i := 0; i < len(level)/2; i++ {
			level[i] = tiles.HashChildren(level[2*i], level[2*i+1])
		}
		level = level[:len(level)/2]
	}
	return level[0]
}

// node returns the hash of a node of the tree, a perfect subtree, from the
// stored tiles (checked by then).
func (c *checker) node(id compact.NodeID) ([]byte, error) {
	tl, ti, nl, ni := layout.NodeCoordsToTileAddress(uint64(id.Level), id.Index)
	key := [2]uint64{tl, ti}
	t, ok := c.cache[key]
	if !ok {
		var err error
		if t, err = c.s.ReadTile(c.ctx, tl, ti); err != nil {
			return nil, fmt.Errorf("couldn't read %s: %w", tileName(tl, ti), err)
		}
		if len(c.cache) > 64 {
			clear(c.cache)
		}
		c.cache[key] = t
	}
	first, n := ni<<nl, uint64(1)<<nl
	if uint64(len(t)) < (first+n)*32 {
		return nil, inconsistent("%s: too short for node %d/%d", tileName(tl, ti), id.Level, id.Index)
	}
	return subtreeRoot(t[first*32 : (first+n)*32]), nil
}

// rootAt returns the root of the tree of the first size entries, from
// the tiles.
func (c *checker) rootAt(size uint64) ([]byte, error) {
	if size == 0 {
		return tiles.EmptyRoot[:], nil
	}
	ids := compact.RangeNodes(0, size, nil)
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := c.node(id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	rng, err := rf.NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("couldn't rebuild the tree at size %d: %w", size, err)
	}
	return rng.GetRootHash(nil)
}

// consistencyProof builds the RFC 6962 consistency proof from size1 to
// size2 from the tiles.
func (c *checker) consistencyProof(size1, size2 uint64) ([][]byte, error) {
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("couldn't plan a consistency proof from %d to %d: %w", size1, size2, err)
	}
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		if hashes[i], err = c.node(id); err != nil {
			return nil, err
		}
	}
	return nodes.Rehash(hashes, tiles.HashChildren)
}
