package vmap

import "sync"

// compute returns the node at n's position after its updates, and appends
// to w the writes below it (the parent writes the node itself).
func (t *Tree) compute(n *tnode, w *[]NodeWrite) Node {
	if len(n.ups) == 0 {
		return n.old
	}
	if n.old.Kind != KindInterior {
		return t.build(n.id, merge(n.old, n.ups), w)
	}
	var l, r Node
	t.fork(int(n.id.Depth), len(n.ups), w,
		func(w *[]NodeWrite) { l = t.compute(n.kids[0], w) },
		func(w *[]NodeWrite) { r = t.compute(n.kids[1], w) })
	return combine(w, n.kids[0].id, n.kids[0].old, l, n.kids[1].id, n.kids[1].old, r)
}

// build returns the subtree at id holding exactly kvs (sorted, distinct,
// non-empty values), where nothing was stored below id before, and
// appends to w the writes below id.
func (t *Tree) build(id NodeID, kvs []Update, w *[]NodeWrite) Node {
	switch len(kvs) {
	case 0:
		return Node{}
	case 1:
		return NewLeaf(kvs[0].Key, kvs[0].Value)
	}
	s := split(kvs, int(id.Depth))
	c0, c1 := id.Child(0), id.Child(1)
	var l, r Node
	t.fork(int(id.Depth), len(kvs), w,
		func(w *[]NodeWrite) { l = t.build(c0, kvs[:s], w) },
		func(w *[]NodeWrite) { r = t.build(c1, kvs[s:], w) })
	return combine(w, c0, Node{}, l, c1, Node{}, r)
}

// fork runs left and right, in parallel if the subtree is near the root
// and has enough updates below it.
func (t *Tree) fork(depth, n int, w *[]NodeWrite, left, right func(*[]NodeWrite)) {
	if depth >= t.parDepth || n < minParallel {
		left(w)
		right(w)
		return
	}
	rw := make([]NodeWrite, 0, writesRoom(n/2))
	var wg sync.WaitGroup
	wg.Go(func() { right(&rw) })
	left(w)
	wg.Wait()
	*w = append(*w, rw...)
}

// combine returns the node whose children, at id0 and id1, change from
// old0 and old1 to n0 and n1, and appends the writes of the children's
// positions to w. One leaf and an empty subtree make a one-key subtree,
// which is that leaf, moved up: both child positions are then emptied.
func combine(w *[]NodeWrite, id0 NodeID, old0, n0 Node, id1 NodeID, old1, n1 Node) Node {
	if n0.Kind == KindEmpty && n1.Kind != KindInterior {
		put(w, id0, old0, Node{})
		put(w, id1, old1, Node{})
		return n1
	}
	if n1.Kind == KindEmpty && n0.Kind != KindInterior {
		put(w, id0, old0, Node{})
		put(w, id1, old1, Node{})
		return n0
	}
	put(w, id0, old0, n0)
	put(w, id1, old1, n1)
	return Node{Kind: KindInterior, Hash: InteriorHash(n0.Hash, n1.Hash)}
}

// put appends the write that changes the node at id from old to n, if any.
func put(w *[]NodeWrite, id NodeID, old, n Node) {
	if !same(old, n) {
		*w = append(*w, NodeWrite{ID: id, Node: n})
	}
}

// merge returns the keys and values below a position that holds old (a
// leaf or nothing) after ups: old's key unless an update names it, and
// every update that sets a value, in key order.
func merge(old Node, ups []Update) []Update {
	kvs := make([]Update, 0, len(ups)+1)
	pending := old.Kind == KindLeaf
	for _, u := range ups {
		if pending && old.Key.Compare(u.Key) <= 0 {
			if old.Key != u.Key {
				kvs = append(kvs, Update{Key: old.Key, Value: old.Value})
			}
			pending = false
		}
		if len(u.Value) > 0 {
			kvs = append(kvs, u)
		}
	}
	if pending {
		kvs = append(kvs, Update{Key: old.Key, Value: old.Value})
	}
	return kvs
}
