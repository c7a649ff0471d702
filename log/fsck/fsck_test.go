package fsck_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/log/fsck"
	"github.com/credlog/credlog/log/fsck/fscktest"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/storage/sqlite"
)

var (
	sharedOnce sync.Once
	sharedLog  *fscktest.Log
	sharedDir  string
)

// testLog returns a log of two thousand entries of three issuers, built
// through the sequencer in many batches. Tests must not modify it.
func testLog(t *testing.T) *fscktest.Log {
	t.Helper()
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fsck-test-")
		if err != nil {
			t.Fatal(err)
		}
		sharedDir = dir
		sharedLog = fscktest.Build(t, dir, fscktest.Config{Issuers: 3, Rounds: 8, PerRound: 250, Seed: 1})
	})
	if sharedLog == nil {
		t.Fatal("the shared test log could not be built")
	}
	return sharedLog
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	if mapDir != "" {
		os.RemoveAll(mapDir)
	}
	os.Exit(code)
}

func verifier(t *testing.T, l *fscktest.Log) *keys.Verifier {
	t.Helper()
	v, err := keys.ParseVerifier(l.Key.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// check opens db read-only and checks it.
func check(t *testing.T, db string, v *keys.Verifier) (*fsck.Report, error) {
	t.Helper()
	s, err := sqlite.OpenReadOnly(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return fsck.Check(context.Background(), s, v, fsck.Options{})
}

// dirHashes returns the SHA-256 of every file in dir, by name.
func dirHashes(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][32]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

func TestCheckPasses(t *testing.T) {
	l := testLog(t)
	before := dirHashes(t, l.Dir)
	var stages []string
	s, err := sqlite.OpenReadOnly(context.Background(), l.DB)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := fsck.Check(context.Background(), s, verifier(t, l), fsck.Options{Progress: func(p fsck.Progress) {
		if len(stages) == 0 || stages[len(stages)-1] != p.Stage {
			stages = append(stages, p.Stage)
		}
	}})
	s.Close()
	if err != nil {
		t.Fatalf("fsck of a sound log: %v", err)
	}
	if after := dirHashes(t, l.Dir); !maps.Equal(before, after) {
		t.Errorf("fsck changed the data directory:\nbefore %x\nafter  %x", before, after)
	}
	if rep.Entries != l.Size || rep.Bundles != (l.Size+255)/256 || rep.IndexRows != 3*l.Size-6 ||
		rep.Issuers != 3 || rep.Credentials == 0 || rep.Subjects == 0 || rep.Checkpoints < 8 {
		t.Errorf("report %+v for a log of %d entries", rep, l.Size)
	}
	if want := "entries tiles indexes state checkpoints map"; strings.Join(stages, " ") != want {
		t.Errorf("progress stages %q, want %q", stages, want)
	}
	t.Logf("%+v", rep)
}

func TestCheckEmptyLog(t *testing.T) {
	db := filepath.Join(t.TempDir(), "log.db")
	s, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	skey, _, _ := keys.Generate(fscktest.Origin, rand.Reader)
	signer, _ := keys.ParseSigner(skey)
	v, _ := keys.ParseVerifier(signer.VerifierKey())
	rep, err := check(t, db, v)
	if err != nil || rep.Entries != 0 || rep.Checkpoints != 0 {
		t.Fatalf("fsck of an empty log: %+v, %v", rep, err)
	}
}

// corruption changes a copy of the test log's database.
type corruption struct {
	name    string
	corrupt func(t *testing.T, db *sql.DB, l *fscktest.Log)
	want    string // in the inconsistency; "" if the log stays sound
}

func exec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	res, err := db.Exec(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%s: changed %d rows, want 1", query, n)
	}
}

func blob(t *testing.T, db *sql.DB, query string, args ...any) []byte {
	t.Helper()
	var b []byte
	if err := db.QueryRow(query, args...).Scan(&b); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return b
}

func integer(t *testing.T, db *sql.DB, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// flipEntryByte flips the last byte (in the signature) of entry i in its
// bundle.
func flipEntryByte(t *testing.T, db *sql.DB, i uint64) {
	b := blob(t, db, "SELECT data FROM bundles WHERE idx = ?", i/256)
	off := 0
	for k := uint64(0); k <= i%256; k++ {
		off += 2 + (int(b[off])<<8 | int(b[off+1]))
	}
	b[off-1] ^= 1
	exec(t, db, "UPDATE bundles SET data = ? WHERE idx = ?", b, i/256)
}

// flipTileHash flips a byte of hash k of a tile.
func flipTileHash(t *testing.T, db *sql.DB, level, index uint64, k int) {
	b := blob(t, db, "SELECT data FROM tiles WHERE id = (? << 56) | ?", level, index)
	b[k*32+5] ^= 0x80
	exec(t, db, "UPDATE tiles SET data = ? WHERE id = (? << 56) | ?", b, level, index)
}

// signCheckpoint signs a checkpoint with key.
func signCheckpoint(t *testing.T, key note.Signer, origin string, size uint64, root []byte) []byte {
	cp := log.Checkpoint{Origin: origin, Size: size, Hash: root}
	signed, err := note.Sign(&note.Note{Text: string(cp.Marshal())}, key)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// midCheckpoint returns the size of a checkpoint neither first nor last.
func midCheckpoint(t *testing.T, db *sql.DB) uint64 {
	return integer(t, db, "SELECT size FROM checkpoints ORDER BY size LIMIT 1 OFFSET 3")
}

var corruptions = []corruption{
	{"sound copy", func(*testing.T, *sql.DB, *fscktest.Log) {}, ""},
	{"changed entry byte", func(t *testing.T, db *sql.DB, _ *fscktest.Log) { flipEntryByte(t, db, 1234) },
		"entry 1234: leaf hash not in tile 0/004"},
	{"truncated bundle", func(t *testing.T, db *sql.DB, _ *fscktest.Log) {
		b := blob(t, db, "SELECT data FROM bundles WHERE idx = 2")
		exec(t, db, "UPDATE bundles SET data = ? WHERE idx = 2", b[:len(b)-1])
	}, "entry bundle 002: tiles: entry 255 of bundle truncated"},
	{"deleted bundle", func(t *testing.T, db *sql.DB, _ *fscktest.Log) { exec(t, db, "DELETE FROM bundles WHERE idx = 3") },
		"entry bundle 003: missing"},
	{"bundle beyond the tree", func(t *testing.T, db *sql.DB, _ *fscktest.Log) {
		exec(t, db, "INSERT INTO bundles (idx, data) VALUES (8, x'0001ff')")
	}, "entry bundle 008: stored beyond the tree"},
	{"changed level-0 tile hash", func(t *testing.T, db *sql.DB, _ *fscktest.Log) { flipTileHash(t, db, 0, 3, 17) },
		"entry 785: leaf hash not in tile 0/003"},
	{"changed level-1 tile hash", func(t *testing.T, db *sql.DB, _ *fscktest.Log) { flipTileHash(t, db, 1, 0, 2) },
		"tile 1/000: hash 2 is not the root of tile 0/002"},
	{"deleted level-1 tile", func(t *testing.T, db *sql.DB, _ *fscktest.Log) { exec(t, db, "DELETE FROM tiles WHERE id >> 56 = 1") },
		"tile 1/000: missing"},
	{"level-2 tile", func(t *testing.T, db *sql.DB, _ *fscktest.Log) {
		exec(t, db, "INSERT INTO tiles (id, data) VALUES (2 << 56, zeroblob(32))")
	}, "tile 2/000: stored beyond the tree"},
	{"wrong stored root", func(t *testing.T, db *sql.DB, _ *fscktest.Log) { exec(t, db, "UPDATE tree SET root = zeroblob(32)") },
		"tree: stored root 0000000000000000000000000000000000000000000000000000000000000000, but the"},
	{"wrong right edge", func(t *testing.T, db *sql.DB, _ *fscktest.Log) {
		edge := blob(t, db, "SELECT edge FROM tree")
		edge[len(edge)-1] ^= 1
		exec(t, db, "UPDATE tree SET edge = ?", edge)
	}, "of the stored right edge is"},
	{"tree size ahead of the entries", func(t *testing.T, db *sql.DB, _ *fscktest.Log) { exec(t, db, "UPDATE tree SET size = size + 1") },
		"entries, but the tree of"},
	{"deleted leaf index row", func(t *testing.T, db *sql.DB, _ *fscktest.Log) { exec(t, db, "DELETE FROM leaves WHERE idx = 100") },
		"entry 100: not in the leaf-hash index"},
	{"leaf index row moved", func(t *testing.T, db *sql.DB, _ *fscktest.Log) {
		exec(t, db, "UPDATE leaves SET idx = 11 WHERE idx = 10")
	},
		"entry 10: not in the leaf-hash index"},
	{"deleted credential index row", func(t *testing.T, db *sql.DB, _ *fscktest.Log) {
		dropFromList(t, db, "credentials", "id", 500)
	}, "entry 500: not in the credential index"},
	{"deleted subject index row", func(t *testing.T, db *sql.DB, _ *fscktest.Log) {
		dropFromList(t, db, "subjects", "label", 1999)
	},
		"entry 1999: not in the subject index"},
	{"extra credential index row", func(t *testing.T, db *sql.DB, l *fscktest.Log) {
		exec(t, db, "INSERT INTO credentials (issuer, id, subject, version, not_after, status, reason, issue_index, last_index, entries) VALUES (?, ?, zeroblob(32), 1, 1, 1, 0, 7, 7, x'07')",
			l.Issuers[0].Name(), bytes.Repeat([]byte{0xab}, 32))
	}, "credential index: stray row abababababababababababababababababababababababababababababababab for entry 7"},
	{"subject index row for a registration", func(t *testing.T, db *sql.DB, l *fscktest.Log) {
		exec(t, db, "INSERT INTO subjects (issuer, label, version, live, events, digest, entries) VALUES (?, ?, 1, zeroblob(32), 1, zeroblob(32), x'01')",
			l.Issuers[0].Name(), bytes.Repeat([]byte{0xcd}, 32))
	}, "subject index: stray row cdcd"},
	{"extra leaf index row beyond the tree", func(t *testing.T, db *sql.DB, l *fscktest.Log) {
		exec(t, db, "INSERT INTO leaves (hash, idx) VALUES (?, ?)", bytes.Repeat([]byte{1}, 32), l.Size+5)
	}, "beyond the tree of"},
	{"changed credential status", func(t *testing.T, db *sql.DB, _ *fscktest.Log) {
		exec(t, db, "UPDATE credentials SET status = 3 WHERE id = (SELECT id FROM credentials WHERE status = 1 ORDER BY issue_index LIMIT 1)")
	}, "Status is revoked, the replay gives active"},
	{"changed credential last index", func(t *testing.T, db *sql.DB, _ *fscktest.Log) {
		exec(t, db, "UPDATE credentials SET last_index = last_index + 1 WHERE id = (SELECT id FROM credentials ORDER BY issue_index LIMIT 1)")
	}, "LastIndex is"},
	// A record holds its entries' rows of the lookup index: deleting it
	// takes them too, which the index check finds first.
	{"deleted credential row", func(t *testing.T, db *sql.DB, _ *fscktest.Log) {
		exec(t, db, "DELETE FROM credentials WHERE issue_index = 1000")
	}, "entry 1000: not in the credential index"},
	{"extra subject row", func(t *testing.T, db *sql.DB, l *fscktest.Log) {
		exec(t, db, "INSERT INTO subjects (issuer, label, version, live, events, digest) VALUES (?, ?, 1, zeroblob(32), 1, zeroblob(32))",
			l.Issuers[0].Name(), bytes.Repeat([]byte{0xee}, 32))
	}, "subject eeee"},
	{"changed subject digest", func(t *testing.T, db *sql.DB, _ *fscktest.Log) {
		exec(t, db, "UPDATE subjects SET digest = zeroblob(32) WHERE label = (SELECT label FROM subjects ORDER BY label LIMIT 1)")
	}, "Digest is 0000"},
	{"changed issuer key", func(t *testing.T, db *sql.DB, l *fscktest.Log) {
		exec(t, db, "UPDATE issuers SET public_key = zeroblob(32) WHERE name = ?", l.Issuers[1].Name())
	}, fmt.Sprintf("issuer %q: stored PublicKey is 0000", "issuer-1.example")},
	{"deleted issuer", func(t *testing.T, db *sql.DB, l *fscktest.Log) {
		exec(t, db, "DELETE FROM issuers WHERE name = ?", l.Issuers[2].Name())
	}, `issuer "issuer-2.example": registered by the entries, but not stored`},
	{"checkpoint with a bad signature", func(t *testing.T, db *sql.DB, _ *fscktest.Log) {
		size := midCheckpoint(t, db)
		cp := blob(t, db, "SELECT note FROM checkpoints WHERE size = ?", size)
		i := bytes.LastIndexByte(cp[:len(cp)-1], '\n') + len("— ") + 1 + len(fscktest.Origin) + 10
		// Another base64 character: the note still parses, and the
		// signature bits change.
		if cp[i] == 'A' {
			cp[i] = 'B'
		} else {
			cp[i] = 'A'
		}
		exec(t, db, "UPDATE checkpoints SET note = ? WHERE size = ?", cp, size)
	}, "invalid signature for key " + fscktest.Origin},
	{"checkpoint signed by another key", func(t *testing.T, db *sql.DB, _ *fscktest.Log) {
		skey, _, _ := keys.Generate(fscktest.Origin, rand.Reader)
		other, _ := keys.ParseSigner(skey)
		size := midCheckpoint(t, db)
		cp := signCheckpoint(t, other.NoteSigner(), fscktest.Origin, size, make([]byte, 32))
		exec(t, db, "UPDATE checkpoints SET note = ? WHERE size = ?", cp, size)
	}, "note has no verifiable signatures"},
	{"signed checkpoint with a wrong root", func(t *testing.T, db *sql.DB, l *fscktest.Log) {
		size := midCheckpoint(t, db)
		cp := signCheckpoint(t, l.Key.NoteSigner(), fscktest.Origin, size, make([]byte, 32))
		exec(t, db, "UPDATE checkpoints SET note = ? WHERE size = ?", cp, size)
	}, "root 0000000000000000000000000000000000000000000000000000000000000000, but the tree of"},
	{"signed checkpoint of another origin", func(t *testing.T, db *sql.DB, l *fscktest.Log) {
		size := midCheckpoint(t, db)
		cp := signCheckpoint(t, l.Key.NoteSigner(), "other.example/log", size, make([]byte, 32))
		exec(t, db, "UPDATE checkpoints SET note = ? WHERE size = ?", cp, size)
	}, `got Origin "other.example/log"`},
	{"checkpoint stored under another size", func(t *testing.T, db *sql.DB, _ *fscktest.Log) {
		// A checkpoint past the first few whose size - 1 has none.
		size := integer(t, db, `SELECT size FROM checkpoints c WHERE NOT EXISTS
			(SELECT 1 FROM checkpoints WHERE size = c.size - 1) ORDER BY size LIMIT 1 OFFSET 3`)
		exec(t, db, "UPDATE checkpoints SET size = size - 1 WHERE size = ?", size)
	}, "its text says size"},
	{"signed checkpoint beyond the tree", func(t *testing.T, db *sql.DB, l *fscktest.Log) {
		cp := signCheckpoint(t, l.Key.NoteSigner(), fscktest.Origin, l.Size+10, make([]byte, 32))
		exec(t, db, "INSERT INTO checkpoints (size, note) VALUES (?, ?)", l.Size+10, cp)
	}, fmt.Sprintf("checkpoint %d: beyond the tree", 0)},
	{"missing checkpoint rows", func(t *testing.T, db *sql.DB, _ *fscktest.Log) {
		exec(t, db, "DELETE FROM checkpoints WHERE size = ?", midCheckpoint(t, db))
		exec(t, db, "DELETE FROM checkpoints WHERE size = (SELECT MIN(size) FROM checkpoints)")
	}, ""},
}

// dropFromList removes entry idx from the list of entries of the record of
// table (keyed by issuer and key) that holds it: SQLite's layout of the
// lookup indexes by credential and by subject, each index an unsigned
// varint, in ascending order.
func dropFromList(t *testing.T, db *sql.DB, table, key string, idx uint64) {
	t.Helper()
	rows, err := db.Query(fmt.Sprintf("SELECT issuer, %s, entries FROM %s", key, table))
	if err != nil {
		t.Fatal(err)
	}
	var issuer string
	var k, list, kept []byte
	found := false
	for !found && rows.Next() {
		if err := rows.Scan(&issuer, &k, &list); err != nil {
			t.Fatal(err)
		}
		kept = kept[:0]
		for b := list; len(b) > 0; {
			i, n := binary.Uvarint(b)
			if n <= 0 {
				t.Fatalf("malformed list of entries in %s", table)
			}
			if i == idx {
				found = true
			} else {
				kept = binary.AppendUvarint(kept, i)
			}
			b = b[n:]
		}
	}
	rows.Close()
	if !found {
		t.Fatalf("no record of %s lists entry %d", table, idx)
	}
	exec(t, db, fmt.Sprintf("UPDATE %s SET entries = ? WHERE issuer = ? AND %s = ?", table, key), append([]byte{}, kept...), issuer, k)
}

func TestCorruptions(t *testing.T) {
	l := testLog(t)
	v := verifier(t, l)
	for _, c := range corruptions {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			path := copyDB(t, l.DB)
			db, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			c.corrupt(t, db, l)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			want := c.want
			if strings.HasPrefix(want, "checkpoint 0: beyond") {
				want = fmt.Sprintf("checkpoint %d: beyond the tree of %d entries", l.Size+10, l.Size)
			}
			_, err = check(t, path, v)
			var inc *fsck.Inconsistency
			switch {
			case want == "" && err != nil:
				t.Fatalf("fsck: %v; want success", err)
			case want == "":
			case !errors.As(err, &inc):
				t.Fatalf("fsck: %v; want an inconsistency with %q", err, want)
			case !strings.Contains(err.Error(), want):
				t.Fatalf("fsck: %v\nwant %q", err, want)
			}
			t.Log(err)
		})
	}
}

// copyDB copies a database file into a new directory.
func copyDB(t *testing.T, path string) string {
	t.Helper()
	src, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst := filepath.Join(t.TempDir(), "log.db")
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, src); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}
