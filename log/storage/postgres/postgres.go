// Package postgres is credlog's storage engine on PostgreSQL, for
// operators who outgrow one machine: several credlogd instances share one
// database, one of them sequencing at a time (see [Leader]), all of them
// serving reads.
//
// It keeps the contract of storage.Storage exactly as the embedded SQLite
// engine does. Every connection runs with synchronous_commit on, so a
// committed batch survives a crash of the database server (and, with
// synchronous replication configured on the server, of its primary).
// Commit locks the tree row (SELECT ... FOR UPDATE) before comparing the
// batch's start with the stored size, so that of two concurrent
// committers exactly one succeeds and the other gets a
// *storage.ConflictError.
//
// # Schema
//
// The schema is created and upgraded by numbered migrations, each applied
// once and recorded in the table schema_migrations. Open applies the
// missing ones in one transaction under a transaction-level advisory
// lock, so several processes opening one database at once are safe, and
// refuses a database whose schema is newer than this code knows.
//
// Unsigned 64-bit values (indices, sizes, times) are stored in bigint
// columns as the two's-complement bit pattern of the uint64: they round
// trip exactly, and every index and size below 2^63 also sorts correctly.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/credlog/credlog/log/storage"
)

var _ storage.Storage = (*Storage)(nil)

// Storage is a storage.Storage in one PostgreSQL database.
type Storage struct {
	pool     *pgxpool.Pool
	readOnly bool
	// fence, when not zero, is the epoch of the sequencer lease this
	// process holds: Commit and PutCheckpoint then write only while the
	// stored epoch is still this one (see Leader).
	fence atomic.Int64
}

// errReadOnly is returned by writes to a Storage opened by OpenReadOnly.
var errReadOnly = errors.New("storage: database opened read-only")

// migrationLockKey is the key of the advisory lock that serializes schema
// migrations between processes ("credlog" in ASCII).
const migrationLockKey = 0x6372_6564_6c6f_67

// migrations are the schema's migrations: migrations[i] brings the schema
// from version i to version i+1. Append only; never edit one that was
// released.
var migrations = []string{
	// 1: the log.
	`
CREATE TABLE tree (
	id integer PRIMARY KEY CHECK (id = 0),
	size bigint NOT NULL,
	root bytea NOT NULL,
	edge bytea NOT NULL
);
INSERT INTO tree (id, size, root, edge)
	VALUES (0, 0, '\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', '');
CREATE TABLE tiles (
	level bigint NOT NULL, idx bigint NOT NULL, data bytea NOT NULL,
	PRIMARY KEY (level, idx)
);
CREATE TABLE bundles (idx bigint PRIMARY KEY, data bytea NOT NULL);
CREATE TABLE leaves (hash bytea PRIMARY KEY, idx bigint NOT NULL);
CREATE INDEX leaves_idx ON leaves (idx);
CREATE TABLE by_credential (credential bytea NOT NULL, idx bigint NOT NULL, PRIMARY KEY (credential, idx));
CREATE TABLE by_subject (subject bytea NOT NULL, idx bigint NOT NULL, PRIMARY KEY (subject, idx));
CREATE TABLE checkpoints (size bigint PRIMARY KEY, note bytea NOT NULL);
CREATE TABLE issuers (
	name text PRIMARY KEY, key_id bigint NOT NULL, public_key bytea NOT NULL, vrf_key bytea NOT NULL
);
CREATE TABLE credentials (
	issuer text NOT NULL, id bytea NOT NULL, subject bytea NOT NULL, version bigint NOT NULL,
	not_after bigint NOT NULL, status integer NOT NULL, reason integer NOT NULL,
	issue_index bigint NOT NULL, last_index bigint NOT NULL,
	PRIMARY KEY (issuer, id)
);
CREATE TABLE subjects (
	issuer text NOT NULL, label bytea NOT NULL, version bigint NOT NULL, live bytea NOT NULL,
	events bigint NOT NULL, digest bytea NOT NULL,
	PRIMARY KEY (issuer, label)
);
CREATE TABLE map_nodes (
	depth integer NOT NULL, prefix bytea NOT NULL, node bytea NOT NULL,
	PRIMARY KEY (depth, prefix)
);
CREATE TABLE map_root (
	id integer PRIMARY KEY CHECK (id = 0),
	idx bigint NOT NULL,
	root bytea NOT NULL
);
`,
	// 2: the sequencer's lease, for several credlogd instances on one
	// database (see Leader).
	`
CREATE TABLE leader (
	id integer PRIMARY KEY CHECK (id = 0),
	epoch bigint NOT NULL,
	url text NOT NULL,
	since timestamptz NOT NULL
);
`,
}

// SchemaVersion is the schema version this code creates and knows.
var SchemaVersion = len(migrations)

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value connection string, as libpq takes), applies the missing
// schema migrations, and returns the storage. It refuses a database whose
// schema is newer than this code knows.
func Open(ctx context.Context, dsn string) (*Storage, error) {
	pool, err := connect(ctx, dsn, false)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &Storage{pool: pool}, nil
}

// OpenReadOnly connects to an existing credlog database for reading only,
// for checkers (credlog fsck): every transaction is read-only, Commit and
// PutCheckpoint fail, and no migration is applied. The schema must be the
// one this code knows.
func OpenReadOnly(ctx context.Context, dsn string) (*Storage, error) {
	pool, err := connect(ctx, dsn, true)
	if err != nil {
		return nil, err
	}
	var v int
	if err := pool.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		pool.Close()
		return nil, fmt.Errorf("couldn't read the database as a credlog database: %w", err)
	}
	if v != SchemaVersion {
		pool.Close()
		return nil, fmt.Errorf("storage: database schema is version %d, this credlog knows version %d", v, SchemaVersion)
	}
	return &Storage{pool: pool, readOnly: true}, nil
}

// connect opens a pool whose every connection commits synchronously.
func connect(ctx context.Context, dsn string, readOnly bool) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse the PostgreSQL connection string: %w", err)
	}
	rp := cfg.ConnConfig.RuntimeParams
	rp["synchronous_commit"] = "on"
	rp["application_name"] = "credlog"
	if readOnly {
		rp["default_transaction_read_only"] = "on"
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("couldn't connect to PostgreSQL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("couldn't connect to PostgreSQL: %w", err)
	}
	return pool, nil
}

// migrate applies the missing migrations in one transaction, under an
// advisory lock held until it ends.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLockKey)); err != nil {
			return fmt.Errorf("couldn't lock the schema: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("couldn't create schema_migrations: %w", err)
		}
		var v int
		if err := tx.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v); err != nil {
			return fmt.Errorf("couldn't read the schema version: %w", err)
		}
		if v > len(migrations) {
			return fmt.Errorf("storage: database schema is version %d, newer than this credlog knows (%d): refusing to use it", v, len(migrations))
		}
		for i := v; i < len(migrations); i++ {
			if _, err := tx.Exec(ctx, migrations[i]); err != nil {
				return fmt.Errorf("couldn't apply schema migration %d: %w", i+1, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", i+1); err != nil {
				return fmt.Errorf("couldn't record schema migration %d: %w", i+1, err)
			}
		}
		return nil
	})
}

// Close closes the connections.
func (s *Storage) Close() error {
	s.pool.Close()
	return nil
}

// IsDSN reports whether name is a PostgreSQL connection URL
// (postgres:// or postgresql://), as the database settings of credlogd
// and credlog fsck take it.
func IsDSN(name string) bool {
	for _, p := range []string{"postgres://", "postgresql://"} {
		if len(name) >= len(p) && name[:len(p)] == p {
			return true
		}
	}
	return false
}
