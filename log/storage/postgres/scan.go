package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/vmap"
)

// Checkpoints implements storage.Storage.
func (s *Storage) Checkpoints(ctx context.Context, fn func(size uint64, signed []byte) error) error {
	return s.scan(ctx, "checkpoints", "SELECT size, note FROM checkpoints ORDER BY size", func(rows pgx.Rows) error {
		var size int64
		var note []byte
		if err := rows.Scan(&size, &note); err != nil {
			return scanError{err}
		}
		return fn(uint64(size), note)
	})
}

// indexQueries are the ScanIndex queries, by index kind.
var indexQueries = map[storage.IndexKind]string{
	storage.LeafIndex:       "SELECT hash, idx FROM leaves ORDER BY idx, hash",
	storage.CredentialIndex: "SELECT credential, idx FROM by_credential ORDER BY idx, credential",
	storage.SubjectIndex:    "SELECT subject, idx FROM by_subject ORDER BY idx, subject",
}

// ScanIndex implements storage.Storage.
func (s *Storage) ScanIndex(ctx context.Context, kind storage.IndexKind, fn func(key [32]byte, index uint64) error) error {
	query, ok := indexQueries[kind]
	if !ok {
		return fmt.Errorf("storage: no %v", kind)
	}
	return s.scan(ctx, kind.String(), query, func(rows pgx.Rows) error {
		var key []byte
		var idx int64
		if err := rows.Scan(&key, &idx); err != nil {
			return scanError{err}
		}
		if len(key) != 32 {
			return fmt.Errorf("storage: %v row of entry %d has a %d-byte key", kind, idx, len(key))
		}
		return fn([32]byte(key), uint64(idx))
	})
}

// ScanState implements storage.Storage.
func (s *Storage) ScanState(ctx context.Context, v storage.StateVisitor) error {
	if v.Issuer != nil {
		err := s.scan(ctx, "issuers", "SELECT name, key_id, public_key, vrf_key FROM issuers", func(rows pgx.Rows) error {
			i, err := scanIssuer(rows)
			if err != nil {
				return err
			}
			return v.Issuer(i)
		})
		if err != nil {
			return err
		}
	}
	if v.Credential != nil {
		err := s.scan(ctx, "credentials", `SELECT issuer, id, subject, version, not_after, status, reason, issue_index, last_index
			FROM credentials`, func(rows pgx.Rows) error {
			c, err := scanCredential(rows)
			if err != nil {
				return err
			}
			return v.Credential(c)
		})
		if err != nil {
			return err
		}
	}
	if v.Subject != nil {
		err := s.scan(ctx, "subjects", "SELECT issuer, label, version, live, events, digest FROM subjects", func(rows pgx.Rows) error {
			su, err := scanSubject(rows)
			if err != nil {
				return err
			}
			return v.Subject(su)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// scanError marks an error of rows.Scan, which scan wraps; other errors
// of the row function are returned as they are.
type scanError struct{ err error }

func (e scanError) Error() string { return e.err.Error() }
func (e scanError) Unwrap() error { return e.err }

// scan runs query and calls fn for each row. Errors from fn are returned
// as they are, except scanError, which is wrapped.
func (s *Storage) scan(ctx context.Context, what, query string, fn func(pgx.Rows) error) error {
	rows, err := s.pool.Query(ctx, query)
	if err != nil {
		return fmt.Errorf("couldn't read %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			if se, ok := err.(scanError); ok {
				return fmt.Errorf("couldn't read %s: %w", what, se.err)
			}
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("couldn't read %s: %w", what, err)
	}
	return nil
}

// ScanMapNodes implements storage.Storage. A stored node that does not
// parse at its position is an error.
func (s *Storage) ScanMapNodes(ctx context.Context, fn func(vmap.NodeID, vmap.Node) error) error {
	return s.scan(ctx, "map nodes", "SELECT depth, prefix, node FROM map_nodes ORDER BY depth, prefix", func(rows pgx.Rows) error {
		var depth int32
		var prefix, node []byte
		if err := rows.Scan(&depth, &prefix, &node); err != nil {
			return scanError{err}
		}
		id, err := vmap.ParseNodeID(int(depth), prefix)
		if err != nil {
			return fmt.Errorf("storage: map node at depth %d, prefix %x: %w", depth, prefix, err)
		}
		n, err := vmap.ParseNode(id, node)
		if err != nil {
			return fmt.Errorf("storage: map node %s: %w", id, err)
		}
		return fn(id, n)
	})
}
