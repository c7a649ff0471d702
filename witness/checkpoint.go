package witness

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// emptyRoot is the RFC 6962 root hash of the empty tree, SHA-256("").
var emptyRoot = rfc6962.DefaultHasher.EmptyRoot()

// checkpoint is a checkpoint body as the witness understands it.
type checkpoint struct {
	log.Checkpoint
	// Extensions holds the extension lines, each ending in a newline, or ""
	// if there are none.
	Extensions string
}

// text re-encodes the checkpoint body from its parsed fields: the bytes the
// witness signs.
func (c *checkpoint) text() string {
	return string(c.Marshal()) + c.Extensions
}

// parseCheckpoint parses a checkpoint note text (c2sp.org/tlog-checkpoint).
//
// The three mandatory lines are parsed by transparency-dev/formats, which
// is lenient (it accepts leading zeroes in the size and non-canonical
// base64). The witness then re-encodes the checkpoint from the parsed
// fields and requires the result to equal the text it received, so there
// is exactly one accepted encoding of every checkpoint and the witness
// signs only what it parsed. Extension lines are kept and must be
// non-empty. Errors wrap [ErrMalformed].
func parseCheckpoint(text string) (*checkpoint, error) {
	c := &checkpoint{}
	rest, err := c.Unmarshal([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("%w: checkpoint: %w", ErrMalformed, err)
	}
	if len(c.Hash) != hashSize {
		return nil, fmt.Errorf("%w: checkpoint root hash is %d bytes, not %d", ErrMalformed, len(c.Hash), hashSize)
	}
	if c.Size > maxTreeSize {
		return nil, fmt.Errorf("%w: checkpoint size %d is larger than the largest supported tree size", ErrMalformed, c.Size)
	}
	c.Extensions = string(rest)
	if c.Extensions != "" && (strings.HasPrefix(c.Extensions, "\n") || strings.Contains(c.Extensions, "\n\n")) {
		return nil, fmt.Errorf("%w: checkpoint has an empty extension line", ErrMalformed)
	}
	if c.text() != text {
		return nil, fmt.Errorf("%w: checkpoint is not canonically encoded", ErrMalformed)
	}
	return c, nil
}

// openNote checks that msg is a well-formed signed note and returns its
// text, without verifying any signature.
func openNote(msg []byte) (string, error) {
	_, err := note.Open(msg, note.VerifierList())
	var unverified *note.UnverifiedNoteError
	if !errors.As(err, &unverified) {
		// With no known keys, a well-formed note always fails as unverified.
		return "", fmt.Errorf("%w: checkpoint is not a signed note: %w", ErrMalformed, err)
	}
	return unverified.Note.Text, nil
}

// isEmptyRoot reports whether root is the root hash of the empty tree.
func isEmptyRoot(root []byte) bool {
	return bytes.Equal(root, emptyRoot)
}
