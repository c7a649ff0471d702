package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage"
)

// Tree implements storage.Storage.
func (s *Storage) Tree(ctx context.Context) (*storage.TreeState, error) {
	var t storage.TreeState
	var root, edge []byte
	if err := s.row(ctx, "SELECT size, root, edge FROM tree WHERE id = 0").Scan(&t.Size, &root, &edge); err != nil {
		return nil, fmt.Errorf("couldn't read tree state: %w", err)
	}
	if len(root) != 32 || len(edge)%32 != 0 {
		return nil, fmt.Errorf("storage: corrupt tree state (root %d bytes, edge %d bytes)", len(root), len(edge))
	}
	copy(t.Root[:], root)
	for i := 0; i < len(edge); i += 32 {
		t.Edge = append(t.Edge, edge[i:i+32])
	}
	return &t, nil
}

// PutCheckpoint implements storage.Storage.
func (s *Storage) PutCheckpoint(ctx context.Context, size uint64, signed []byte) error {
	if s.w == nil {
		return errReadOnly
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("couldn't begin: %w", err)
	}
	defer tx.Rollback()
	var latest sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT MAX(size) FROM checkpoints").Scan(&latest); err != nil {
		return fmt.Errorf("couldn't read latest checkpoint: %w", err)
	}
	if latest.Valid && uint64(latest.Int64) >= size {
		return fmt.Errorf("storage: checkpoint of size %d is not newer than the latest, %d", size, latest.Int64)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO checkpoints (size, note) VALUES (?, ?)", size, signed); err != nil {
		return fmt.Errorf("couldn't store checkpoint %d: %w", size, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("couldn't commit checkpoint %d: %w", size, err)
	}
	return nil
}

// LatestCheckpoint implements storage.Storage.
func (s *Storage) LatestCheckpoint(ctx context.Context) (uint64, []byte, error) {
	var size uint64
	var note []byte
	err := s.row(ctx, "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1").Scan(&size, &note)
	if err != nil {
		return 0, nil, notFound(err, "latest checkpoint")
	}
	return size, note, nil
}

// Checkpoint implements storage.Storage.
func (s *Storage) Checkpoint(ctx context.Context, size uint64) ([]byte, error) {
	return s.blob(ctx, "checkpoint", "SELECT note FROM checkpoints WHERE size = ?", size)
}

// ReadTile implements storage.Storage.
func (s *Storage) ReadTile(ctx context.Context, level, index uint64) ([]byte, error) {
	id, ok := tileID(level, index)
	if !ok {
		return nil, fmt.Errorf("%w: tile %d/%d", storage.ErrNotFound, level, index)
	}
	return s.blob(ctx, "tile", "SELECT data FROM tiles WHERE id = ?", id)
}

// ReadBundle implements storage.Storage.
func (s *Storage) ReadBundle(ctx context.Context, index uint64) ([]byte, error) {
	return s.blob(ctx, "entry bundle", "SELECT data FROM bundles WHERE idx = ?", index)
}

// LookupLeaf implements storage.Storage.
func (s *Storage) LookupLeaf(ctx context.Context, leafHash [32]byte) (uint64, error) {
	var idx uint64
	if err := s.row(ctx, "SELECT idx FROM leaves WHERE hash = ?", leafHash[:]).Scan(&idx); err != nil {
		return 0, notFound(err, "leaf")
	}
	return idx, nil
}

// leafChunk is how many hashes one LookupLeaves query asks for, below
// SQLite's limit on parameters.
const leafChunk = 256

// LookupLeaves implements storage.Storage.
func (s *Storage) LookupLeaves(ctx context.Context, hashes [][32]byte) (map[[32]byte]uint64, error) {
	out := make(map[[32]byte]uint64)
	err := s.inChunks(ctx, len(hashes), leafChunk, func(lo, hi int) (string, []any) {
		args := make([]any, 0, hi-lo)
		for _, h := range hashes[lo:hi] {
			args = append(args, h[:])
		}
		return "SELECT hash, idx FROM leaves WHERE hash IN (?" + strings.Repeat(",?", hi-lo-1) + ")", args
	}, func(rows *sql.Rows) error {
		var h []byte
		var idx uint64
		if err := rows.Scan(&h, &idx); err != nil {
			return err
		}
		out[[32]byte(h)] = idx
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("couldn't look up leaves: %w", err)
	}
	return out, nil
}

// stateChunk is how many keys one ReadState query asks for.
const stateChunk = 200

// ReadState implements storage.Storage.
func (s *Storage) ReadState(ctx context.Context, creds, subjects []storage.RecordKey) (map[storage.RecordKey]*state.Credential, map[storage.RecordKey]*state.Subject, error) {
	cm := make(map[storage.RecordKey]*state.Credential)
	err := s.readRecords(ctx, creds, `SELECT issuer, id, subject, version, not_after, status, reason, issue_index, last_index
		FROM credentials WHERE (id, issuer) IN (VALUES `, func(rows *sql.Rows) error {
		var c state.Credential
		var id, subject []byte
		if err := rows.Scan(&c.Issuer, &id, &subject, &c.Version, &c.NotAfter, &c.Status, &c.Reason, &c.IssueIndex, &c.LastIndex); err != nil {
			return err
		}
		copy(c.ID[:], id)
		copy(c.Subject[:], subject)
		cm[storage.RecordKey{Issuer: c.Issuer, ID: c.ID}] = &c
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("couldn't read credentials: %w", err)
	}
	sm := make(map[storage.RecordKey]*state.Subject)
	err = s.readRecords(ctx, subjects, `SELECT issuer, label, version, live, events, digest
		FROM subjects WHERE (label, issuer) IN (VALUES `, func(rows *sql.Rows) error {
		var su state.Subject
		var label, live, digest []byte
		if err := rows.Scan(&su.Issuer, &label, &su.Version, &live, &su.Events, &digest); err != nil {
			return err
		}
		copy(su.Label[:], label)
		copy(su.Live[:], live)
		copy(su.Digest[:], digest)
		sm[storage.RecordKey{Issuer: su.Issuer, ID: su.Label}] = &su
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("couldn't read subjects: %w", err)
	}
	return cm, sm, nil
}

// readRecords runs prefix + "(?, ?), ...)" over keys in chunks, calling
// scan for each row.
func (s *Storage) readRecords(ctx context.Context, keys []storage.RecordKey, prefix string, scan func(*sql.Rows) error) error {
	return s.inChunks(ctx, len(keys), stateChunk, func(lo, hi int) (string, []any) {
		args := make([]any, 0, 2*(hi-lo))
		for _, k := range keys[lo:hi] {
			args = append(args, k.ID[:], k.Issuer)
		}
		return prefix + "(?, ?)" + strings.Repeat(", (?, ?)", hi-lo-1) + ")", args
	}, scan)
}

// inChunks runs the query that build makes for each chunk [lo, hi) of n
// items, calling scan for each row. Full chunks share one cached
// statement; the last, shorter one is prepared on the fly.
func (s *Storage) inChunks(ctx context.Context, n, chunk int, build func(lo, hi int) (string, []any), scan func(*sql.Rows) error) error {
	for lo := 0; lo < n; lo += chunk {
		hi := min(n, lo+chunk)
		query, args := build(lo, hi)
		var rows *sql.Rows
		var err error
		if hi-lo == chunk {
			var st *sql.Stmt
			if st, err = s.stmt(ctx, query); err == nil {
				rows, err = st.QueryContext(ctx, args...)
			}
		} else {
			rows, err = s.r.db.QueryContext(ctx, query, args...)
		}
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// ByCredential implements storage.Storage: the lists of the records of
// this credential ID, one per issuer that names it.
func (s *Storage) ByCredential(ctx context.Context, id entry.Hash) ([]uint64, error) {
	return s.indices(ctx, "credential", "SELECT entries FROM credentials WHERE id = ?", id[:])
}

// BySubject implements storage.Storage, as ByCredential.
func (s *Storage) BySubject(ctx context.Context, label entry.Hash) ([]uint64, error) {
	return s.indices(ctx, "subject", "SELECT entries FROM subjects WHERE label = ?", label[:])
}

// Issuer implements state.Reader.
func (s *Storage) Issuer(name string) (*state.Issuer, error) {
	var i state.Issuer
	var pub, vrf []byte
	err := s.row(context.Background(), "SELECT name, key_id, public_key, vrf_key FROM issuers WHERE name = ?", name).Scan(&i.Name, &i.KeyID, &pub, &vrf)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read issuer %q: %w", name, err)
	}
	copy(i.PublicKey[:], pub)
	copy(i.VRFKey[:], vrf)
	return &i, nil
}

// Credential implements state.Reader.
func (s *Storage) Credential(issuer string, id entry.Hash) (*state.Credential, error) {
	c := state.Credential{Issuer: issuer, ID: id}
	var subject []byte
	err := s.row(context.Background(), `SELECT subject, version, not_after, status, reason, issue_index, last_index
		FROM credentials WHERE id = ? AND issuer = ?`, id[:], issuer).Scan(
		&subject, &c.Version, &c.NotAfter, &c.Status, &c.Reason, &c.IssueIndex, &c.LastIndex)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read credential %x: %w", id, err)
	}
	copy(c.Subject[:], subject)
	return &c, nil
}

// Subject implements state.Reader.
func (s *Storage) Subject(issuer string, label entry.Hash) (*state.Subject, error) {
	su := state.Subject{Issuer: issuer, Label: label}
	var live, digest []byte
	err := s.row(context.Background(), `SELECT version, live, events, digest FROM subjects WHERE label = ? AND issuer = ?`,
		label[:], issuer).Scan(&su.Version, &live, &su.Events, &digest)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read subject %x: %w", label, err)
	}
	copy(su.Live[:], live)
	copy(su.Digest[:], digest)
	return &su, nil
}

func (s *Storage) blob(ctx context.Context, what, query string, args ...any) ([]byte, error) {
	var b []byte
	if err := s.row(ctx, query, args...).Scan(&b); err != nil {
		return nil, notFound(err, what)
	}
	return b, nil
}

// indices returns the entries of the lists that query selects, of
// records of one key under every issuer, merged in ascending order.
func (s *Storage) indices(ctx context.Context, what, query string, args ...any) ([]uint64, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("couldn't prepare %s lookup: %w", what, err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("couldn't look up %s: %w", what, err)
	}
	defer rows.Close()
	var out []uint64
	lists := 0
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("couldn't read %s's entries: %w", what, err)
		}
		idx, err := parseIndices(b)
		if err != nil {
			return nil, fmt.Errorf("storage: %s record: %w", what, err)
		}
		out = append(out, idx...)
		lists++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("couldn't read %s's entries: %w", what, err)
	}
	if lists > 1 {
		slices.Sort(out)
	}
	return out, nil
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s", storage.ErrNotFound, what)
	}
	return fmt.Errorf("couldn't read %s: %w", what, err)
}
