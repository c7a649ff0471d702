package sqlite

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/vmap"
)

// ReadNodes implements storage.Storage (vmap.NodeReader): one read
// transaction per call, so that a call sees one committed map.
func (s *Storage) ReadNodes(ctx context.Context, ids []vmap.NodeID) ([]vmap.Node, error) {
	// Prepared once per pool, outside the transaction (see txStmt).
	st, err := s.stmt(ctx, readNodeQuery)
	if err != nil {
		return nil, fmt.Errorf("couldn't prepare: %w", err)
	}
	tx, err := s.r.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("couldn't begin map read: %w", err)
	}
	defer tx.Rollback()
	return readNodes(ctx, tx.StmtContext(ctx, st), ids)
}

const readNodeQuery = "SELECT node FROM map_nodes WHERE tier = ? AND prefix = ? AND depth = ?"

func readNodes(ctx context.Context, st *sql.Stmt, ids []vmap.NodeID) ([]vmap.Node, error) {
	out := make([]vmap.Node, len(ids))
	for i, id := range ids {
		var b []byte
		err := st.QueryRowContext(ctx, tierOf(id.Depth), id.PrefixBytes(), id.Depth).Scan(&b)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("couldn't read map node %s: %w", id, err)
		}
		if out[i], err = vmap.ParseNode(id, b); err != nil {
			return nil, fmt.Errorf("storage: map node %s: %w", id, err)
		}
	}
	return out, nil
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
	if err := writeNodes(ctx, batchTx{tx, s}, writes); err != nil {
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

// writeNodes makes writes in tx, in key order: INSERT OR REPLACE for
// nodes, mapPutRows at a time, DELETE for empty ones. A node that may not
// be stored where it is written is an error.
func writeNodes(ctx context.Context, tx batchTx, writes []vmap.NodeWrite) error {
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
	for _, i := range keyOrder(writes) {
		w := &writes[i]
		prefix := w.ID.PrefixBytes()
		if w.Node.Kind == vmap.KindEmpty {
			if _, err := del.ExecContext(ctx, tierOf(w.ID.Depth), prefix, w.ID.Depth); err != nil {
				return fmt.Errorf("couldn't clear map node %s: %w", w.ID, err)
			}
			continue
		}
		b, err := vmap.MarshalNode(w.Node)
		if err != nil {
			return fmt.Errorf("storage: map node %s: %w", w.ID, err)
		}
		// ParseNode checks that the node may be stored at its position.
		if _, err := vmap.ParseNode(w.ID, b); err != nil {
			return fmt.Errorf("storage: map node %s: %w", w.ID, err)
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
	return nil
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
	root, err := readNodes(ctx, st, []vmap.NodeID{vmap.RootID})
	if err != nil {
		return err
	}
	if root[0].Hash != d.Base {
		return fmt.Errorf("storage: map update applies to map root %x, but the stored map root is %x", d.Base, root[0].Hash)
	}
	if err := writeNodes(ctx, tx, d.Writes); err != nil {
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
