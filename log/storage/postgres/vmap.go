package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/vmap"
)

// querier is what reads need of a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ReadNodes implements storage.Storage (vmap.NodeReader): one statement,
// so one snapshot, per call.
func (s *Storage) ReadNodes(ctx context.Context, ids []vmap.NodeID) ([]vmap.Node, error) {
	return readNodes(ctx, s.pool, ids)
}

func readNodes(ctx context.Context, q querier, ids []vmap.NodeID) ([]vmap.Node, error) {
	out := make([]vmap.Node, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	depth := make([]int32, len(ids))
	prefix := make([][]byte, len(ids))
	pos := make(map[vmap.NodeID][]int, len(ids))
	for i, id := range ids {
		depth[i], prefix[i] = int32(id.Depth), id.PrefixBytes()
		pos[id] = append(pos[id], i)
	}
	rows, err := q.Query(ctx, `SELECT m.depth, m.prefix, m.node FROM map_nodes m
		JOIN unnest($1::integer[], $2::bytea[]) AS w(depth, prefix) ON m.depth = w.depth AND m.prefix = w.prefix`, depth, prefix)
	if err != nil {
		return nil, fmt.Errorf("couldn't read map nodes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d int32
		var p, b []byte
		if err := rows.Scan(&d, &p, &b); err != nil {
			return nil, fmt.Errorf("couldn't read map nodes: %w", err)
		}
		id, err := vmap.ParseNodeID(int(d), p)
		if err != nil {
			return nil, fmt.Errorf("storage: map node %d/%x: %w", d, p, err)
		}
		n, err := vmap.ParseNode(id, b)
		if err != nil {
			return nil, fmt.Errorf("storage: map node %s: %w", id, err)
		}
		for _, i := range pos[id] {
			out[i] = n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("couldn't read map nodes: %w", err)
	}
	return out, nil
}

// WriteNodes implements vmap.NodeWriter: it writes nodes outside any log
// batch, in one transaction, with no check of the map root. It is for
// tests (vmaptest) and tools; a log writes its map through Batch.Map.
func (s *Storage) WriteNodes(ctx context.Context, writes []vmap.NodeWrite) error {
	if s.readOnly {
		return errReadOnly
	}
	var q queue
	if err := queueMap(&q, writes); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return q.send(ctx, tx) })
}

// queueMap queues writes: upserts for nodes, deletes for empty ones, the
// last write of a position winning. A node that may not be stored where
// it is written is an error, and nothing is queued.
func queueMap(q *queue, writes []vmap.NodeWrite) error {
	last := make(map[vmap.NodeID]vmap.Node, len(writes))
	for _, w := range writes {
		last[w.ID] = w.Node
	}
	var putDepth, delDepth []int32
	var putPrefix, delPrefix, putNode [][]byte
	for id, n := range last {
		if n.Kind == vmap.KindEmpty {
			delDepth, delPrefix = append(delDepth, int32(id.Depth)), append(delPrefix, id.PrefixBytes())
			continue
		}
		b, err := vmap.MarshalNode(n)
		if err != nil {
			return fmt.Errorf("storage: map node %s: %w", id, err)
		}
		// ParseNode checks that the node may be stored at its position.
		if _, err := vmap.ParseNode(id, b); err != nil {
			return fmt.Errorf("storage: map node %s: %w", id, err)
		}
		putDepth, putPrefix, putNode = append(putDepth, int32(id.Depth)), append(putPrefix, id.PrefixBytes()), append(putNode, b)
	}
	if len(delDepth) > 0 {
		q.add("map nodes (deletions)", `DELETE FROM map_nodes m USING unnest($1::integer[], $2::bytea[]) AS w(depth, prefix)
			WHERE m.depth = w.depth AND m.prefix = w.prefix`, delDepth, delPrefix)
	}
	if len(putDepth) > 0 {
		q.add("map nodes", `INSERT INTO map_nodes (depth, prefix, node) SELECT * FROM unnest($1::integer[], $2::bytea[], $3::bytea[])
			ON CONFLICT (depth, prefix) DO UPDATE SET node = excluded.node`, putDepth, putPrefix, putNode)
	}
	return nil
}

// checkMapBase checks, in the batch's transaction, that the batch's map
// diff applies to the stored map root and that its map-root entry is in
// the batch.
func checkMapBase(ctx context.Context, tx pgx.Tx, b *storage.Batch) error {
	if b.MapIndex < b.Start || b.MapIndex >= b.Start+uint64(len(b.Entries)) {
		return fmt.Errorf("storage: map-root index %d is not in the batch [%d, %d)", b.MapIndex, b.Start, b.Start+uint64(len(b.Entries)))
	}
	root, err := readNodes(ctx, tx, []vmap.NodeID{vmap.RootID})
	if err != nil {
		return err
	}
	if root[0].Hash != b.Map.Base {
		return fmt.Errorf("storage: map update applies to map root %x, but the stored map root is %x", b.Map.Base, root[0].Hash)
	}
	return nil
}

// MapRoot implements storage.Storage.
func (s *Storage) MapRoot(ctx context.Context) (*storage.MapRoot, error) {
	var r storage.MapRoot
	var idx int64
	var root []byte
	if err := s.pool.QueryRow(ctx, "SELECT idx, root FROM map_root WHERE id = 0").Scan(&idx, &root); err != nil {
		return nil, notFound(err, "map root")
	}
	if len(root) != len(r.Root) {
		return nil, fmt.Errorf("storage: corrupt map root (%d bytes)", len(root))
	}
	r.Index = uint64(idx)
	copy(r.Root[:], root)
	return &r, nil
}
