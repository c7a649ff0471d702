package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
)

// maxEntryFile bounds the input of entry show: an entry at its largest
// size in hex, with room for line breaks.
const maxEntryFile = 2*entry.MaxSize + 4096

var entryShowCommand = &command{
	name:     "entry show",
	synopsis: "[-raw|-hex|-base64] [-json] FILE|-",
	summary:  "decode a log entry and print its fields",
	doc: `
Show decodes one log entry (an event) from FILE, or from standard input if
FILE is -, and prints its fields, one "field: value" per line, or as a JSON
object with -json. It checks the encoding strictly, but not the signature:
that needs the issuer's key as the log records it.

The entry is read as raw bytes, unless the input is text, which is then
read as hex if it holds only hex digits, else as standard base64. The
-raw, -hex and -base64 flags force a form.`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		raw := fs.Bool("raw", false, "read the entry as raw bytes")
		hexForm := fs.Bool("hex", false, "read the entry as hex text")
		b64Form := fs.Bool("base64", false, "read the entry as standard base64 text")
		asJSON := fs.Bool("json", false, "print a JSON object")
		return func(e *env, args []string) error {
			if len(args) != 1 {
				return usagef("want one FILE argument (or - for standard input), got %d", len(args))
			}
			form := ""
			for _, f := range []struct {
				set  bool
				name string
			}{{*raw, "raw"}, {*hexForm, "hex"}, {*b64Form, "base64"}} {
				if f.set && form != "" {
					return usagef("-%s and -%s are exclusive", form, f.name)
				}
				if f.set {
					form = f.name
				}
			}
			return entryShow(e, args[0], form, *asJSON)
		}
	},
}

// entryShow reads the entry at path ("-" for stdin) in form (or guessed,
// if empty) and prints its fields.
func entryShow(e *env, path, form string, asJSON bool) error {
	var (
		data []byte
		err  error
	)
	name := path
	if path == "-" {
		name = "standard input"
		data, err = readAllLimit(e.stdin, name, maxEntryFile)
	} else {
		data, err = readFile(path, maxEntryFile)
	}
	if err != nil {
		return fmt.Errorf("couldn't read entry: %w", err)
	}
	b, err := decodeEntryText(data, form)
	if err != nil && form != "" {
		return fmt.Errorf("couldn't decode entry %s: %w", name, err)
	}
	how := ""
	if err != nil {
		// Text that is neither hex nor base64: say what is wrong with it
		// as an entry, which is what it was meant to be.
		b, how = data, fmt.Sprintf(" (read as raw bytes: as text, %v)", err)
	}
	ev, err := entry.Parse(b)
	if err != nil {
		return fmt.Errorf("couldn't parse entry %s%s: %w", name, how, err)
	}
	if asJSON {
		return printEventJSON(e.stdout, ev, len(b))
	}
	printEvent(e.stdout, ev, len(b))
	return nil
}

// decodeEntryText returns the entry bytes in data, read in form ("raw",
// "hex", "base64"), or guessed if form is empty: an entry's first byte is
// its version, 1, so raw entries are never text.
func decodeEntryText(data []byte, form string) ([]byte, error) {
	text := bytes.Join(bytes.Fields(data), nil)
	if form == "" {
		switch {
		case !isText(data):
			form = "raw"
		case isHex(text):
			form = "hex"
		default:
			form = "base64"
		}
	}
	switch form {
	case "hex":
		b := make([]byte, hex.DecodedLen(len(text)))
		if _, err := hex.Decode(b, text); err != nil {
			return nil, fmt.Errorf("bad hex: %w", err)
		}
		return b, nil
	case "base64":
		b := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
		n, err := base64.StdEncoding.Decode(b, text)
		if err != nil {
			return nil, fmt.Errorf("bad base64: %w", err)
		}
		return b[:n], nil
	}
	return data, nil
}

// isText reports whether data is non-empty printable ASCII and whitespace.
func isText(data []byte) bool {
	if len(bytes.TrimSpace(data)) == 0 {
		return false
	}
	for _, c := range data {
		if (c < ' ' || c > '~') && c != '\n' && c != '\r' && c != '\t' {
			return false
		}
	}
	return true
}

// isHex reports whether text is non-empty and all hex digits.
func isHex(text []byte) bool {
	for _, c := range text {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return len(text) > 0
}

// unixTime renders Unix seconds with their UTC date and time.
func unixTime(t uint64) string {
	if t > math.MaxInt64 {
		return fmt.Sprint(t)
	}
	return fmt.Sprintf("%d (%s)", t, time.Unix(int64(t), 0).UTC().Format(time.RFC3339))
}

// isCredentialEvent reports whether events of type t name a credential
// and a subject.
func isCredentialEvent(t entry.Type) bool {
	return t == entry.TypeIssue || t == entry.TypeRevoke || t == entry.TypeSuspend || t == entry.TypeResume
}

// field is one field of an event as entry show prints it: "name: text"
// in text, "name_with_underscores": value in JSON.
type field struct {
	name  string
	text  string
	value any
}

// eventFields returns the fields of ev that its type uses, in the order
// they are printed. Hashes and signatures are hex; the keys of issuer-key
// events are in their verifier-key and VRF-key text forms; times are Unix
// seconds (with their date, in text).
func eventFields(ev *entry.Event, size int) []field {
	str := func(name, s string) field { return field{name, s, s} }
	hexf := func(name string, b []byte) field { return str(name, hex.EncodeToString(b)) }
	timef := func(name string, t uint64) field { return field{name, unixTime(t), t} }
	fs := []field{
		str("type", ev.Type.String()),
		str("issuer", ev.Issuer),
		str("key id", fmt.Sprintf("%08x", ev.KeyID)),
		timef("time", ev.Time),
	}
	if isCredentialEvent(ev.Type) {
		fs = append(fs, hexf("subject", ev.Subject[:]), hexf("credential", ev.Credential[:]))
	}
	switch ev.Type {
	case entry.TypeIssue:
		supersedes := field{"supersedes", "none", nil}
		if ev.Supersedes != nil {
			supersedes = hexf("supersedes", ev.Supersedes[:])
		}
		fs = append(fs,
			timef("not before", ev.NotBefore),
			timef("not after", ev.NotAfter),
			field{"version", fmt.Sprint(ev.Version), ev.Version},
			supersedes,
			hexf("commitment", ev.Commitment[:]))
	case entry.TypeRevoke, entry.TypeSuspend:
		fs = append(fs, str("reason", ev.Reason.String()))
	case entry.TypeIssuerKey:
		fs = append(fs,
			str("public key", keys.VerifierKey(ev.Issuer, ev.PublicKey[:])),
			str("vrf key", keys.VRFPublicKey(ev.Issuer, ev.VRFKey[:])))
	case entry.TypeMapRoot:
		fs = append(fs,
			field{"tree size", fmt.Sprint(ev.TreeSize), ev.TreeSize},
			hexf("map root", ev.MapRoot[:]))
	}
	return append(fs,
		hexf("signature", ev.Signature[:]),
		field{"encoded size", fmt.Sprintf("%d bytes", size), size})
}

// printEvent prints the fields of ev that its type uses, one
// "name: value" per line.
func printEvent(w io.Writer, ev *entry.Event, size int) {
	for _, f := range eventFields(ev, size) {
		fmt.Fprintf(w, "%s: %s\n", f.name, f.text)
	}
}

// printEventJSON prints the fields of ev as an indented JSON object, in
// the order of printEvent, with '_' for the spaces in names.
func printEventJSON(w io.Writer, ev *entry.Event, size int) error {
	var obj bytes.Buffer
	obj.WriteByte('{')
	for i, f := range eventFields(ev, size) {
		if i > 0 {
			obj.WriteByte(',')
		}
		k, err := json.Marshal(strings.ReplaceAll(f.name, " ", "_"))
		if err != nil {
			return err
		}
		v, err := json.Marshal(f.value)
		if err != nil {
			return err
		}
		obj.Write(k)
		obj.WriteByte(':')
		obj.Write(v)
	}
	obj.WriteByte('}')
	var out bytes.Buffer
	if err := json.Indent(&out, obj.Bytes(), "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}
