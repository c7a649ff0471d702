package fsck

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/vmap"
)

// replayedMap is the verifiable map rebuilt from the replayed entries, as
// vmap.Rebuilder rebuilds it: the map updates of the entries collect until
// a map-root entry applies them, so the map held is always the map of the
// last map-root entry replayed, which is what a log stores.
type replayedMap struct {
	store   *vmap.MemoryStore
	tree    *vmap.Tree
	pending vmap.Pending
	root    vmap.Hash // the root at the last map-root entry
	index   uint64    // the index of the last map-root entry
	seen    bool      // whether a map-root entry was replayed
	roots   uint64    // map-root entries replayed
}

func newReplayedMap() *replayedMap {
	s := vmap.NewMemoryStore()
	return &replayedMap{store: s, tree: vmap.NewTree(s), root: vmap.EmptyHash}
}

// add records the map updates of entry i, whose replay made change ch, and
// at a map-root entry applies them and checks the root it commits to.
func (m *replayedMap) add(ctx context.Context, i uint64, ev *entry.Event, ch *state.Change) error {
	if err := m.pending.AddChange(ch); err != nil {
		return inconsistent("entry %d: %s event gives no map update: %v", i, ev.Type, err)
	}
	if ev.Type != entry.TypeMapRoot {
		return nil
	}
	if m.pending.Len() > 0 {
		d, err := m.tree.Update(ctx, m.pending.Updates())
		if err != nil {
			return fmt.Errorf("couldn't rebuild the map: %w", err)
		}
		if err := m.store.WriteNodes(ctx, d.Writes); err != nil {
			return fmt.Errorf("couldn't rebuild the map: %w", err)
		}
		m.pending.Reset()
		m.root = d.Root
	}
	if ev.MapRoot != m.root {
		return inconsistent("entry %d: map-root entry commits to map root %x, but the entries before it give %x", i, ev.MapRoot, m.root)
	}
	m.index, m.seen = i, true
	m.roots++
	return nil
}

// checkMap checks the stored map against the replayed one: the stored
// map root is the root at the last map-root entry and names that entry,
// and the stored nodes are exactly the replayed map's nodes.
func (c *checker) checkMap() error {
	m := c.vmap
	c.progress("map", 0, uint64(m.store.Len()))
	stored, err := c.s.MapRoot(c.ctx)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		if m.seen {
			return inconsistent("map root: not stored, but entry %d is a map-root entry", m.index)
		}
	case err != nil:
		return fmt.Errorf("couldn't read the map root: %w", err)
	case !m.seen:
		return inconsistent("map root: stored for entry %d, but the log has no map-root entry", stored.Index)
	case stored.Index != m.index:
		return inconsistent("map root: names entry %d, but the last map-root entry is %d", stored.Index, m.index)
	case stored.Root != m.root:
		return inconsistent("map root: stored root %x, but the map at map-root entry %d has root %x", stored.Root, m.index, m.root)
	}
	c.rep.MapRoots = m.roots
	return c.checkMapNodes()
}

// checkMapNodes compares every stored map node with the replayed map's
// node at its position, then looks for replayed nodes not stored.
func (c *checker) checkMapNodes() error {
	m := c.vmap
	total := uint64(m.store.Len())
	var matched uint64
	err := c.s.ScanMapNodes(c.ctx, func(id vmap.NodeID, got vmap.Node) error {
		want, err := m.store.ReadNodes(c.ctx, []vmap.NodeID{id})
		if err != nil {
			return fmt.Errorf("couldn't read the replayed map: %w", err)
		}
		if want[0].Kind == vmap.KindEmpty {
			return inconsistent("map node %s: stored (%s), but the replayed map has none there", id, describeNode(got))
		}
		if !sameNode(got, want[0]) {
			if w := want[0]; got.Kind == vmap.KindLeaf && w.Kind == vmap.KindLeaf && got.Key == w.Key && bytes.Equal(got.Value, w.Value) {
				// Only a store that keeps leaf hashes (MAP.md §7.3) can differ so.
				return inconsistent("map node %s: stored leaf of key %x has leaf hash %x, but its key and value give %x", id, got.Key[:], got.Hash, w.Hash)
			}
			return inconsistent("map node %s: stored %s, but the replayed map has %s", id, describeNode(got), describeNode(want[0]))
		}
		matched++
		if matched%progressEvery == 0 {
			c.progress("map", matched, total)
		}
		return nil
	})
	var inc *Inconsistency
	switch {
	case errors.As(err, &inc):
		return err
	case errors.Is(err, vmap.ErrMalformed), errors.Is(err, vmap.ErrCorrupt):
		return inconsistent("stored map: %v", err)
	case err != nil:
		return fmt.Errorf("couldn't read the stored map: %w", err)
	}
	c.rep.MapNodes = matched
	c.progress("map", matched, total)
	if matched == total {
		return nil
	}
	// Every stored node is a distinct replayed one, so some replayed
	// nodes are not stored.
	return c.missingMapNode()
}

// missingMapNode names the first replayed map node, in NodeID order, that
// is not stored.
func (c *checker) missingMapNode() error {
	var ids []vmap.NodeID
	c.vmap.store.Nodes(func(id vmap.NodeID, _ vmap.Node) bool {
		ids = append(ids, id)
		return true
	})
	var first *vmap.NodeID
	for len(ids) > 0 {
		batch := ids[:min(len(ids), 1024)]
		ids = ids[len(batch):]
		got, err := c.s.ReadNodes(c.ctx, batch)
		if err != nil {
			return fmt.Errorf("couldn't read the stored map: %w", err)
		}
		for k, n := range got {
			if n.Kind == vmap.KindEmpty && (first == nil || batch[k].Compare(*first) < 0) {
				first = &batch[k]
			}
		}
	}
	if first == nil {
		return errors.New("fsck: the stored map has fewer nodes than the replayed map, but none is missing")
	}
	n, err := c.vmap.store.ReadNodes(c.ctx, []vmap.NodeID{*first})
	if err != nil {
		return fmt.Errorf("couldn't read the replayed map: %w", err)
	}
	return inconsistent("map node %s: not stored, but the replayed map has %s there", *first, describeNode(n[0]))
}

// sameNode reports whether two nodes are equal in every field.
func sameNode(a, b vmap.Node) bool {
	return a.Kind == b.Kind && a.Hash == b.Hash && a.Key == b.Key && bytes.Equal(a.Value, b.Value)
}

// describeNode names a node for a message.
func describeNode(n vmap.Node) string {
	switch n.Kind {
	case vmap.KindInterior:
		return fmt.Sprintf("interior node %x", n.Hash)
	case vmap.KindLeaf:
		return fmt.Sprintf("leaf of key %x with value hash %x", n.Key[:], vmap.ValueHash(n.Value))
	}
	return "empty node"
}
