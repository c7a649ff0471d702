package bundle

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/credlog/credlog/log/credential"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/state"
	"github.com/credlog/credlog/log/tlogproof"
	"github.com/credlog/credlog/log/vmap"
	"github.com/credlog/credlog/log/witnessclient/policy"
)

// Failure classes of Verify. Every error Verify returns wraps exactly one
// of them.
var (
	// ErrMalformed: the bundle, or one of its parts, does not parse.
	ErrMalformed = errors.New("bundle: malformed")
	// ErrSignature: the certificate or the issue event is not signed by
	// the issuer's key, or names another issuer.
	ErrSignature = errors.New("bundle: not signed by the issuer")
	// ErrLabel: the certificate's VRF proof does not verify under the
	// issuer's VRF key, or maps its ID number to another subject label
	// than the logged issue event's.
	ErrLabel = errors.New("bundle: subject label does not match")
	// ErrNotLogged: the issue event is not for this certificate, or its
	// tlog-proof does not verify under a log key of the policy.
	ErrNotLogged = errors.New("bundle: credential is not logged")
	// ErrQuorum: a checkpoint lacks the policy's witness quorum.
	ErrQuorum = errors.New("bundle: witness quorum not met")
	// ErrStatusProof: the status proof (map-root entry, its tlog-proof,
	// the map proof) does not verify.
	ErrStatusProof = errors.New("bundle: status proof does not verify")
	// ErrNotActive: the status proof verifies and shows the credential
	// suspended, revoked or superseded.
	ErrNotActive = errors.New("bundle: credential is not active")
	// ErrStale: the status proof is older than the freshness bound.
	ErrStale = errors.New("bundle: status proof is stale")
)

// IssuerKeys are the keys of the credential's issuer that a relying party
// trusts.
type IssuerKeys struct {
	// Name is the issuer's name.
	Name string
	// PublicKey is the issuer's Ed25519 signing key.
	PublicKey ed25519.PublicKey
	// VRFKey is the issuer's ECVRF public key.
	VRFKey []byte
}

// Result is what a verified bundle shows.
type Result struct {
	// Credential is the parsed certificate.
	Credential *credential.Credential
	// Label is the credential's subject label.
	Label entry.Hash
	// Origin is the log's origin.
	Origin string
	// IssueIndex is the index of the issue event in the log.
	IssueIndex uint64
	// MapRootIndex is the index of the map-root entry of the status proof.
	MapRootIndex uint64
	// MapRootTime is the time of that entry.
	MapRootTime time.Time
	// Status is the credential's map value.
	Status *vmap.CredentialValue
}

func fail(class error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", class, fmt.Sprintf(format, args...))
}

// Verify checks b against the policy pol, the issuer's keys and a
// freshness bound: that the certificate is signed by the issuer; that its
// VRF proof maps its ID number to the subject label of the logged issue
// event; that the issue event names the certificate's hash and is signed
// by the issuer; that the issue entry is in a checkpoint signed by a log
// of pol and cosigned by pol's witness quorum; that the map-root entry is
// too, in the same log; that the map proof shows the credential active
// under that entry's map root, with the issue event at the index proven;
// that the map-root entry is at most maxAge older than now; and that now
// is within the certificate's validity window.
//
// Each failure wraps one of the Err* classes of this package.
func Verify(b *Bundle, pol *policy.Policy, ik IssuerKeys, now time.Time, maxAge time.Duration) (*Result, error) {
	p, err := b.parse()
	if err != nil {
		return nil, err
	}
	cred, issue := p.cred, p.issue

	if cred.Issuer != ik.Name {
		return nil, fail(ErrSignature, "certificate is issued by %q, not %q", cred.Issuer, ik.Name)
	}
	if err := cred.CheckSignature(ik.PublicKey); err != nil {
		return nil, fail(ErrSignature, "certificate: %v", err)
	}
	if issue.Issuer != ik.Name {
		return nil, fail(ErrSignature, "issue event is by issuer %q, not %q", issue.Issuer, ik.Name)
	}
	if issue.KeyID != keys.KeyID(ik.Name, ik.PublicKey) {
		return nil, fail(ErrSignature, "issue event is signed by key ID %08x, not the issuer key's", issue.KeyID)
	}
	if err := issue.VerifySignature(ik.PublicKey); err != nil {
		return nil, fail(ErrSignature, "issue event: %v", err)
	}
	if issue.Credential != credential.ID(b.Certificate) {
		return nil, fail(ErrNotLogged, "the issue event is for credential %x, not this certificate (%x)", issue.Credential, cred.ID)
	}
	label, err := cred.Label(ik.VRFKey)
	if err != nil {
		return nil, fail(ErrLabel, "%v", err)
	}
	if label != issue.Subject {
		return nil, fail(ErrLabel, "the certificate's VRF proof gives label %x, the logged issue event names %x", label, issue.Subject)
	}

	log, err := checkProof(pol, p.issueProof, b.IssueEntry, ErrNotLogged, "issue event")
	if err != nil {
		return nil, err
	}
	mlog, err := checkProof(pol, p.mapRootProof, b.MapRootEntry, ErrStatusProof, "map-root entry")
	if err != nil {
		return nil, err
	}
	origin := log.Verifier.Name()
	if mlog != log {
		return nil, fail(ErrStatusProof, "map-root entry is in log %q, the issue event in %q", mlog.Verifier.Name(), origin)
	}
	mr := p.mapRoot
	if mr.Issuer != origin {
		return nil, fail(ErrStatusProof, "map-root entry names log %q, not %q", mr.Issuer, origin)
	}
	if len(log.Key) == 1+ed25519.PublicKeySize && log.Key[0] == 0x01 {
		if err := mr.VerifySignature(ed25519.PublicKey(log.Key[1:])); err != nil {
			return nil, fail(ErrStatusProof, "map-root entry: %v", err)
		}
	}

	cv, err := vmap.VerifyCredentialStatus(mr.MapRoot, ik.Name, issue.Credential, state.StatusActive, b.MapValue, b.MapProof)
	if err != nil {
		cv, err2 := vmap.VerifyCredential(mr.MapRoot, ik.Name, issue.Credential, b.MapValue, b.MapProof)
		if err2 != nil {
			return nil, fail(ErrStatusProof, "map proof: %v", err2)
		}
		if cv.Status != state.StatusActive {
			return nil, fail(ErrNotActive, "credential is %v as of map-root entry %d", cv.Status, p.mapRootProof.Index)
		}
		return nil, fail(ErrStatusProof, "map proof: %v", err)
	}
	if cv.IssueIndex != p.issueProof.Index {
		return nil, fail(ErrStatusProof, "the map names issue event %d, the bundle's is at %d", cv.IssueIndex, p.issueProof.Index)
	}
	t := time.Unix(int64(mr.Time), 0)
	if age := now.Sub(t); age > maxAge {
		return nil, fail(ErrStale, "status proof is from %s, %s old; the bound is %s", t.UTC().Format(time.RFC3339), age.Truncate(time.Second), maxAge)
	}
	if c := cred.Certificate; now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return nil, fail(ErrNotActive, "certificate is valid from %s to %s, not at %s",
			c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return &Result{
		Credential:   cred,
		Label:        label,
		Origin:       origin,
		IssueIndex:   p.issueProof.Index,
		MapRootIndex: p.mapRootProof.Index,
		MapRootTime:  t,
		Status:       cv,
	}, nil
}

// checkProof verifies a tlog-proof of e under the log of pol named by the
// proof's checkpoint, and pol's witness quorum on that checkpoint. It
// returns the log. Proof failures wrap class; quorum failures ErrQuorum.
func checkProof(pol *policy.Policy, p *tlogproof.Proof, e []byte, class error, what string) (*policy.Log, error) {
	origin, _, _ := cutLine(p.Checkpoint)
	log := pol.LogByOrigin(origin)
	if log == nil {
		return nil, fail(class, "%s: checkpoint is of log %q, which the policy does not name", what, origin)
	}
	_, n, err := p.Verify(e, origin, log.Verifier, pol.WitnessVerifiers()...)
	if err != nil {
		return nil, fail(class, "%s: %v", what, err)
	}
	cosigned := pol.Cosigners(n)
	if !pol.Satisfied(cosigned) {
		return nil, fail(ErrQuorum, "%s: checkpoint is cosigned by %d witnesses of the policy, short of quorum %q", what, len(cosigned), pol.Quorum)
	}
	return log, nil
}

// cutLine returns the first line of b.
func cutLine(b []byte) (string, []byte, bool) {
	for i, c := range b {
		if c == '\n' {
			return string(b[:i]), b[i+1:], true
		}
	}
	return string(b), nil, false
}
