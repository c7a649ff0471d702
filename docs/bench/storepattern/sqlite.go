package main

import (
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite"
)

// sqliteStore holds the pattern in SQLite, opened as credlog's SQLite
// engine opens its database (log/storage/sqlite): write-ahead log,
// synchronous FULL, one writer connection with its page cache, through
// which the reads go too, and a PASSIVE checkpoint every 100 ms from
// another connection. Each table is WITHOUT ROWID keyed by its key; the
// bundles are a rowid table.
type sqliteStore struct {
	w, r *sql.DB
	stop chan struct{}
	done chan struct{}
	sel  map[byte]*sql.Stmt
	ins  map[byte]*sql.Stmt
}

var tables = []byte{tLeaf, tCred, tSubject, tMap}

func openSQLite(dir string, cacheMiB int64) (*sqliteStore, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + filepath.Join(dir, "pattern.db") + "?"
	r, err := sql.Open("sqlite", dsn+q.Encode())
	if err != nil {
		return nil, err
	}
	q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", cacheMiB<<10))
	q.Add("_pragma", "wal_autocheckpoint(0)")
	q.Add("_pragma", "temp_store(MEMORY)")
	w, err := sql.Open("sqlite", dsn+q.Encode())
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	s := &sqliteStore{w: w, r: r, stop: make(chan struct{}), done: make(chan struct{}),
		sel: map[byte]*sql.Stmt{}, ins: map[byte]*sql.Stmt{}}
	stmts := []string{
		"CREATE TABLE IF NOT EXISTS b (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)",
		"CREATE TABLE IF NOT EXISTS n (id INTEGER PRIMARY KEY CHECK (id = 0), n INTEGER NOT NULL)",
		"INSERT OR IGNORE INTO n (id, n) VALUES (0, 0)",
	}
	for _, t := range tables {
		stmts = append(stmts, fmt.Sprintf("CREATE TABLE IF NOT EXISTS %c (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID", t))
	}
	for _, st := range stmts {
		if _, err := w.Exec(st); err != nil {
			return nil, err
		}
	}
	for _, t := range tables {
		if s.sel[t], err = w.Prepare(fmt.Sprintf("SELECT 1 FROM %c WHERE k = ?", t)); err != nil {
			return nil, err
		}
		if s.ins[t], err = w.Prepare(fmt.Sprintf("INSERT OR REPLACE INTO %c (k, v) VALUES (?, ?)", t)); err != nil {
			return nil, err
		}
	}
	go s.checkpoints()
	return s, nil
}

func (s *sqliteStore) checkpoints() {
	defer close(s.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.r.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}

func (s *sqliteStore) has(table byte, key []byte) (bool, error) {
	var one int
	err := s.sel[table].QueryRow(key).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, err
}

func (s *sqliteStore) commit(rows []row, bundles map[uint64][]byte, n uint64, sync bool) error {
	// synchronous(FULL) syncs every commit; loading does not need it.
	mode := "FULL"
	if !sync {
		mode = "OFF"
	}
	if _, err := s.w.Exec("PRAGMA synchronous = " + mode); err != nil {
		return err
	}
	tx, err := s.w.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, r := range rows {
		if _, err := tx.Stmt(s.ins[r.table]).Exec(r.key, r.value); err != nil {
			return err
		}
	}
	for i, b := range bundles {
		if _, err := tx.Exec("INSERT OR REPLACE INTO b (idx, data) VALUES (?, ?)", i, b); err != nil {
			return err
		}
	}
	if _, err := tx.Exec("UPDATE n SET n = ? WHERE id = 0", n); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *sqliteStore) events() (uint64, error) {
	var n uint64
	err := s.w.QueryRow("SELECT n FROM n WHERE id = 0").Scan(&n)
	return n, err
}

func (s *sqliteStore) close() error {
	close(s.stop)
	<-s.done
	s.r.Close()
	return s.w.Close()
}
