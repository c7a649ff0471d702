// Package replaytest writes logs in the C2SP tlog-tiles layout into a
// directory, to be served by an http.FileServer or read by tessera's
// client.FileFetcher: what tests of log readers (replay, audit) need to
// show them a log, including one that lies.
package replaytest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	flog "github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/tiles"
)

// WriteLog writes the hash tiles and the entry bundles of entries into
// dir and returns the tree's root. mutate, if not nil, changes copies of
// the entries before they are written into bundles, not the tiles: a log
// that serves other entries than those it committed to.
func WriteLog(t testing.TB, dir string, entries [][]byte, mutate func([][]byte)) [32]byte {
	t.Helper()
	b, err := tiles.NewBuilder(0, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := b.Append(entries)
	if err != nil {
		t.Fatal(err)
	}
	for id, tile := range u.Tiles {
		WriteFile(t, filepath.Join(dir, layout.TilePath(id.Level, id.Index, uint8(len(tile)/32%256))), tile)
	}
	served := entries
	if mutate != nil {
		served = make([][]byte, len(entries))
		for i, e := range entries {
			served[i] = bytes.Clone(e)
		}
		mutate(served)
	}
	for i := 0; i < len(served); i += tiles.Width {
		part := served[i:min(i+tiles.Width, len(served))]
		var bundle []byte
		for _, e := range part {
			bundle = append(bundle, byte(len(e)>>8), byte(len(e)))
			bundle = append(bundle, e...)
		}
		WriteFile(t, filepath.Join(dir, layout.EntriesPath(uint64(i/tiles.Width), uint8(len(part)%tiles.Width))), bundle)
	}
	return u.Root
}

// SignCheckpoint returns the checkpoint of a tree of size entries with
// root, signed by the log key (whose name is the origin).
func SignCheckpoint(t testing.TB, key *keys.Signer, size uint64, root []byte) []byte {
	t.Helper()
	text := flog.Checkpoint{Origin: key.Name(), Size: size, Hash: root}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(text)}, key.NoteSigner())
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// Cosign adds a cosignature/v1 by the witness private key skey to the
// checkpoint raw, signed by the log whose verifier key is vkey.
func Cosign(t testing.TB, raw []byte, vkey, skey string) []byte {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(raw, note.VerifierList(v))
	if err != nil {
		t.Fatal(err)
	}
	w, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		t.Fatal(err)
	}
	out, err := note.Sign(n, w)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// WriteFile writes data to path, creating its directories.
func WriteFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
