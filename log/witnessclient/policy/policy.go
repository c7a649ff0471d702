// Package policy parses transparency log witness policies in the
// c2sp.org/tlog-policy text format (the Sigsum policy format with signed-note
// vkeys): the logs a checkpoint may be signed by, the witnesses that cosign
// it, and the quorum of witnesses whose cosignatures make it valid.
//
//	log example.com/log+8d4bc3ff+AbC... https://example.com/log/
//	witness w1 w1.example+1a2b3c4d+BAbC... https://w1.example/
//	witness w2 w2.example+5e6f7a8b+BDeF... https://w2.example/
//	witness w3 w3.example+9c0d1e2f+BGhI... https://w3.example/
//	group majority 2 w1 w2 w3
//	quorum majority
//
// The package is pure: no I/O, no HTTP. A log uses a [Policy] to know which
// witnesses to ask and when it has enough cosignatures; a relying party
// uses the same file to decide whether a cosigned checkpoint is valid.
//
// # Why a parser of its own
//
// github.com/transparency-dev/formats/witness has a policy parser
// (ParsePolicy), and it was considered first. It does not fit, because it is
// lenient where the specification is strict and the leniency weakens the
// quorum:
//
//   - a group may list the same member twice ("group g 2 w1 w1"), and is
//     then satisfied by one witness's cosignature; the specification says
//     each name may be a member at most once;
//   - several quorum lines are accepted (the last wins), and a quorum may
//     name a group defined after it; the specification wants exactly one,
//     referring to an earlier definition;
//   - thresholds of 0 and groups with no members are accepted; the
//     specification wants 1 <= k <= n;
//   - log lines are ignored, duplicate keys are not detected, declared key
//     IDs are not checked against the keys, "#" starts a comment anywhere
//     on a line, any Unicode space separates fields, and control characters
//     pass;
//   - errors carry no line numbers, and the names of witnesses are lost.
//
// So this package parses the format by hand, following the specification
// text, and leaves the cryptography to libraries: witness keys become
// cosignature/v1 verifiers of github.com/transparency-dev/formats/note, log
// keys become golang.org/x/mod/sumdb/note (Ed25519) or formats/note (ECDSA,
// RFC 6962) verifiers. Parse is fuzzed.
//
// # Decisions
//
//   - A file whose last line lacks its newline is accepted: the text is
//     unambiguous, and editors disagree about final newlines.
//   - A comment is a line whose first non-blank character is "#", as the
//     specification says; "#" after a field is part of the line, so a
//     trailing comment is an error ("too many fields"), never silently
//     dropped.
//   - Witness keys must be cosignature keys, signature type 0x04 (Ed25519
//     cosignature/v1) or 0x06 (ML-DSA-44 cosignature/v1); a plain Ed25519
//     note key (0x01) is refused, not converted, because its key ID would
//     not be the one the witness signs with.
//   - URLs, when present, must be absolute http or https URLs.
//   - Limits: at most 256 logs, 256 witnesses and 256 groups, and files of
//     at most 1 MiB; the specification recommends supporting at least 32
//     of each.
package policy

import (
	"fmt"

	"golang.org/x/mod/sumdb/note"
)

// None is the predefined quorum name that requires no cosignature.
const None = "none"

// Policy is a parsed c2sp.org/tlog-policy file.
type Policy struct {
	// Logs are the logs whose signatures are accepted, in file order.
	Logs []*Log
	// Witnesses are the known witnesses, in file order.
	Witnesses []*Witness
	// Groups are the witness groups, in file order.
	Groups []*Group
	// Quorum is the name of the witness or group whose cosignature makes
	// a checkpoint valid, or [None].
	Quorum string

	witnesses map[string]*Witness
	groups    map[string]*Group
}

// Log is a "log <vkey> [<url>]" line.
type Log struct {
	// VKey is the log's signed-note verifier key, as written. Its name is
	// the log's origin.
	VKey string
	// Key is the key material: the signature type byte and the public key.
	Key []byte
	// Verifier verifies the log's checkpoint signatures.
	Verifier note.Verifier
	// URL is the log's URL, "" if none.
	URL string
	// Line is the line number of the definition.
	Line int
}

// Witness is a "witness <name> <vkey> [<url>]" line.
type Witness struct {
	// Name is the witness's name in this policy (not its key's name).
	Name string
	// VKey is the witness's cosignature verifier key, as written.
	VKey string
	// Key is the key material: the signature type byte and the public key.
	Key []byte
	// Verifier verifies the witness's cosignatures.
	Verifier note.Verifier
	// URL is the witness's submission prefix (c2sp.org/tlog-witness), ""
	// if none.
	URL string
	// Line is the line number of the definition.
	Line int
}

// Group is a "group <name> <all|any|k> <member>..." line.
type Group struct {
	// Name is the group's name.
	Name string
	// Threshold is how many members must have witnessed a checkpoint for
	// the group to have witnessed it: 1 <= Threshold <= len(Members).
	Threshold int
	// Members are the names of witnesses and groups defined earlier,
	// each at most once.
	Members []string
	// Line is the line number of the definition.
	Line int
}

// Error is a policy parsing error.
type Error struct {
	// Line is the 1-based line number, or 0 for an error about the whole
	// file.
	Line int
	// Msg says what is wrong.
	Msg string
}

// Error implements error.
func (e *Error) Error() string {
	if e.Line == 0 {
		return "policy: " + e.Msg
	}
	return fmt.Sprintf("policy: line %d: %s", e.Line, e.Msg)
}

// Witness returns the witness with the given policy name, or nil.
func (p *Policy) Witness(name string) *Witness { return p.witnesses[name] }

// Group returns the group with the given name, or nil.
func (p *Policy) Group(name string) *Group { return p.groups[name] }

// Satisfied reports whether the quorum is met when exactly the witnesses
// named in cosigned (by their policy names) have cosigned a checkpoint.
// The caller must have verified those cosignatures.
func (p *Policy) Satisfied(cosigned map[string]bool) bool {
	if p.Quorum == None {
		return true
	}
	if _, ok := p.witnesses[p.Quorum]; ok {
		return cosigned[p.Quorum]
	}
	// Groups only name earlier definitions: evaluating them in file order
	// sees every member's result before the group's, once.
	witnessed := make(map[string]bool, len(p.Groups))
	for _, g := range p.Groups {
		n := 0
		for _, m := range g.Members {
			if _, ok := p.witnesses[m]; ok && cosigned[m] || witnessed[m] {
				n++
			}
		}
		witnessed[g.Name] = n >= g.Threshold
	}
	return witnessed[p.Quorum]
}
