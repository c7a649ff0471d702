package witness

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
)

const (
	// MaxProofLines is the largest number of consistency proof lines that
	// an add-checkpoint request may carry (c2sp.org/tlog-witness).
	MaxProofLines = 63

	// MaxBodySize is the largest add-checkpoint request body accepted.
	MaxBodySize = 64 << 10

	// maxTreeSize is the largest tree size the witness handles: sizes are
	// stored as SQLite INTEGERs, which are signed 64-bit numbers.
	maxTreeSize = math.MaxInt64

	hashSize = 32
)

// Request is a parsed add-checkpoint request body.
type Request struct {
	// OldSize is the size of the checkpoint that the client believes the
	// witness cosigned last for this log (0 if none).
	OldSize uint64
	// Proof is the RFC 6962 consistency proof from OldSize to the size of
	// Checkpoint, one 32-byte hash per element.
	Proof [][]byte
	// Checkpoint is the signed checkpoint note, verbatim.
	Checkpoint []byte
}

// ParseRequest parses an add-checkpoint request body: an "old N" line, up
// to [MaxProofLines] base64 hash lines, an empty line, and a signed note.
//
// The parser is strict: sizes are canonical decimals with no leading zeroes,
// hashes are canonical base64 of exactly 32 bytes, and every line ends in a
// newline. It checks the framing only; the note is opened and the
// checkpoint parsed by [Witness.AddCheckpoint]. Errors wrap [ErrMalformed].
func ParseRequest(body []byte) (*Request, error) {
	line, rest, ok := bytes.Cut(body, []byte("\n"))
	if !ok {
		return nil, fmt.Errorf("%w: missing old size line", ErrMalformed)
	}
	size, ok := bytes.CutPrefix(line, []byte("old "))
	if !ok {
		return nil, fmt.Errorf("%w: first line is not \"old <size>\"", ErrMalformed)
	}
	old, err := parseSize(string(size))
	if err != nil {
		return nil, fmt.Errorf("%w: old size: %w", ErrMalformed, err)
	}
	req := &Request{OldSize: old}
	for {
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return nil, fmt.Errorf("%w: missing empty line before the checkpoint", ErrMalformed)
		}
		if len(line) == 0 {
			break
		}
		if len(req.Proof) == MaxProofLines {
			return nil, fmt.Errorf("%w: more than %d consistency proof lines", ErrMalformed, MaxProofLines)
		}
		h, err := parseHash(string(line))
		if err != nil {
			return nil, fmt.Errorf("%w: consistency proof line %d: %w", ErrMalformed, len(req.Proof)+1, err)
		}
		req.Proof = append(req.Proof, h)
	}
	if len(rest) == 0 {
		return nil, fmt.Errorf("%w: missing checkpoint", ErrMalformed)
	}
	req.Checkpoint = rest
	return req, nil
}

// parseSize parses a tree size: ASCII decimal, no sign, no leading zeroes.
func parseSize(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != s {
		return 0, fmt.Errorf("%q is not a canonical decimal", s)
	}
	if n > maxTreeSize {
		return 0, fmt.Errorf("%d is larger than the largest supported tree size", n)
	}
	return n, nil
}

// parseHash parses the canonical standard base64 encoding of a 32-byte hash.
func parseHash(s string) ([]byte, error) {
	h, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(h) != hashSize || base64.StdEncoding.EncodeToString(h) != s {
		return nil, fmt.Errorf("%q is not the base64 encoding of a %d-byte hash", s, hashSize)
	}
	return h, nil
}
