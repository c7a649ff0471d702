package vmap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"slices"
	"sort"
	"sync/atomic"
)

// ErrCorrupt is wrapped by the errors of a Tree whose store does not hold
// a canonical tree: a node where none may be, an interior node with fewer
// than two keys below it, a leaf off its key's path.
var ErrCorrupt = errors.New("vmap: store does not hold a canonical tree")

// Tree is a verifiable map whose nodes are in a NodeReader. A Tree holds
// no state of its own but a hint of how deep proofs' paths go, which
// sizes Prove's reads: it reads the tree from its store at each call. A
// Tree may be used by several goroutines at once.
type Tree struct {
	r        NodeReader
	parDepth int // subtrees above this depth are computed in parallel
	// proofDepth is a running mean, in sixteenths, of the depth at which
	// the paths of the Tree's proofs ended; 0 before the first.
	proofDepth atomic.Int32
}

// NewTree returns the tree stored in r.
func NewTree(r NodeReader) *Tree {
	// Enough subtrees to keep every core busy, a few times over.
	return &Tree{r: r, parDepth: bits.Len(uint(runtime.GOMAXPROCS(0))) + 1}
}

// Root returns the map root.
func (t *Tree) Root(ctx context.Context) (Hash, error) {
	n, err := t.r.ReadNodes(ctx, []NodeID{RootID})
	if err != nil {
		return Hash{}, fmt.Errorf("couldn't read the map root: %w", err)
	}
	if err := checkNode(RootID, n[0]); err != nil {
		return Hash{}, err
	}
	return n[0].Hash, nil
}

// Update is a change to one key: it sets Key to Value, or, if Value is
// empty, removes Key from the map.
type Update struct {
	Key   Key
	Value []byte
}

// Diff is what a batch of updates changes: the new root, and the writes
// that take the store from the tree the batch was computed on to the new
// one, at most one per position. Writes are in the order of a depth-first
// traversal, children before their parent, the same for the same batch
// on the same tree.
//
// Base is the root of the tree the Diff applies to: a store that commits
// Diffs checks that its root is still Base, as a log checks its tree
// size, so that a Diff computed on a stale view is refused.
//
// Removed lists the keys of the updates that remove a key (whether the
// tree held it or not), for a store that keeps leaves by key rather than
// by position: a removed key's leaf may give way to another key's at the
// same position, with no write that names it.
type Diff struct {
	Base    Hash
	Root    Hash
	Writes  []NodeWrite
	Removed []Key
}

// writesRoom returns the room to make for the writes of n updates: about
// the depth of a leaf below the paths the batch shares, some 11 writes per
// update for batches of 4096 in a map of 10^6 keys, up to a bound past
// which growing the slice costs little.
func writesRoom(n int) int { return min(12*n, 1<<16) }

// minParallel is the least number of updates below a node for which its
// two subtrees are computed in parallel: below it a goroutine costs more
// than it saves.
const minParallel = 256

// Update computes the tree after applying ups to the stored tree, and
// returns the difference; it writes nothing. Each position whose subtree
// changes is read once and hashed once per batch, whatever the number of
// updates below it; subtrees near the root are computed in parallel.
//
// Keys must not repeat within a batch. The Diff must be written to the
// store the tree was read from before the next Update (see [NodeWriter]).
func (t *Tree) Update(ctx context.Context, ups []Update) (*Diff, error) {
	sorted, err := prepare(ups)
	if err != nil {
		return nil, err
	}
	root := &tnode{id: RootID, ups: sorted}
	if err := t.load(ctx, root); err != nil {
		return nil, err
	}
	w := make([]NodeWrite, 0, writesRoom(len(sorted)))
	n := t.compute(root, &w)
	put(&w, RootID, root.old, n)
	var removed []Key
	for _, u := range sorted {
		if len(u.Value) == 0 {
			removed = append(removed, u.Key)
		}
	}
	return &Diff{Base: root.old.Hash, Root: n.Hash, Writes: w, Removed: removed}, nil
}

// prepare returns ups sorted by key, with their values copied, or an
// error if a key repeats.
func prepare(ups []Update) ([]Update, error) {
	out := make([]Update, len(ups))
	for i, u := range ups {
		out[i] = Update{Key: u.Key, Value: bytes.Clone(u.Value)}
	}
	slices.SortFunc(out, func(a, b Update) int { return a.Key.Compare(b.Key) })
	for i := 1; i < len(out); i++ {
		if out[i].Key == out[i-1].Key {
			return nil, fmt.Errorf("vmap: key %s is updated twice in one batch", out[i].Key)
		}
	}
	return out, nil
}

// tnode is a position the batch touches: what the store holds there, the
// updates below it, and, for interior nodes with updates, its children.
type tnode struct {
	id   NodeID
	old  Node
	ups  []Update
	kids [2]*tnode
}

// split returns the index of the first update whose key has bit d set.
// ups share their first d bits and are sorted.
func split(ups []Update, d int) int {
	return sort.Search(len(ups), func(i int) bool { return ups[i].Key.Bit(d) == 1 })
}

// load reads, one level at a time, every position on the paths of the
// updates down to the first leaf or empty subtree, and the siblings along
// them.
func (t *Tree) load(ctx context.Context, root *tnode) error {
	n, err := t.r.ReadNodes(ctx, []NodeID{RootID})
	if err != nil {
		return fmt.Errorf("couldn't read the map root: %w", err)
	}
	if err := checkNode(RootID, n[0]); err != nil {
		return err
	}
	root.old = n[0]
	var frontier []*tnode
	if root.old.Kind == KindInterior && len(root.ups) > 0 {
		frontier = append(frontier, root)
	}
	r := t.r
	sr, _ := r.(SubtreeReader)
	for len(frontier) > 0 {
		if sr != nil && sr.SubtreeDepth() > 0 && int(frontier[0].id.Depth) == sr.SubtreeDepth() {
			// The rest of the paths in one read (SubtreeReader).
			roots := make([]NodeID, len(frontier))
			for i, f := range frontier {
				roots[i] = f.id
			}
			var err error
			if r, err = sr.ReadSubtrees(ctx, roots); err != nil {
				return fmt.Errorf("couldn't read the map's subtrees at depth %d: %w", roots[0].Depth, err)
			}
			sr = nil
		}
		ids := make([]NodeID, 0, 2*len(frontier))
		kids := make([]tnode, 2*len(frontier)) // one allocation per level
		for i, f := range frontier {
			s := split(f.ups, int(f.id.Depth))
			kids[2*i] = tnode{id: f.id.Child(0), ups: f.ups[:s]}
			kids[2*i+1] = tnode{id: f.id.Child(1), ups: f.ups[s:]}
			f.kids = [2]*tnode{&kids[2*i], &kids[2*i+1]}
			ids = append(ids, kids[2*i].id, kids[2*i+1].id)
		}
		nodes, err := r.ReadNodes(ctx, ids)
		if err != nil {
			return fmt.Errorf("couldn't read map nodes at depth %d: %w", ids[0].Depth, err)
		}
		if len(nodes) != len(ids) {
			return fmt.Errorf("vmap: store returned %d nodes for %d positions", len(nodes), len(ids))
		}
		next := frontier[:0:0]
		for i, f := range frontier {
			if err := checkChildren(f.id, nodes[2*i], nodes[2*i+1]); err != nil {
				return err
			}
			for b, k := range f.kids {
				k.old = nodes[2*i+b]
				if err := checkNode(k.id, k.old); err != nil {
					return err
				}
				if k.old.Kind == KindInterior && len(k.ups) > 0 {
					next = append(next, k)
				}
			}
		}
		frontier = next
	}
	return nil
}

// checkChildren reports whether l and r may be the children of the
// interior node at id: together they must hold at least two keys.
func checkChildren(id NodeID, l, r Node) error {
	if l.Kind == KindInterior || r.Kind == KindInterior || (l.Kind == KindLeaf && r.Kind == KindLeaf) {
		return nil
	}
	return fmt.Errorf("%w: interior node at %s has fewer than two keys below it", ErrCorrupt, id)
}
