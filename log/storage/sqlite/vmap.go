package sqlite

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/vmap"
)

// ReadNodes implements storage.Storage (vmap.NodeReader): one read
// transaction per call, so that a call sees one committed map. Positions
// below lowTier are computed from the leaves below their ancestor there
// (mapleaves.go): one range of map_leaves per ancestor.
func (s *Storage) ReadNodes(ctx context.Context, ids []vmap.NodeID) ([]vmap.Node, error) {
	// Prepared once per pool, outside the transaction (see txStmt).
	var prepared [1 + len(readNodesSizes)]*sql.Stmt
	for i, q := range readNodesQueries {
		st, err := s.stmt(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("couldn't prepare: %w", err)
		}
		prepared[i] = st
	}
	tx, leafQ, err := s.beginMapRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var inTx [len(prepared)]*sql.Stmt
	stmt := func(i int) *sql.Stmt {
		if inTx[i] == nil {
			inTx[i] = tx.StmtContext(ctx, prepared[i])
		}
		return inTx[i]
	}
	var upper, lower []int
	for i, id := range ids {
		if below(id) {
			lower = append(lower, i)
		} else {
			upper = append(upper, i)
		}
	}
	if len(lower) == 0 {
		return readNodes(ctx, stmt, ids)
	}
	out := make([]vmap.Node, len(ids))
	if err := scatter(upper, ids, out, func(ids []vmap.NodeID) ([]vmap.Node, error) {
		return readNodes(ctx, stmt, ids)
	}); err != nil {
		return nil, err
	}
	return out, scatter(lower, ids, out, func(ids []vmap.NodeID) ([]vmap.Node, error) {
		var roots []vmap.NodeID
		seen := make(map[vmap.NodeID]bool)
		for _, id := range ids {
			if r := vmap.PathID(id.Prefix, lowTier); !seen[r] {
				seen[r] = true
				roots = append(roots, r)
			}
		}
		sub, err := readSubtrees(ctx, leafQ.in(ctx, tx), roots)
		if err != nil {
			return nil, err
		}
		return sub.ReadNodes(ctx, ids)
	})
}

// scatter reads the positions ids[i] for i in which with read, and puts
// each node at out[i].
func scatter(which []int, ids []vmap.NodeID, out []vmap.Node, read func([]vmap.NodeID) ([]vmap.Node, error)) error {
	if len(which) == 0 {
		return nil
	}
	sub := make([]vmap.NodeID, len(which))
	for j, i := range which {
		sub[j] = ids[i]
	}
	got, err := read(sub)
	if err != nil {
		return err
	}
	for j, i := range which {
		out[i] = got[j]
	}
	return nil
}

const readNodeQuery = "SELECT node FROM map_nodes WHERE tier = ? AND prefix = ? AND depth = ?"

// readNodesSizes are the numbers of positions the statements that read
// several nodes at once name. A call reads its positions in statements of
// the largest size, and the rest in the smallest statement that holds
// them, its last position repeated to fill it: one statement run instead
// of one per position, most of the cost of a read of a few positions. (A
// map proof's first read names two positions per level down to a few
// levels past the usual depth of the map's leaves: 44 to 50 in a map of
// a few million keys.)
var readNodesSizes = [...]int{4, 16, 48, 64}

// readNodesQueries are readNodeQuery, then the statements of
// readNodesSizes.
var readNodesQueries = func() []string {
	q := []string{readNodeQuery}
	for _, n := range readNodesSizes {
		q = append(q, "SELECT depth, prefix, node FROM map_nodes WHERE (tier, prefix, depth) IN (VALUES "+
			strings.Repeat("(?, ?, ?), ", n-1)+"(?, ?, ?))")
	}
	return q
}()

// readNodes reads the nodes at ids with the statements of
// readNodesQueries: stmt(i) returns that of readNodesQueries[i].
func readNodes(ctx context.Context, stmt func(i int) *sql.Stmt, ids []vmap.NodeID) ([]vmap.Node, error) {
	out := make([]vmap.Node, len(ids))
	if len(ids) == 1 {
		return out, readNode(ctx, stmt(0), ids[0], &out[0])
	}
	args := make([]any, 0, 3*readNodesSizes[len(readNodesSizes)-1])
	first := make(map[vmap.NodeID]int)
	for base := 0; base < len(ids); {
		chunk := ids[base:min(base+readNodesSizes[len(readNodesSizes)-1], len(ids))]
		size := 0
		for size < len(readNodesSizes)-1 && readNodesSizes[size] < len(chunk) {
			size++
		}
		args = args[:0]
		clear(first)
		for i, id := range chunk {
			args = append(args, tierOf(id.Depth), id.PrefixBytes(), id.Depth)
			if _, ok := first[id]; !ok {
				first[id] = i
			}
		}
		for len(args) < 3*readNodesSizes[size] {
			args = append(args, args[len(args)-3:]...)
		}
		if err := readChunk(ctx, stmt(1+size), args, first, out[base:]); err != nil {
			return nil, err
		}
		// A position named twice has the node read for the first.
		for i, id := range chunk {
			if j := first[id]; j != i {
				out[base+i] = out[base+j]
			}
		}
		base += len(chunk)
	}
	return out, nil
}

// readChunk runs st, one of the statements of readNodesSizes, with args,
// and puts each node it returns in out at the index first gives its
// position.
func readChunk(ctx context.Context, st *sql.Stmt, args []any, first map[vmap.NodeID]int, out []vmap.Node) error {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("couldn't read map nodes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var depth int
		var prefix, b sql.RawBytes
		if err := rows.Scan(&depth, &prefix, &b); err != nil {
			return fmt.Errorf("couldn't read map nodes: %w", err)
		}
		id, err := vmap.ParseNodeID(depth, prefix)
		if err != nil {
			return fmt.Errorf("storage: map node at depth %d, prefix %x: %w", depth, prefix, err)
		}
		i, ok := first[id]
		if !ok {
			return fmt.Errorf("storage: map node %s read but not asked for", id)
		}
		if out[i], err = vmap.ParseNode(id, b); err != nil {
			return fmt.Errorf("storage: map node %s: %w", id, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("couldn't read map nodes: %w", err)
	}
	return nil
}

// readNode reads the node at id into n, which it leaves empty if nothing
// is stored there.
func readNode(ctx context.Context, st *sql.Stmt, id vmap.NodeID, n *vmap.Node) error {
	var b []byte
	err := st.QueryRowContext(ctx, tierOf(id.Depth), id.PrefixBytes(), id.Depth).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("couldn't read map node %s: %w", id, err)
	}
	if *n, err = vmap.ParseNode(id, b); err != nil {
		return fmt.Errorf("storage: map node %s: %w", id, err)
	}
	return nil
}

// WriteNodes implements vmap.NodeWriter: it writes nodes outside any log
// batch, in one transaction, with no check of the map root. It is for
// tests (vmaptest) and tools; a log writes its map through Batch.Map.
func (s *Storage) WriteNodes(ctx context.Context, writes []vmap.NodeWrite) (err error) {
	if s.w == nil {
		return errReadOnly
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("couldn't begin map write: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if err := writeNodes(ctx, batchTx{tx, s}, writes, nil, false); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("couldn't commit map write: %w", err)
	}
	return nil
}

// keyOrder returns the indices of writes in the order map_nodes stores
// them, by (tier, prefix, depth). A map-root entry's update touches a
// large part of the table; made in key order, its writes modify each page
// in one run, so that a page leaves SQLite's cache (spilled to the
// write-ahead log in the middle of the transaction) at most once. The
// writes themselves are not copied: a map-root entry's are some 20 MiB.
func keyOrder(writes []vmap.NodeWrite) []int32 {
	order := make([]int32, len(writes))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(i, j int32) int {
		a, b := &writes[i].ID, &writes[j].ID
		if c := cmp.Compare(tierOf(a.Depth), tierOf(b.Depth)); c != 0 {
			return c
		}
		if c := bytes.Compare(a.PrefixBytes(), b.PrefixBytes()); c != 0 {
			return c
		}
		return cmp.Compare(a.Depth, b.Depth)
	})
	return order
}

// writeNodes makes writes in tx, in key order: above lowTier, INSERT OR
// REPLACE for nodes, mapPutRows at a time, DELETE for empty ones; below,
// the leaves alone (leafWriter, with removed and exact). A node that may
// not be stored where it is written is an error.
func writeNodes(ctx context.Context, tx batchTx, writes []vmap.NodeWrite, removed []vmap.Key, exact bool) error {
	put, err := tx.stmt(ctx, qMapPut)
	if err != nil {
		return err
	}
	defer put.Close()
	puts, err := tx.stmt(ctx, qMapPutRows)
	if err != nil {
		return err
	}
	defer puts.Close()
	del, err := tx.stmt(ctx, qMapDel)
	if err != nil {
		return err
	}
	defer del.Close()
	args := make([]any, 0, 4*mapPutRows)
	first := -1 // the first node of args, for error messages
	leaves, err := newLeafWriter(ctx, tx, removed, exact)
	if err != nil {
		return err
	}
	for _, i := range keyOrder(writes) {
		w := &writes[i]
		b, err := checkWrite(w)
		if err != nil {
			return err
		}
		if err := leaves.write(ctx, w); err != nil {
			return err
		}
		if below(w.ID) {
			continue
		}
		prefix := w.ID.PrefixBytes()
		if w.Node.Kind == vmap.KindEmpty {
			if _, err := del.ExecContext(ctx, tierOf(w.ID.Depth), prefix, w.ID.Depth); err != nil {
				return fmt.Errorf("couldn't clear map node %s: %w", w.ID, err)
			}
			continue
		}
		if len(args) == 0 {
			first = int(i)
		}
		args = append(args, tierOf(w.ID.Depth), prefix, w.ID.Depth, b)
		if len(args) == cap(args) {
			if _, err := puts.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("couldn't write %d map nodes from %s: %w", mapPutRows, writes[first].ID, err)
			}
			args = args[:0]
		}
	}
	for k := 0; k < len(args); k += 4 {
		if _, err := put.ExecContext(ctx, args[k:k+4]...); err != nil {
			return fmt.Errorf("couldn't write map node at depth %d, prefix %x: %w", args[k+2], args[k+1], err)
		}
	}
	return leaves.flush(ctx)
}

// checkWrite returns the storage encoding of the write's node (nil for
// an empty one), or an error if it may not be stored at its position
// (vmap.ParseNode's checks).
func checkWrite(w *vmap.NodeWrite) ([]byte, error) {
	if w.Node.Kind == vmap.KindEmpty {
		return nil, nil
	}
	b, err := vmap.MarshalNode(w.Node)
	if err == nil {
		_, err = vmap.ParseNode(w.ID, b)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: map node %s: %w", w.ID, err)
	}
	return b, nil
}

// writeMap writes a batch's map diff after checking that the stored map
// root is its base, and records the new root and its map-root entry.
func writeMap(ctx context.Context, tx batchTx, b *storage.Batch) error {
	d := b.Map
	if b.MapIndex < b.Start || b.MapIndex >= b.Start+uint64(len(b.Entries)) {
		return fmt.Errorf("storage: map-root index %d is not in the batch [%d, %d)", b.MapIndex, b.Start, b.Start+uint64(len(b.Entries)))
	}
	st, err := tx.stmt(ctx, readNodeQuery)
	if err != nil {
		return err
	}
	var root vmap.Node
	if err := readNode(ctx, st, vmap.RootID, &root); err != nil {
		return err
	}
	if root.Hash != d.Base {
		return fmt.Errorf("storage: map update applies to map root %x, but the stored map root is %x", d.Base, root.Hash)
	}
	if err := writeNodes(ctx, tx, d.Writes, d.Removed, true); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, qMapRoot, b.MapIndex, d.Root[:]); err != nil {
		return fmt.Errorf("couldn't write map root: %w", err)
	}
	return nil
}

// MapRoot implements storage.Storage.
func (s *Storage) MapRoot(ctx context.Context) (*storage.MapRoot, error) {
	var r storage.MapRoot
	var root []byte
	if err := s.row(ctx, "SELECT idx, root FROM map_root WHERE id = 0").Scan(&r.Index, &root); err != nil {
		return nil, notFound(err, "map root")
	}
	if len(root) != len(r.Root) {
		return nil, fmt.Errorf("storage: corrupt map root (%d bytes)", len(root))
	}
	copy(r.Root[:], root)
	return &r, nil
}
