package cli

import (
	"flag"
	"fmt"

	"github.com/credlog/credlog/log/entry"
)

var rotateKeyCommand = &command{
	name:     "issuer rotate-key",
	synopsis: "-key CURRENT.key -new-key NEW.key -vrf-pub K.vrf.pub -out PREFIX [-time UNIX]",
	summary:  "sign the issuer-key event that moves an issuer to a new signing key",
	doc: `
Rotate-key signs, with the issuer's current key, the issuer-key event that
makes NEW the issuer's signing key. Once the log has taken it, events must
be signed with NEW. The new key must bear the issuer's name: generate it
with credlog issuer keygen -signing-only -name NAME -dir OTHERDIR. The VRF
key cannot change, and the event repeats it. -new-key may be NEW's private
key file or its verifier key file (NAME.vkey), so that NEW may stay
offline.

It writes PREFIX.event (the raw entry bytes, the body of the log's POST
/events) and PREFIX.event.b64 (standard base64), refusing to overwrite
them. The event time is now, rounded down to the minute, unless -time is
given.`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		var key, newKey, vrfPub, out string
		var t uint64
		fs.StringVar(&key, "key", "", "the issuer's current signing key `file` (mode 0600)")
		fs.StringVar(&newKey, "new-key", "", "the issuer's new signing key `file` (private, mode 0600, or .vkey)")
		fs.StringVar(&vrfPub, "vrf-pub", "", "the issuer's VRF public key `file` (NAME.vrf.pub)")
		fs.StringVar(&out, "out", "", "output file `prefix` (required)")
		fs.Uint64Var(&t, "time", 0, "event time in Unix `seconds` (default now, rounded down to the minute)")
		return func(e *env, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if err := requireFlags("key", key, "new-key", newKey, "vrf-pub", vrfPub, "out", out); err != nil {
				return err
			}
			return rotateKey(e, key, newKey, vrfPub, out, t)
		}
	},
}

// rotateKey signs, with the key at keyPath, the issuer-key event that
// moves its issuer to the key at newPath, and writes it under prefix out.
func rotateKey(e *env, keyPath, newPath, vrfPath, out string, t uint64) error {
	signer, err := readSigner(keyPath)
	if err != nil {
		return err
	}
	name, pub, err := readNewKey(newPath)
	if err != nil {
		return err
	}
	if name != signer.Name() {
		return fmt.Errorf("new key %s is named %q, but the current key %s is issuer %q; an issuer keeps its name", newPath, name, keyPath, signer.Name())
	}
	if pub.Equal(signer.Public()) {
		return fmt.Errorf("new key %s is the current key %s", newPath, keyPath)
	}
	vrfKey, err := issuerVRFPublic(signer.Name(), "", vrfPath)
	if err != nil {
		return err
	}
	ev := &entry.Event{Type: entry.TypeIssuerKey, Time: eventTime(e, t)}
	copy(ev.PublicKey[:], pub)
	copy(ev.VRFKey[:], vrfKey)
	return writeEvent(e, ev, signer, out)
}
