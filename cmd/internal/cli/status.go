package cli

import (
	"flag"
	"fmt"
	"strings"

	"github.com/credlog/credlog/log/entry"
)

const statusDoc = `
The credential is named by its certificate (-cert), whose subject label is
then taken from the VRF proof it carries, checked under the issuer's VRF
key (-vrf-key or -vrf-pub); or by its credential ID and subject label in
hex (-credential and -subject), as the log shows them.

It writes the signed event to PREFIX.event (the raw entry bytes, the body
of the log's POST /events) and PREFIX.event.b64 (standard base64), refusing
to overwrite them. The event time is now, rounded down to the minute, unless -time is
given.`

var revokeCommand = statusCommand(entry.TypeRevoke, "revoke a credential, for good",
	"Revoke signs the revoke event of a credential. Revocation is terminal: the\nlog takes no further event for the credential.")

var suspendCommand = statusCommand(entry.TypeSuspend, "suspend an active credential",
	"Suspend signs the suspend event of an active credential, which a resume\nevent can lift.")

var resumeCommand = statusCommand(entry.TypeResume, "resume a suspended credential",
	"Resume signs the resume event of a suspended credential.")

// reasonNames lists the reason codes, for the help text.
var reasonNames = func() string {
	var names []string
	for r := entry.Reason(1); r.Valid(); r++ {
		names = append(names, r.String())
	}
	return strings.Join(names, ", ")
}()

// statusCommand returns the command that signs status events of type t
// (revoke, suspend or resume).
func statusCommand(t entry.Type, summary, doc string) *command {
	synopsis := "-key K.key (-cert CERT -vrf-key K.vrf.key|-vrf-pub K.vrf.pub | -credential HEX -subject HEX)"
	if t != entry.TypeResume {
		synopsis += " [-reason R]"
	}
	return &command{
		name:     "issuer " + t.String(),
		synopsis: synopsis + " -out PREFIX [-time UNIX]",
		summary:  summary,
		doc:      doc + "\n" + statusDoc,
		setup: func(fs *flag.FlagSet) func(*env, []string) error {
			o := &statusOptions{typ: t}
			fs.StringVar(&o.key, "key", "", "issuer signing key `file` (NAME.key, mode 0600)")
			fs.StringVar(&o.cert, "cert", "", "the credential's certificate `file` (DER or PEM)")
			fs.StringVar(&o.vrfKey, "vrf-key", "", "issuer VRF key `file` (NAME.vrf.key), to check the label of -cert")
			fs.StringVar(&o.vrfPub, "vrf-pub", "", "issuer VRF public key `file` (NAME.vrf.pub), to check the label of -cert")
			fs.StringVar(&o.credential, "credential", "", "credential ID, in `hex`, instead of -cert")
			fs.StringVar(&o.subject, "subject", "", "subject label, in `hex`, instead of -cert")
			if t != entry.TypeResume {
				fs.StringVar(&o.reason, "reason", "other", "reason `code`: "+reasonNames)
			}
			fs.StringVar(&o.out, "out", "", "output file `prefix` (required)")
			fs.Uint64Var(&o.time, "time", 0, "event time in Unix `seconds` (default now, rounded down to the minute)")
			return o.run
		},
	}
}

// statusOptions holds the flags of revoke, suspend and resume.
type statusOptions struct {
	typ        entry.Type
	key        string
	cert       string
	vrfKey     string
	vrfPub     string
	credential string
	subject    string
	reason     string
	out        string
	time       uint64
}

// run signs and writes the status event that the flags describe.
func (o *statusOptions) run(e *env, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	if err := requireFlags("key", o.key, "out", o.out); err != nil {
		return err
	}
	ev := &entry.Event{Type: o.typ, Time: eventTime(e, o.time)}
	if o.typ != entry.TypeResume {
		r, err := entry.ParseReason(o.reason)
		if err != nil {
			return usagef("-reason %q is not one of %s", o.reason, reasonNames)
		}
		ev.Reason = r
	}
	if o.cert != "" && (o.credential != "" || o.subject != "") {
		return usagef("-cert and -credential/-subject are exclusive")
	}
	if o.cert == "" {
		if o.vrfKey != "" || o.vrfPub != "" {
			return usagef("-vrf-key and -vrf-pub are only used with -cert")
		}
		if err := requireFlags("credential (or -cert)", o.credential, "subject", o.subject); err != nil {
			return err
		}
		var err error
		if ev.Credential, err = parseHashFlag("credential", o.credential); err != nil {
			return err
		}
		if ev.Subject, err = parseHashFlag("subject", o.subject); err != nil {
			return err
		}
	} else if o.vrfKey == "" && o.vrfPub == "" {
		return usagef("-cert needs -vrf-key or -vrf-pub to check the subject label")
	}
	signer, err := readSigner(o.key)
	if err != nil {
		return err
	}
	if o.cert != "" {
		c, err := readCredential(o.cert)
		if err != nil {
			return err
		}
		if c.Issuer != signer.Name() {
			return fmt.Errorf("credential %s was issued by %q, but the signing key %s is issuer %q", o.cert, c.Issuer, o.key, signer.Name())
		}
		pub, err := issuerVRFPublic(signer.Name(), o.vrfKey, o.vrfPub)
		if err != nil {
			return err
		}
		if ev.Subject, err = c.Label(pub); err != nil {
			return fmt.Errorf("couldn't check the subject label of %s: %w", o.cert, err)
		}
		ev.Credential = c.ID
	}
	return writeEvent(e, ev, signer, o.out)
}
