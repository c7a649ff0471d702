// Package tlogproof reads, writes and verifies C2SP tlog-proof@v1
// documents: an entry's index, its RFC 6962 inclusion proof, and the
// (possibly cosigned) checkpoint the proof is against, verifiable offline.
//
// The text format is parsed strictly: exactly the lines the specification
// allows, canonical decimals and base64, at most 63 proof hashes.
// Checkpoint parsing and signature checks are delegated to
// github.com/transparency-dev/formats and golang.org/x/mod/sumdb/note,
// inclusion checks to github.com/transparency-dev/merkle; only the framing
// is written here, since no maintained Go package parses tlog-proof.
package tlogproof

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// Header is the first line of every proof.
const Header = "c2sp.org/tlog-proof@v1"

// MaxHashes bounds the inclusion proof (a tree of 2^63 entries).
const MaxHashes = 63

// ErrMalformed is wrapped by every parsing error.
var ErrMalformed = errors.New("tlogproof: malformed proof")

// ErrInvalid is wrapped by every verification failure.
var ErrInvalid = errors.New("tlogproof: proof does not verify")

// Proof is a tlog-proof@v1 document.
type Proof struct {
	Extra      []byte   // optional opaque extra data (nil: no extra line)
	Index      uint64   // the entry's index
	Hashes     [][]byte // inclusion proof, leaf's sibling first
	Checkpoint []byte   // the signed checkpoint, verbatim
}

// Marshal returns the text form of p.
func (p *Proof) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(Header + "\n")
	if p.Extra != nil {
		fmt.Fprintf(&b, "extra %s\n", base64.StdEncoding.EncodeToString(p.Extra))
	}
	fmt.Fprintf(&b, "index %d\n", p.Index)
	for _, h := range p.Hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	b.WriteString("\n")
	b.Write(p.Checkpoint)
	return b.Bytes()
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Parse parses the text form of a proof. It does not verify it.
func Parse(text []byte) (*Proof, error) {
	head, cp, ok := bytes.Cut(text, []byte("\n\n"))
	if !ok {
		return nil, malformed("no blank line before the checkpoint")
	}
	if len(cp) == 0 {
		return nil, malformed("no checkpoint")
	}
	lines := strings.Split(string(head), "\n")
	if lines[0] != Header {
		return nil, malformed("first line is not %q", Header)
	}
	lines = lines[1:]
	p := &Proof{Checkpoint: cp}
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		e, err := base64.StdEncoding.Strict().DecodeString(lines[0][len("extra "):])
		if err != nil {
			return nil, malformed("extra data is not base64")
		}
		p.Extra, lines = e, lines[1:]
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		return nil, malformed("no index line")
	}
	idx := lines[0][len("index "):]
	n, err := strconv.ParseUint(idx, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != idx {
		return nil, malformed("index %q is not a canonical decimal", idx)
	}
	p.Index, lines = n, lines[1:]
	if len(lines) > MaxHashes {
		return nil, malformed("%d proof hashes, at most %d", len(lines), MaxHashes)
	}
	for i, l := range lines {
		h, err := base64.StdEncoding.Strict().DecodeString(l)
		if err != nil || len(h) != 32 {
			return nil, malformed("proof line %d is not a base64 SHA-256 hash", i+1)
		}
		p.Hashes = append(p.Hashes, h)
	}
	return p, nil
}

// Verify checks that entry is at p.Index in the tree of p.Checkpoint and
// that the checkpoint is signed by the log (origin, logKey). It returns
// the parsed checkpoint and note, whose signatures include those of any
// of witnesses that signed; checking a witness quorum is the caller's.
func (p *Proof) Verify(entry []byte, origin string, logKey note.Verifier, witnesses ...note.Verifier) (*log.Checkpoint, *note.Note, error) {
	cp, _, n, err := log.ParseCheckpoint(p.Checkpoint, origin, logKey, witnesses...)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: checkpoint: %w", ErrInvalid, err)
	}
	if p.Index >= cp.Size {
		return nil, nil, fmt.Errorf("%w: index %d is outside the tree of size %d", ErrInvalid, p.Index, cp.Size)
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(entry)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, cp.Size, leaf, p.Hashes, cp.Hash); err != nil {
		return nil, nil, fmt.Errorf("%w: inclusion: %w", ErrInvalid, err)
	}
	return cp, n, nil
}
