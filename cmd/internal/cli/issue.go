package cli

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/credlog/credlog/log/credential"
	"github.com/credlog/credlog/log/entry"
)

const issueSynopsis = "-key K.key -vrf-key K.vrf.key -id-number N [-name NAME] [-holder-key H.pub] [-not-before T] [-validity D] [-out PREFIX] [-time UNIX]"

const issueFiles = `
It writes PREFIX.cert.der (the credential, for the holder: it carries the
VRF proof of the subject label in an extension), PREFIX.event (the signed
event: the raw entry bytes, the body of the log's POST /events) and
PREFIX.event.b64 (the same in standard base64), refusing to overwrite any
of them. Without -holder-key it generates the holder's Ed25519 key pair as
PREFIX.holder.key (PKCS #8 PEM, mode 0600) and PREFIX.holder.pub (PKIX PEM).
Without -out, PREFIX is "cred-" and the first 16 hex digits of the
credential ID, in the current directory.

The event time is now, rounded down to the minute, unless -time is given;
so is the start of the validity window unless -not-before is given.`

var issueCommand = &command{
	name:     "issuer issue",
	synopsis: issueSynopsis + " [-version V]",
	summary:  "issue a credential and sign its issue event",
	doc: `
Issue makes the X.509 credential of the holder of online ID number N,
carrying the VRF proof of its subject label, and signs the issue event
that records it (its credential ID and subject label, never the number).
` + issueFiles,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		o := issueFlags(fs)
		o.version = 1
		fs.Var(&o.version, "version", "subject `version`: 1 for a subject's first credential, or one more than its last")
		return o.run
	},
}

var reissueCommand = &command{
	name:     "issuer reissue",
	synopsis: issueSynopsis + " -supersedes C -version V",
	summary:  "issue a credential that supersedes a subject's current one",
	doc: `
Reissue is issue for a subject that already holds a credential: the new
issue event names the credential it supersedes (which ends it) and the
subject's next version, 2 or more.
` + issueFiles,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		o := issueFlags(fs)
		o.reissue = true
		fs.StringVar(&o.supersedes, "supersedes", "", "the superseded `credential`: its ID in hex, or its certificate file")
		fs.Var(&o.version, "version", "subject `version`, 2 or more: one more than the superseded credential's (required)")
		return o.run
	},
}

// uint32Flag is a flag.Value for a uint32.
type uint32Flag uint32

// String implements flag.Value.
func (v *uint32Flag) String() string { return strconv.FormatUint(uint64(*v), 10) }

// Set implements flag.Value.
func (v *uint32Flag) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return fmt.Errorf("not a number from 0 to %d", uint32(math.MaxUint32))
	}
	*v = uint32Flag(n)
	return nil
}

// issueOptions holds the flags of issue and reissue.
type issueOptions struct {
	reissue    bool
	key        string
	vrfKey     string
	idNumber   string
	name       string
	holderKey  string
	notBefore  string
	validity   time.Duration
	version    uint32Flag
	supersedes string
	out        string
	time       uint64
}

// issueFlags declares the flags that issue and reissue share.
func issueFlags(fs *flag.FlagSet) *issueOptions {
	o := &issueOptions{}
	fs.StringVar(&o.key, "key", "", "issuer signing key `file` (NAME.key, mode 0600)")
	fs.StringVar(&o.vrfKey, "vrf-key", "", "issuer VRF key `file` (NAME.vrf.key, mode 0600)")
	fs.StringVar(&o.idNumber, "id-number", "", "the holder's online ID `number` (in the credential only, never in the log)")
	fs.StringVar(&o.name, "name", "", "the holder's `name`, optional (in the credential only)")
	fs.StringVar(&o.holderKey, "holder-key", "", "the holder's Ed25519 public key `file` (PEM PUBLIC KEY or verifier key); default: generate a pair")
	fs.StringVar(&o.notBefore, "not-before", "now", "start of the validity window: `RFC3339` time, or now")
	fs.DurationVar(&o.validity, "validity", 8760*time.Hour, "length of the validity window")
	fs.StringVar(&o.out, "out", "", "output file `prefix` (default cred-<credential ID prefix>)")
	fs.Uint64Var(&o.time, "time", 0, "event time in Unix `seconds` (default now, rounded down to the minute)")
	return o
}

// run issues the credential and writes it with its signed issue event.
func (o *issueOptions) run(e *env, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	if err := requireFlags("key", o.key, "vrf-key", o.vrfKey, "id-number", o.idNumber); err != nil {
		return err
	}
	if err := checkIDNumber(o.idNumber); err != nil {
		return err
	}
	if o.reissue {
		if err := requireFlags("supersedes", o.supersedes); err != nil {
			return err
		}
		if o.version < 2 {
			return usagef("-version is required and must be 2 or more for a reissue")
		}
	}
	if o.version == 0 {
		return usagef("-version must be 1 or more")
	}
	evTime := eventTime(e, o.time)
	nb, err := o.validityStart(e)
	if err != nil {
		return err
	}
	if o.validity < time.Second {
		return usagef("-validity must be at least 1s, got %v", o.validity)
	}
	na := nb.Add(o.validity.Truncate(time.Second))

	signer, err := readSigner(o.key)
	if err != nil {
		return err
	}
	vrfName, vrfKey, err := readVRFPrivate(o.vrfKey)
	if err != nil {
		return err
	}
	if vrfName != signer.Name() {
		return fmt.Errorf("VRF key %s is named %q, but the signing key %s is issuer %q", o.vrfKey, vrfName, o.key, signer.Name())
	}
	var supersedes *entry.Hash
	if o.reissue {
		h, err := o.superseded(signer.Name())
		if err != nil {
			return err
		}
		supersedes = &h
	}

	holderPub, holderPriv, err := o.holder()
	if err != nil {
		return err
	}
	tmpl := &credential.Template{IDNumber: o.idNumber, Name: o.name, HolderKey: holderPub, NotBefore: nb, NotAfter: na}
	der, label, err := credential.Issue(tmpl, signer.Name(), signer.PrivateKey(), vrfKey)
	if err != nil {
		return fmt.Errorf("couldn't issue credential: %w", err)
	}
	ev := &entry.Event{
		Type:       entry.TypeIssue,
		Time:       evTime,
		Subject:    label,
		Credential: credential.ID(der),
		NotBefore:  uint64(nb.Unix()),
		NotAfter:   uint64(na.Unix()),
		Version:    uint32(o.version),
		Supersedes: supersedes,
	}
	prefix := o.out
	if prefix == "" {
		prefix = "cred-" + hex.EncodeToString(ev.Credential[:8])
	}
	files := []output{{path: prefix + ".cert.der", data: der, mode: 0o644}}
	if holderPriv != nil {
		priv, pub, err := holderKeyPEM(holderPriv)
		if err != nil {
			return err
		}
		files = append(files,
			output{path: prefix + ".holder.key", data: priv, mode: 0o600},
			output{path: prefix + ".holder.pub", data: pub, mode: 0o644})
	}
	return writeEvent(e, ev, signer, prefix, files...)
}

// checkIDNumber refuses an ID number with surrounding spaces or control
// characters: the subject label is the VRF of the exact bytes, and " 123"
// would label another subject than the "123" that the holder watches.
func checkIDNumber(id string) error {
	if strings.TrimSpace(id) != id || strings.IndexFunc(id, unicode.IsControl) >= 0 || !utf8.ValidString(id) {
		return usagef("-id-number %q has surrounding spaces, control characters or invalid UTF-8", id)
	}
	return nil
}

// validityStart parses -not-before, to whole seconds; "now" is now rounded
// down to the minute, as coarse as the event time.
func (o *issueOptions) validityStart(e *env) (time.Time, error) {
	if o.notBefore == "now" {
		return e.now().Truncate(time.Minute).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, o.notBefore)
	if err != nil {
		return time.Time{}, usagef("-not-before must be an RFC3339 time or now: %v", err)
	}
	if t.Unix() < 0 {
		return time.Time{}, usagef("-not-before %s is before 1970", o.notBefore)
	}
	return t.Truncate(time.Second).UTC(), nil
}

// holder returns the holder's public key, read from -holder-key, or a new
// key pair if -holder-key is not set.
func (o *issueOptions) holder() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	if o.holderKey != "" {
		pub, err := readHolderKey(o.holderKey)
		return pub, nil, err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("couldn't generate holder key: %w", err)
	}
	return pub, priv, nil
}

// superseded returns the ID of the credential named by -supersedes: a
// credential ID in hex, or a certificate file, which must be one of
// issuer's for the same ID number.
func (o *issueOptions) superseded(issuer string) (entry.Hash, error) {
	if b, err := hex.DecodeString(o.supersedes); err == nil && len(b) == entry.HashSize {
		return entry.Hash(b), nil
	}
	c, err := readCredential(o.supersedes)
	if err != nil {
		return entry.Hash{}, fmt.Errorf("-supersedes is not a credential ID in hex: %w", err)
	}
	if c.Issuer != issuer {
		return entry.Hash{}, fmt.Errorf("superseded credential %s was issued by %q, not %q", o.supersedes, c.Issuer, issuer)
	}
	if c.IDNumber != o.idNumber {
		return entry.Hash{}, fmt.Errorf("superseded credential %s is for another ID number than -id-number", o.supersedes)
	}
	return c.ID, nil
}
