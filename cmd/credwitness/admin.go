package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/credlog/credlog/witness"
)

// keygen writes a new cosigner key and prints its verifier key.
func keygen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	name := fs.String("name", "", "cosigner key name, e.g. witness.example.com/w1")
	out := fs.String("out", "", "file to write the private key to (must not exist)")
	if err := parseFlags(fs, args, stderr, "name", "out"); err != nil {
		return err
	}
	skey, vkey, err := witness.GenerateKey(*name)
	if err != nil {
		return err
	}
	if err := writeKeyFile(*out, skey); err != nil {
		return err
	}
	fmt.Fprintln(stdout, vkey)
	return nil
}

// writeKeyFile creates path with mode 0600, refusing to overwrite, and
// writes key to it durably.
func writeKeyFile(path, key string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("couldn't create key file: %w", err)
	}
	_, err = f.WriteString(key + "\n")
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		os.Remove(path)
		return fmt.Errorf("couldn't write key file: %w", err)
	}
	return nil
}

// readKeyFile reads a private key file, refusing one that group or others
// may access.
func readKeyFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("couldn't read key file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("key file %s has permissions %04o, which let group or others read it; "+
			"it must be 0600 or stricter (chmod 600 %s)", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("couldn't read key file: %w", err)
	}
	return string(b), nil
}

// keysFlag collects repeated -key flags.
type keysFlag []string

func (k *keysFlag) String() string     { return fmt.Sprint(*k) }
func (k *keysFlag) Set(v string) error { *k = append(*k, v); return nil }

// addLog adds a log and its trusted keys.
func addLog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("add-log", flag.ContinueOnError)
	db := fs.String("db", "", "witness database")
	origin := fs.String("origin", "", "the log's checkpoint origin line")
	var keys keysFlag
	fs.Var(&keys, "key", "a signed-note verifier key trusted for the log (repeatable)")
	if err := parseFlags(fs, args, stderr, "db", "origin", "key"); err != nil {
		return err
	}
	s, err := witness.OpenSQLite(ctx, *db)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.AddLog(ctx, *origin, keys); err != nil {
		return err
	}
	st, err := s.Log(ctx, *origin)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(st)
}

// list prints every log as a JSON line.
func list(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	db := fs.String("db", "", "witness database")
	if err := parseFlags(fs, args, stderr, "db"); err != nil {
		return err
	}
	s, err := openExisting(ctx, *db)
	if err != nil {
		return err
	}
	defer s.Close()
	logs, err := s.Logs(ctx)
	if err != nil {
		return err
	}
	return printJSONLines(stdout, logs)
}

// history prints the checkpoints cosigned for a log as JSON lines.
func history(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	db := fs.String("db", "", "witness database")
	origin := fs.String("origin", "", "the log's origin")
	after := fs.Int64("after", 0, "print only entries with a larger ID")
	if err := parseFlags(fs, args, stderr, "db", "origin"); err != nil {
		return err
	}
	s, err := openExisting(ctx, *db)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.Log(ctx, *origin); err != nil {
		return fmt.Errorf("%w %q", err, *origin)
	}
	for {
		h, err := s.History(ctx, *origin, *after, 1000)
		if err != nil || len(h) == 0 {
			return err
		}
		if err := printJSONLines(stdout, h); err != nil {
			return err
		}
		*after = h[len(h)-1].ID
	}
}

// evidence prints the equivocation evidence as JSON lines.
func evidence(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("evidence", flag.ContinueOnError)
	db := fs.String("db", "", "witness database")
	after := fs.Int64("after", 0, "print only evidence with a larger ID")
	if err := parseFlags(fs, args, stderr, "db"); err != nil {
		return err
	}
	s, err := openExisting(ctx, *db)
	if err != nil {
		return err
	}
	defer s.Close()
	for {
		ev, err := s.Evidence(ctx, *after, 1000)
		if err != nil || len(ev) == 0 {
			return err
		}
		if err := printJSONLines(stdout, ev); err != nil {
			return err
		}
		*after = ev[len(ev)-1].ID
	}
}

// openExisting opens a witness database that must already exist, so that
// a mistyped path is an error rather than a new empty database.
func openExisting(ctx context.Context, path string) (*witness.SQLiteStore, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("couldn't open database: %w", err)
	}
	return witness.OpenSQLite(ctx, path)
}

func printJSONLines[T any](w io.Writer, items []T) error {
	enc := json.NewEncoder(w)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			return fmt.Errorf("couldn't write JSON: %w", err)
		}
	}
	return nil
}
