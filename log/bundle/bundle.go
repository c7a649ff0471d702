// Package bundle reads, writes and verifies credlog credential bundles
// (DESIGN.md §9): what a holder carries and an app checks offline.
//
// A bundle holds a credential certificate, the log entry of its issue
// event with the tlog-proof of that entry, and a status proof: a map-root
// entry with its tlog-proof, and the map proof and value of the
// credential under that entry's map root. [Verify] checks all of it
// against a witness policy (c2sp.org/tlog-policy), the issuer's keys and
// a freshness bound. The encoding is specified in docs/BUNDLE.md.
//
// The issuer's keys are not in the bundle: they are the relying party's
// trust anchors, like the policy, and are given to Verify.
//
// The package is pure: no I/O, no clock of its own.
package bundle

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/credlog/credlog/log/credential"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/tlogproof"
	"github.com/credlog/credlog/log/vmap"
)

// Header is the first line of a version 1 bundle.
const Header = "credlog-bundle/v1"

// MaxSize bounds the size of an encoded bundle.
const MaxSize = 1 << 20

// Bundle is a credential bundle. Its fields are the raw bytes of each
// part; Parse checks that each part parses.
type Bundle struct {
	// Certificate is the credential certificate (DER).
	Certificate []byte
	// IssueEntry is the log entry of the credential's issue event.
	IssueEntry []byte
	// IssueProof is a tlog-proof@v1 of IssueEntry.
	IssueProof []byte
	// MapRootEntry is a map-root entry of the log.
	MapRootEntry []byte
	// MapRootProof is a tlog-proof@v1 of MapRootEntry.
	MapRootProof []byte
	// MapProof is the map proof of the credential's key under the map
	// root of MapRootEntry.
	MapProof []byte
	// MapValue is the credential's map value (docs/MAP.md §3.1).
	MapValue []byte
}

// field names, in the order of the encoding.
var fieldNames = [...]string{
	"certificate",
	"issue-entry",
	"issue-proof",
	"map-root-entry",
	"map-root-proof",
	"map-proof",
	"map-value",
}

func (b *Bundle) fields() [len(fieldNames)]*[]byte {
	return [...]*[]byte{&b.Certificate, &b.IssueEntry, &b.IssueProof, &b.MapRootEntry, &b.MapRootProof, &b.MapProof, &b.MapValue}
}

// Marshal returns the canonical encoding of b: the header line, then one
// line per part, "<name> <standard base64>", in a fixed order, each line
// ending in a newline.
func (b *Bundle) Marshal() []byte {
	var buf bytes.Buffer
	buf.WriteString(Header + "\n")
	for i, f := range b.fields() {
		buf.WriteString(fieldNames[i])
		buf.WriteByte(' ')
		buf.WriteString(base64.StdEncoding.EncodeToString(*f))
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// malformed returns an error wrapping ErrMalformed.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Parse decodes a bundle. It accepts only the encoding Marshal produces,
// and checks that every part parses: the certificate as a credential, the
// entries as log entries of the right types, the tlog-proofs, the map
// proof and the credential value. Every error wraps ErrMalformed.
func Parse(data []byte) (*Bundle, error) {
	if len(data) > MaxSize {
		return nil, malformed("bundle is larger than %d bytes", MaxSize)
	}
	text, ok := bytes.CutSuffix(data, []byte("\n"))
	if !ok {
		return nil, malformed("bundle does not end with a newline")
	}
	lines := strings.Split(string(text), "\n")
	if lines[0] != Header {
		return nil, malformed("first line is not %q", Header)
	}
	lines = lines[1:]
	if len(lines) != len(fieldNames) {
		return nil, malformed("bundle has %d part lines, want %d", len(lines), len(fieldNames))
	}
	b := new(Bundle)
	for i, f := range b.fields() {
		value, ok := strings.CutPrefix(lines[i], fieldNames[i]+" ")
		if !ok {
			return nil, malformed("line %d is not %q", i+2, fieldNames[i])
		}
		v, err := base64.StdEncoding.Strict().DecodeString(value)
		if err != nil || len(v) == 0 {
			return nil, malformed("%s is not non-empty standard base64", fieldNames[i])
		}
		*f = v
	}
	if err := b.check(); err != nil {
		return nil, err
	}
	return b, nil
}

// parsed holds the parts of a bundle, decoded.
type parsed struct {
	cred         *credential.Credential
	issue        *entry.Event
	issueProof   *tlogproof.Proof
	mapRoot      *entry.Event
	mapRootProof *tlogproof.Proof
}

// check reports whether every part of b parses.
func (b *Bundle) check() error {
	_, err := b.parse()
	return err
}

// parse decodes every part of b; errors wrap ErrMalformed.
func (b *Bundle) parse() (*parsed, error) {
	var p parsed
	var err error
	if p.cred, err = credential.Parse(b.Certificate); err != nil {
		return nil, malformed("certificate: %v", err)
	}
	if p.issue, err = entry.Parse(b.IssueEntry); err != nil {
		return nil, malformed("issue entry: %v", err)
	}
	if p.issue.Type != entry.TypeIssue {
		return nil, malformed("issue entry is a %v event", p.issue.Type)
	}
	if p.issueProof, err = parseProof(b.IssueProof); err != nil {
		return nil, malformed("issue proof: %v", err)
	}
	if p.mapRoot, err = entry.Parse(b.MapRootEntry); err != nil {
		return nil, malformed("map-root entry: %v", err)
	}
	if p.mapRoot.Type != entry.TypeMapRoot {
		return nil, malformed("map-root entry is a %v event", p.mapRoot.Type)
	}
	if p.mapRootProof, err = parseProof(b.MapRootProof); err != nil {
		return nil, malformed("map-root proof: %v", err)
	}
	if _, err := vmap.ParseProof(b.MapProof); err != nil {
		return nil, malformed("map proof: %v", err)
	}
	if _, err := vmap.ParseCredentialValue(b.MapValue); err != nil {
		return nil, malformed("map value: %v", err)
	}
	return &p, nil
}

// parseProof parses a tlog-proof and requires its canonical form.
func parseProof(text []byte) (*tlogproof.Proof, error) {
	p, err := tlogproof.Parse(text)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(p.Marshal(), text) {
		return nil, errors.New("not in canonical form")
	}
	return p, nil
}
