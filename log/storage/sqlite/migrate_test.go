package sqlite_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/credlog/credlog/log/fsck/fscktest"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/storage/sqlite"
	"github.com/credlog/credlog/log/vmap"
)

// rawExec runs statements on the database at path outside the package,
// as an older build or another tool would.
func rawExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// rawSchema returns the database's user_version and the SQL that created
// map_nodes.
func rawSchema(t *testing.T, path string) (int, string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	var ddl string
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT sql FROM sqlite_master WHERE name = 'map_nodes'").Scan(&ddl); err != nil {
		t.Fatal(err)
	}
	return v, ddl
}

type storedNode struct {
	id   vmap.NodeID
	node []byte
}

func scanNodes(t *testing.T, s *sqlite.Storage) []storedNode {
	t.Helper()
	var out []storedNode
	err := s.ScanMapNodes(context.Background(), func(id vmap.NodeID, n vmap.Node) error {
		b, err := vmap.MarshalNode(n)
		out = append(out, storedNode{id, b})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// belowTier is the depth below which schema version 4 stores the map's
// leaves alone (lowTier).
const belowTier = 18

// downgradeMapLeaves gives the map of the database at path the layout of
// schema versions up to 3, every node in map_nodes, and sets its version
// to 3.
func downgradeMapLeaves(t *testing.T, path string) {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{"DROP TABLE map_leaves"}
	for _, n := range scanNodes(t, s) {
		if n.id.Depth > belowTier {
			stmts = append(stmts, fmt.Sprintf("INSERT INTO map_nodes (depth, prefix, node, tier) VALUES (%d, x'%x', x'%x', %d)",
				n.id.Depth, n.id.PrefixBytes(), n.node, belowTier))
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rawExec(t, path, append(stmts, "PRAGMA user_version = 3")...)
}

// downgradeTiles gives the tiles table of the database at path the layout
// of schema versions up to 2, keyed by (level, idx) WITHOUT ROWID, and
// sets its version to 2 (its map that of version 3).
func downgradeTiles(t *testing.T, path string) {
	t.Helper()
	downgradeMapLeaves(t, path)
	rawExec(t, path,
		`CREATE TABLE tiles_v2 (
			level INTEGER NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL,
			PRIMARY KEY (level, idx)) WITHOUT ROWID`,
		"INSERT INTO tiles_v2 SELECT id >> 56, id & 0xffffffffffffff, data FROM tiles",
		"DROP TABLE tiles",
		"ALTER TABLE tiles_v2 RENAME TO tiles",
		"PRAGMA user_version = 2")
}

// downgradePostings gives the credentials and subjects tables of the
// database at path the layout of schema version 1, keyed by issuer first
// and without their lists of entries, and creates version 1's tables
// by_credential and by_subject, with rows (each entry's key and index) if
// rows is not nil.
func downgradePostings(t *testing.T, path string, rows ...[]keyIndex) {
	t.Helper()
	downgradeTiles(t, path)
	rawExec(t, path,
		`CREATE TABLE credentials_v1 (
			issuer TEXT NOT NULL, id BLOB NOT NULL, subject BLOB NOT NULL, version INTEGER NOT NULL,
			not_after INTEGER NOT NULL, status INTEGER NOT NULL, reason INTEGER NOT NULL,
			issue_index INTEGER NOT NULL, last_index INTEGER NOT NULL,
			PRIMARY KEY (issuer, id)) WITHOUT ROWID`,
		`INSERT INTO credentials_v1 SELECT issuer, id, subject, version, not_after, status, reason, issue_index, last_index FROM credentials`,
		"DROP TABLE credentials",
		"ALTER TABLE credentials_v1 RENAME TO credentials",
		`CREATE TABLE subjects_v1 (
			issuer TEXT NOT NULL, label BLOB NOT NULL, version INTEGER NOT NULL, live BLOB NOT NULL,
			events INTEGER NOT NULL, digest BLOB NOT NULL,
			PRIMARY KEY (issuer, label)) WITHOUT ROWID`,
		`INSERT INTO subjects_v1 SELECT issuer, label, version, live, events, digest FROM subjects`,
		"DROP TABLE subjects",
		"ALTER TABLE subjects_v1 RENAME TO subjects",
		"CREATE TABLE by_credential (credential BLOB NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (credential, idx)) WITHOUT ROWID",
		"CREATE TABLE by_subject (subject BLOB NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (subject, idx)) WITHOUT ROWID",
		"PRAGMA user_version = 1")
	for i, table := range []string{"by_credential", "by_subject"} {
		if i >= len(rows) {
			break
		}
		var stmts []string
		for _, r := range rows[i] {
			stmts = append(stmts, fmt.Sprintf("INSERT INTO %s VALUES (x'%x', %d)", table, r.key, r.idx))
		}
		rawExec(t, path, stmts...)
	}
}

// newMapDB creates the database at path with a map of ups, and returns
// the map's Diff and its nodes as ScanMapNodes passes them.
func newMapDB(t *testing.T, path string, ups []vmap.Update) (*vmap.Diff, []storedNode) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := vmap.NewTree(s).Update(ctx, ups)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteNodes(ctx, d.Writes); err != nil {
		t.Fatal(err)
	}
	nodes := scanNodes(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return d, nodes
}

// TestMigrateMapNodes opens a database whose map_nodes has the layout of
// schema version 0, keyed by (depth, prefix): Open rewrites it keyed by
// (tier, prefix, depth), with the same nodes.
func TestMigrateMapNodes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "log.db")
	var ups []vmap.Update
	for i := range 500 {
		ups = append(ups, vmap.Update{Key: sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i))), Value: []byte{byte(i), 1}})
	}
	d, want := newMapDB(t, path, ups)
	if len(want) < 500 {
		t.Fatalf("only %d nodes stored for 500 keys", len(want))
	}
	if v, ddl := rawSchema(t, path); v != 4 || !strings.Contains(ddl, "PRIMARY KEY (tier, prefix, depth)") {
		t.Fatalf("a new database has version %d and map_nodes %q", v, ddl)
	}

	downgradePostings(t, path)
	rawExec(t, path,
		"CREATE TABLE old (depth INTEGER NOT NULL, prefix BLOB NOT NULL, node BLOB NOT NULL, PRIMARY KEY (depth, prefix)) WITHOUT ROWID",
		"INSERT INTO old SELECT depth, prefix, node FROM map_nodes",
		"DROP TABLE map_nodes",
		"ALTER TABLE old RENAME TO map_nodes",
		"PRAGMA user_version = 0")
	if v, ddl := rawSchema(t, path); v != 0 || !strings.Contains(ddl, "PRIMARY KEY (depth, prefix)") {
		t.Fatalf("the version 0 database has version %d and map_nodes %q", v, ddl)
	}

	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	got := scanNodes(t, s)
	root, err := vmap.NewTree(s).Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if root != d.Root {
		t.Errorf("root after migration %x, want %x", root, d.Root)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got, want, func(a, b storedNode) bool { return a.id == b.id && string(a.node) == string(b.node) }) {
		t.Errorf("migration changed the nodes: %d after, %d before", len(got), len(want))
	}
	if v, ddl := rawSchema(t, path); v != 4 || !strings.Contains(ddl, "PRIMARY KEY (tier, prefix, depth)") {
		t.Errorf("after migration: version %d, map_nodes %q", v, ddl)
	}
}

// TestRefuseLaterVersion: a database of a later schema version is not
// opened, and stays as it was.
func TestRefuseLaterVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	commitEntries(t, s, 10)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rawExec(t, path, "PRAGMA user_version = 5")
	_, err = sqlite.Open(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "schema version 5") {
		t.Fatalf("Open of a version 5 database: %v", err)
	}
	if v, _ := rawSchema(t, path); v != 5 {
		t.Errorf("the refused database now has version %d", v)
	}
}

// keyIndex is a row of a lookup index: a key and an entry's index.
type keyIndex struct {
	key [32]byte
	idx uint64
}

// lookups returns a storage's index rows by credential and by subject,
// and the entries that ByCredential and BySubject return for each key.
func lookups(t *testing.T, s storage.Storage) (rows [2][]keyIndex, by map[[32]byte][]uint64) {
	t.Helper()
	ctx := context.Background()
	by = map[[32]byte][]uint64{}
	for i, kind := range []storage.IndexKind{storage.CredentialIndex, storage.SubjectIndex} {
		err := s.ScanIndex(ctx, kind, func(key [32]byte, idx uint64) error {
			rows[i] = append(rows[i], keyIndex{key, idx})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows[i] {
			if _, ok := by[r.key]; ok {
				continue
			}
			f := s.ByCredential
			if kind == storage.SubjectIndex {
				f = s.BySubject
			}
			got, err := f(ctx, r.key)
			if err != nil {
				t.Fatal(err)
			}
			by[r.key] = got
		}
	}
	return rows, by
}

// TestMigratePostings opens a log of schema version 1, whose lookups by
// credential and by subject are tables of their own: Open moves them into
// the records' lists, which answer the same lookups, and drops the
// tables. A log in which an entry names a record that does not exist is
// refused, unchanged.
func TestMigratePostings(t *testing.T) {
	ctx := context.Background()
	l := fscktest.Build(t, t.TempDir(), fscktest.Config{Issuers: 2, Rounds: 3, PerRound: 400, Seed: 7, MapMaxPending: 300})
	s, err := sqlite.Open(ctx, l.DB)
	if err != nil {
		t.Fatal(err)
	}
	rows, want := lookups(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(rows[0]) < 1000 || len(rows[1]) < 1000 {
		t.Fatalf("only %d and %d index rows in a log of %d entries", len(rows[0]), len(rows[1]), l.Size)
	}
	bad := filepath.Join(t.TempDir(), "bad.db")
	downgradePostings(t, l.DB, rows[0], rows[1])
	copyFile(t, l.DB, bad)

	s, err = sqlite.Open(ctx, l.DB)
	if err != nil {
		t.Fatal(err)
	}
	gotRows, got := lookups(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gotRows[0], rows[0]) || !slices.Equal(gotRows[1], rows[1]) {
		t.Errorf("after migration: %d and %d index rows, want %d and %d", len(gotRows[0]), len(gotRows[1]), len(rows[0]), len(rows[1]))
	}
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Errorf("after migration, the lookup of %x = %v, want %v", k, got[k], w)
		}
	}
	if v, _ := rawSchema(t, l.DB); v != 4 {
		t.Errorf("after migration: version %d", v)
	}
	if n := rawCount(t, l.DB, "SELECT count(*) FROM sqlite_master WHERE name IN ('by_credential', 'by_subject')"); n != 0 {
		t.Errorf("after migration, %d of the old tables are left", n)
	}
	if n := rawCount(t, l.DB, `SELECT count(*) FROM sqlite_master WHERE
		(name = 'credentials' AND sql LIKE '%PRIMARY KEY (id, issuer)%') OR (name = 'subjects' AND sql LIKE '%PRIMARY KEY (label, issuer)%')`); n != 2 {
		t.Errorf("after migration, %d of the record tables have their new key", n)
	}

	// A credential's record is gone: the migration fails, and leaves the
	// database as it was.
	rawExec(t, bad, fmt.Sprintf("DELETE FROM credentials WHERE id = x'%x'", rows[0][len(rows[0])/2].key))
	if _, err := sqlite.Open(ctx, bad); err == nil || !strings.Contains(err.Error(), "which has no record") {
		t.Fatalf("Open of a log naming a missing record: %v", err)
	}
	if v, _ := rawSchema(t, bad); v != 1 {
		t.Errorf("the refused database now has version %d", v)
	}
	if n := rawCount(t, bad, "SELECT count(*) FROM by_credential"); n != len(rows[0]) {
		t.Errorf("the refused database has %d rows by credential, want %d", n, len(rows[0]))
	}
}

func rawCount(t *testing.T, path, query string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// storedTile is a row of the tiles table.
type storedTile struct {
	level, index uint64
	data         string
}

// rawTiles returns the rows of a tiles table of schema version 2.
func rawTiles(t *testing.T, path string) []storedTile {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT level, idx, data FROM tiles ORDER BY level, idx")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []storedTile
	for rows.Next() {
		var st storedTile
		if err := rows.Scan(&st.level, &st.index, &st.data); err != nil {
			t.Fatal(err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMigrateTiles opens a log of schema version 2, whose tiles table is
// keyed by (level, idx) WITHOUT ROWID: Open rewrites it as a rowid table,
// from which ReadTile returns the same tiles, and the log takes more
// entries. A table holding a tile no log can have is refused, the
// database unchanged.
func TestMigrateTiles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "log.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	commitEntries(t, s, 256*3+17)
	commitEntries(t, s, 256*5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := rawCount(t, path, "SELECT count(*) FROM sqlite_master WHERE name = 'tiles' AND sql LIKE '%WITHOUT ROWID%'"); n != 0 {
		t.Fatalf("a new database's tiles table is WITHOUT ROWID")
	}
	downgradeTiles(t, path)
	want := rawTiles(t, path)
	// 2,065 entries: eight full level-0 tiles and a partial one, and a
	// partial level-1 tile of their eight roots.
	if len(want) != 10 {
		t.Fatalf("%d tiles stored for 2,065 entries, want 10", len(want))
	}
	bad := filepath.Join(t.TempDir(), "bad.db")
	copyFile(t, path, bad)

	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		got, err := s.ReadTile(ctx, w.level, w.index)
		if err != nil || string(got) != w.data {
			t.Errorf("tile %d/%d after migration: %d bytes, %v; want %d bytes", w.level, w.index, len(got), err, len(w.data))
		}
	}
	if _, err := s.ReadTile(ctx, 8, 0); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("ReadTile of level 8: %v, want ErrNotFound", err)
	}
	ts := commitEntries(t, s, 300)
	if ts.Size != 256*8+17+300 {
		t.Errorf("after migration and one more batch the tree has %d entries", ts.Size)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if v, _ := rawSchema(t, path); v != 4 {
		t.Errorf("after migration: version %d", v)
	}
	if n := rawCount(t, path, "SELECT count(*) FROM tiles"); n < len(want) {
		t.Errorf("after migration and a batch, %d tiles stored, want at least %d", n, len(want))
	}

	rawExec(t, bad, "INSERT INTO tiles (level, idx, data) VALUES (8, 0, zeroblob(32))")
	if _, err := sqlite.Open(ctx, bad); err == nil || !strings.Contains(err.Error(), "tiles have a level over 7") {
		t.Fatalf("Open of a log with a tile of level 8: %v", err)
	}
	if v, _ := rawSchema(t, bad); v != 2 {
		t.Errorf("the refused database now has version %d", v)
	}
	if got := rawTiles(t, bad); len(got) != len(want)+1 {
		t.Errorf("the refused database has %d tiles, want %d", len(got), len(want)+1)
	}
}

// TestMigrateMapLeaves opens a database of schema version 3, whose map
// has every node in map_nodes, among them nodes down to depth 70: Open
// moves the leaves below depth 18 to map_leaves and drops the other nodes
// there, and the map reads as before, node for node.
func TestMigrateMapLeaves(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "log.db")
	var ups []vmap.Update
	for i := range 3000 {
		k := vmap.Key(sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i))))
		if i%10 == 0 {
			// Keys sharing their first 8 bytes with another, 64 bits.
			copy(k[:8], []byte("credlog!"))
		}
		ups = append(ups, vmap.Update{Key: k, Value: []byte{byte(i), 2}})
	}
	d, want := newMapDB(t, path, ups)
	want = sortedNodes(want)
	leaves := rawCount(t, path, "SELECT count(*) FROM map_leaves")
	if leaves < 300 {
		t.Fatalf("%d leaves below depth %d; the test wants 300 or more", leaves, belowTier)
	}
	downgradeMapLeaves(t, path)
	deep := rawCount(t, path, fmt.Sprintf("SELECT count(*) FROM map_nodes WHERE depth > %d", belowTier))
	if v, _ := rawSchema(t, path); v != 3 || deep <= leaves {
		t.Fatalf("the version 3 database has version %d and %d nodes below depth %d", v, deep, belowTier)
	}

	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	got := sortedNodes(scanNodes(t, s))
	root, err := vmap.NewTree(s).Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range ups[:50] {
		p, v, err := vmap.NewTree(s).Prove(ctx, u.Key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := p.Marshal()
		if err := vmap.VerifyMembership(d.Root, u.Key, v, b); err != nil || string(v) != string(u.Value) {
			t.Fatalf("proof of %s after migration: %v", u.Key, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if root != d.Root {
		t.Errorf("root after migration %x, want %x", root, d.Root)
	}
	if !slices.EqualFunc(got, want, func(a, b storedNode) bool { return a.id == b.id && string(a.node) == string(b.node) }) {
		t.Errorf("migration changed the nodes: %d after, %d before", len(got), len(want))
	}
	if v, _ := rawSchema(t, path); v != 4 {
		t.Errorf("after migration: version %d", v)
	}
	if n := rawCount(t, path, "SELECT count(*) FROM map_leaves"); n != leaves {
		t.Errorf("after migration: %d leaves below depth %d, want %d", n, belowTier, leaves)
	}
	if n := rawCount(t, path, fmt.Sprintf("SELECT count(*) FROM map_nodes WHERE depth > %d", belowTier)); n != 0 {
		t.Errorf("after migration: %d nodes below depth %d in map_nodes", n, belowTier)
	}
}

// sortedNodes sorts nodes by position.
func sortedNodes(nodes []storedNode) []storedNode {
	slices.SortFunc(nodes, func(a, b storedNode) int { return a.id.Compare(b.id) })
	return nodes
}

// TestOpenReadOnlyRefusesOtherVersions: OpenReadOnly, which cannot
// migrate, refuses a database of an earlier or a later schema version,
// naming both versions, and leaves it as it was.
func TestOpenReadOnlyRefusesOtherVersions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	newMapDB(t, path, []vmap.Update{{Key: vmap.Key(sha256.Sum256([]byte("k"))), Value: []byte("v")}})
	for _, v := range []int{3, 5} {
		rawExec(t, path, fmt.Sprintf("PRAGMA user_version = %d", v))
		s, err := sqlite.OpenReadOnly(context.Background(), path)
		if err == nil {
			s.Close()
			t.Fatalf("OpenReadOnly of a version %d database succeeded", v)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("schema version %d", v)) || !strings.Contains(err.Error(), "4") {
			t.Errorf("OpenReadOnly of a version %d database: %v", v, err)
		}
		if got, _ := rawSchema(t, path); got != v {
			t.Errorf("the refused database now has version %d, had %d", got, v)
		}
	}
}

// TestMigrateMapLeavesRefusesCorruptNode: a node below depth 18 that does
// not parse at its position (a leaf off its key's path, a node of an
// unknown kind) fails the migration to version 4, which names it, and the
// database stays at version 3, unchanged.
func TestMigrateMapLeavesRefusesCorruptNode(t *testing.T) {
	other := sha256.Sum256([]byte("a key off the path"))
	for name, set := range map[string]string{
		"leaf off its path": fmt.Sprintf("CAST(x'02' || x'%x' || substr(node, 34) AS BLOB)", other),
		"unknown kind":      "CAST(x'07' || substr(node, 2) AS BLOB)",
	} {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log.db")
			var ups []vmap.Update
			for i := range 20 {
				k := vmap.Key(sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i))))
				copy(k[:4], "deep") // 32 bits in common: every node of theirs below depth 18
				ups = append(ups, vmap.Update{Key: k, Value: []byte{byte(i), 3}})
			}
			newMapDB(t, path, ups)
			downgradeMapLeaves(t, path)
			rawExec(t, path, fmt.Sprintf(`UPDATE map_nodes SET node = %s WHERE (tier, prefix, depth) =
				(SELECT tier, prefix, depth FROM map_nodes WHERE depth > %d AND substr(node, 1, 1) = x'02' ORDER BY prefix DESC LIMIT 1)`, set, belowTier))
			before := rawCount(t, path, "SELECT count(*) FROM map_nodes")
			_, err := sqlite.Open(context.Background(), path)
			if err == nil || !strings.Contains(err.Error(), "version 4") || !strings.Contains(err.Error(), "map node") {
				t.Fatalf("Open of a version 3 database with a corrupt node below depth %d: %v", belowTier, err)
			}
			t.Log(err)
			if v, _ := rawSchema(t, path); v != 3 {
				t.Errorf("the refused database now has version %d", v)
			}
			if n := rawCount(t, path, "SELECT count(*) FROM map_nodes"); n != before {
				t.Errorf("the refused database has %d map nodes, had %d", n, before)
			}
		})
	}
}
