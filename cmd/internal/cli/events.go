package cli

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
)

// Suffixes of the files written for a signed event.
const (
	eventSuffix    = ".event"     // the raw entry bytes: the body of POST /events
	eventB64Suffix = ".event.b64" // the same, standard base64 and a newline
)

// eventTime returns the event time: flagTime if set, else now rounded down
// to the minute (event times are coarse on purpose).
func eventTime(e *env, flagTime uint64) uint64 {
	if flagTime != 0 {
		return flagTime
	}
	return uint64(e.now().Truncate(time.Minute).Unix())
}

// signEvent sets ev's issuer and key ID to the signer's and signs it, and
// returns its encoding.
func signEvent(ev *entry.Event, s *keys.Signer) ([]byte, error) {
	ev.Issuer = s.Name()
	ev.KeyID = s.KeyID()
	if err := ev.Sign(s.PrivateKey()); err != nil {
		return nil, fmt.Errorf("couldn't sign %s event: %w", ev.Type, err)
	}
	b, err := ev.Marshal()
	if err != nil {
		return nil, fmt.Errorf("couldn't encode %s event: %w", ev.Type, err)
	}
	return b, nil
}

// writeEvent signs ev with s and writes it to PREFIX.event (the raw entry
// bytes: the body that the log's POST /events takes) and PREFIX.event.b64
// (the same in standard base64), after files, all or none. It then prints
// the event's fields and the files it wrote.
func writeEvent(e *env, ev *entry.Event, s *keys.Signer, prefix string, files ...output) error {
	raw, err := signEvent(ev, s)
	if err != nil {
		return err
	}
	b64 := base64.StdEncoding.EncodeToString(raw) + "\n"
	files = append(files,
		output{path: prefix + eventSuffix, data: raw, mode: 0o644},
		output{path: prefix + eventB64Suffix, data: []byte(b64), mode: 0o644})
	if err := writeOutputs(files); err != nil {
		return err
	}
	printEvent(e.stdout, ev, len(raw))
	printWritten(e.stdout, files)
	return nil
}

// parseHashFlag parses a 32-byte value given in hex to flag name.
func parseHashFlag(name, s string) (entry.Hash, error) {
	var h entry.Hash
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != len(h) {
		return h, usagef("-%s must be %d bytes in hex (%d hex digits), got %q", name, len(h), 2*len(h), s)
	}
	copy(h[:], b)
	return h, nil
}

// requireFlags returns a usage error naming the first required flag that
// is empty; pairs are name, value.
func requireFlags(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return usagef("-%s is required", pairs[i])
		}
	}
	return nil
}

// noArgs returns a usage error if a command that takes no arguments got
// some.
func noArgs(args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}
