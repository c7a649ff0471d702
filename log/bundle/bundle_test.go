package bundle_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/api/apitest"
	"github.com/credlog/credlog/log/bundle"
	"github.com/credlog/credlog/log/credential"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/tlogproof"
	"github.com/credlog/credlog/log/vrf"
	"github.com/credlog/credlog/log/witnessclient/policy"
	"github.com/credlog/credlog/witness"
)

const (
	origin     = "log.example.org/credlog"
	issuerName = "id.example.gov"
	maxAge     = 10 * time.Minute
)

// fixture is a real log (SQLite, sequencer, HTTP API on loopback) with
// one registered issuer.
type fixture struct {
	t      *testing.T
	logKey *keys.Signer
	iss    *keys.Signer
	vrfKey *vrf.PrivateKey
	c      *api.Client
	pol    *policy.Policy
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	running := apitest.Start(t, origin, 20*time.Millisecond)
	logKey, c := running.Signer, running.Client

	iskey, _, err := keys.Generate(issuerName, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	iss, _ := keys.ParseSigner(iskey)
	vk, err := vrf.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, logKey: logKey, iss: iss, vrfKey: vk, c: c}
	f.pol = f.policy("quorum none\n")

	reg := &entry.Event{Type: entry.TypeIssuerKey, Issuer: issuerName, KeyID: logKey.KeyID(), Time: uint64(time.Now().Unix())}
	copy(reg.PublicKey[:], iss.Public())
	copy(reg.VRFKey[:], vk.PublicKey())
	if err := reg.Sign(logKey.PrivateKey()); err != nil {
		t.Fatal(err)
	}
	f.submit(reg, nil)
	return f
}

// policy returns a policy naming the log, followed by rest.
func (f *fixture) policy(rest string) *policy.Policy {
	f.t.Helper()
	p, err := policy.Parse([]byte("log " + f.logKey.VerifierKey() + "\n" + rest))
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// keys returns the issuer's keys, as a relying party has them.
func (f *fixture) keys() bundle.IssuerKeys {
	return bundle.IssuerKeys{Name: issuerName, PublicKey: f.iss.Public(), VRFKey: f.vrfKey.PublicKey()}
}

// submit signs ev with key (the issuer's if nil) unless it is signed,
// and submits it.
func (f *fixture) submit(ev *entry.Event, key *keys.Signer) {
	f.t.Helper()
	if ev.Signature == [entry.SignatureSize]byte{} {
		if key == nil {
			key = f.iss
		}
		ev.Issuer, ev.KeyID = key.Name(), key.KeyID()
		if err := ev.Sign(key.PrivateKey()); err != nil {
			f.t.Fatal(err)
		}
	}
	raw, err := ev.Marshal()
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.c.Submit(context.Background(), raw, false); err != nil {
		f.t.Fatal(err)
	}
}

// credential issues a credential for idNumber; with log set, its issue
// event is logged. It returns the certificate and the issue event.
func (f *fixture) credential(idNumber string, log bool) ([]byte, *entry.Event) {
	f.t.Helper()
	holder, _, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now().Truncate(time.Second)
	tmpl := &credential.Template{IDNumber: idNumber, HolderKey: holder, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)}
	der, label, err := credential.Issue(tmpl, issuerName, f.iss.PrivateKey(), f.vrfKey)
	if err != nil {
		f.t.Fatal(err)
	}
	ev := &entry.Event{
		Type: entry.TypeIssue, Time: uint64(now.Unix()), Subject: label, Credential: credential.ID(der),
		NotBefore: uint64(tmpl.NotBefore.Unix()), NotAfter: uint64(tmpl.NotAfter.Unix()), Version: 1,
	}
	if log {
		f.submit(ev, nil)
	}
	return der, ev
}

// bundle fetches the bundle of der once the log covers it, polling until
// ok (if set) accepts it.
func (f *fixture) bundle(der []byte, ok func(*bundle.Bundle) bool) *bundle.Bundle {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := f.c.Bundle(context.Background(), der, issuerName)
		if err == nil && (ok == nil || ok(b)) {
			return b
		}
		if err != nil && !errors.Is(err, api.ErrNotReady) {
			f.t.Fatal(err)
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("no bundle within the deadline: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *fixture) verify(b *bundle.Bundle) error {
	_, err := bundle.Verify(b, f.pol, f.keys(), time.Now(), maxAge)
	return err
}

func clone(b *bundle.Bundle) *bundle.Bundle {
	c, err := bundle.Parse(b.Marshal())
	if err != nil {
		panic(err)
	}
	return c
}

// TestVerify: a bundle fetched from a real log verifies; each kind of
// wrong bundle fails with its own error class.
func TestVerify(t *testing.T) {
	f := newFixture(t)
	der, ev := f.credential("19700101-0001", true)
	der2, _ := f.credential("19700101-0002", true)
	b := f.bundle(der, nil)
	b2 := f.bundle(der2, nil)

	res, err := bundle.Verify(b, f.pol, f.keys(), time.Now(), maxAge)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if res.Label != ev.Subject || res.Origin != origin || res.MapRootIndex <= res.IssueIndex {
		t.Errorf("Verify: %+v", res)
	}
	if got := clone(b).Marshal(); !bytes.Equal(got, b.Marshal()) {
		t.Errorf("Marshal does not round-trip")
	}

	unlogged, _ := f.credential("19700101-0003", false)
	otherSigner := func() *keys.Signer {
		sk, _, _ := keys.Generate(issuerName, rand.Reader)
		s, _ := keys.ParseSigner(sk)
		return s
	}()
	foreignCert := func() []byte {
		holder, _, _ := ed25519.GenerateKey(rand.Reader)
		now := time.Now()
		der, _, err := credential.Issue(&credential.Template{IDNumber: "19700101-0001", HolderKey: holder, NotBefore: now, NotAfter: now.Add(time.Hour)}, issuerName, otherSigner.PrivateKey(), f.vrfKey)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}()
	resign := func(raw []byte, change func(*entry.Event), key *keys.Signer) []byte {
		e, err := entry.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		change(e)
		e.KeyID = key.KeyID()
		if err := e.Sign(key.PrivateKey()); err != nil {
			t.Fatal(err)
		}
		out, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tamperProof := func(text []byte) []byte {
		p, err := tlogproof.Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		p.Hashes[0][0] ^= 1
		return p.Marshal()
	}

	for _, tc := range []struct {
		name   string
		change func(b *bundle.Bundle)
		want   error
	}{
		{"unlogged certificate", func(b *bundle.Bundle) { b.Certificate = unlogged }, bundle.ErrNotLogged},
		{"other logged certificate", func(b *bundle.Bundle) { b.Certificate = der2 }, bundle.ErrNotLogged},
		{"certificate by another key", func(b *bundle.Bundle) { b.Certificate = foreignCert }, bundle.ErrSignature},
		{"issue entry of another credential", func(b *bundle.Bundle) { b.IssueEntry = b2.IssueEntry }, bundle.ErrNotLogged},
		{"issue entry signed by another key", func(b *bundle.Bundle) {
			b.IssueEntry = resign(b.IssueEntry, func(*entry.Event) {}, otherSigner)
		}, bundle.ErrSignature},
		{"issue entry with another label", func(b *bundle.Bundle) {
			b.IssueEntry = resign(b.IssueEntry, func(e *entry.Event) { e.Subject[0] ^= 1 }, f.iss)
		}, bundle.ErrLabel},
		{"issue entry with another time", func(b *bundle.Bundle) {
			b.IssueEntry = resign(b.IssueEntry, func(e *entry.Event) { e.Time++ }, f.iss)
		}, bundle.ErrNotLogged},
		{"issue proof hash", func(b *bundle.Bundle) { b.IssueProof = tamperProof(b.IssueProof) }, bundle.ErrNotLogged},
		{"issue proof of another entry", func(b *bundle.Bundle) { b.IssueProof = b2.IssueProof }, bundle.ErrNotLogged},
		{"map-root entry", func(b *bundle.Bundle) {
			b.MapRootEntry = resign(b.MapRootEntry, func(e *entry.Event) { e.MapRoot[0] ^= 1 }, f.logKey)
		}, bundle.ErrStatusProof},
		{"map-root proof hash", func(b *bundle.Bundle) { b.MapRootProof = tamperProof(b.MapRootProof) }, bundle.ErrStatusProof},
		{"map-root proof of another entry", func(b *bundle.Bundle) { b.MapRootProof = b.IssueProof }, bundle.ErrStatusProof},
		{"map proof of another credential", func(b *bundle.Bundle) { b.MapProof = b2.MapProof }, bundle.ErrStatusProof},
		{"map value of another credential", func(b *bundle.Bundle) { b.MapValue = b2.MapValue }, bundle.ErrStatusProof},
		{"garbage certificate", func(b *bundle.Bundle) { b.Certificate = []byte{0x30, 0} }, bundle.ErrMalformed},
		{"issue entry is a map-root", func(b *bundle.Bundle) { b.IssueEntry = b.MapRootEntry }, bundle.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := clone(b)
			tc.change(c)
			err := f.verify(c)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v; want %v", err, tc.want)
			}
			// The class survives the encoding, or the parser refuses it.
			_, perr := bundle.Parse(c.Marshal())
			if tc.want == bundle.ErrMalformed {
				if !errors.Is(perr, bundle.ErrMalformed) {
					t.Errorf("Parse: %v; want ErrMalformed", perr)
				}
			} else if perr != nil {
				t.Errorf("Parse: %v", perr)
			}
		})
	}

	t.Run("wrong VRF key", func(t *testing.T) {
		k := f.keys()
		other, _ := vrf.GenerateKey(rand.Reader)
		k.VRFKey = other.PublicKey()
		if _, err := bundle.Verify(b, f.pol, k, time.Now(), maxAge); !errors.Is(err, bundle.ErrLabel) {
			t.Errorf("Verify: %v; want ErrLabel", err)
		}
	})
	t.Run("another issuer's keys", func(t *testing.T) {
		k := f.keys()
		k.Name = "other.example"
		if _, err := bundle.Verify(b, f.pol, k, time.Now(), maxAge); !errors.Is(err, bundle.ErrSignature) {
			t.Errorf("Verify: %v; want ErrSignature", err)
		}
	})
	t.Run("another log", func(t *testing.T) {
		sk, _, _ := keys.Generate("other.example/log", rand.Reader)
		s, _ := keys.ParseSigner(sk)
		pol, err := policy.Parse([]byte("log " + s.VerifierKey() + "\nquorum none\n"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bundle.Verify(b, pol, f.keys(), time.Now(), maxAge); !errors.Is(err, bundle.ErrNotLogged) {
			t.Errorf("Verify: %v; want ErrNotLogged", err)
		}
	})
	t.Run("stale", func(t *testing.T) {
		_, err := bundle.Verify(b, f.pol, f.keys(), time.Now().Add(time.Hour), maxAge)
		if !errors.Is(err, bundle.ErrStale) {
			t.Errorf("Verify an hour later: %v; want ErrStale", err)
		}
	})
	t.Run("not yet valid", func(t *testing.T) {
		c, err := x509.ParseCertificate(b.Certificate)
		if err != nil {
			t.Fatal(err)
		}
		// Before the certificate's window (and so before the status proof,
		// which is not stale then): not active.
		if _, err := bundle.Verify(b, f.pol, f.keys(), c.NotBefore.Add(-time.Minute), maxAge); !errors.Is(err, bundle.ErrNotActive) {
			t.Errorf("Verify before the validity window: %v; want ErrNotActive", err)
		}
	})
	t.Run("quorum", func(t *testing.T) {
		skey, vkey, err := witness.GenerateKey("w1.example")
		if err != nil {
			t.Fatal(err)
		}
		pol := f.policy("witness w1 " + vkey + "\nquorum w1\n")
		if _, err := bundle.Verify(b, pol, f.keys(), time.Now(), maxAge); !errors.Is(err, bundle.ErrQuorum) {
			t.Fatalf("Verify without cosignatures: %v; want ErrQuorum", err)
		}
		cosigner, err := fnote.NewSignerForCosignatureV1(skey)
		if err != nil {
			t.Fatal(err)
		}
		c := clone(b)
		c.IssueProof = cosign(t, c.IssueProof, cosigner)
		if _, err := bundle.Verify(c, pol, f.keys(), time.Now(), maxAge); !errors.Is(err, bundle.ErrQuorum) {
			t.Fatalf("Verify with the issue proof cosigned only: %v; want ErrQuorum", err)
		}
		c.MapRootProof = cosign(t, c.MapRootProof, cosigner)
		if _, err := bundle.Verify(c, pol, f.keys(), time.Now(), maxAge); err != nil {
			t.Fatalf("Verify with both cosigned: %v", err)
		}
	})

	// Revoked: once a map-root entry covers the revocation, a fresh
	// bundle shows it.
	rev := &entry.Event{Type: entry.TypeRevoke, Time: uint64(time.Now().Unix()), Subject: ev.Subject, Credential: ev.Credential, Reason: entry.ReasonHolderRequest}
	f.submit(rev, nil)
	rb := f.bundle(der, func(rb *bundle.Bundle) bool { return errors.Is(f.verify(rb), bundle.ErrNotActive) })
	if err := f.verify(rb); !errors.Is(err, bundle.ErrNotActive) {
		t.Errorf("Verify after revocation: %v; want ErrNotActive", err)
	}
	// The old bundle still verifies: the freshness bound is what limits
	// it.
	if err := f.verify(b); err != nil {
		t.Errorf("Verify of the old bundle: %v", err)
	}
}

// cosign adds a cosignature by s to the checkpoint of a tlog-proof.
func cosign(t *testing.T, proofText []byte, s note.Signer) []byte {
	t.Helper()
	p, err := tlogproof.Parse(proofText)
	if err != nil {
		t.Fatal(err)
	}
	text, _, ok := bytes.Cut(p.Checkpoint, []byte("\n\n"))
	if !ok {
		t.Fatal("checkpoint has no signature block")
	}
	signed, err := note.Sign(&note.Note{Text: string(text) + "\n"}, s)
	if err != nil {
		t.Fatal(err)
	}
	p.Checkpoint = append(bytes.Clone(p.Checkpoint), signed[len(text)+2:]...)
	return p.Marshal()
}

// TestParse: the parser accepts exactly the canonical encoding.
func TestParse(t *testing.T) {
	good := []byte(bundle.Header + "\n")
	for _, n := range []string{"certificate", "issue-entry", "issue-proof", "map-root-entry", "map-root-proof", "map-proof", "map-value"} {
		good = append(good, n+" AA==\n"...)
	}
	for _, bad := range [][]byte{
		nil,
		[]byte(bundle.Header),
		[]byte(bundle.Header + "\n"),
		good[:len(good)-1],
		append(bytes.Clone(good), '\n'),
		bytes.Replace(good, []byte("credlog-bundle/v1"), []byte("credlog-bundle/v2"), 1),
		bytes.Replace(good, []byte("map-proof AA=="), []byte("map-proof AA"), 1),
		bytes.Replace(good, []byte("map-proof AA=="), []byte("map-proof "), 1),
		bytes.Replace(good, []byte("map-proof AA=="), []byte("map-proof  AA=="), 1),
		bytes.Replace(good, []byte("map-proof"), []byte("map-value"), 1),
		bytes.Replace(good, []byte("\n"), []byte("\r\n"), 1),
		good, // every part is a zero byte: none parses
	} {
		if _, err := bundle.Parse(bad); !errors.Is(err, bundle.ErrMalformed) {
			t.Errorf("Parse(%q): %v; want ErrMalformed", bad, err)
		}
	}
}
