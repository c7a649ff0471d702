package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/storage"
)

// Commit implements storage.Storage: one IMMEDIATE transaction per batch.
func (s *Storage) Commit(ctx context.Context, b *storage.Batch) (err error) {
	if s.w == nil {
		return errReadOnly
	}
	if err := checkBatch(b); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("couldn't begin batch: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var size uint64
	t := batchTx{tx, s}
	st, err := t.stmt(ctx, qTreeSize)
	if err != nil {
		return err
	}
	if err := st.QueryRowContext(ctx).Scan(&size); err != nil {
		return fmt.Errorf("couldn't read tree size: %w", err)
	}
	if size != b.Start {
		return &storage.ConflictError{Stored: size, Start: b.Start}
	}
	if err := writeEntries(ctx, t, b.Entries); err != nil {
		return err
	}
	for _, ti := range b.Tiles {
		if _, err := t.exec(ctx, qTile, ti.Level, ti.Index, ti.Data); err != nil {
			return fmt.Errorf("couldn't write tile %d/%d: %w", ti.Level, ti.Index, err)
		}
	}
	for _, bu := range b.Bundles {
		if _, err := t.exec(ctx, qBundle, bu.Index, bu.Data); err != nil {
			return fmt.Errorf("couldn't write entry bundle %d: %w", bu.Index, err)
		}
	}
	if b.State != nil {
		if err := writeState(ctx, t, b); err != nil {
			return err
		}
	}
	if b.Map != nil {
		if err := writeMap(ctx, t, b); err != nil {
			return err
		}
	}
	if _, err := t.exec(ctx, qTree,
		b.Tree.Size, b.Tree.Root[:], bytes.Join(b.Tree.Edge, nil)); err != nil {
		return fmt.Errorf("couldn't write tree state: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("couldn't commit batch: %w", err)
	}
	return nil
}

// The statements of Commit, prepared on the writer connection when the
// database is opened (writeQueries).
const (
	qTreeSize     = "SELECT size FROM tree WHERE id = 0"
	qTree         = "UPDATE tree SET size = ?, root = ?, edge = ? WHERE id = 0"
	qTile         = "INSERT OR REPLACE INTO tiles (level, idx, data) VALUES (?, ?, ?)"
	qBundle       = "INSERT OR REPLACE INTO bundles (idx, data) VALUES (?, ?)"
	qLeaf         = "INSERT INTO leaves (hash, idx) VALUES (?, ?)"
	qByCredential = "INSERT INTO by_credential (credential, idx) VALUES (?, ?)"
	qBySubject    = "INSERT INTO by_subject (subject, idx) VALUES (?, ?)"
	qIssuer       = "INSERT OR REPLACE INTO issuers (name, key_id, public_key, vrf_key) VALUES (?, ?, ?, ?)"
	qCredential   = `INSERT OR REPLACE INTO credentials
		(issuer, id, subject, version, not_after, status, reason, issue_index, last_index)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qSubject = `INSERT OR REPLACE INTO subjects
		(issuer, label, version, live, events, digest) VALUES (?, ?, ?, ?, ?, ?)`
	qMapPut  = "INSERT OR REPLACE INTO map_nodes (tier, prefix, depth, node) VALUES (?, ?, ?, ?)"
	qMapDel  = "DELETE FROM map_nodes WHERE tier = ? AND prefix = ? AND depth = ?"
	qMapRoot = "INSERT OR REPLACE INTO map_root (id, idx, root) VALUES (0, ?, ?)"
)

var writeQueries = []string{qTreeSize, qTree, qTile, qBundle, qLeaf, qByCredential, qBySubject,
	qIssuer, qCredential, qSubject, readNodeQuery, qMapPut, qMapDel, qMapRoot}

// batchTx is a write transaction on the writer connection, whose
// statements are prepared once for all transactions (txStmt).
type batchTx struct {
	*sql.Tx
	s *Storage
}

func (t batchTx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	return t.s.txStmt(ctx, t.Tx, query)
}

func (t batchTx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func checkBatch(b *storage.Batch) error {
	if b.Tree.Size != b.Start+uint64(len(b.Entries)) {
		return fmt.Errorf("storage: batch of %d entries from %d ends at tree size %d", len(b.Entries), b.Start, b.Tree.Size)
	}
	for i, e := range b.Entries {
		if e.Index != b.Start+uint64(i) {
			return fmt.Errorf("storage: batch entry %d has index %d, want %d", i, e.Index, b.Start+uint64(i))
		}
	}
	return nil
}

func writeEntries(ctx context.Context, tx batchTx, entries []storage.Entry) error {
	leaf, err := tx.stmt(ctx, qLeaf)
	if err != nil {
		return err
	}
	defer leaf.Close()
	cred, err := tx.stmt(ctx, qByCredential)
	if err != nil {
		return err
	}
	defer cred.Close()
	sub, err := tx.stmt(ctx, qBySubject)
	if err != nil {
		return err
	}
	defer sub.Close()
	var zero entry.Hash
	for _, e := range entries {
		if _, err := leaf.ExecContext(ctx, e.LeafHash[:], e.Index); err != nil {
			return fmt.Errorf("couldn't index entry %d: %w", e.Index, err)
		}
		if e.Credential != zero {
			if _, err := cred.ExecContext(ctx, e.Credential[:], e.Index); err != nil {
				return fmt.Errorf("couldn't index entry %d by credential: %w", e.Index, err)
			}
		}
		if e.Subject != zero {
			if _, err := sub.ExecContext(ctx, e.Subject[:], e.Index); err != nil {
				return fmt.Errorf("couldn't index entry %d by subject: %w", e.Index, err)
			}
		}
	}
	return nil
}

func writeState(ctx context.Context, tx batchTx, b *storage.Batch) error {
	for _, i := range b.State.Issuers {
		if _, err := tx.exec(ctx, qIssuer,
			i.Name, i.KeyID, i.PublicKey[:], i.VRFKey[:]); err != nil {
			return fmt.Errorf("couldn't write issuer %q: %w", i.Name, err)
		}
	}
	for _, c := range b.State.Credentials {
		if _, err := tx.exec(ctx, qCredential,
			c.Issuer, c.ID[:], c.Subject[:], c.Version, c.NotAfter, c.Status, c.Reason, c.IssueIndex, c.LastIndex); err != nil {
			return fmt.Errorf("couldn't write credential %x: %w", c.ID, err)
		}
	}
	for _, su := range b.State.Subjects {
		if _, err := tx.exec(ctx, qSubject,
			su.Issuer, su.Label[:], su.Version, su.Live[:], su.Events, su.Digest[:]); err != nil {
			return fmt.Errorf("couldn't write subject %x: %w", su.Label, err)
		}
	}
	return nil
}
