package vmap

import (
	"context"
	"fmt"
	"slices"
	"sort"
)

// A SubtreeReader is a NodeReader whose store keeps, below the positions
// of one depth, only the leaves: the positions under such a position are
// computed from the leaves below it, which one read returns together.
//
// SubtreeDepth returns that depth, or 0 if the store answers every
// position from what it stores there (ReadSubtrees is then not called).
// ReadSubtrees reads the leaves below roots, positions at SubtreeDepth
// that hold interior nodes, in one snapshot of the tree, and returns a
// NodeReader of the positions below them (deeper than SubtreeDepth),
// answered from memory. A Tree switches to it when its reads reach that
// depth, so that a path's last levels take one read instead of one per
// level.
type SubtreeReader interface {
	NodeReader
	SubtreeDepth() int
	ReadSubtrees(ctx context.Context, roots []NodeID) (NodeReader, error)
}

// Subtrees holds the leaves below some positions of one depth and answers
// the positions below them, as a store that keeps only the leaves below
// that depth does (SubtreeReader):
//
//   - no key below a position: it is empty;
//   - one key: the position holds that key's leaf if its parent has two
//     or more keys below it, or is a root (an interior node: a root with
//     one key below it would be that key's leaf, with nothing below);
//     otherwise it is empty, the leaf being higher up;
//   - two keys or more: an interior node, whose hash is computed from the
//     leaves' hashes.
//
// The leaves' hashes are taken as they are given (NewLeaf computes them;
// a store may keep them). Written for this project: the libraries of
// the field have no sparse tree of this shape.
type Subtrees struct {
	depth  uint16
	roots  []NodeID // sorted by prefix
	leaves [][]Node // leaves[i]: the leaves below roots[i], sorted by key
}

// NewSubtrees returns the Subtrees of roots, all at one depth, with
// leaves[i] the leaves below roots[i] in any order. It rejects a leaf that
// is not below its root, a key given twice, and roots of several depths.
func NewSubtrees(roots []NodeID, leaves [][]Node) (*Subtrees, error) {
	if len(roots) != len(leaves) {
		return nil, fmt.Errorf("vmap: %d roots with %d lists of leaves", len(roots), len(leaves))
	}
	s := &Subtrees{}
	if len(roots) == 0 {
		return s, nil
	}
	s.depth = roots[0].Depth
	order := make([]int, len(roots))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return roots[a].Compare(roots[b]) })
	for _, i := range order {
		r := roots[i]
		if r.Depth != s.depth {
			return nil, fmt.Errorf("vmap: subtree roots at depths %d and %d", s.depth, r.Depth)
		}
		if n := len(s.roots); n > 0 && s.roots[n-1] == r {
			continue
		}
		ls := leaves[i]
		byKey := func(a, b Node) int { return a.Key.Compare(b.Key) }
		if !slices.IsSortedFunc(ls, byKey) { // a store's range read is sorted
			slices.SortFunc(ls, byKey)
		}
		for j, l := range ls {
			if err := checkNode(r, l); err != nil || l.Kind != KindLeaf {
				return nil, fmt.Errorf("%w: leaf of key %s stored below %s", ErrCorrupt, l.Key, r)
			}
			if j > 0 && ls[j-1].Key == l.Key {
				return nil, fmt.Errorf("%w: key %s stored twice below %s", ErrCorrupt, l.Key, r)
			}
		}
		s.roots = append(s.roots, r)
		s.leaves = append(s.leaves, ls)
	}
	return s, nil
}

// ReadNodes implements NodeReader for the positions below the roots. A
// position that is not below one of them is an error.
func (s *Subtrees) ReadNodes(_ context.Context, ids []NodeID) ([]Node, error) {
	out := make([]Node, len(ids))
	for i, id := range ids {
		n, err := s.Node(id)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// Node returns the node at id, a position below one of the roots.
func (s *Subtrees) Node(id NodeID) (Node, error) {
	ls, ok := s.below(id)
	if !ok {
		return Node{}, fmt.Errorf("vmap: position %s is not below the %d subtrees read at depth %d", id, len(s.roots), s.depth)
	}
	in := keysBelow(ls, id)
	switch {
	case len(in) == 0:
		return Node{}, nil
	case len(in) == 1:
		if id.Depth-1 > s.depth && len(keysBelow(ls, parentOf(id))) == 1 {
			return Node{}, nil
		}
		return in[0], nil
	}
	h, _ := walkLeaves(in, id, nil) // no error without a function to call
	return Node{Kind: KindInterior, Hash: h}, nil
}

// below returns the leaves of the root above id, if id is below a root.
func (s *Subtrees) below(id NodeID) ([]Node, bool) {
	if id.Depth <= s.depth || len(s.roots) == 0 {
		return nil, false
	}
	r := PathID(id.Prefix, int(s.depth))
	i, ok := slices.BinarySearchFunc(s.roots, r, func(a, b NodeID) int { return a.Prefix.Compare(b.Prefix) })
	if !ok {
		return nil, false
	}
	return s.leaves[i], true
}

// Walk calls f with every non-empty position below the roots, each subtree
// children before their parent, and stops at f's first error.
func (s *Subtrees) Walk(f func(NodeID, Node) error) error {
	for i, r := range s.roots {
		ls := s.leaves[i]
		if len(ls) < 2 {
			// A root with one key below it is a leaf: nothing is below it.
			// Say where the lone stored leaf is, as if its parent were
			// interior, so that a check of the nodes finds it.
			if len(ls) == 1 {
				if err := f(PathID(ls[0].Key, int(r.Depth)+1), ls[0]); err != nil {
					return err
				}
			}
			continue
		}
		for b := range uint8(2) {
			c := r.Child(b)
			if _, err := walkLeaves(keysBelow(ls, c), c, f); err != nil {
				return err
			}
		}
	}
	return nil
}

// walkLeaves calls f, unless it is nil, with the nodes at id and below
// it, for ls the keys below id, whose parent has two or more keys below
// it; it returns id's hash.
func walkLeaves(ls []Node, id NodeID, f func(NodeID, Node) error) (Hash, error) {
	switch len(ls) {
	case 0:
		return EmptyHash, nil
	case 1:
		if f == nil {
			return ls[0].Hash, nil
		}
		return ls[0].Hash, f(id, ls[0])
	}
	s := splitLeaves(ls, int(id.Depth))
	h0, err := walkLeaves(ls[:s], id.Child(0), f)
	if err != nil {
		return Hash{}, err
	}
	h1, err := walkLeaves(ls[s:], id.Child(1), f)
	if err != nil {
		return Hash{}, err
	}
	h := InteriorHash(h0, h1)
	if f == nil {
		return h, nil
	}
	return h, f(id, Node{Kind: KindInterior, Hash: h})
}

// splitLeaves returns the index of the first of ls, sorted keys below a
// position at depth, whose bit depth is 1.
func splitLeaves(ls []Node, depth int) int {
	return sort.Search(len(ls), func(i int) bool { return ls[i].Key.Bit(depth) == 1 })
}

// keysBelow returns the leaves of ls, sorted by key, that are below id.
func keysBelow(ls []Node, id NodeID) []Node {
	lo := sort.Search(len(ls), func(i int) bool { return ls[i].Key.Compare(id.Prefix) >= 0 })
	hi := lo + sort.Search(len(ls)-lo, func(i int) bool { return !id.Contains(ls[lo+i].Key) })
	return ls[lo:hi]
}

// parentOf returns the position above id, which is not the root.
func parentOf(id NodeID) NodeID { return PathID(id.Prefix, int(id.Depth)-1) }
