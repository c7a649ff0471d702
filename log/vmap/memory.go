package vmap

import (
	"bytes"
	"context"
	"math/bits"
	"runtime"
	"slices"
	"sync"
)

var (
	_ NodeReader = (*MemoryStore)(nil)
	_ NodeWriter = (*MemoryStore)(nil)
)

// MemoryStore is a NodeReader and NodeWriter in memory, for auditors,
// monitors, tests and benchmarks. It is safe for concurrent use; a
// Tree.Update or Tree.Prove that runs concurrently with WriteNodes may see
// part of the writes, so callers that do both serialize them.
//
// A large tree is memory-bound: every lookup in a map much larger than the
// caches waits on memory. So the store groups positions in tiles of eight
// levels (the subtree of 255 positions under each position at a depth
// that is a multiple of 8), found through one Go map: the levels a batch
// or a proof reads one after the other then mostly hit tiles already in
// cache. The tiles hold no pointers but to their own arrays, and values of
// up to 95 bytes (every value of credlog's map) are kept in pointer-free
// arrays, so that the garbage collector has little to scan however large
// the tree grows. The store is split in shards, by tile, which large reads
// and writes use in parallel. A map of n keys takes about 300·n bytes.
type MemoryStore struct {
	mu     sync.RWMutex // WriteNodes holds it for writing, and so owns every shard
	shards [memShards]memShard
}

const (
	memShards   = 16
	inlineValue = 95
	// parallelIO is the least number of positions a read or write
	// splits among goroutines.
	parallelIO = 2048
)

type memShard struct {
	tiles  map[NodeID]tile // by the position of the tile's root
	count  int             // nodes stored
	leaves []memLeaf
	free   []uint32          // unused slots of leaves
	big    map[uint32][]byte // values over inlineValue bytes, by leaf slot
}

// tile holds the nodes stored at the 255 positions of one tile, numbered
// breadth-first from its root (0) and packed: nodes[rank of i] for each
// position i whose bit is set in present.
type tile struct {
	present [4]uint64
	nodes   []memNode
}

// memNode is a stored node: an interior node's hash, or a leaf's hash and
// its slot+1 in its shard's leaves.
type memNode struct {
	hash Hash
	leaf uint32
}

type memLeaf struct {
	key   Key
	n     uint8 // length of the value, or 0 if it is in big
	value [inlineValue]byte
}

// locate returns the root of id's tile, and id's number in it.
func locate(id NodeID) (NodeID, int) {
	k, r := int(id.Depth)/8, int(id.Depth)%8
	root := NodeID{Depth: uint16(8 * k)}
	copy(root.Prefix[:k], id.Prefix[:k])
	if r == 0 {
		return root, 0
	}
	return root, 1<<r - 1 + int(id.Prefix[k]>>(8-r))
}

// position is the inverse of locate.
func position(root NodeID, i int) NodeID {
	r := bits.Len(uint(i+1)) - 1
	id := root
	id.Depth += uint16(r)
	if r > 0 {
		id.Prefix[root.Depth/8] = byte((i + 1 - 1<<r) << (8 - r))
	}
	return id
}

func shardOf(root NodeID) int { return int(uint(root.Prefix[0])+uint(root.Depth)) % memShards }

func (t *tile) rank(i int) (int, bool) {
	w, b := i/64, uint64(1)<<(i%64)
	n := bits.OnesCount64(t.present[w] & (b - 1))
	for _, x := range t.present[:w] {
		n += bits.OnesCount64(x)
	}
	return n, t.present[w]&b != 0
}

// NewMemoryStore returns an empty store: the empty map.
func NewMemoryStore() *MemoryStore {
	m := &MemoryStore{}
	for i := range m.shards {
		m.shards[i] = memShard{tiles: make(map[NodeID]tile), big: make(map[uint32][]byte)}
	}
	return m
}

func (m *MemoryStore) read(id NodeID) Node {
	root, i := locate(id)
	s := &m.shards[shardOf(root)]
	t, ok := s.tiles[root]
	if !ok {
		return Node{}
	}
	r, ok := t.rank(i)
	if !ok {
		return Node{}
	}
	return s.node(t.nodes[r])
}

func (s *memShard) node(n memNode) Node {
	if n.leaf == 0 {
		return Node{Kind: KindInterior, Hash: n.hash}
	}
	l := &s.leaves[n.leaf-1]
	v := l.value[:l.n]
	if l.n == 0 {
		v = s.big[n.leaf-1]
	}
	return Node{Kind: KindLeaf, Hash: n.hash, Key: l.key, Value: bytes.Clone(v)}
}

// inParallel calls f(j, n) for j in [0, n), on n goroutines if the work
// is large enough.
func inParallel(size int, f func(j, n int)) {
	n := min(runtime.GOMAXPROCS(0), size/parallelIO)
	if n < 2 {
		f(0, 1)
		return
	}
	var wg sync.WaitGroup
	for j := range n {
		wg.Go(func() { f(j, n) })
	}
	wg.Wait()
}

// ReadNodes implements NodeReader.
func (m *MemoryStore) ReadNodes(ctx context.Context, ids []NodeID) ([]Node, error) {
	out := make([]Node, len(ids))
	m.mu.RLock()
	defer m.mu.RUnlock()
	inParallel(len(ids), func(j, n int) {
		for i := j * len(ids) / n; i < (j+1)*len(ids)/n; i++ {
			out[i] = m.read(ids[i])
		}
	})
	return out, nil
}

// WriteNodes implements NodeWriter. All writes are checked before any is
// made.
func (m *MemoryStore) WriteNodes(ctx context.Context, writes []NodeWrite) error {
	for _, w := range writes {
		if err := checkNode(w.ID, w.Node); err != nil {
			return err
		}
	}
	var byShard [memShards][]int32
	for i, w := range writes {
		root, _ := locate(w.ID)
		s := shardOf(root)
		byShard[s] = append(byShard[s], int32(i))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	inParallel(len(writes), func(j, n int) {
		for s := j; s < memShards; s += n {
			for _, i := range byShard[s] {
				m.shards[s].write(writes[i])
			}
		}
	})
	return nil
}

func (s *memShard) write(w NodeWrite) {
	root, i := locate(w.ID)
	t := s.tiles[root]
	r, had := t.rank(i)
	var old memNode
	if had {
		old = t.nodes[r]
	}
	if old.leaf != 0 && w.Node.Kind != KindLeaf {
		s.release(old.leaf)
	}
	switch w.Node.Kind {
	case KindEmpty:
		if !had {
			return
		}
		t.nodes = slices.Delete(t.nodes, r, r+1)
		t.present[i/64] &^= 1 << (i % 64)
		s.count--
		if len(t.nodes) == 0 {
			delete(s.tiles, root)
			return
		}
	case KindInterior, KindLeaf:
		n := memNode{hash: w.Node.Hash}
		if w.Node.Kind == KindLeaf {
			n.leaf = old.leaf
			if n.leaf == 0 {
				n.leaf = s.alloc()
			}
			s.setLeaf(n.leaf-1, w.Node.Key, w.Node.Value)
		}
		if had {
			t.nodes[r] = n
			return // the tile's slice header is unchanged
		}
		t.nodes = slices.Insert(t.nodes, r, n)
		t.present[i/64] |= 1 << (i % 64)
		s.count++
	}
	s.tiles[root] = t
}

// alloc returns a free leaf slot, plus one.
func (s *memShard) alloc() uint32 {
	if n := len(s.free); n > 0 {
		slot := s.free[n-1]
		s.free = s.free[:n-1]
		return slot + 1
	}
	s.leaves = append(s.leaves, memLeaf{})
	return uint32(len(s.leaves))
}

func (s *memShard) release(slot uint32) {
	delete(s.big, slot-1)
	s.free = append(s.free, slot-1)
}

func (s *memShard) setLeaf(slot uint32, key Key, value []byte) {
	l := &s.leaves[slot]
	l.key = key
	delete(s.big, slot)
	if len(value) <= inlineValue {
		l.n = uint8(len(value))
		copy(l.value[:], value)
		return
	}
	l.n = 0
	s.big[slot] = bytes.Clone(value)
}

// Len returns the number of nodes stored.
func (m *MemoryStore) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := 0
	for i := range m.shards {
		n += m.shards[i].count
	}
	return n
}

// Nodes calls f with every stored node, in no particular order, until f
// returns false. f must not call the store.
func (m *MemoryStore) Nodes(f func(NodeID, Node) bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for i := range m.shards {
		s := &m.shards[i]
		for root, t := range s.tiles {
			r := 0
			for i := range 255 {
				if _, ok := t.rank(i); !ok {
					continue
				}
				if !f(position(root, i), s.node(t.nodes[r])) {
					return
				}
				r++
			}
		}
	}
}
