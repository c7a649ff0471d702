package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage"
)

// Tree implements storage.Storage.
func (s *Storage) Tree(ctx context.Context) (*storage.TreeState, error) {
	var t storage.TreeState
	var size int64
	var root, edge []byte
	if err := s.pool.QueryRow(ctx, "SELECT size, root, edge FROM tree WHERE id = 0").Scan(&size, &root, &edge); err != nil {
		return nil, fmt.Errorf("couldn't read tree state: %w", err)
	}
	if len(root) != 32 || len(edge)%32 != 0 {
		return nil, fmt.Errorf("storage: corrupt tree state (root %d bytes, edge %d bytes)", len(root), len(edge))
	}
	t.Size = uint64(size)
	copy(t.Root[:], root)
	for i := 0; i < len(edge); i += 32 {
		t.Edge = append(t.Edge, edge[i:i+32])
	}
	return &t, nil
}

// PutCheckpoint implements storage.Storage. The checkpoints table is
// locked against other writers (not readers) for the transaction, so
// that two concurrent calls cannot both store a size above the same
// latest one.
func (s *Storage) PutCheckpoint(ctx context.Context, size uint64, signed []byte) error {
	if s.readOnly {
		return errReadOnly
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.checkFence(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "LOCK TABLE checkpoints IN EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("couldn't lock checkpoints: %w", err)
		}
		var latest *int64
		if err := tx.QueryRow(ctx, "SELECT MAX(size) FROM checkpoints").Scan(&latest); err != nil {
			return fmt.Errorf("couldn't read latest checkpoint: %w", err)
		}
		if latest != nil && uint64(*latest) >= size {
			return fmt.Errorf("storage: checkpoint of size %d is not newer than the latest, %d", size, *latest)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO checkpoints (size, note) VALUES ($1, $2)", int64(size), signed); err != nil {
			return fmt.Errorf("couldn't store checkpoint %d: %w", size, err)
		}
		return nil
	})
}

// LatestCheckpoint implements storage.Storage.
func (s *Storage) LatestCheckpoint(ctx context.Context) (uint64, []byte, error) {
	var size int64
	var note []byte
	err := s.pool.QueryRow(ctx, "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1").Scan(&size, &note)
	if err != nil {
		return 0, nil, notFound(err, "latest checkpoint")
	}
	return uint64(size), note, nil
}

// Checkpoint implements storage.Storage.
func (s *Storage) Checkpoint(ctx context.Context, size uint64) ([]byte, error) {
	return s.blob(ctx, "checkpoint", "SELECT note FROM checkpoints WHERE size = $1", int64(size))
}

// ReadTile implements storage.Storage.
func (s *Storage) ReadTile(ctx context.Context, level, index uint64) ([]byte, error) {
	return s.blob(ctx, "tile", "SELECT data FROM tiles WHERE level = $1 AND idx = $2", int64(level), int64(index))
}

// ReadBundle implements storage.Storage.
func (s *Storage) ReadBundle(ctx context.Context, index uint64) ([]byte, error) {
	return s.blob(ctx, "entry bundle", "SELECT data FROM bundles WHERE idx = $1", int64(index))
}

// LookupLeaf implements storage.Storage.
func (s *Storage) LookupLeaf(ctx context.Context, leafHash [32]byte) (uint64, error) {
	var idx int64
	if err := s.pool.QueryRow(ctx, "SELECT idx FROM leaves WHERE hash = $1", leafHash[:]).Scan(&idx); err != nil {
		return 0, notFound(err, "leaf")
	}
	return uint64(idx), nil
}

// LookupLeaves implements storage.Storage, in one statement.
func (s *Storage) LookupLeaves(ctx context.Context, hashes [][32]byte) (map[[32]byte]uint64, error) {
	out := make(map[[32]byte]uint64)
	if len(hashes) == 0 {
		return out, nil
	}
	arg := make([][]byte, len(hashes))
	for i := range hashes {
		arg[i] = hashes[i][:]
	}
	rows, err := s.pool.Query(ctx, "SELECT hash, idx FROM leaves WHERE hash = ANY($1::bytea[])", arg)
	if err != nil {
		return nil, fmt.Errorf("couldn't look up leaves: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h []byte
		var idx int64
		if err := rows.Scan(&h, &idx); err != nil {
			return nil, fmt.Errorf("couldn't look up leaves: %w", err)
		}
		if len(h) == 32 {
			out[[32]byte(h)] = uint64(idx)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("couldn't look up leaves: %w", err)
	}
	return out, nil
}

// ReadState implements storage.Storage: one statement per table, whatever
// the number of keys.
func (s *Storage) ReadState(ctx context.Context, creds, subjects []storage.RecordKey) (map[storage.RecordKey]*state.Credential, map[storage.RecordKey]*state.Subject, error) {
	cm := make(map[storage.RecordKey]*state.Credential)
	if len(creds) > 0 {
		issuers, ids := splitKeys(creds)
		rows, err := s.pool.Query(ctx, `SELECT c.issuer, c.id, c.subject, c.version, c.not_after, c.status, c.reason, c.issue_index, c.last_index
			FROM credentials c JOIN unnest($1::text[], $2::bytea[]) AS k(issuer, id) ON c.issuer = k.issuer AND c.id = k.id`, issuers, ids)
		if err != nil {
			return nil, nil, fmt.Errorf("couldn't read credentials: %w", err)
		}
		err = eachRow(rows, func() error {
			c, err := scanCredential(rows)
			if err == nil {
				cm[storage.RecordKey{Issuer: c.Issuer, ID: c.ID}] = c
			}
			return err
		})
		if err != nil {
			return nil, nil, fmt.Errorf("couldn't read credentials: %w", err)
		}
	}
	sm := make(map[storage.RecordKey]*state.Subject)
	if len(subjects) > 0 {
		issuers, labels := splitKeys(subjects)
		rows, err := s.pool.Query(ctx, `SELECT s.issuer, s.label, s.version, s.live, s.events, s.digest
			FROM subjects s JOIN unnest($1::text[], $2::bytea[]) AS k(issuer, label) ON s.issuer = k.issuer AND s.label = k.label`, issuers, labels)
		if err != nil {
			return nil, nil, fmt.Errorf("couldn't read subjects: %w", err)
		}
		err = eachRow(rows, func() error {
			su, err := scanSubject(rows)
			if err == nil {
				sm[storage.RecordKey{Issuer: su.Issuer, ID: su.Label}] = su
			}
			return err
		})
		if err != nil {
			return nil, nil, fmt.Errorf("couldn't read subjects: %w", err)
		}
	}
	return cm, sm, nil
}

func splitKeys(keys []storage.RecordKey) ([]string, [][]byte) {
	issuers := make([]string, len(keys))
	ids := make([][]byte, len(keys))
	for i := range keys {
		issuers[i], ids[i] = keys[i].Issuer, keys[i].ID[:]
	}
	return issuers, ids
}

// eachRow calls fn for each row, then closes rows.
func eachRow(rows pgx.Rows, fn func() error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(); err != nil {
			return err
		}
	}
	return rows.Err()
}

// scanCredential scans the columns issuer, id, subject, version,
// not_after, status, reason, issue_index, last_index.
func scanCredential(row pgx.Row) (*state.Credential, error) {
	var c state.Credential
	var id, subject []byte
	var version, notAfter, issueIdx, lastIdx int64
	var status, reason int32
	if err := row.Scan(&c.Issuer, &id, &subject, &version, &notAfter, &status, &reason, &issueIdx, &lastIdx); err != nil {
		return nil, err
	}
	if !hash32((*[32]byte)(&c.ID), id) || !hash32((*[32]byte)(&c.Subject), subject) {
		return nil, fmt.Errorf("storage: credential %x of %q has an ID or subject that is not 32 bytes", id, c.Issuer)
	}
	c.Version, c.NotAfter = uint32(version), uint64(notAfter)
	c.Status, c.Reason = state.Status(status), entry.Reason(reason)
	c.IssueIndex, c.LastIndex = uint64(issueIdx), uint64(lastIdx)
	return &c, nil
}

// scanSubject scans the columns issuer, label, version, live, events,
// digest.
func scanSubject(row pgx.Row) (*state.Subject, error) {
	var su state.Subject
	var label, live, digest []byte
	var version, events int64
	if err := row.Scan(&su.Issuer, &label, &version, &live, &events, &digest); err != nil {
		return nil, err
	}
	if !hash32((*[32]byte)(&su.Label), label) || !hash32((*[32]byte)(&su.Live), live) || !hash32((*[32]byte)(&su.Digest), digest) {
		return nil, fmt.Errorf("storage: subject %x of %q has a hash that is not 32 bytes", label, su.Issuer)
	}
	su.Version, su.Events = uint32(version), uint64(events)
	return &su, nil
}

// scanIssuer scans the columns name, key_id, public_key, vrf_key.
func scanIssuer(row pgx.Row) (*state.Issuer, error) {
	var i state.Issuer
	var keyID int64
	var pub, vrf []byte
	if err := row.Scan(&i.Name, &keyID, &pub, &vrf); err != nil {
		return nil, err
	}
	if !hash32(&i.PublicKey, pub) || !hash32(&i.VRFKey, vrf) {
		return nil, fmt.Errorf("storage: issuer %q has a key that is not 32 bytes", i.Name)
	}
	i.KeyID = uint32(keyID)
	return &i, nil
}

// hash32 copies b into dst if it is 32 bytes long, and reports whether it
// was.
func hash32(dst *[32]byte, b []byte) bool {
	if len(b) != 32 {
		return false
	}
	*dst = [32]byte(b)
	return true
}

// ByCredential implements storage.Storage.
func (s *Storage) ByCredential(ctx context.Context, id entry.Hash) ([]uint64, error) {
	return s.indices(ctx, "SELECT idx FROM by_credential WHERE credential = $1 ORDER BY idx", id[:])
}

// BySubject implements storage.Storage.
func (s *Storage) BySubject(ctx context.Context, label entry.Hash) ([]uint64, error) {
	return s.indices(ctx, "SELECT idx FROM by_subject WHERE subject = $1 ORDER BY idx", label[:])
}

// Issuer implements state.Reader.
func (s *Storage) Issuer(name string) (*state.Issuer, error) {
	i, err := scanIssuer(s.pool.QueryRow(context.Background(), "SELECT name, key_id, public_key, vrf_key FROM issuers WHERE name = $1", name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read issuer %q: %w", name, err)
	}
	return i, nil
}

// Credential implements state.Reader.
func (s *Storage) Credential(issuer string, id entry.Hash) (*state.Credential, error) {
	c, err := scanCredential(s.pool.QueryRow(context.Background(), `SELECT issuer, id, subject, version, not_after, status, reason, issue_index, last_index
		FROM credentials WHERE issuer = $1 AND id = $2`, issuer, id[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read credential %x: %w", id, err)
	}
	return c, nil
}

// Subject implements state.Reader.
func (s *Storage) Subject(issuer string, label entry.Hash) (*state.Subject, error) {
	su, err := scanSubject(s.pool.QueryRow(context.Background(), `SELECT issuer, label, version, live, events, digest
		FROM subjects WHERE issuer = $1 AND label = $2`, issuer, label[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read subject %x: %w", label, err)
	}
	return su, nil
}

func (s *Storage) blob(ctx context.Context, what, query string, args ...any) ([]byte, error) {
	var b []byte
	if err := s.pool.QueryRow(ctx, query, args...).Scan(&b); err != nil {
		return nil, notFound(err, what)
	}
	return b, nil
}

func (s *Storage) indices(ctx context.Context, query string, args ...any) ([]uint64, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("couldn't query index: %w", err)
	}
	var out []uint64
	err = eachRow(rows, func() error {
		var i int64
		err := rows.Scan(&i)
		out = append(out, uint64(i))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("couldn't read index: %w", err)
	}
	return out, nil
}

func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %s", storage.ErrNotFound, what)
	}
	return fmt.Errorf("couldn't read %s: %w", what, err)
}
