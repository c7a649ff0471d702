package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/storage"
)

// Commit implements storage.Storage: one IMMEDIATE transaction per batch.
func (s *Storage) Commit(ctx context.Context, b *storage.Batch) (err error) {
	if s.w == nil {
		return errReadOnly
	}
	creds, subjects, err := b.CheckPostings()
	if err != nil {
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
		id, ok := tileID(ti.Level, ti.Index)
		if !ok {
			return fmt.Errorf("storage: tile %d/%d is beyond what a log can hold", ti.Level, ti.Index)
		}
		if _, err := t.exec(ctx, qTile, id, ti.Data); err != nil {
			return fmt.Errorf("couldn't write tile %d/%d: %w", ti.Level, ti.Index, err)
		}
	}
	for _, bu := range b.Bundles {
		if _, err := t.exec(ctx, qBundle, bu.Index, bu.Data); err != nil {
			return fmt.Errorf("couldn't write entry bundle %d: %w", bu.Index, err)
		}
	}
	if b.State != nil {
		if err := writeState(ctx, t, b.State, creds, subjects); err != nil {
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
	qTreeSize = "SELECT size FROM tree WHERE id = 0"
	qTree     = "UPDATE tree SET size = ?, root = ?, edge = ? WHERE id = 0"
	qTile     = "INSERT OR REPLACE INTO tiles (id, data) VALUES (?, ?)"
	qBundle   = "INSERT OR REPLACE INTO bundles (idx, data) VALUES (?, ?)"
	qLeaf     = "INSERT INTO leaves (hash, idx) VALUES (?, ?)"
	qIssuer   = "INSERT OR REPLACE INTO issuers (name, key_id, public_key, vrf_key) VALUES (?, ?, ?, ?)"
	// A record's entries column is its list of entries (postings.go): the
	// batch's are appended to the stored ones.
	qCredential = `INSERT INTO credentials
		(issuer, id, subject, version, not_after, status, reason, issue_index, last_index, entries)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id, issuer) DO UPDATE SET subject = excluded.subject, version = excluded.version,
		not_after = excluded.not_after, status = excluded.status, reason = excluded.reason,
		issue_index = excluded.issue_index, last_index = excluded.last_index,
		entries = credentials.entries || excluded.entries`
	qSubject = `INSERT INTO subjects
		(issuer, label, version, live, events, digest, entries) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (label, issuer) DO UPDATE SET version = excluded.version, live = excluded.live,
		events = excluded.events, digest = excluded.digest, entries = subjects.entries || excluded.entries`
	qMapPut  = "INSERT OR REPLACE INTO map_nodes (tier, prefix, depth, node) VALUES (?, ?, ?, ?)"
	qMapDel  = "DELETE FROM map_nodes WHERE tier = ? AND prefix = ? AND depth = ?"
	qMapRoot = "INSERT OR REPLACE INTO map_root (id, idx, root) VALUES (0, ?, ?)"
)

// mapPutRows is how many nodes one statement of a map-root entry's writes
// stores: each statement run costs some microseconds besides its rows,
// and such an entry writes some hundred thousand nodes.
const mapPutRows = 64

// qMapPutRows is qMapPut for mapPutRows nodes.
var qMapPutRows = "INSERT OR REPLACE INTO map_nodes (tier, prefix, depth, node) VALUES " +
	strings.Repeat("(?, ?, ?, ?), ", mapPutRows-1) + "(?, ?, ?, ?)"

var writeQueries = []string{qTreeSize, qTree, qTile, qBundle, qLeaf,
	qIssuer, qCredential, qSubject, readNodeQuery, qMapPut, qMapPutRows, qMapDel, qMapRoot,
	qLeafPut, qLeafPutRows, qLeafDel, qLeavesDelRng, qLeavesDelFrom}

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

func writeEntries(ctx context.Context, tx batchTx, entries []storage.Entry) error {
	leaf, err := tx.stmt(ctx, qLeaf)
	if err != nil {
		return err
	}
	defer leaf.Close()
	for _, e := range entries {
		if _, err := leaf.ExecContext(ctx, e.LeafHash[:], e.Index); err != nil {
			return fmt.Errorf("couldn't index entry %d: %w", e.Index, err)
		}
	}
	return nil
}

// writeState writes the batch's records, each with the batch's entries
// naming it appended to its list (storage.Batch.Postings).
func writeState(ctx context.Context, tx batchTx, st *state.Changes, creds, subjects map[storage.RecordKey][]uint64) error {
	for _, i := range st.Issuers {
		if _, err := tx.exec(ctx, qIssuer,
			i.Name, i.KeyID, i.PublicKey[:], i.VRFKey[:]); err != nil {
			return fmt.Errorf("couldn't write issuer %q: %w", i.Name, err)
		}
	}
	buf := []byte{} // not nil, which SQLite would take for NULL
	for _, c := range st.Credentials {
		k := storage.RecordKey{Issuer: c.Issuer, ID: c.ID}
		buf = appendIndices(buf[:0], creds[k])
		delete(creds, k) // appended once, should the record be listed twice
		if _, err := tx.exec(ctx, qCredential,
			c.Issuer, c.ID[:], c.Subject[:], c.Version, c.NotAfter, c.Status, c.Reason, c.IssueIndex, c.LastIndex, buf); err != nil {
			return fmt.Errorf("couldn't write credential %x: %w", c.ID, err)
		}
	}
	for _, su := range st.Subjects {
		k := storage.RecordKey{Issuer: su.Issuer, ID: su.Label}
		buf = appendIndices(buf[:0], subjects[k])
		delete(subjects, k)
		if _, err := tx.exec(ctx, qSubject,
			su.Issuer, su.Label[:], su.Version, su.Live[:], su.Events, su.Digest[:], buf); err != nil {
			return fmt.Errorf("couldn't write subject %x: %w", su.Label, err)
		}
	}
	return nil
}
