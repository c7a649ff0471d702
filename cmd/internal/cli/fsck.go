package cli

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	"github.com/credlog/credlog/log/fsck"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/storage"
	"github.com/credlog/credlog/log/storage/postgres"
	"github.com/credlog/credlog/log/storage/sqlite"
)

// maxVKeyFile bounds the size of a verifier key file.
const maxVKeyFile = 4096

// fsckProgressEvery is how often fsck reports progress on long runs.
const fsckProgressEvery = 2 * time.Second

var fsckCommand = &command{
	name:     "fsck",
	synopsis: "-data DIR | -db FILE | -database URL [-vkey FILE]",
	summary:  "check a stopped log's data directory offline",
	doc: `
Fsck checks that what a credlog log stored agrees with itself: every entry
bundle parses; every entry's leaf hash is in its level-0 tile, and every
higher tile hashes the tiles below it; the stored tree root and right edge
are those of the entries; the leaf-hash, credential and subject indexes
hold exactly the rows the entries imply; replaying every entry through the
state rules, under the log's key, gives exactly the stored issuers,
credentials and subjects; and every stored checkpoint is signed by the
log's key, has the root of the tree at its size, and is consistent with
the next one; every map-root entry commits to the root of the verifiable
map that the replay rebuilds, and the stored map root and map nodes are
exactly that map's at the last map-root entry.

Give the data directory of credlogd with -data (the database DIR/log.db
and the log's verifier key DIR/log.vkey), or a database file with -db,
or the PostgreSQL database of credlogd -database with -database URL (with
-data DIR for the key DIR/log.vkey, or -vkey). The verifier key is read
from -vkey if given, else from log.vkey next to the database. Fsck opens
the database read-only and changes nothing; stop credlogd first, since a
log that moves while it is checked can look inconsistent.

Fsck prints a summary and exits 0 when everything holds. Otherwise it
names the first inconsistency, such as "entry 1234: leaf hash not in tile
0/004", and exits 1. On long runs it reports its progress on standard
error.`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		data := fs.String("data", "", "credlogd data `directory`")
		db := fs.String("db", "", "database `file` (instead of -data)")
		vkey := fs.String("vkey", "", "the log's verifier key `file` (default log.vkey beside the database)")
		database := fs.String("database", "", "PostgreSQL connection `URL` of the log (instead of -db)")
		return func(e *env, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if *database != "" {
				switch {
				case *db != "":
					return usagef("-db and -database are exclusive")
				case !postgres.IsDSN(*database):
					return usagef("-database must be a postgres:// or postgresql:// URL")
				case *vkey == "" && *data == "":
					return usagef("-database needs -vkey, or -data for DIR/log.vkey")
				case *vkey == "":
					*vkey = filepath.Join(*data, "log.vkey")
				}
				return runFsck(e, *database, *vkey)
			}
			switch {
			case *data == "" && *db == "":
				return usagef("-data or -db is required")
			case *data != "" && *db != "":
				return usagef("-data and -db are exclusive")
			case *data != "":
				*db = filepath.Join(*data, "log.db")
			}
			if *vkey == "" {
				*vkey = filepath.Join(filepath.Dir(*db), "log.vkey")
			}
			return runFsck(e, *db, *vkey)
		}
	},
}

// runFsck checks the log in the database db (a file, or a PostgreSQL
// URL), whose verifier key is in the file vkey.
func runFsck(e *env, db, vkey string) error {
	text, err := readFile(vkey, maxVKeyFile)
	if err != nil {
		return fmt.Errorf("couldn't read the log's verifier key (name its file with -vkey): %w", err)
	}
	v, err := keys.ParseVerifier(string(text))
	if err != nil {
		return fmt.Errorf("couldn't parse the log's verifier key %s: %w", vkey, err)
	}
	ctx := context.Background()
	var s storage.Storage
	if postgres.IsDSN(db) {
		s, err = postgres.OpenReadOnly(ctx, db)
	} else {
		s, err = sqlite.OpenReadOnly(ctx, db)
	}
	if err != nil {
		return err
	}
	defer s.Close()
	last := e.now()
	rep, err := fsck.Check(ctx, s, v, fsck.Options{Progress: func(p fsck.Progress) {
		if now := e.now(); now.Sub(last) >= fsckProgressEvery {
			last = now
			printProgress(e, p)
		}
	}})
	if err != nil {
		return err
	}
	name := db
	if u, err := url.Parse(db); err == nil && postgres.IsDSN(db) {
		name = u.Redacted() // never print a password
	}
	fmt.Fprintf(e.stdout, "%s: ok: %d entries in %d entry bundles and %d tiles; %d index rows; %d issuers, %d credentials, %d subjects; %d checkpoints; %d map roots, %d map nodes\n",
		name, rep.Entries, rep.Bundles, rep.Tiles, rep.IndexRows, rep.Issuers, rep.Credentials, rep.Subjects, rep.Checkpoints, rep.MapRoots, rep.MapNodes)
	return nil
}

func printProgress(e *env, p fsck.Progress) {
	if p.Total > 0 {
		fmt.Fprintf(e.stderr, "credlog: fsck: %s: %d of %d (%.0f%%)\n", p.Stage, p.Done, p.Total, 100*float64(p.Done)/float64(p.Total))
		return
	}
	fmt.Fprintf(e.stderr, "credlog: fsck: %s: %d\n", p.Stage, p.Done)
}
