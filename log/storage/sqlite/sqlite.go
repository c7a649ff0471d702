// Package sqlite is credlog's embedded storage engine, on SQLite (the
// pure-Go modernc.org/sqlite, so builds need no cgo) in WAL mode with
// synchronous=FULL: a committed batch survives a crash of the machine.
//
// It is the zero-configuration default: one file in the data directory.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/credlog/credlog/log/storage"
)

var _ storage.Storage = (*Storage)(nil)

// Storage is a storage.Storage in one SQLite database file.
type Storage struct {
	w *sql.DB // the single writer connection; nil when read-only
	r *pool   // where reads go: the readers, or, in the view of ForWriter, w

	wr *pool // reads through w, for ForWriter; nil when read-only
	// view is set on the Storage that ForWriter returns: it shares the
	// database and does not close it.
	view bool

	stop, stopped chan struct{} // of checkpoints; nil when read-only
	stopOnce      sync.Once
}

// pool is a database handle to read through, with its prepared
// statements.
type pool struct {
	db    *sql.DB
	stmts sync.Map // query text → *sql.Stmt prepared on db
}

func (p *pool) close() error {
	p.stmts.Range(func(_, st any) bool { st.(*sql.Stmt).Close(); return true })
	return p.db.Close()
}

// row runs a read query through a statement prepared once and cached:
// the sequencer reads state for every event, and preparing a statement
// costs more than running it.
func (s *Storage) row(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := s.stmt(ctx, query)
	if err != nil {
		// QueryRowContext reports the preparation error through Scan.
		return s.r.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (s *Storage) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	return s.r.prepared(ctx, query)
}

// prepared returns query prepared on p, once.
func (p *pool) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := p.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := p.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// txStmt returns query for use in tx, the statement prepared when the
// database was opened if query is one of writeQueries. Otherwise every
// batch parses its statements again: 5% of the server's CPU with one
// event per request. Other queries are prepared in tx, since preparing on
// the writer pool would wait for the one connection, which tx holds.
func (s *Storage) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if st, ok := s.wr.stmts.Load(query); ok {
		return tx.StmtContext(ctx, st.(*sql.Stmt)), nil
	}
	st, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("couldn't prepare: %w", err)
	}
	return st, nil
}

// ForWriter implements storage.WriterReads. In WAL mode, a connection
// drops its page cache whenever another connection committed since its
// last read, so the readers of a log that commits several times a second
// read every page from the file again; the writer's cache stays warm
// across its own commits. The view reads through the writer connection,
// whose page cache is also larger (Options.WriterCacheMiB).
func (s *Storage) ForWriter() storage.Storage {
	if s.w == nil || s.view {
		return s
	}
	return &Storage{w: s.w, r: s.wr, wr: s.wr, view: true}
}

// Options tune an SQLite store. The zero value takes the defaults.
type Options struct {
	// WriterCacheMiB is the writer connection's page cache, in MiB
	// (default 32). The sequencer's reads (leaf hashes, state, map
	// nodes) go through it; it lives outside Go's heap, so a memory
	// limit given to Go does not count it.
	WriterCacheMiB int
}

// defaultWriterCacheMiB is Options.WriterCacheMiB's default.
const defaultWriterCacheMiB = 32

const schema = `
CREATE TABLE IF NOT EXISTS tree (
	id INTEGER PRIMARY KEY CHECK (id = 0),
	size INTEGER NOT NULL,
	root BLOB NOT NULL,
	edge BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tiles (` + tilesColumns + `);
CREATE TABLE IF NOT EXISTS bundles (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS leaves (hash BLOB PRIMARY KEY, idx INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS issuers (
	name TEXT PRIMARY KEY, key_id INTEGER NOT NULL, public_key BLOB NOT NULL, vrf_key BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS credentials (` + credentialsColumns + `) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subjects (` + subjectsColumns + `) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS map_nodes (` + mapNodesColumns + `) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS map_leaves (` + mapLeavesColumns + `) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS map_root (
	id INTEGER PRIMARY KEY CHECK (id = 0),
	idx INTEGER NOT NULL,
	root BLOB NOT NULL
);
INSERT OR IGNORE INTO tree (id, size, root, edge) VALUES (0, 0, x'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', x'');
`

// mapNodesColumns are map_nodes' columns and key; see docs/MAP.md §7.3.
//
// The key is (tier, prefix, depth), with tier = min(depth, lowTier):
//
//   - the nodes at depth lowTier and deeper (tier lowTier) are ordered by prefix,
//     so that each is stored next to the nodes below it: a map-root entry's
//     update rewrites the page or two that hold a changed key's lower path,
//     rather than a page per level;
//   - the levels above are each stored together, by prefix. A map-root
//     entry changes most of their nodes (it changes every node on the path
//     of each changed key), so they are packed on pages of their own: spread
//     among the lower nodes, they would dirty most pages of the table.
const mapNodesColumns = `
	depth INTEGER NOT NULL, prefix BLOB NOT NULL, node BLOB NOT NULL, tier INTEGER NOT NULL,
	PRIMARY KEY (tier, prefix, depth)
`

// tilesColumns are the hash tiles' table's columns (schema version 3):
// a tile's row is keyed by tileID(level, index), its rowid. A tile of
// 8 KiB is twice a page: in a table WITHOUT ROWID, whose B-tree holds
// whole rows in its interior pages too, a page held some 7 tiles, and a
// lookup compared the key against rows whose bytes are mostly on overflow
// pages, which SQLite reads in full for each comparison. In a rowid table
// the interior pages hold only the integer keys.
const tilesColumns = `id INTEGER PRIMARY KEY, data BLOB NOT NULL`

// maxTileLevel bounds the tile levels tileID can key: a log of fewer than
// 2^63 entries, the most an SQLite integer can index, has tiles of levels
// 0 to 7 only.
const maxTileLevel = 7

// tileID returns the key of the hash tile at level and index: the level
// in the top byte, the index in the 56 bits below, so that the rows are
// in (level, index) order. ok is false for a tile no log stored here can
// have.
func tileID(level, index uint64) (id int64, ok bool) {
	if level > maxTileLevel || index >= 1<<56 {
		return 0, false
	}
	return int64(level<<56 | index), true
}

// credentialsColumns and subjectsColumns are the record tables' columns
// and keys (schema version 2). A record is keyed by its credential ID or
// subject label first, so that the lookups by ID or label, across
// issuers, are one range each; its entries column is its list of entries
// (postings.go).
const (
	credentialsColumns = `
	issuer TEXT NOT NULL, id BLOB NOT NULL, subject BLOB NOT NULL, version INTEGER NOT NULL,
	not_after INTEGER NOT NULL, status INTEGER NOT NULL, reason INTEGER NOT NULL,
	issue_index INTEGER NOT NULL, last_index INTEGER NOT NULL, entries BLOB NOT NULL DEFAULT x'',
	PRIMARY KEY (id, issuer)
`
	subjectsColumns = `
	issuer TEXT NOT NULL, label BLOB NOT NULL, version INTEGER NOT NULL, live BLOB NOT NULL,
	events INTEGER NOT NULL, digest BLOB NOT NULL, entries BLOB NOT NULL DEFAULT x'',
	PRIMARY KEY (label, issuer)
`
)

// lowTier is the tier of the nodes at depths lowTier and more. It is
// the depth of the sequencer's map cache (vmap.Cache): the levels above it,
// which it keeps in memory, are those every map-root entry rewrites most
// of.
const lowTier = 18

// tierOf returns the tier of the nodes at depth d.
func tierOf(d uint16) uint16 { return min(d, lowTier) }

// schemaVersion is the version of the layout that schema creates, kept in
// the database header's user_version:
//
//   - 0: a database written before versions were recorded, whose map_nodes
//     is keyed by (depth, prefix);
//   - 1: map_nodes keyed by (tier, prefix, depth) (mapNodesColumns);
//   - 2: the lookup indexes by credential and by subject kept in the
//     records' entries columns (postings.go), instead of the tables
//     by_credential and by_subject, and the records keyed by ID or label
//     first (credentialsColumns, subjectsColumns);
//   - 3: the hash tiles in a rowid table keyed by tileID (tilesColumns),
//     instead of a table WITHOUT ROWID keyed by (level, idx);
//   - 4: below depth lowTier, the map's leaves alone, in map_leaves
//     (mapleaves.go), instead of every node in map_nodes.
const schemaVersion = 4

// migrate brings the database to schemaVersion in one transaction: it
// creates what is missing and rewrites the tables whose layout changed.
// A database of a later version is refused, unchanged.
func migrate(ctx context.Context, w *sql.DB) (err error) {
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	switch {
	case version == schemaVersion:
		return tx.Rollback()
	case version > schemaVersion:
		return fmt.Errorf("storage: the database has schema version %d; this build knows versions up to %d", version, schemaVersion)
	}
	var tables int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'tree'").Scan(&tables); err != nil {
		return err
	}
	if tables > 0 {
		// An existing database.
		if version < 1 {
			if err := migrateMapNodes(ctx, tx); err != nil {
				return fmt.Errorf("couldn't migrate map_nodes to version 1: %w", err)
			}
		}
		if version < 2 {
			if err := migratePostings(ctx, tx); err != nil {
				return fmt.Errorf("couldn't migrate the lookup indexes to version 2: %w", err)
			}
		}
		if version < 3 {
			if err := migrateTiles(ctx, tx); err != nil {
				return fmt.Errorf("couldn't migrate the tiles to version 3: %w", err)
			}
		}
		if version < 4 {
			if err := migrateMapLeaves(ctx, tx); err != nil {
				return fmt.Errorf("couldn't migrate the map's leaves to version 4: %w", err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// migrateTiles rewrites a tiles table of an earlier version, keyed by
// (level, idx) WITHOUT ROWID, as version 3's rowid table. A row of a
// level or index that tileID cannot key fails it.
func migrateTiles(ctx context.Context, tx *sql.Tx) error {
	var bad int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM tiles WHERE level < 0 OR level > ? OR idx < 0 OR idx >= ?",
		maxTileLevel, int64(1)<<56).Scan(&bad); err != nil {
		return err
	}
	if bad > 0 {
		return fmt.Errorf("storage: %d tiles have a level over %d or an index of 2^56 or more", bad, maxTileLevel)
	}
	for _, q := range []string{
		"CREATE TABLE tiles_v3 (" + tilesColumns + ")",
		"INSERT INTO tiles_v3 (id, data) SELECT (level << 56) | idx, data FROM tiles ORDER BY level, idx",
		"DROP TABLE tiles",
		"ALTER TABLE tiles_v3 RENAME TO tiles",
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// migrateMapNodes rewrites a version-0 map_nodes with version 1's key.
func migrateMapNodes(ctx context.Context, tx *sql.Tx) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'map_nodes'").Scan(&n); err != nil || n == 0 {
		return err
	}
	for _, q := range []string{
		"CREATE TABLE map_nodes_v1 (" + mapNodesColumns + ") WITHOUT ROWID",
		fmt.Sprintf("INSERT INTO map_nodes_v1 (depth, prefix, node, tier) SELECT depth, prefix, node, min(depth, %d) FROM map_nodes", lowTier),
		"DROP TABLE map_nodes",
		"ALTER TABLE map_nodes_v1 RENAME TO map_nodes",
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// Open opens (creating if needed) the database at path, with the default
// Options. A database of an earlier schema version is migrated (see
// migrate).
func Open(ctx context.Context, path string) (*Storage, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, o Options) (*Storage, error) {
	if o.WriterCacheMiB < 0 {
		return nil, fmt.Errorf("sqlite: negative writer cache %d MiB", o.WriterCacheMiB)
	}
	if o.WriterCacheMiB == 0 {
		o.WriterCacheMiB = defaultWriterCacheMiB
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", o.WriterCacheMiB<<10))
	q.Add("_pragma", "wal_autocheckpoint(0)") // see checkpoints
	// A statement that changes several rows inside a transaction (a
	// map-root entry's inserts of mapPutRows nodes, the replacement of a
	// bundle or a tile) first copies each page it changes to a statement
	// journal, so that it can be undone alone. SQLite keeps 64 KiB of that
	// journal in memory and writes the rest to a temporary file: at a
	// million entries, a fifth of all the bytes the server wrote under
	// batched load (docs/BENCHMARKS.md). A batch's statements each change
	// a few pages, so in memory the journal stays small; a migration's
	// may change a whole table, and runs on a connection of its own,
	// without this.
	q.Add("_pragma", "temp_store(MEMORY)")
	if err := migrateAt(ctx, dsn); err != nil {
		return nil, fmt.Errorf("couldn't create schema in %s: %w", path, err)
	}
	w, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("couldn't open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	wr := &pool{db: w}
	for _, q := range writeQueries {
		if _, err := wr.prepared(ctx, q); err != nil {
			wr.close()
			return nil, fmt.Errorf("couldn't prepare %q in %s: %w", q, path, err)
		}
	}
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		wr.close()
		return nil, fmt.Errorf("couldn't open %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	s := &Storage{w: w, r: &pool{db: r}, wr: wr, stop: make(chan struct{}), stopped: make(chan struct{})}
	go s.checkpoints()
	return s, nil
}

// migrateAt creates or migrates the schema of the database at dsn, on a
// connection of its own.
func migrateAt(ctx context.Context, dsn string) error {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	return errors.Join(migrate(ctx, db), db.Close())
}

// checkpointEvery is how often the write-ahead log is checkpointed.
const checkpointEvery = 100 * time.Millisecond

// checkpoints copies the write-ahead log into the database file, every
// checkpointEvery, through a reader connection, until Close. SQLite
// would otherwise do it itself in the commit that takes the log past
// 1000 pages (wal_autocheckpoint), on the one goroutine that commits,
// and a batch of random-key index inserts writes that much at every
// commit: at 300,000 entries, a fifth of the sequencer's time went to
// checkpoints. A checkpoint here is PASSIVE: it copies what no reader
// still needs and waits for no one; the next commit after a complete one
// starts the log over from its beginning. Durability does not depend on
// it: a commit is durable once in the log. Closing the last connection
// checkpoints whatever is left and removes the log.
func (s *Storage) checkpoints() {
	defer close(s.stopped)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if _, err := s.r.db.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
			slog.Warn("couldn't checkpoint the write-ahead log", "err", err)
		}
	}
}

// errReadOnly is returned by writes to a Storage opened by OpenReadOnly.
var errReadOnly = errors.New("storage: database opened read-only")

// OpenReadOnly opens the existing database at path for reading only, for
// checkers (credlog fsck) of a log that is not running. Commit and
// PutCheckpoint fail, and nothing in the database's directory is
// modified or created:
//
//   - a database closed cleanly has no write-ahead log: it is opened
//     immutable, so that SQLite neither locks it nor creates -wal and -shm
//     files;
//   - a database with a write-ahead log and its -shm index (left by a
//     crash, or by a running log) is read with the log, through a
//     read-only mapping of the index; SQLite rebuilds the index in memory
//     when it cannot trust it.
//
// Only a write-ahead log without its -shm index (files copied without it)
// cannot be read without creating the index: OpenReadOnly then lets
// SQLite create it, which changes no data.
func OpenReadOnly(ctx context.Context, path string) (*Storage, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("couldn't open database: %w", err)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "query_only(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	wal, walErr := os.Stat(path + "-wal")
	_, shmErr := os.Stat(path + "-shm")
	switch {
	case walErr != nil && !errors.Is(walErr, fs.ErrNotExist):
		return nil, fmt.Errorf("couldn't open database: %w", walErr)
	case walErr == nil && shmErr == nil:
		q.Set("readonly_shm", "1")
	case walErr != nil || wal.Size() == 0:
		// Everything is in the database file.
		q.Set("immutable", "1")
	}
	r, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("couldn't open %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	var size uint64
	if err := r.QueryRowContext(ctx, "SELECT size FROM tree WHERE id = 0").Scan(&size); err != nil {
		r.Close()
		return nil, fmt.Errorf("couldn't read %s as a credlog database: %w", path, err)
	}
	// A read-only open cannot migrate: a database of another version
	// would fail only at the first read of a table whose layout changed.
	var version int
	if err := r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		r.Close()
		return nil, fmt.Errorf("couldn't read the schema version of %s: %w", path, err)
	}
	switch {
	case version > schemaVersion:
		r.Close()
		return nil, fmt.Errorf("storage: the database has schema version %d; this build knows versions up to %d", version, schemaVersion)
	case version < schemaVersion:
		r.Close()
		return nil, fmt.Errorf("storage: the database has schema version %d; this build reads version %d: open it once read-write (credlogd), which migrates it", version, schemaVersion)
	}
	return &Storage{r: &pool{db: r}}, nil
}

// Close closes the database. Closing the view of ForWriter does nothing.
func (s *Storage) Close() error {
	if s.view {
		return nil
	}
	if s.w == nil {
		return s.r.close()
	}
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.stopped
	return errors.Join(s.r.close(), s.wr.close())
}
