package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// Implementation limits.
const (
	// MaxSize is the largest policy file accepted, in bytes.
	MaxSize = 1 << 20
	// MaxLogs, MaxWitnesses and MaxGroups bound the definitions.
	MaxLogs      = 256
	MaxWitnesses = 256
	MaxGroups    = 256
)

// Signature type bytes of c2sp.org/signed-note keys.
const (
	algEd25519      = 0x01
	algECDSA        = 0x02
	algCosigEd25519 = 0x04
	algRFC6962STH   = 0x05
	algCosigMLDSA44 = 0x06
	keyIDHexDigits  = 8
	ed25519Size     = 32   // bytes of an Ed25519 public key
	mldsa44Size     = 1312 // bytes of an ML-DSA-44 public key
)

// parser holds the state of one Parse.
type parser struct {
	p       *Policy
	line    int
	defined map[string]int // witness and group names → line
	quorum  int            // line of the quorum definition, 0 if none yet
}

// Parse parses a c2sp.org/tlog-policy file strictly. Errors are [*Error]
// values naming the line and what is wrong with it.
func Parse(data []byte) (*Policy, error) {
	if len(data) > MaxSize {
		return nil, &Error{Msg: fmt.Sprintf("file is %d bytes, larger than the limit of %d", len(data), MaxSize)}
	}
	ps := &parser{
		p:       &Policy{witnesses: map[string]*Witness{}, groups: map[string]*Group{}},
		defined: map[string]int{},
	}
	lines := bytes.Split(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1] // the newline ending the last line
	}
	for i, l := range lines {
		ps.line = i + 1
		if err := ps.parseLine(l); err != nil {
			return nil, err
		}
	}
	if ps.quorum == 0 {
		return nil, &Error{Msg: "no quorum line (use \"quorum none\" to require no cosignature)"}
	}
	return ps.p, nil
}

func (ps *parser) errorf(format string, args ...any) error {
	return &Error{Line: ps.line, Msg: fmt.Sprintf(format, args...)}
}

func (ps *parser) parseLine(l []byte) error {
	for _, c := range l {
		if c < 0x20 && c != '\t' || c == 0x7f {
			if c == '\r' {
				return ps.errorf("carriage return (0x0d): lines must end in a bare newline")
			}
			return ps.errorf("control character 0x%02x", c)
		}
	}
	fields := strings.FieldsFunc(string(l), func(r rune) bool { return r == ' ' || r == '\t' })
	if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
		return nil
	}
	switch fields[0] {
	case "log":
		return ps.parseLog(fields[1:])
	case "witness":
		return ps.parseWitness(fields[1:])
	case "group":
		return ps.parseGroup(fields[1:])
	case "quorum":
		return ps.parseQuorum(fields[1:])
	default:
		return ps.errorf("unknown keyword %q (want log, witness, group or quorum)", fields[0])
	}
}

// parseLog parses "log <vkey> [<url>]".
func (ps *parser) parseLog(f []string) error {
	if len(f) < 1 || len(f) > 2 {
		return ps.errorf("log line has %d fields after \"log\", want <vkey> [<url>]", len(f))
	}
	if len(ps.p.Logs) == MaxLogs {
		return ps.errorf("more than %d logs", MaxLogs)
	}
	v, key, err := parseLogKey(f[0])
	if err != nil {
		return ps.errorf("log key %q: %v", f[0], err)
	}
	for _, o := range ps.p.Logs {
		if bytes.Equal(o.Key[1:], key[1:]) {
			return ps.errorf("duplicate log: same public key as the log on line %d", o.Line)
		}
	}
	l := &Log{VKey: f[0], Key: key, Verifier: v, Line: ps.line}
	if len(f) == 2 {
		if l.URL, err = parseURL(f[1]); err != nil {
			return ps.errorf("log URL %q: %v", f[1], err)
		}
	}
	ps.p.Logs = append(ps.p.Logs, l)
	return nil
}

// parseWitness parses "witness <name> <vkey> [<url>]".
func (ps *parser) parseWitness(f []string) error {
	if len(f) < 2 || len(f) > 3 {
		return ps.errorf("witness line has %d fields after \"witness\", want <name> <vkey> [<url>]", len(f))
	}
	if len(ps.p.Witnesses) == MaxWitnesses {
		return ps.errorf("more than %d witnesses", MaxWitnesses)
	}
	if err := ps.define(f[0]); err != nil {
		return err
	}
	v, key, err := parseWitnessKey(f[1])
	if err != nil {
		return ps.errorf("witness %q key %q: %v", f[0], f[1], err)
	}
	for _, o := range ps.p.Witnesses {
		if bytes.Equal(o.Key[1:], key[1:]) {
			return ps.errorf("duplicate witness: %q has the same public key as %q on line %d", f[0], o.Name, o.Line)
		}
	}
	w := &Witness{Name: f[0], VKey: f[1], Key: key, Verifier: v, Line: ps.line}
	if len(f) == 3 {
		if w.URL, err = parseURL(f[2]); err != nil {
			return ps.errorf("witness %q URL %q: %v", f[0], f[2], err)
		}
	}
	ps.p.Witnesses = append(ps.p.Witnesses, w)
	ps.p.witnesses[w.Name] = w
	return nil
}

// parseGroup parses "group <name> <all|any|k> <member>...".
func (ps *parser) parseGroup(f []string) error {
	if len(f) < 3 {
		return ps.errorf("group line has %d fields after \"group\", want <name> <all|any|k> <member>...", len(f))
	}
	if len(ps.p.Groups) == MaxGroups {
		return ps.errorf("more than %d groups", MaxGroups)
	}
	name, k, members := f[0], f[1], f[2:]
	if err := ps.define(name); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, m := range members {
		switch {
		case m == None:
			return ps.errorf("group %q: %q cannot be a group member", name, None)
		case m == name:
			return ps.errorf("group %q lists itself as a member", name)
		case ps.defined[m] == 0:
			return ps.errorf("group %q: member %q is not defined on a preceding line", name, m)
		case seen[m]:
			return ps.errorf("group %q lists member %q twice", name, m)
		}
		seen[m] = true
	}
	g := &Group{Name: name, Members: members, Line: ps.line}
	switch k {
	case "all":
		g.Threshold = len(members)
	case "any":
		g.Threshold = 1
	default:
		if !isDecimal(k) {
			return ps.errorf("group %q: threshold %q is not all, any or a decimal number without leading zeroes", name, k)
		}
		n, err := strconv.Atoi(k)
		if err != nil || n < 1 || n > len(members) {
			return ps.errorf("group %q: threshold %s is not between 1 and the number of members, %d", name, k, len(members))
		}
		g.Threshold = n
	}
	ps.p.Groups = append(ps.p.Groups, g)
	ps.p.groups[name] = g
	return nil
}

// isDecimal reports whether s is ASCII digits with no leading zero.
func isDecimal(s string) bool {
	if s == "" || s[0] == '0' && len(s) > 1 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseQuorum parses "quorum <name>".
func (ps *parser) parseQuorum(f []string) error {
	if len(f) != 1 {
		return ps.errorf("quorum line has %d fields after \"quorum\", want <name>", len(f))
	}
	if ps.quorum != 0 {
		return ps.errorf("second quorum line (the first is on line %d)", ps.quorum)
	}
	if f[0] != None && ps.defined[f[0]] == 0 {
		return ps.errorf("quorum %q is not defined on a preceding line", f[0])
	}
	ps.quorum = ps.line
	ps.p.Quorum = f[0]
	return nil
}

// define records a witness or group name.
func (ps *parser) define(name string) error {
	if name == None {
		return ps.errorf("%q is predefined and cannot name a witness or group", None)
	}
	if l := ps.defined[name]; l != 0 {
		return ps.errorf("name %q is already defined on line %d", name, l)
	}
	ps.defined[name] = ps.line
	return nil
}

// splitVKey splits a vkey "<name>+<key ID>+<base64 key>" and decodes it.
func splitVKey(vkey string) (name string, id uint32, key []byte, err error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	hexID, b64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || name == "" {
		return "", 0, nil, errors.New("not of the form <name>+<key ID>+<base64 key>")
	}
	n, err := strconv.ParseUint(hexID, 16, 32)
	if err != nil || len(hexID) != keyIDHexDigits {
		return "", 0, nil, fmt.Errorf("key ID %q is not %d hex digits", hexID, keyIDHexDigits)
	}
	key, err = base64.StdEncoding.DecodeString(b64)
	if err != nil || base64.StdEncoding.EncodeToString(key) != b64 {
		return "", 0, nil, errors.New("key is not canonical base64")
	}
	if len(key) < 2 {
		return "", 0, nil, fmt.Errorf("key is %d bytes, too short", len(key))
	}
	return name, uint32(n), key, nil
}

// parseWitnessKey parses a cosignature/v1 verifier key (type 0x04 or 0x06)
// and checks its key ID.
func parseWitnessKey(vkey string) (note.Verifier, []byte, error) {
	_, id, key, err := splitVKey(vkey)
	if err != nil {
		return nil, nil, err
	}
	switch key[0] {
	case algCosigEd25519:
		if len(key) != 1+ed25519Size {
			return nil, nil, fmt.Errorf("Ed25519 public key is %d bytes, want %d", len(key)-1, ed25519Size)
		}
	case algCosigMLDSA44:
		if len(key) != 1+mldsa44Size {
			return nil, nil, fmt.Errorf("ML-DSA-44 public key is %d bytes, want %d", len(key)-1, mldsa44Size)
		}
	case algEd25519:
		return nil, nil, errors.New("signature type 0x01 is a plain Ed25519 note key; a witness key is a cosignature/v1 key, type 0x04 (Ed25519) or 0x06 (ML-DSA-44)")
	default:
		return nil, nil, fmt.Errorf("signature type 0x%02x is not a cosignature/v1 key type (0x04 Ed25519, 0x06 ML-DSA-44)", key[0])
	}
	v, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		return nil, nil, err
	}
	if v.KeyHash() != id {
		return nil, nil, fmt.Errorf("key ID %08x does not match the key (want %08x)", id, v.KeyHash())
	}
	return v, key, nil
}

// parseLogKey parses a log's checkpoint verifier key (type 0x01, 0x02 or
// 0x05) and checks its key ID.
func parseLogKey(vkey string) (note.Verifier, []byte, error) {
	name, id, key, err := splitVKey(vkey)
	if err != nil {
		return nil, nil, err
	}
	var v note.Verifier
	switch key[0] {
	case algEd25519:
		if len(key) != 1+ed25519Size {
			return nil, nil, fmt.Errorf("Ed25519 public key is %d bytes, want %d", len(key)-1, ed25519Size)
		}
		// note.NewVerifier checks the key ID too, with a vaguer error.
		if want := ed25519KeyID(name, key); id != want {
			return nil, nil, fmt.Errorf("key ID %08x does not match the key (want %08x)", id, want)
		}
		v, err = note.NewVerifier(vkey)
	case algECDSA, algRFC6962STH:
		v, err = fnote.NewVerifier(vkey)
	case algCosigEd25519, algCosigMLDSA44:
		return nil, nil, fmt.Errorf("signature type 0x%02x is a witness cosignature key, not a log key", key[0])
	default:
		return nil, nil, fmt.Errorf("signature type 0x%02x is not a supported log key type (0x01 Ed25519, 0x02 ECDSA, 0x05 RFC 6962)", key[0])
	}
	if err != nil {
		return nil, nil, err
	}
	if v.KeyHash() != id {
		return nil, nil, fmt.Errorf("key ID %08x does not match the key (want %08x)", id, v.KeyHash())
	}
	return v, key, nil
}

// ed25519KeyID is the signed-note key ID of an Ed25519 key: the first four
// bytes of SHA-256(name || "\n" || 0x01 || public key).
func ed25519KeyID(name string, key []byte) uint32 {
	h := sha256.Sum256(append([]byte(name+"\n"), key...))
	return binary.BigEndian.Uint32(h[:4])
}

// parseURL checks that s is an absolute http or https URL.
func parseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", errors.New("not an absolute http or https URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("URL has user info, a query or a fragment")
	}
	return s, nil
}
