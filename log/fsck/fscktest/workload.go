// Package fscktest builds real credlog logs for tests of fsck and of crash
// recovery: issuers with their keys, streams of events that obey the state
// rules, and logs built through the sequencer into SQLite.
package fscktest

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	mrand "math/rand/v2"

	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
)

// T0 is the time of the first generated event (2026-01-01T00:00:00Z) and
// the start of every credential's validity; credentials are valid for
// ten years, so that none expires during a test.
const T0 = 1767225600

// Issuer is an issuer with its signing key and VRF public key.
type Issuer struct {
	Signer *keys.Signer
	VKey   string // signed-note verifier key, "<name>+<id>+<base64>"
	VRFPub string // VRF public key, "VRF+<name>+<base64>"
}

// NewIssuer generates an issuer's keys.
func NewIssuer(name string) (*Issuer, error) {
	skey, vkey, err := keys.Generate(name, rand.Reader)
	if err != nil {
		return nil, err
	}
	s, err := keys.ParseSigner(skey)
	if err != nil {
		return nil, err
	}
	_, vrfPub, err := keys.GenerateVRF(name, rand.Reader)
	if err != nil {
		return nil, err
	}
	return &Issuer{Signer: s, VKey: vkey, VRFPub: vrfPub}, nil
}

// Name returns the issuer's name.
func (i *Issuer) Name() string { return i.Signer.Name() }

// Registration returns the issuer-key event that registers the issuer,
// signed by the log's key.
func (i *Issuer) Registration(logKey *keys.Signer) ([]byte, error) {
	_, vrfPub, err := keys.ParseVRFPublic(i.VRFPub)
	if err != nil {
		return nil, err
	}
	ev := &entry.Event{Type: entry.TypeIssuerKey, Issuer: i.Name(), KeyID: logKey.KeyID(), Time: T0}
	copy(ev.PublicKey[:], i.Signer.Public())
	copy(ev.VRFKey[:], vrfPub)
	if err := ev.Sign(logKey.PrivateKey()); err != nil {
		return nil, err
	}
	return ev.Marshal()
}

// Workload generates events of one issuer that obey the state rules when
// they are logged in the order generated: issues, reissues, suspensions,
// resumptions and revocations of the credentials of its own subjects.
// Workloads with different tags name different subjects and credentials,
// so that several of them can be logged concurrently. A Workload is not
// safe for concurrent use.
type Workload struct {
	iss      *Issuer
	tag      string
	rng      *mrand.Rand
	subjects []*subject
	n        uint64 // events generated
	creds    uint64 // credentials issued
}

// subject is the model of one subject's state.
type subject struct {
	label   entry.Hash
	version uint32
	live    *entry.Hash // live credential, or nil
	active  bool        // whether live is active (or suspended)
}

// Workload returns a workload of i, deterministic given tag and seed.
func (i *Issuer) Workload(tag string, seed uint64) *Workload {
	return &Workload{iss: i, tag: tag, rng: mrand.New(mrand.NewPCG(seed, uint64(len(tag))))}
}

// Next returns the next event, signed.
func (w *Workload) Next() ([]byte, error) {
	w.n++
	ev := &entry.Event{Issuer: w.iss.Name(), KeyID: w.iss.Signer.KeyID(), Time: T0 + w.n}
	if len(w.subjects) == 0 || w.rng.IntN(3) == 0 {
		s := &subject{label: sha256.Sum256(fmt.Appendf(nil, "fscktest subject\x00%s\x00%d", w.tag, len(w.subjects)))}
		w.subjects = append(w.subjects, s)
		w.issue(ev, s)
	} else {
		s := w.subjects[w.rng.IntN(len(w.subjects))]
		switch r := w.rng.IntN(3); {
		case s.live == nil || r == 0:
			w.issue(ev, s) // a new version, superseding the live credential if any
		case r == 1:
			ev.Type, ev.Reason = entry.TypeRevoke, entry.ReasonHolderRequest
			ev.Subject, ev.Credential = s.label, *s.live
			s.live = nil
		case s.active:
			ev.Type, ev.Reason = entry.TypeSuspend, entry.ReasonLegalOrder
			ev.Subject, ev.Credential = s.label, *s.live
			s.active = false
		default:
			ev.Type = entry.TypeResume
			ev.Subject, ev.Credential = s.label, *s.live
			s.active = true
		}
	}
	if err := ev.Sign(w.iss.Signer.PrivateKey()); err != nil {
		return nil, err
	}
	return ev.Marshal()
}

// issue makes ev the issue of s's next credential.
func (w *Workload) issue(ev *entry.Event, s *subject) {
	w.creds++
	id := entry.Hash(sha256.Sum256(fmt.Appendf(nil, "fscktest credential\x00%s\x00%d", w.tag, w.creds)))
	s.version++
	ev.Type, ev.Subject, ev.Credential = entry.TypeIssue, s.label, id
	ev.NotBefore, ev.NotAfter, ev.Version = T0, T0+10*365*86400, s.version
	ev.Supersedes = s.live
	s.live, s.active = &id, true
}
