package fsck_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/credlog/credlog/log/fsck"
	"github.com/credlog/credlog/log/fsck/fscktest"
	"github.com/credlog/credlog/log/storage/sqlite"
	"github.com/credlog/credlog/log/vmap"
)

var (
	mapOnce sync.Once
	mapLog  *fscktest.Log
	mapDir  string // removed by TestMain
)

// testMapLog returns a log with map-root entries every 150 or so map
// updates (and, most often, entries after the last one, depending on how
// the batches fell). Tests must not modify it.
func testMapLog(t *testing.T) *fscktest.Log {
	t.Helper()
	mapOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fsck-map-test-")
		if err != nil {
			t.Fatal(err)
		}
		mapDir = dir
		mapLog = fscktest.Build(t, dir, fscktest.Config{Issuers: 2, Rounds: 4, PerRound: 250, Seed: 3, MapMaxPending: 150})
	})
	if mapLog == nil {
		t.Fatal("the shared map test log could not be built")
	}
	return mapLog
}

// mapRow is one row of map_nodes.
type mapRow struct {
	depth  int
	prefix []byte
	node   []byte
}

func (r mapRow) id(t *testing.T) vmap.NodeID {
	t.Helper()
	id, err := vmap.ParseNodeID(r.depth, r.prefix)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// pickNode returns the deepest stored node of a kind, the last by prefix.
func pickNode(t *testing.T, db *sql.DB, kind vmap.NodeKind) mapRow {
	t.Helper()
	var r mapRow
	err := db.QueryRow("SELECT depth, prefix, node FROM map_nodes WHERE substr(node, 1, 1) = ? ORDER BY depth DESC, prefix DESC LIMIT 1",
		[]byte{byte(kind)}).Scan(&r.depth, &r.prefix, &r.node)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pickLeaf returns the last row of map_leaves, by key.
func pickLeaf(t *testing.T, db *sql.DB) (key, hash, value []byte) {
	t.Helper()
	if err := db.QueryRow("SELECT key, hash, value FROM map_leaves ORDER BY key DESC LIMIT 1").Scan(&key, &hash, &value); err != nil {
		t.Fatalf("the map test log has no leaf below depth 18: %v", err)
	}
	return key, hash, value
}

func TestCheckMapPasses(t *testing.T) {
	l := testMapLog(t)
	s, err := sqlite.OpenReadOnly(context.Background(), l.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mr, err := s.MapRoot(context.Background())
	if err != nil {
		t.Fatalf("the test log has no map root: %v", err)
	}
	var nodes uint64
	if err := s.ScanMapNodes(context.Background(), func(vmap.NodeID, vmap.Node) error { nodes++; return nil }); err != nil {
		t.Fatal(err)
	}
	var stages []string
	rep, err := fsck.Check(context.Background(), s, verifier(t, l), fsck.Options{Progress: func(p fsck.Progress) {
		if len(stages) == 0 || stages[len(stages)-1] != p.Stage {
			stages = append(stages, p.Stage)
		}
	}})
	if err != nil {
		t.Fatalf("fsck of a sound log with a map: %v", err)
	}
	if rep.Entries != l.Size || rep.MapRoots < 2 || rep.MapNodes != nodes || nodes == 0 {
		t.Errorf("report %+v; want %d entries, several map roots, %d map nodes", rep, l.Size, nodes)
	}
	if want := "entries tiles indexes state checkpoints map"; strings.Join(stages, " ") != want {
		t.Errorf("progress stages %q, want %q", stages, want)
	}
	t.Logf("map root at entry %d of %d; %+v", mr.Index, l.Size, rep)
}

// mapCorruption spoils the map tables of a copy of the map test log; want
// returns what fsck must then say.
type mapCorruption struct {
	name    string
	corrupt func(t *testing.T, db *sql.DB) (want string)
}

var mapCorruptions = []mapCorruption{
	{"interior node with another hash", func(t *testing.T, db *sql.DB) string {
		r := pickNode(t, db, vmap.KindInterior)
		node := append([]byte(nil), r.node...)
		node[len(node)-1] ^= 1
		exec(t, db, "UPDATE map_nodes SET node = ? WHERE depth = ? AND prefix = ?", node, r.depth, r.prefix)
		return fmt.Sprintf("map node %s: stored interior node %x, but the replayed map has interior node %x", r.id(t), node[1:], r.node[1:])
	}},
	{"leaf with another value", func(t *testing.T, db *sql.DB) string {
		r := pickNode(t, db, vmap.KindLeaf)
		node := append([]byte(nil), r.node...)
		node[len(node)-1] ^= 1
		exec(t, db, "UPDATE map_nodes SET node = ? WHERE depth = ? AND prefix = ?", node, r.depth, r.prefix)
		return fmt.Sprintf("map node %s: stored leaf of key %x with value hash %x, but the replayed map has leaf of key %x with value hash %x",
			r.id(t), node[1:33], vmap.ValueHash(node[33:]), r.node[1:33], vmap.ValueHash(r.node[33:]))
	}},
	{"node of an unknown kind", func(t *testing.T, db *sql.DB) string {
		r := pickNode(t, db, vmap.KindLeaf)
		node := append([]byte{7}, r.node[1:]...)
		exec(t, db, "UPDATE map_nodes SET node = ? WHERE depth = ? AND prefix = ?", node, r.depth, r.prefix)
		return fmt.Sprintf("stored map: storage: map node %s:", r.id(t))
	}},
	{"missing leaf", func(t *testing.T, db *sql.DB) string {
		r := pickNode(t, db, vmap.KindLeaf)
		exec(t, db, "DELETE FROM map_nodes WHERE depth = ? AND prefix = ?", r.depth, r.prefix)
		return fmt.Sprintf("map node %s: not stored, but the replayed map has leaf of key %x", r.id(t), r.node[1:33])
	}},
	{"missing interior node", func(t *testing.T, db *sql.DB) string {
		r := pickNode(t, db, vmap.KindInterior)
		exec(t, db, "DELETE FROM map_nodes WHERE depth = ? AND prefix = ?", r.depth, r.prefix)
		return fmt.Sprintf("map node %s: not stored, but the replayed map has interior node %x", r.id(t), r.node[1:])
	}},
	{"extra leaf", func(t *testing.T, db *sql.DB) string {
		key := vmap.Key(sha256.Sum256([]byte("a key the log never had")))
		node := append(append([]byte{byte(vmap.KindLeaf)}, key[:]...), "value"...)
		exec(t, db, "INSERT INTO map_nodes (depth, prefix, node, tier) VALUES (256, ?, ?, 18)", key[:], node)
		return fmt.Sprintf("map node %s: stored (leaf of key %x", vmap.PathID(key, 256), key[:])
	}},
	// Below depth 18, SQLite stores the leaves alone (map_leaves): the nodes
	// there are computed from them.
	{"leaf below depth 18 with another hash", func(t *testing.T, db *sql.DB) string {
		key, hash, _ := pickLeaf(t, db)
		bad := bytes.Clone(hash)
		bad[0] ^= 1
		exec(t, db, "UPDATE map_leaves SET hash = ? WHERE key = ?", bad, key)
		return fmt.Sprintf("stored leaf of key %x has leaf hash %x, but its key and value give %x", key, bad, hash)
	}},
	{"stray leaf below depth 18", func(t *testing.T, db *sql.DB) string {
		key, hash, value := pickLeaf(t, db)
		stray := bytes.Clone(key)
		stray[31] ^= 1 // the two leaves now at depth 256, side by side
		exec(t, db, "INSERT INTO map_leaves (key, hash, value) VALUES (?, ?, ?)", stray, hash, value)
		first := key // children are checked before their parent, the left first
		if stray[31]&1 == 0 {
			first = stray
		}
		return fmt.Sprintf("map node %s: stored (leaf of key %x", vmap.PathID(vmap.Key(first), 256), first)
	}},
	{"missing leaf below depth 18", func(t *testing.T, db *sql.DB) string {
		key, _, _ := pickLeaf(t, db)
		exec(t, db, "DELETE FROM map_leaves WHERE key = ?", key)
		return "but the replayed map has"
	}},
	{"map root with another root", func(t *testing.T, db *sql.DB) string {
		exec(t, db, "UPDATE map_root SET root = ?", make([]byte, 32))
		return "map root: stored root 0000000000000000000000000000000000000000000000000000000000000000, but the map at map-root entry"
	}},
	{"map root naming another entry", func(t *testing.T, db *sql.DB) string {
		var idx uint64
		if err := db.QueryRow("SELECT idx FROM map_root").Scan(&idx); err != nil {
			t.Fatal(err)
		}
		exec(t, db, "UPDATE map_root SET idx = idx - 1")
		return fmt.Sprintf("map root: names entry %d, but the last map-root entry is %d", idx-1, idx)
	}},
	{"map root missing", func(t *testing.T, db *sql.DB) string {
		var idx uint64
		if err := db.QueryRow("SELECT idx FROM map_root").Scan(&idx); err != nil {
			t.Fatal(err)
		}
		exec(t, db, "DELETE FROM map_root")
		return fmt.Sprintf("map root: not stored, but entry %d is a map-root entry", idx)
	}},
}

func TestMapCorruptions(t *testing.T) {
	l := testMapLog(t)
	v := verifier(t, l)
	for _, c := range mapCorruptions {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			path := copyDB(t, l.DB)
			db, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			want := c.corrupt(t, db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			_, err = check(t, path, v)
			var inc *fsck.Inconsistency
			if !errors.As(err, &inc) || !strings.Contains(err.Error(), want) {
				t.Fatalf("fsck: %v\nwant an inconsistency with %q", err, want)
			}
			t.Log(err)
		})
	}
}

// TestMapWithoutMapRootEntry checks a log with no map-root entry, whose
// map tables must be empty.
func TestMapWithoutMapRootEntry(t *testing.T) {
	l := testLog(t)
	v := verifier(t, l)
	for name, c := range map[string]struct {
		sql  string
		args []any
		want string
	}{
		"stored map root": {"INSERT INTO map_root (id, idx, root) VALUES (0, 5, ?)", []any{make([]byte, 32)},
			"map root: stored for entry 5, but the log has no map-root entry"},
		"stored map node": {"INSERT INTO map_nodes (depth, prefix, node, tier) VALUES (0, x'', ?, 0)", []any{append([]byte{byte(vmap.KindInterior)}, bytes.Repeat([]byte{1}, 32)...)},
			fmt.Sprintf("map node %s: stored (interior node %x), but the replayed map has none there", vmap.RootID, bytes.Repeat([]byte{1}, 32))},
	} {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			path := copyDB(t, l.DB)
			db, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			exec(t, db, c.sql, c.args...)
			db.Close()
			_, err = check(t, path, v)
			var inc *fsck.Inconsistency
			if !errors.As(err, &inc) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("fsck: %v\nwant an inconsistency with %q", err, c.want)
			}
			t.Log(err)
		})
	}
}
