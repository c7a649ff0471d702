package witnessclient

import (
	"context"
	"fmt"
	"sync"

	"github.com/transparency-dev/tessera/client"
)

// ProofSource builds RFC 6962 consistency proofs of the log's tree.
type ProofSource interface {
	// ConsistencyProof returns the proof that the tree of size old is a
	// prefix of the tree of size size, 0 < old < size <= the committed
	// size. It must be safe for concurrent use.
	ConsistencyProof(ctx context.Context, old, size uint64) ([][]byte, error)
}

// TileReader reads the log's stored c2sp.org/tlog-tiles hash tiles, as
// storage.Storage does.
type TileReader interface {
	// ReadTile returns a hash tile's current content: a prefix of its
	// final content, at least as wide as the committed tree needs.
	ReadTile(ctx context.Context, level, index uint64) ([]byte, error)
}

// TileProofs returns a ProofSource that builds proofs from the log's
// stored tiles, with the tlog-tiles proof builder of
// transparency-dev/tessera (the code the log's HTTP API uses for its
// proofs), so the log never keeps or re-reads its whole tree.
func TileProofs(r TileReader) ProofSource { return tileProofs{r} }

type tileProofs struct{ r TileReader }

func (t tileProofs) ConsistencyProof(ctx context.Context, old, size uint64) ([][]byte, error) {
	pb, err := client.NewProofBuilder(ctx, size, t.fetch)
	if err != nil {
		return nil, fmt.Errorf("couldn't build proofs at size %d: %w", size, err)
	}
	p, err := pb.ConsistencyProof(ctx, old, size)
	if err != nil {
		return nil, fmt.Errorf("couldn't build the consistency proof from %d to %d: %w", old, size, err)
	}
	return p, nil
}

// fetch returns the first p hashes of a stored tile (all 256 if p is 0):
// stored tiles may have grown past the tree size the proof is for.
func (t tileProofs) fetch(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	tile, err := t.r.ReadTile(ctx, level, index)
	if err != nil {
		return nil, err
	}
	n := int(p)
	if n == 0 {
		n = 256
	}
	if len(tile) < n*32 {
		return nil, fmt.Errorf("witnessclient: tile %d/%d has %d hashes, want %d", level, index, len(tile)/32, n)
	}
	return tile[:n*32], nil
}

// proofCache shares the proofs of one round between the witnesses that
// need the same one (usually all of them).
type proofCache struct {
	src  ProofSource
	size uint64

	mu sync.Mutex
	m  map[uint64]func() ([][]byte, error)
}

func newProofCache(src ProofSource, size uint64) *proofCache {
	return &proofCache{src: src, size: size, m: map[uint64]func() ([][]byte, error){}}
}

// get returns the proof from old to the round's size: empty from 0 (the
// empty tree is consistent with every tree) and from size itself.
func (pc *proofCache) get(ctx context.Context, old uint64) ([][]byte, error) {
	if old == 0 || old == pc.size {
		return nil, nil
	}
	pc.mu.Lock()
	f, ok := pc.m[old]
	if !ok {
		f = sync.OnceValues(func() ([][]byte, error) { return pc.src.ConsistencyProof(ctx, old, pc.size) })
		pc.m[old] = f
	}
	pc.mu.Unlock()
	return f()
}
