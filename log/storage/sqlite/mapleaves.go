package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/credlog/credlog/log/vmap"
)

// The map below depth lowTier (schema version 4; docs/MAP.md §7.3). A
// map's positions there are mostly interior nodes on the paths to a few
// dozen leaves per position at lowTier, and every changed key rewrote all
// of them on its path. They are not stored: map_leaves holds each leaf
// below lowTier, keyed by its key, with its hash, and the positions below
// lowTier are computed from the leaves below their ancestor at lowTier
// (vmap.Subtrees), which one range of map_leaves returns. A map-root
// entry writes one row per changed key below lowTier instead of one per
// changed position.

// mapLeavesColumns are map_leaves' columns and key.
const mapLeavesColumns = `key BLOB PRIMARY KEY, hash BLOB NOT NULL, value BLOB NOT NULL`

// leafRowsPut is how many leaves one statement of a map-root entry's
// writes stores (as mapPutRows).
const leafRowsPut = 64

const (
	qLeavesRange   = "SELECT key, hash, value FROM map_leaves WHERE key >= ? AND key < ?"
	qLeavesFrom    = "SELECT key, hash, value FROM map_leaves WHERE key >= ?"
	qLeafPut       = "INSERT OR REPLACE INTO map_leaves (key, hash, value) VALUES (?, ?, ?)"
	qLeafDel       = "DELETE FROM map_leaves WHERE key = ?"
	qLeavesDelRng  = "DELETE FROM map_leaves WHERE key >= ? AND key < ?"
	qLeavesDelFrom = "DELETE FROM map_leaves WHERE key >= ?"
)

// qLeafPutRows is qLeafPut for leafRowsPut leaves.
var qLeafPutRows = "INSERT OR REPLACE INTO map_leaves (key, hash, value) VALUES " +
	strings.Repeat("(?, ?, ?), ", leafRowsPut-1) + "(?, ?, ?)"

// below reports whether the node at id is computed from map_leaves.
func below(id vmap.NodeID) bool { return id.Depth > lowTier }

// keyRange returns the range of keys below id: lo <= key < hi, or lo <=
// key if hi is nil (id is on the tree's right edge). A 32-byte key
// compares with these shorter byte strings as SQLite compares blobs.
func keyRange(id vmap.NodeID) (lo, hi []byte) {
	lo = id.PrefixBytes()
	if id.Depth == 0 {
		return lo, nil
	}
	hi = append([]byte(nil), lo...)
	i := int(id.Depth-1) / 8
	add := 0x80 >> (uint(id.Depth-1) % 8)
	for ; i >= 0; i, add = i-1, 1 {
		v := int(hi[i]) + add
		hi[i] = byte(v)
		if v < 0x100 {
			return lo, hi
		}
	}
	return lo, nil
}

// rangeArgs returns the statement (or query) of the range of keys below
// id, of rng (lo <= key < hi) or from (lo <= key), and its arguments.
func rangeArgs[Q any](id vmap.NodeID, rng, from Q) (Q, []any) {
	lo, hi := keyRange(id)
	if hi == nil {
		return from, []any{lo}
	}
	return rng, []any{lo, hi}
}

// leafReads are the reads of map_leaves (leafStmts), in a read
// transaction (in).
type leafReads struct{ rng, from *sql.Stmt }

// readLeaves reads the leaves below root.
func readLeaves(ctx context.Context, q leafReads, root vmap.NodeID) ([]vmap.Node, error) {
	st, args := rangeArgs(root, q.rng, q.from)
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the map's leaves below %s: %w", root, err)
	}
	defer rows.Close()
	var out []vmap.Node
	for rows.Next() {
		// The key and hash are copied into the Node: read in place.
		var key, hash sql.RawBytes
		var value []byte
		if err := rows.Scan(&key, &hash, &value); err != nil {
			return nil, fmt.Errorf("couldn't read the map's leaves below %s: %w", root, err)
		}
		n, err := parseLeaf(key, hash, value)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("couldn't read the map's leaves below %s: %w", root, err)
	}
	return out, nil
}

// parseLeaf returns the leaf of a row of map_leaves. Its hash is taken as
// stored, as an interior node's is.
func parseLeaf(key, hash, value []byte) (vmap.Node, error) {
	if len(key) != len(vmap.Key{}) || len(hash) != len(vmap.Hash{}) || len(value) == 0 {
		return vmap.Node{}, fmt.Errorf("storage: %w: map leaf row with a key of %d bytes, a hash of %d, a value of %d",
			vmap.ErrMalformed, len(key), len(hash), len(value))
	}
	return vmap.Node{Kind: vmap.KindLeaf, Key: vmap.Key(key), Hash: vmap.Hash(hash), Value: value}, nil
}

// readSubtrees reads the leaves below roots, all at depth lowTier.
func readSubtrees(ctx context.Context, q leafReads, roots []vmap.NodeID) (*vmap.Subtrees, error) {
	leaves := make([][]vmap.Node, len(roots))
	for i, r := range roots {
		if r.Depth != lowTier {
			return nil, fmt.Errorf("storage: subtree root %s is not at depth %d", r, lowTier)
		}
		var err error
		if leaves[i], err = readLeaves(ctx, q, r); err != nil {
			return nil, err
		}
	}
	st, err := vmap.NewSubtrees(roots, leaves)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	return st, nil
}

// SubtreeDepth implements vmap.SubtreeReader.
func (s *Storage) SubtreeDepth() int { return lowTier }

// ReadSubtrees implements vmap.SubtreeReader, in one read transaction.
func (s *Storage) ReadSubtrees(ctx context.Context, roots []vmap.NodeID) (vmap.NodeReader, error) {
	tx, q, err := s.beginMapRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return readSubtrees(ctx, q.in(ctx, tx), roots)
}

// beginMapRead begins a read transaction of the map, and returns it with
// the reads of map_leaves (leafStmts), to take into it when needed.
func (s *Storage) beginMapRead(ctx context.Context) (*sql.Tx, leafReads, error) {
	q, err := s.leafStmts(ctx)
	if err != nil {
		return nil, q, err
	}
	tx, err := s.r.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, q, fmt.Errorf("couldn't begin map read: %w", err)
	}
	return tx, q, nil
}

// leafStmts returns the reads of map_leaves, prepared once for the pool.
// Call it before a transaction takes a connection: the view of ForWriter
// has only one.
func (s *Storage) leafStmts(ctx context.Context) (leafReads, error) {
	var q leafReads
	var err error
	if q.rng, err = s.stmt(ctx, qLeavesRange); err == nil {
		q.from, err = s.stmt(ctx, qLeavesFrom)
	}
	if err != nil {
		return q, fmt.Errorf("couldn't prepare: %w", err)
	}
	return q, nil
}

// in returns the reads in tx.
func (q leafReads) in(ctx context.Context, tx *sql.Tx) leafReads {
	return leafReads{tx.StmtContext(ctx, q.rng), tx.StmtContext(ctx, q.from)}
}

// leafWriter makes a map update's writes below lowTier in a batch's
// transaction; interior nodes there are not stored. Leaves are stored by
// flush, after every removal. A key's row is removed when:
//
//   - the update removes the key (vmap.Diff.Removed), if the removed keys
//     are known (exact);
//   - otherwise, a leaf or an empty node is written at a position: the
//     rows below it are cleared, and flush stores the leaf again. This
//     takes a range deletion per leaf written, and is for the writes of
//     WriteNodes, which come without their removed keys;
//   - a leaf is written at lowTier or above, where a key's leaf moves up
//     to when the keys beside it are removed.
//
// (The map of a log never loses a key: a log's updates remove none.)
type leafWriter struct {
	tx    batchTx
	exact bool
	puts  []*vmap.Node
}

// newLeafWriter returns a leafWriter for writes that remove the keys
// removed, or, if exact is false, an unknown set of keys.
func newLeafWriter(ctx context.Context, tx batchTx, removed []vmap.Key, exact bool) (*leafWriter, error) {
	for _, k := range removed {
		if _, err := tx.exec(ctx, qLeafDel, k[:]); err != nil {
			return nil, fmt.Errorf("couldn't remove map leaf %s: %w", k, err)
		}
	}
	return &leafWriter{tx: tx, exact: exact}, nil
}

func (w *leafWriter) write(ctx context.Context, wr *vmap.NodeWrite) error {
	n := &wr.Node
	switch {
	case n.Kind == vmap.KindInterior:
		return nil
	case !w.exact:
		q, args := rangeArgs(wr.ID, qLeavesDelRng, qLeavesDelFrom)
		if _, err := w.tx.exec(ctx, q, args...); err != nil {
			return fmt.Errorf("couldn't clear the map's leaves below %s: %w", wr.ID, err)
		}
	case !below(wr.ID) && n.Kind == vmap.KindLeaf:
		if _, err := w.tx.exec(ctx, qLeafDel, n.Key[:]); err != nil {
			return fmt.Errorf("couldn't clear map leaf %s: %w", n.Key, err)
		}
	}
	if below(wr.ID) && n.Kind == vmap.KindLeaf {
		w.puts = append(w.puts, n)
	}
	return nil
}

// flush stores the leaves, leafRowsPut at a time.
func (w *leafWriter) flush(ctx context.Context) error {
	args := make([]any, 0, 3*leafRowsPut)
	for len(w.puts) > 0 {
		q, chunk := qLeafPutRows, w.puts[:min(leafRowsPut, len(w.puts))]
		if len(chunk) < leafRowsPut {
			q, chunk = qLeafPut, chunk[:1]
		}
		args = args[:0]
		for _, n := range chunk {
			args = append(args, n.Key[:], n.Hash[:], n.Value)
		}
		if _, err := w.tx.exec(ctx, q, args...); err != nil {
			return fmt.Errorf("couldn't write map leaves from %s: %w", chunk[0].Key, err)
		}
		w.puts = w.puts[len(chunk):]
	}
	return nil
}

// migrateChunkRows is how many rows of map_nodes migrateMapLeaves reads at
// a time.
const migrateChunkRows = 65536

// migrateMapLeaves moves the leaves below lowTier of a map_nodes of an
// earlier version to map_leaves, and drops the other nodes there. It
// reads the nodes in chunks, in key order, and writes each chunk's leaves
// before it reads the next. Every node it drops is parsed first: one that
// does not parse at its position fails the migration.
func migrateMapLeaves(ctx context.Context, tx *sql.Tx) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'map_nodes'").Scan(&n); err != nil || n == 0 {
		return err
	}
	if _, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS map_leaves ("+mapLeavesColumns+") WITHOUT ROWID"); err != nil {
		return err
	}
	put, err := tx.PrepareContext(ctx, qLeafPut)
	if err != nil {
		return err
	}
	defer put.Close()
	after := vmap.NodeID{Depth: lowTier}
	for {
		leaves, last, rows, err := migrationChunk(ctx, tx, after)
		if err != nil {
			return err
		}
		for _, l := range leaves {
			if _, err := put.ExecContext(ctx, l.Key[:], l.Hash[:], l.Value); err != nil {
				return err
			}
		}
		if rows < migrateChunkRows {
			break
		}
		after = last
	}
	_, err = tx.ExecContext(ctx, "DELETE FROM map_nodes WHERE tier = ? AND depth > ?", lowTier, lowTier)
	return err
}

// migrationChunk reads the next migrateChunkRows nodes below lowTier from
// map_nodes, after the position after in its order, and returns the
// leaves among them, the last position read, and how many it read.
func migrationChunk(ctx context.Context, tx *sql.Tx, after vmap.NodeID) (leaves []vmap.Node, last vmap.NodeID, n int, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT depth, prefix, node FROM map_nodes
		WHERE tier = ? AND depth > ? AND (prefix, depth) > (?, ?)
		ORDER BY prefix, depth LIMIT ?`,
		lowTier, lowTier, after.PrefixBytes(), int(after.Depth), migrateChunkRows)
	if err != nil {
		return nil, last, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var depth int
		var prefix, b []byte
		if err := rows.Scan(&depth, &prefix, &b); err != nil {
			return nil, last, 0, err
		}
		id, err := vmap.ParseNodeID(depth, prefix)
		if err != nil {
			return nil, last, 0, fmt.Errorf("storage: map node at depth %d, prefix %x: %w", depth, prefix, err)
		}
		node, err := vmap.ParseNode(id, b)
		if err != nil {
			return nil, last, 0, fmt.Errorf("storage: map node %s: %w", id, err)
		}
		if node.Kind == vmap.KindLeaf {
			leaves = append(leaves, node)
		}
		last, n = id, n+1
	}
	return leaves, last, n, rows.Err()
}
