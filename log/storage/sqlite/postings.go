package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/tiles"
)

// A credential's or a subject's record keeps the indices of the entries
// naming it in its entries column (schema version 2): each index as an
// unsigned varint (encoding/binary's Uvarint, LEB128), in ascending
// order. A batch appends its entries' indices to the records it changes,
// in the statement that writes them, so that the lookup indexes by
// credential and by subject cost no row of their own: a row at a random
// key is a page written per event once the table outgrows the cache.

// appendIndices appends idx to a record's list.
func appendIndices(dst []byte, idx []uint64) []byte {
	for _, i := range idx {
		dst = binary.AppendUvarint(dst, i)
	}
	return dst
}

// errIndices is wrapped by parseIndices' errors.
var errIndices = errors.New("malformed entry list")

// parseIndices parses a record's list of entry indices. It fails on a
// truncated or overlong varint and on indices that are not strictly
// ascending.
func parseIndices(b []byte) ([]uint64, error) {
	var out []uint64
	for len(b) > 0 {
		i, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, fmt.Errorf("%w: bad varint after %d indices", errIndices, len(out))
		}
		if len(out) > 0 && i <= out[len(out)-1] {
			return nil, fmt.Errorf("%w: index %d after %d", errIndices, i, out[len(out)-1])
		}
		out = append(out, i)
		b = b[n:]
	}
	return out, nil
}

// indexRow is one row of a lookup index, as ScanIndex passes it.
type indexRow struct {
	key [32]byte
	idx uint64
}

// sortIndexRows sorts rows as ScanIndex passes them: by entry index,
// then key.
func sortIndexRows(rows []indexRow) {
	slices.SortFunc(rows, func(a, b indexRow) int {
		if c := cmp.Compare(a.idx, b.idx); c != 0 {
			return c
		}
		return slices.Compare(a.key[:], b.key[:])
	})
}

// migratePostings brings a database of schema version 1 to version 2: it
// rewrites the record tables with their new keys and entries columns, and
// fills the lists from the log's entries themselves, read bundle by bundle (by_credential has no issuer, and an
// issuer may name another's credential ID), then drops the tables
// by_credential and by_subject. It works through the log in chunks of
// migrateChunk bundles, so that its memory stays bounded. An entry naming
// a record that does not exist fails the migration.
func migratePostings(ctx context.Context, tx *sql.Tx) error {
	for _, q := range []string{
		"CREATE TABLE credentials_v2 (" + credentialsColumns + ") WITHOUT ROWID",
		`INSERT INTO credentials_v2 (issuer, id, subject, version, not_after, status, reason, issue_index, last_index)
			SELECT issuer, id, subject, version, not_after, status, reason, issue_index, last_index FROM credentials`,
		"DROP TABLE credentials",
		"ALTER TABLE credentials_v2 RENAME TO credentials",
		"CREATE TABLE subjects_v2 (" + subjectsColumns + ") WITHOUT ROWID",
		`INSERT INTO subjects_v2 (issuer, label, version, live, events, digest)
			SELECT issuer, label, version, live, events, digest FROM subjects`,
		"DROP TABLE subjects",
		"ALTER TABLE subjects_v2 RENAME TO subjects",
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	var size uint64
	if err := tx.QueryRowContext(ctx, "SELECT size FROM tree WHERE id = 0").Scan(&size); err != nil {
		return err
	}
	creds, err := tx.PrepareContext(ctx, "UPDATE credentials SET entries = entries || ? WHERE id = ? AND issuer = ?")
	if err != nil {
		return err
	}
	defer creds.Close()
	subjects, err := tx.PrepareContext(ctx, "UPDATE subjects SET entries = entries || ? WHERE label = ? AND issuer = ?")
	if err != nil {
		return err
	}
	defer subjects.Close()
	bundles := (size + 255) / 256
	for first := uint64(0); first < bundles; first += migrateChunk {
		c, s, err := chunkPostings(ctx, tx, first, min(first+migrateChunk, bundles), size)
		if err != nil {
			return err
		}
		if err := appendPostings(ctx, creds, "credential", c); err != nil {
			return err
		}
		if err := appendPostings(ctx, subjects, "subject", s); err != nil {
			return err
		}
	}
	for _, q := range []string{"DROP TABLE IF EXISTS by_credential", "DROP TABLE IF EXISTS by_subject"} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// migrateChunk is how many entry bundles migratePostings reads at a time.
const migrateChunk = 256

// chunkPostings reads the entry bundles [first, end) of a log of size
// entries and returns the entries naming each credential and subject.
func chunkPostings(ctx context.Context, tx *sql.Tx, first, end, size uint64) (creds, subjects map[storage.RecordKey][]uint64, err error) {
	creds, subjects = map[storage.RecordKey][]uint64{}, map[storage.RecordKey][]uint64{}
	rows, err := tx.QueryContext(ctx, "SELECT idx, data FROM bundles WHERE idx >= ? AND idx < ? ORDER BY idx", first, end)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var zero entry.Hash
	want := first
	for rows.Next() {
		var bi uint64
		var data []byte
		if err := rows.Scan(&bi, &data); err != nil {
			return nil, nil, err
		}
		if bi != want {
			return nil, nil, fmt.Errorf("storage: entry bundle %d is missing", want)
		}
		want++
		raw, err := tiles.BundleEntries(data)
		if err != nil {
			return nil, nil, fmt.Errorf("storage: entry bundle %d: %w", bi, err)
		}
		if n := min(size-bi*256, 256); uint64(len(raw)) < n {
			return nil, nil, fmt.Errorf("storage: entry bundle %d has %d entries, want %d", bi, len(raw), n)
		}
		for j, r := range raw {
			idx := bi*256 + uint64(j)
			if idx >= size {
				break
			}
			ev, err := entry.Parse(r)
			if err != nil {
				return nil, nil, fmt.Errorf("storage: entry %d: %w", idx, err)
			}
			if ev.Credential != zero {
				k := storage.RecordKey{Issuer: ev.Issuer, ID: ev.Credential}
				creds[k] = append(creds[k], idx)
			}
			if ev.Subject != zero {
				k := storage.RecordKey{Issuer: ev.Issuer, ID: ev.Subject}
				subjects[k] = append(subjects[k], idx)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if want != end {
		return nil, nil, fmt.Errorf("storage: entry bundle %d is missing", want)
	}
	return creds, subjects, nil
}

// appendPostings appends each record's entries to its list, in key order.
func appendPostings(ctx context.Context, st *sql.Stmt, what string, postings map[storage.RecordKey][]uint64) error {
	keys := slices.SortedFunc(maps.Keys(postings), func(a, b storage.RecordKey) int {
		return cmp.Or(slices.Compare(a.ID[:], b.ID[:]), cmp.Compare(a.Issuer, b.Issuer))
	})
	var buf []byte
	for _, k := range keys {
		buf = appendIndices(buf[:0], postings[k])
		res, err := st.ExecContext(ctx, buf, k.ID[:], k.Issuer)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return fmt.Errorf("storage: entry %d names %s %x of %q, which has no record", postings[k][0], what, k.ID, k.Issuer)
		}
	}
	return nil
}
