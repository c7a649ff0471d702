package sqlite_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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

// TestMigrateMapNodes opens a database whose map_nodes has the layout of
// schema version 0, keyed by (depth, prefix): Open rewrites it keyed by
// (tier, prefix, depth), with the same nodes.
func TestMigrateMapNodes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "log.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var ups []vmap.Update
	for i := range 500 {
		ups = append(ups, vmap.Update{Key: sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i))), Value: []byte{byte(i), 1}})
	}
	d, err := vmap.NewTree(s).Update(ctx, ups)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteNodes(ctx, d.Writes); err != nil {
		t.Fatal(err)
	}
	want := scanNodes(t, s)
	if len(want) < 500 {
		t.Fatalf("only %d nodes stored for 500 keys", len(want))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if v, ddl := rawSchema(t, path); v != 1 || !strings.Contains(ddl, "PRIMARY KEY (tier, prefix, depth)") {
		t.Fatalf("a new database has version %d and map_nodes %q", v, ddl)
	}

	rawExec(t, path,
		"CREATE TABLE old (depth INTEGER NOT NULL, prefix BLOB NOT NULL, node BLOB NOT NULL, PRIMARY KEY (depth, prefix)) WITHOUT ROWID",
		"INSERT INTO old SELECT depth, prefix, node FROM map_nodes",
		"DROP TABLE map_nodes",
		"ALTER TABLE old RENAME TO map_nodes",
		"PRAGMA user_version = 0")
	if v, ddl := rawSchema(t, path); v != 0 || !strings.Contains(ddl, "PRIMARY KEY (depth, prefix)") {
		t.Fatalf("the version 0 database has version %d and map_nodes %q", v, ddl)
	}

	s, err = sqlite.Open(ctx, path)
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
	if v, ddl := rawSchema(t, path); v != 1 || !strings.Contains(ddl, "PRIMARY KEY (tier, prefix, depth)") {
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
	rawExec(t, path, "PRAGMA user_version = 2")
	_, err = sqlite.Open(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "schema version 2") {
		t.Fatalf("Open of a version 2 database: %v", err)
	}
	if v, _ := rawSchema(t, path); v != 2 {
		t.Errorf("the refused database now has version %d", v)
	}
}
