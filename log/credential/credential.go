// Package credential makes and reads credlog credentials: X.509
// certificates (Ed25519) whose subject carries the holder's online ID
// number and which carry, in an extension, the ECVRF proof that maps that
// number to the subject label the log records.
//
// The holder keeps the certificate. The log only ever sees its hash (the
// credential ID, [ID]) and the label ([Label]); neither reveals the ID
// number, because the label is a VRF output that only the issuer's VRF key
// can compute and the certificate never leaves the holder and the apps it
// is shown to.
package credential

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/credlog/credlog/log/edsig"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/vrf"
)

// OIDSubjectProof identifies the certificate extension that carries the
// VRF proof of the subject label: an OCTET STRING holding the DER of
// SEQUENCE { version INTEGER (1), proof OCTET STRING (80 bytes) }.
var OIDSubjectProof = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 61072, 1, 1}

// SubjectInputPrefix separates VRF inputs for subject labels from any other
// use of an issuer's VRF key.
const SubjectInputPrefix = "credlog-subject-v1\x00"

// Errors returned by Parse, Label and CheckSignature.
var (
	ErrMalformed = errors.New("credential: malformed certificate")
	ErrLabel     = errors.New("credential: VRF proof does not map the ID number to the label")
	ErrSignature = errors.New("credential: certificate is not signed by the issuer key")
)

// SubjectInput returns the VRF input for an online ID number.
func SubjectInput(idNumber string) []byte {
	return append([]byte(SubjectInputPrefix), idNumber...)
}

// Label returns the subject label of a VRF output: its first 32 bytes.
func Label(beta []byte) entry.Hash {
	var h entry.Hash
	copy(h[:], beta)
	return h
}

// ID returns the credential ID of a certificate: the SHA-256 of its DER.
func ID(der []byte) entry.Hash { return sha256.Sum256(der) }

// Template is what an issuer fills in to issue a credential.
type Template struct {
	IDNumber  string            // online ID number, the subject identifier
	Name      string            // holder's name, optional, shown to apps
	HolderKey ed25519.PublicKey // the holder's key
	NotBefore time.Time
	NotAfter  time.Time
}

type proofExt struct {
	Version int
	Proof   []byte
}

// Issue makes a certificate for t, signed by the issuer's Ed25519 key and
// named after issuer, carrying the VRF proof of the subject label under
// vrfKey. It returns the DER and the label.
func Issue(t *Template, issuer string, key ed25519.PrivateKey, vrfKey *vrf.PrivateKey) ([]byte, entry.Hash, error) {
	if t.IDNumber == "" {
		return nil, entry.Hash{}, errors.New("credential: empty ID number")
	}
	if len(t.HolderKey) != ed25519.PublicKeySize {
		return nil, entry.Hash{}, errors.New("credential: holder key is not an Ed25519 public key")
	}
	// Certificates and events carry whole seconds: compare those, so that
	// a window shorter than a second is not encoded as an empty one.
	if t.NotAfter.Unix() <= t.NotBefore.Unix() {
		return nil, entry.Hash{}, errors.New("credential: validity window ends before it starts")
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, entry.Hash{}, errors.New("credential: issuer key is not an Ed25519 private key")
	}
	if vrfKey == nil {
		return nil, entry.Hash{}, errors.New("credential: no VRF key")
	}
	proof := vrfKey.Prove(SubjectInput(t.IDNumber))
	beta, err := vrf.ProofToHash(proof)
	if err != nil {
		return nil, entry.Hash{}, fmt.Errorf("couldn't hash VRF proof: %w", err)
	}
	ext, err := asn1.Marshal(proofExt{Version: 1, Proof: proof})
	if err != nil {
		return nil, entry.Hash{}, fmt.Errorf("couldn't encode proof extension: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, entry.Hash{}, fmt.Errorf("couldn't pick serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:    serial,
		Subject:         pkix.Name{SerialNumber: t.IDNumber, CommonName: t.Name},
		Issuer:          pkix.Name{CommonName: issuer},
		NotBefore:       t.NotBefore,
		NotAfter:        t.NotAfter,
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		ExtraExtensions: []pkix.Extension{{Id: OIDSubjectProof, Value: ext}},
	}
	parent := &x509.Certificate{Subject: pkix.Name{CommonName: issuer}, PublicKey: key.Public()}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, t.HolderKey, key)
	if err != nil {
		return nil, entry.Hash{}, fmt.Errorf("couldn't create certificate: %w", err)
	}
	return der, Label(beta), nil
}

// Credential is a parsed credential.
type Credential struct {
	DER         []byte
	Certificate *x509.Certificate
	ID          entry.Hash
	IDNumber    string
	Issuer      string
	Proof       []byte // the VRF proof, 80 bytes
}

// Parse parses a credential certificate (DER).
func Parse(der []byte) (*Credential, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if cert.PublicKeyAlgorithm != x509.Ed25519 || cert.SignatureAlgorithm != x509.PureEd25519 {
		return nil, fmt.Errorf("%w: not an Ed25519 certificate", ErrMalformed)
	}
	if cert.Subject.SerialNumber == "" {
		return nil, fmt.Errorf("%w: subject has no ID number", ErrMalformed)
	}
	// pkix keeps the last of several serialNumber attributes; another
	// parser may keep the first. Allow exactly one, so that every reader
	// sees the ID number the label proof is checked against.
	n := 0
	for _, a := range cert.Subject.Names {
		if a.Type.Equal(oidSerialNumber) {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("%w: subject has %d ID numbers", ErrMalformed, n)
	}
	c := &Credential{DER: der, Certificate: cert, ID: ID(der), IDNumber: cert.Subject.SerialNumber, Issuer: cert.Issuer.CommonName}
	for _, e := range cert.Extensions {
		if !e.Id.Equal(OIDSubjectProof) {
			continue
		}
		if c.Proof != nil {
			return nil, fmt.Errorf("%w: two subject proof extensions", ErrMalformed)
		}
		proof, ok := parseProofExt(e.Value)
		if !ok {
			return nil, fmt.Errorf("%w: bad subject proof extension", ErrMalformed)
		}
		c.Proof = proof
	}
	if c.Proof == nil {
		return nil, fmt.Errorf("%w: no subject proof extension", ErrMalformed)
	}
	return c, nil
}

var oidSerialNumber = asn1.ObjectIdentifier{2, 5, 4, 5}

// parseProofExt parses the value of the subject proof extension strictly
// (DER, version 1, an 80-byte proof, nothing after it). encoding/asn1 would
// accept extra elements at the end of the SEQUENCE.
func parseProofExt(v []byte) ([]byte, bool) {
	s := cryptobyte.String(v)
	var seq, proof cryptobyte.String
	var version int64
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() ||
		!seq.ReadASN1Integer(&version) || version != 1 ||
		!seq.ReadASN1(&proof, cbasn1.OCTET_STRING) || !seq.Empty() ||
		len(proof) != vrf.ProofSize {
		return nil, false
	}
	return append([]byte(nil), proof...), true
}

// Label verifies the credential's VRF proof for its ID number under the
// issuer's VRF public key and returns the subject label.
func (c *Credential) Label(vrfKey []byte) (entry.Hash, error) {
	beta, err := vrf.Verify(vrfKey, c.Proof, SubjectInput(c.IDNumber))
	if err != nil {
		return entry.Hash{}, fmt.Errorf("%w: %w", ErrLabel, err)
	}
	return Label(beta), nil
}

// CheckSignature checks that the certificate is signed by the issuer key,
// with the rules of crypto/ed25519 (package edsig).
func (c *Credential) CheckSignature(issuerKey ed25519.PublicKey) error {
	if len(issuerKey) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: issuer key is %d bytes, not an Ed25519 public key", ErrSignature, len(issuerKey))
	}
	if !edsig.Verify(issuerKey, c.Certificate.RawTBSCertificate, c.Certificate.Signature) {
		return ErrSignature
	}
	return nil
}
