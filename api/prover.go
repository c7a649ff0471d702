package api

import (
	"context"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/tessera/api/layout"

	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/tiles"
	"github.com/credlog/credlog/log/tlogproof"
)

// prover builds proofs against one published tree size from the stored
// hash tiles.
//
// The lists of nodes a proof needs, and the rehashing of the ephemeral
// node, come from transparency-dev/merkle/proof. Reading the nodes is
// written here: a tile stores only its lowest level of hashes, and
// tessera's client.ProofBuilder rehashes up to 255 of them to get one
// interior node, for every proof; here the interior nodes of a tile (at a
// width) are computed once and kept in a bounded cache, like the tiles,
// because they never change.
type prover struct {
	s          *Server
	size       uint64
	checkpoint []byte
}

// newProver returns a prover at the latest published checkpoint.
func (s *Server) newProver(ctx context.Context) (*prover, error) {
	size, cp, err := s.latestCheckpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the latest checkpoint: %w", err)
	}
	return s.proverAt(size, cp), nil
}

// proverAt returns a prover at size, whose checkpoint, if known, is cp.
func (s *Server) proverAt(size uint64, cp []byte) *prover {
	return &prover{s: s, size: size, checkpoint: cp}
}

// proof returns the tlog-proof of the entry at index.
func (p *prover) proof(ctx context.Context, index uint64) (*tlogproof.Proof, error) {
	if index >= p.size {
		return nil, fmt.Errorf("%w: index %d is not in the published tree of size %d", storage.ErrNotFound, index, p.size)
	}
	h, err := p.inclusion(ctx, index)
	if err != nil {
		return nil, fmt.Errorf("couldn't build inclusion proof for %d: %w", index, err)
	}
	return &tlogproof.Proof{Index: index, Hashes: h, Checkpoint: p.checkpoint}, nil
}

// inclusion returns the inclusion proof of the entry at index.
func (p *prover) inclusion(ctx context.Context, index uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, p.size)
	if err != nil {
		return nil, err
	}
	return p.hashes(ctx, nodes)
}

// consistency returns the consistency proof from old to the prover's
// size.
func (p *prover) consistency(ctx context.Context, old uint64) ([][]byte, error) {
	nodes, err := proof.Consistency(old, p.size)
	if err != nil {
		return nil, err
	}
	return p.hashes(ctx, nodes)
}

func (p *prover) hashes(ctx context.Context, nodes proof.Nodes) ([][]byte, error) {
	h := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		n, err := p.node(ctx, id)
		if err != nil {
			return nil, err
		}
		h[i] = n
	}
	return nodes.Rehash(h, tiles.HashChildren)
}

// node returns the hash of a node of the tree of the prover's size: node
// (L, I) is at level L%8 of hash tile (L/8, (I<<(L%8))/256), read at the
// width that the tree size gives that tile.
func (p *prover) node(ctx context.Context, id compact.NodeID) ([]byte, error) {
	tl, r := uint64(id.Level/8), id.Level%8
	first := id.Index << r // the node's first hash at tile level tl
	ti := first / tiles.Width
	width := layout.PartialTileSize(tl, ti, p.size)
	sub, err := p.s.subtrees(ctx, tl, ti, width)
	if err != nil {
		return nil, err
	}
	j := (first % tiles.Width) >> r
	if (j+1)*32 > uint64(len(sub[r])) {
		return nil, fmt.Errorf("node %d/%d is not complete in tile %d/%d of width %d", id.Level, id.Index, tl, ti, width)
	}
	return append([]byte(nil), sub[r][j*32:(j+1)*32]...), nil
}

// subtrees is every node of a hash tile at a width: level r holds its
// complete subtrees of 2^r hashes, left to right, level 0 being the tile.
type subtrees [8][]byte

// subtrees returns the nodes of tile (level, index) at width (0: full),
// from the cache or computed from the tile.
func (s *Server) subtrees(ctx context.Context, level, index uint64, width uint8) (*subtrees, error) {
	key := tileKey{level: level, index: index, width: width}
	if v, ok := s.nodes.get(key); ok {
		return v, nil
	}
	data, err := s.tiles.readWidth(ctx, s.store, level, index, width)
	if err != nil {
		return nil, fmt.Errorf("couldn't read tile %d/%d: %w", level, index, err)
	}
	var sub subtrees
	sub[0] = data
	for r := 1; r < len(sub); r++ {
		prev := sub[r-1]
		n := len(prev) / 64
		cur := make([]byte, 0, n*32)
		for j := range n {
			cur = append(cur, tiles.HashChildren(prev[2*j*32:(2*j+1)*32], prev[(2*j+1)*32:(2*j+2)*32])...)
		}
		sub[r] = cur
	}
	s.nodes.put(key, &sub)
	return &sub, nil
}
