package witness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var _ Store = (*SQLiteStore)(nil)

// SQLiteStore is a [Store] in one SQLite database file (pure-Go
// modernc.org/sqlite), in WAL mode with synchronous=FULL: a committed
// transaction survives a crash of the machine.
//
// Triggers in the schema refuse, whatever the caller, to delete a log, to
// change its keys, to move its latest checkpoint backwards or to another
// root at the same size, and to change or delete history and evidence.
type SQLiteStore struct {
	w *sql.DB // the single writer connection
	r *sql.DB // readers

	advances chan *advance // to the committer
	quit     chan struct{} // closed by Close
	stopped  chan struct{} // closed when the committer is gone
}

// advance is one Advance call waiting for the committer.
type advance struct {
	prev *Latest
	next *HistoryEntry
	done chan error
}

// maxGroup bounds the Advance calls committed in one transaction.
const maxGroup = 128

const sqliteSchema = `
CREATE TABLE IF NOT EXISTS logs (
	origin TEXT PRIMARY KEY,
	origin_hash TEXT NOT NULL UNIQUE,
	added INTEGER NOT NULL,
	size INTEGER,
	root BLOB,
	checkpoint TEXT,
	cosigned TEXT,
	CHECK ((size IS NULL) = (root IS NULL)),
	CHECK ((size IS NULL) = (checkpoint IS NULL)),
	CHECK ((size IS NULL) = (cosigned IS NULL)),
	CHECK (size IS NULL OR size >= 0)
) STRICT;
CREATE TABLE IF NOT EXISTS log_keys (
	origin TEXT NOT NULL REFERENCES logs (origin),
	vkey TEXT NOT NULL,
	PRIMARY KEY (origin, vkey)
) STRICT;
CREATE TABLE IF NOT EXISTS history (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	origin TEXT NOT NULL REFERENCES logs (origin),
	size INTEGER NOT NULL,
	root BLOB NOT NULL,
	checkpoint TEXT NOT NULL,
	cosigned TEXT NOT NULL,
	cosignature TEXT NOT NULL,
	time INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS history_origin_size ON history (origin, size);
CREATE TABLE IF NOT EXISTS evidence (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	origin TEXT NOT NULL REFERENCES logs (origin),
	size INTEGER NOT NULL,
	detected INTEGER NOT NULL,
	first TEXT NOT NULL,
	first_root BLOB NOT NULL,
	second TEXT NOT NULL,
	second_root BLOB NOT NULL,
	proof BLOB NOT NULL DEFAULT x'',
	UNIQUE (origin, size, first_root, second_root)
) STRICT;

CREATE TRIGGER IF NOT EXISTS logs_never_removed BEFORE DELETE ON logs
BEGIN SELECT RAISE(ABORT, 'logs are never removed'); END;
CREATE TRIGGER IF NOT EXISTS logs_identity_fixed BEFORE UPDATE OF origin, origin_hash, added ON logs
BEGIN SELECT RAISE(ABORT, 'a log''s origin never changes'); END;
CREATE TRIGGER IF NOT EXISTS logs_never_backwards BEFORE UPDATE OF size, root ON logs
WHEN OLD.size IS NOT NULL AND (NEW.size IS NULL OR NEW.size < OLD.size OR (NEW.size = OLD.size AND NEW.root IS NOT OLD.root))
BEGIN SELECT RAISE(ABORT, 'the witness never goes backwards or forks'); END;
CREATE TRIGGER IF NOT EXISTS log_keys_never_removed BEFORE DELETE ON log_keys
BEGIN SELECT RAISE(ABORT, 'logs are never re-keyed'); END;
CREATE TRIGGER IF NOT EXISTS log_keys_never_changed BEFORE UPDATE ON log_keys
BEGIN SELECT RAISE(ABORT, 'logs are never re-keyed'); END;
CREATE TRIGGER IF NOT EXISTS history_append_only_update BEFORE UPDATE ON history
BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS history_append_only_delete BEFORE DELETE ON history
BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS evidence_append_only_update BEFORE UPDATE ON evidence
BEGIN SELECT RAISE(ABORT, 'evidence is append-only'); END;
CREATE TRIGGER IF NOT EXISTS evidence_append_only_delete BEFORE DELETE ON evidence
BEGIN SELECT RAISE(ABORT, 'evidence is append-only'); END;
`

// OpenSQLite opens (creating if needed) the witness database at path.
func OpenSQLite(ctx context.Context, path string) (*SQLiteStore, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("couldn't open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	if _, err := w.ExecContext(ctx, sqliteSchema); err != nil {
		w.Close()
		return nil, fmt.Errorf("couldn't create schema in %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("couldn't open %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	s := &SQLiteStore{w: w, r: r, advances: make(chan *advance), quit: make(chan struct{}), stopped: make(chan struct{})}
	go s.commitLoop()
	return s, nil
}

// Close closes the database.
func (s *SQLiteStore) Close() error {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	<-s.stopped
	return errors.Join(s.r.Close(), s.w.Close())
}

// OriginHash returns the lowercase hex SHA-256 of origin.
func OriginHash(origin string) string {
	h := sha256.Sum256([]byte(origin))
	return hex.EncodeToString(h[:])
}

// AddLog adds a log with its trusted verifier keys. Each key must be a
// signed-note verifier key that transparency-dev/formats/note can verify
// with (Ed25519, ECDSA, RFC 6962 or cosignature types), whose key ID
// matches its key. A log that already exists is refused: logs are never
// re-keyed.
func (s *SQLiteStore) AddLog(ctx context.Context, origin string, keys []string) error {
	if origin == "" || strings.ContainsAny(origin, "\n") {
		return fmt.Errorf("witness: origin %q is not a valid checkpoint origin line", origin)
	}
	if len(keys) == 0 {
		return errors.New("witness: a log needs at least one key")
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if err := checkVerifierKey(k); err != nil {
			return err
		}
		if seen[k] {
			return fmt.Errorf("witness: key %q given twice", k)
		}
		seen[k] = true
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("couldn't begin transaction: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM logs WHERE origin = ?`, origin).Scan(&n); err != nil {
		return fmt.Errorf("couldn't look up log: %w", err)
	}
	if n != 0 {
		return fmt.Errorf("witness: log %q already exists; logs are never re-keyed or changed", origin)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO logs (origin, origin_hash, added) VALUES (?, ?, ?)`,
		origin, OriginHash(origin), time.Now().Unix()); err != nil {
		return fmt.Errorf("couldn't add log: %w", err)
	}
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, `INSERT INTO log_keys (origin, vkey) VALUES (?, ?)`, origin, k); err != nil {
			return fmt.Errorf("couldn't add key: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("couldn't commit: %w", err)
	}
	return nil
}

// checkVerifierKey checks that k is a verifier key the witness can use
// and that its key ID is the one its name and key imply.
func checkVerifierKey(k string) error {
	v, err := fnote.NewVerifier(k)
	if err != nil {
		return fmt.Errorf("witness: invalid verifier key %q: %w", k, err)
	}
	parts := strings.SplitN(k, "+", 3)
	id, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil || len(parts[1]) != 8 || uint32(id) != v.KeyHash() || parts[0] != v.Name() {
		return fmt.Errorf("witness: verifier key %q: key ID does not match the key (want %08x)", k, v.KeyHash())
	}
	return nil
}

// Logs returns every configured log, ordered by origin.
func (s *SQLiteStore) Logs(ctx context.Context) ([]*LogState, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT origin FROM logs ORDER BY origin`)
	if err != nil {
		return nil, fmt.Errorf("couldn't list logs: %w", err)
	}
	var origins []string
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			rows.Close()
			return nil, fmt.Errorf("couldn't list logs: %w", err)
		}
		origins = append(origins, o)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("couldn't list logs: %w", err)
	}
	var logs []*LogState
	for _, o := range origins {
		l, err := s.Log(ctx, o)
		if err != nil {
			return nil, err
		}
		logs = append(logs, l)
	}
	return logs, nil
}

// Log implements [Store].
func (s *SQLiteStore) Log(ctx context.Context, origin string) (*LogState, error) {
	return s.readLog(ctx, `origin = ?`, origin)
}

// LogByOriginHash implements [Store].
func (s *SQLiteStore) LogByOriginHash(ctx context.Context, hash [32]byte) (*LogState, error) {
	return s.readLog(ctx, `origin_hash = ?`, hex.EncodeToString(hash[:]))
}

func (s *SQLiteStore) readLog(ctx context.Context, where string, arg string) (*LogState, error) {
	l := &LogState{}
	var added int64
	var size sql.NullInt64
	var root []byte
	var cp, cosigned sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT origin, origin_hash, added, size, root, checkpoint, cosigned
		FROM logs WHERE `+where, arg).Scan(&l.Origin, &l.OriginHash, &added, &size, &root, &cp, &cosigned)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrUnknownLog
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read log: %w", err)
	}
	l.Added = time.Unix(added, 0).UTC()
	if size.Valid {
		l.Latest = &Latest{Size: uint64(size.Int64), Root: root, Checkpoint: cp.String, Cosigned: cosigned.String}
	}
	rows, err := s.r.QueryContext(ctx, `SELECT vkey FROM log_keys WHERE origin = ? ORDER BY rowid`, l.Origin)
	if err != nil {
		return nil, fmt.Errorf("couldn't read log keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("couldn't read log keys: %w", err)
		}
		l.Keys = append(l.Keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("couldn't read log keys: %w", err)
	}
	return l, nil
}

// Advance implements [Store].
//
// Concurrent calls are committed together (group commit): each keeps its
// own compare-and-swap, and one durable transaction, one sync, covers them
// all. A call returns once its transaction is durable.
func (s *SQLiteStore) Advance(ctx context.Context, prev *Latest, next *HistoryEntry) error {
	a := &advance{prev: prev, next: next, done: make(chan error, 1)}
	select {
	case s.advances <- a:
	case <-s.quit:
		return errors.New("witness: store closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once handed over, the outcome is waited for whatever ctx does: the
	// caller must know whether the state moved.
	return <-a.done
}

// commitLoop commits Advance calls, taking every call that queued while
// the previous transaction was being synced.
func (s *SQLiteStore) commitLoop() {
	defer close(s.stopped)
	for {
		var group []*advance
		select {
		case a := <-s.advances:
			group = append(group, a)
		case <-s.quit:
			return
		}
	more:
		for len(group) < maxGroup {
			select {
			case a := <-s.advances:
				group = append(group, a)
			default:
				break more
			}
		}
		s.commitGroup(group)
	}
}

// commitGroup applies each call's compare-and-swap in order in one
// transaction. A call whose swap fails gets ErrStateChanged and writes
// nothing; a storage error fails the whole group, with nothing written.
func (s *SQLiteStore) commitGroup(group []*advance) {
	ctx := context.Background()
	errs := make([]error, len(group))
	ids := make([]int64, len(group))
	fail := func(err error) {
		for _, a := range group {
			a.done <- err
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("couldn't begin transaction: %w", err))
		return
	}
	defer tx.Rollback()
	const set = `UPDATE logs SET size = ?, root = ?, checkpoint = ?, cosigned = ? WHERE origin = ? AND `
	for i, a := range group {
		next := a.next
		args := []any{int64(next.Size), next.Root, next.Checkpoint, next.Cosigned, next.Origin}
		var res sql.Result
		if a.prev == nil {
			res, err = tx.ExecContext(ctx, set+`size IS NULL`, args...)
		} else {
			res, err = tx.ExecContext(ctx, set+`size = ? AND root = ?`, append(args, int64(a.prev.Size), a.prev.Root)...)
		}
		if err != nil {
			fail(fmt.Errorf("couldn't update log: %w", err))
			return
		}
		if n, err := res.RowsAffected(); err != nil {
			fail(fmt.Errorf("couldn't update log: %w", err))
			return
		} else if n != 1 {
			errs[i] = ErrStateChanged
			continue
		}
		r, err := tx.ExecContext(ctx, `INSERT INTO history (origin, size, root, checkpoint, cosigned, cosignature, time)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, next.Origin, int64(next.Size), next.Root, next.Checkpoint,
			next.Cosigned, next.Cosignature, next.Time.Unix())
		if err != nil {
			fail(fmt.Errorf("couldn't append to history: %w", err))
			return
		}
		if ids[i], err = r.LastInsertId(); err != nil {
			fail(fmt.Errorf("couldn't append to history: %w", err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("couldn't commit: %w", err))
		return
	}
	for i, a := range group {
		if errs[i] == nil {
			a.next.ID = ids[i]
		}
		a.done <- errs[i]
	}
}

const historyColumns = `id, origin, size, root, checkpoint, cosigned, cosignature, time`

func scanHistory(row interface{ Scan(...any) error }) (*HistoryEntry, error) {
	e := &HistoryEntry{}
	var size, t int64
	if err := row.Scan(&e.ID, &e.Origin, &size, &e.Root, &e.Checkpoint, &e.Cosigned, &e.Cosignature, &t); err != nil {
		return nil, err
	}
	e.Size, e.Time = uint64(size), time.Unix(t, 0).UTC()
	return e, nil
}

// ConflictAt implements [Store].
func (s *SQLiteStore) ConflictAt(ctx context.Context, origin string, size uint64, root []byte) (*HistoryEntry, error) {
	e, err := scanHistory(s.r.QueryRowContext(ctx, `SELECT `+historyColumns+` FROM history
		WHERE origin = ? AND size = ? AND root != ? ORDER BY id LIMIT 1`, origin, int64(size), root))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read history: %w", err)
	}
	return e, nil
}

// History implements [Store].
func (s *SQLiteStore) History(ctx context.Context, origin string, after int64, limit int) ([]*HistoryEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+historyColumns+` FROM history
		WHERE origin = ? AND id > ? ORDER BY id LIMIT ?`, origin, after, limit)
	if err != nil {
		return nil, fmt.Errorf("couldn't read history: %w", err)
	}
	defer rows.Close()
	var out []*HistoryEntry
	for rows.Next() {
		e, err := scanHistory(rows)
		if err != nil {
			return nil, fmt.Errorf("couldn't read history: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("couldn't read history: %w", err)
	}
	return out, nil
}

// AddEvidence implements [Store].
func (s *SQLiteStore) AddEvidence(ctx context.Context, e *Evidence) (bool, error) {
	res, err := s.w.ExecContext(ctx, `INSERT INTO evidence (origin, size, detected, first, first_root, second, second_root, proof)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, e.Origin, int64(e.Size), e.Detected.Unix(),
		e.First, e.FirstRoot, e.Second, e.SecondRoot, bytes.Join(e.Proof, nil))
	if err != nil {
		return false, fmt.Errorf("couldn't store evidence: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("couldn't store evidence: %w", err)
	}
	if n == 1 {
		if e.ID, err = res.LastInsertId(); err != nil {
			return false, fmt.Errorf("couldn't store evidence: %w", err)
		}
	}
	return n == 1, nil
}

// Evidence implements [Store].
func (s *SQLiteStore) Evidence(ctx context.Context, after int64, limit int) ([]*Evidence, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, origin, size, detected, first, first_root, second, second_root, proof
		FROM evidence WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("couldn't read evidence: %w", err)
	}
	defer rows.Close()
	var out []*Evidence
	for rows.Next() {
		e := &Evidence{}
		var size, detected int64
		var proof []byte
		if err := rows.Scan(&e.ID, &e.Origin, &size, &detected, &e.First, &e.FirstRoot, &e.Second, &e.SecondRoot, &proof); err != nil {
			return nil, fmt.Errorf("couldn't read evidence: %w", err)
		}
		for ; len(proof) >= 32; proof = proof[32:] {
			e.Proof = append(e.Proof, proof[:32])
		}
		e.Size, e.Detected = uint64(size), time.Unix(detected, 0).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("couldn't read evidence: %w", err)
	}
	return out, nil
}
