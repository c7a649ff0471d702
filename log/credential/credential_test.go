package credential_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/credlog/credlog/log/credential"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/vrf"
)

// testIssuer is an issuer's Ed25519 signing key and VRF key.
type testIssuer struct {
	name string
	key  ed25519.PrivateKey
	vrf  *vrf.PrivateKey
}

func newIssuer(t testing.TB, name string, seed byte) *testIssuer {
	t.Helper()
	vk, err := vrf.NewKeyFromSeed(bytes.Repeat([]byte{seed ^ 0xa5}, vrf.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	return &testIssuer{
		name: name,
		key:  ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize)),
		vrf:  vk,
	}
}

func (iss *testIssuer) public() ed25519.PublicKey { return iss.key.Public().(ed25519.PublicKey) }

func holderKey(seed byte) ed25519.PublicKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize)).Public().(ed25519.PublicKey)
}

var (
	notBefore = time.Date(2025, 11, 23, 0, 0, 0, 0, time.UTC)
	notAfter  = notBefore.AddDate(5, 0, 0)
)

const testIDNumber = "38001085718"

func (iss *testIssuer) template(idNumber string) *credential.Template {
	return &credential.Template{
		IDNumber:  idNumber,
		Name:      "Jaan Tamm",
		HolderKey: holderKey(0x33),
		NotBefore: notBefore,
		NotAfter:  notAfter,
	}
}

func (iss *testIssuer) issue(t testing.TB, idNumber string) ([]byte, entry.Hash) {
	t.Helper()
	der, label, err := credential.Issue(iss.template(idNumber), iss.name, iss.key, iss.vrf)
	if err != nil {
		t.Fatalf("Issue(%q): %v", idNumber, err)
	}
	return der, label
}

func mustParse(t testing.TB, der []byte) *credential.Credential {
	t.Helper()
	c, err := credential.Parse(der)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestRoundTrip(t *testing.T) {
	iss := newIssuer(t, "id.example.gov", 1)
	tmpl := iss.template(testIDNumber)
	tmpl.Name = "Mari-Liis Männik-Õunapuu"
	der, label, err := credential.Issue(tmpl, iss.name, iss.key, iss.vrf)
	if err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, der)
	if !bytes.Equal(c.DER, der) {
		t.Error("DER differs from the input")
	}
	if want := entry.Hash(sha256.Sum256(der)); c.ID != want || credential.ID(der) != want {
		t.Errorf("ID = %x, credential.ID = %x, want SHA-256 of the DER %x", c.ID, credential.ID(der), want)
	}
	if c.IDNumber != testIDNumber {
		t.Errorf("IDNumber = %q, want %q", c.IDNumber, testIDNumber)
	}
	if c.Issuer != iss.name {
		t.Errorf("Issuer = %q, want %q", c.Issuer, iss.name)
	}
	if want := iss.vrf.Prove(credential.SubjectInput(testIDNumber)); !bytes.Equal(c.Proof, want) {
		t.Errorf("Proof = %x, want %x", c.Proof, want)
	}
	if len(c.Proof) != vrf.ProofSize {
		t.Errorf("proof is %d bytes, want %d", len(c.Proof), vrf.ProofSize)
	}
	got, err := c.Label(iss.vrf.PublicKey())
	if err != nil {
		t.Fatalf("Label: %v", err)
	}
	if got != label {
		t.Errorf("Label = %x, Issue returned %x", got, label)
	}

	cert := c.Certificate
	if cert.Subject.CommonName != tmpl.Name {
		t.Errorf("subject name = %q, want %q", cert.Subject.CommonName, tmpl.Name)
	}
	if pub, ok := cert.PublicKey.(ed25519.PublicKey); !ok || !pub.Equal(tmpl.HolderKey) {
		t.Errorf("certificate key = %v, want the holder key", cert.PublicKey)
	}
	if !cert.NotBefore.Equal(notBefore) || !cert.NotAfter.Equal(notAfter) {
		t.Errorf("validity = %v..%v, want %v..%v", cert.NotBefore, cert.NotAfter, notBefore, notAfter)
	}

	if err := c.CheckSignature(iss.public()); err != nil {
		t.Errorf("CheckSignature(issuer key) = %v", err)
	}
	// The standard library agrees about the signature.
	parent := &x509.Certificate{PublicKey: iss.public(), PublicKeyAlgorithm: x509.Ed25519, Subject: pkix.Name{CommonName: iss.name}}
	if err := cert.CheckSignatureFrom(parent); err != nil {
		t.Errorf("x509 CheckSignatureFrom: %v", err)
	}
	other := newIssuer(t, iss.name, 2)
	if err := c.CheckSignature(other.public()); err == nil {
		t.Error("CheckSignature(another key) = nil")
	}
	if err := c.CheckSignature(holderKey(0x33)); err == nil {
		t.Error("CheckSignature(holder key) = nil")
	}
}

// TestCheckSignatureBadKey checks that keys of the wrong size are refused
// rather than making ed25519.Verify panic.
func TestCheckSignatureBadKey(t *testing.T) {
	iss := newIssuer(t, "id.example.gov", 1)
	der, _ := iss.issue(t, testIDNumber)
	c := mustParse(t, der)
	for _, key := range []ed25519.PublicKey{nil, {}, iss.public()[:31], append(bytes.Clone(iss.public()), 0)} {
		if err := c.CheckSignature(key); err == nil {
			t.Errorf("CheckSignature(%d-byte key) = nil", len(key))
		}
	}
}

func TestLabelIsVRFOutput(t *testing.T) {
	iss := newIssuer(t, "id.example.gov", 1)
	der, label := iss.issue(t, testIDNumber)
	c := mustParse(t, der)
	beta, err := vrf.Verify(iss.vrf.PublicKey(), c.Proof, credential.SubjectInput(testIDNumber))
	if err != nil {
		t.Fatal(err)
	}
	if len(beta) != vrf.OutputSize {
		t.Fatalf("beta is %d bytes", len(beta))
	}
	if !bytes.Equal(label[:], beta[:32]) {
		t.Errorf("label = %x, want first 32 bytes of VRF output %x", label, beta[:32])
	}
	if credential.Label(beta) != label {
		t.Errorf("credential.Label(beta) = %x, want %x", credential.Label(beta), label)
	}
	// The VRF input is the prefix followed by the ID number.
	if got, want := credential.SubjectInput(testIDNumber), []byte("credlog-subject-v1\x00"+testIDNumber); !bytes.Equal(got, want) {
		t.Errorf("SubjectInput = %q, want %q", got, want)
	}
	// The label is not the VRF output of the bare ID number.
	bare, err := vrf.ProofToHash(iss.vrf.Prove([]byte(testIDNumber)))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(bare[:32], label[:]) {
		t.Error("label is the VRF output of the ID number without the prefix")
	}
}

func TestLabels(t *testing.T) {
	iss := newIssuer(t, "id.example.gov", 1)
	der1, l1 := iss.issue(t, testIDNumber)
	der2, l2 := iss.issue(t, testIDNumber)
	_, l3 := iss.issue(t, "38001085729")

	if bytes.Equal(der1, der2) || credential.ID(der1) == credential.ID(der2) {
		t.Error("two certificates for the same subject have the same DER or ID")
	}
	if l1 != l2 {
		t.Errorf("same ID number, same VRF key: labels %x and %x differ", l1, l2)
	}
	if l1 == l3 {
		t.Errorf("different ID numbers have the same label %x", l1)
	}
	c2 := mustParse(t, der2)
	if got, err := c2.Label(iss.vrf.PublicKey()); err != nil || got != l1 {
		t.Errorf("second certificate: Label = %x, %v; want %x", got, err, l1)
	}

	other := newIssuer(t, "id.other.example", 2)
	derO, lO := other.issue(t, testIDNumber)
	if lO == l1 {
		t.Errorf("same ID number under another issuer's VRF key has the same label %x", l1)
	}
	if got, err := mustParse(t, derO).Label(other.vrf.PublicKey()); err != nil || got != lO {
		t.Errorf("other issuer: Label = %x, %v; want %x", got, err, lO)
	}
}

func TestLabelRejects(t *testing.T) {
	iss := newIssuer(t, "id.example.gov", 1)
	der, _ := iss.issue(t, testIDNumber)
	other := newIssuer(t, "id.other.example", 2)

	tests := []struct {
		name    string
		edit    func(c *credential.Credential)
		key     []byte
		wantVRF error
	}{
		{"another issuer's VRF key", nil, other.vrf.PublicKey(), vrf.ErrInvalidProof},
		{"issuer's signing key as VRF key", nil, iss.public(), vrf.ErrInvalidProof},
		{"short VRF key", nil, iss.vrf.PublicKey()[:31], vrf.ErrInvalidPublicKey},
		{"nil VRF key", nil, nil, vrf.ErrInvalidPublicKey},
		{"other ID number", func(c *credential.Credential) { c.IDNumber = "38001085729" }, iss.vrf.PublicKey(), vrf.ErrInvalidProof},
		{"ID number with a suffix", func(c *credential.Credential) { c.IDNumber += "0" }, iss.vrf.PublicKey(), vrf.ErrInvalidProof},
		{"proof bit flipped", func(c *credential.Credential) { c.Proof[40] ^= 1 }, iss.vrf.PublicKey(), vrf.ErrInvalidProof},
		{"short proof", func(c *credential.Credential) { c.Proof = c.Proof[:79] }, iss.vrf.PublicKey(), vrf.ErrMalformedProof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, bytes.Clone(der))
			if tt.edit != nil {
				tt.edit(c)
			}
			label, err := c.Label(tt.key)
			if !errors.Is(err, credential.ErrLabel) {
				t.Fatalf("Label = %x, %v; want ErrLabel", label, err)
			}
			if !errors.Is(err, tt.wantVRF) {
				t.Errorf("Label error %q does not wrap %q", err, tt.wantVRF)
			}
			if label != (entry.Hash{}) {
				t.Errorf("Label returned %x with an error", label)
			}
		})
	}
}

// TestLabelProofForAnotherNumber checks a certificate, properly signed,
// whose proof maps a different ID number than the one in its subject: it
// parses, but yields no label.
func TestLabelProofForAnotherNumber(t *testing.T) {
	iss := newIssuer(t, "id.example.gov", 1)
	der := makeCert(t, iss, func(tmpl *x509.Certificate) {
		tmpl.ExtraExtensions = []pkix.Extension{{Id: credential.OIDSubjectProof, Value: proofExt(t, 1, iss.vrf.Prove(credential.SubjectInput("38001085729")))}}
	})
	c := mustParse(t, der)
	if err := c.CheckSignature(iss.public()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Label(iss.vrf.PublicKey()); !errors.Is(err, credential.ErrLabel) || !errors.Is(err, vrf.ErrInvalidProof) {
		t.Errorf("Label = %v, want ErrLabel wrapping vrf.ErrInvalidProof", err)
	}
}

func TestIssueRejects(t *testing.T) {
	iss := newIssuer(t, "id.example.gov", 1)
	tests := []struct {
		name string
		edit func(tmpl *credential.Template)
		key  ed25519.PrivateKey
		vrf  *vrf.PrivateKey
	}{
		{name: "empty ID number", edit: func(tmpl *credential.Template) { tmpl.IDNumber = "" }},
		{name: "nil holder key", edit: func(tmpl *credential.Template) { tmpl.HolderKey = nil }},
		{name: "short holder key", edit: func(tmpl *credential.Template) { tmpl.HolderKey = tmpl.HolderKey[:31] }},
		{name: "long holder key", edit: func(tmpl *credential.Template) { tmpl.HolderKey = append(bytes.Clone(tmpl.HolderKey), 0) }},
		{name: "holder private key", edit: func(tmpl *credential.Template) {
			tmpl.HolderKey = ed25519.PublicKey(ed25519.NewKeyFromSeed(make([]byte, 32)))
		}},
		{name: "inverted window", edit: func(tmpl *credential.Template) { tmpl.NotBefore, tmpl.NotAfter = tmpl.NotAfter, tmpl.NotBefore }},
		{name: "empty window", edit: func(tmpl *credential.Template) { tmpl.NotAfter = tmpl.NotBefore }},
		{name: "sub-second window", edit: func(tmpl *credential.Template) { tmpl.NotAfter = tmpl.NotBefore.Add(999 * time.Millisecond) }},
		{name: "zero times", edit: func(tmpl *credential.Template) { tmpl.NotBefore, tmpl.NotAfter = time.Time{}, time.Time{} }},
		{name: "invalid UTF-8 ID number", edit: func(tmpl *credential.Template) { tmpl.IDNumber = "3800108\xff5718" }},
		{name: "nil issuer key", key: ed25519.PrivateKey{}},
		{name: "short issuer key", key: iss.key[:32]},
		{name: "nil VRF key", vrf: (*vrf.PrivateKey)(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := iss.template(testIDNumber)
			if tt.edit != nil {
				tt.edit(tmpl)
			}
			key, vk := iss.key, iss.vrf
			if tt.key != nil {
				key = tt.key
			}
			if tt.name == "nil VRF key" {
				vk = nil
			}
			der, label, err := credential.Issue(tmpl, iss.name, key, vk)
			if err == nil {
				t.Fatalf("Issue succeeded (%d bytes)", len(der))
			}
			if der != nil || label != (entry.Hash{}) {
				t.Errorf("Issue returned a certificate or label with error %v", err)
			}
		})
	}
}

type testProofExt struct {
	Version int
	Proof   []byte
}

func proofExt(t testing.TB, version int, proof []byte) []byte {
	t.Helper()
	b, err := asn1.Marshal(testProofExt{version, proof})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tlv returns a DER element (of at most 255 bytes of content).
func tlv(tag byte, parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	switch {
	case len(body) < 0x80:
		return append([]byte{tag, byte(len(body))}, body...)
	case len(body) < 0x100:
		return append([]byte{tag, 0x81, byte(len(body))}, body...)
	}
	panic("tlv: content too long")
}

// makeCert builds a certificate with crypto/x509 directly: by default the
// one Issue makes, signed by iss; edit changes the template first. Options
// set the subject key and the signer.
func makeCert(t testing.TB, iss *testIssuer, edit func(tmpl *x509.Certificate), opts ...func(*certOpts)) []byte {
	t.Helper()
	o := certOpts{holder: holderKey(0x33), signer: iss.key, parent: iss.public()}
	for _, f := range opts {
		f(&o)
	}
	tmpl := &x509.Certificate{
		SerialNumber:    big.NewInt(0x1234567890),
		Subject:         pkix.Name{SerialNumber: testIDNumber, CommonName: "Jaan Tamm"},
		NotBefore:       notBefore,
		NotAfter:        notAfter,
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		ExtraExtensions: []pkix.Extension{{Id: credential.OIDSubjectProof, Value: proofExt(t, 1, iss.vrf.Prove(credential.SubjectInput(testIDNumber)))}},
	}
	if edit != nil {
		edit(tmpl)
	}
	parent := &x509.Certificate{Subject: pkix.Name{CommonName: iss.name}, PublicKey: o.parent}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, o.holder, o.signer)
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	return der
}

var oidSerialNumber = asn1.ObjectIdentifier{2, 5, 4, 5}

func serial(v string) pkix.AttributeTypeAndValue {
	return pkix.AttributeTypeAndValue{Type: oidSerialNumber, Value: v}
}

// rawName encodes a distinguished name RDN by RDN: pkix.Name cannot hold
// two serialNumber attributes.
func rawName(t testing.TB, rdns ...[]pkix.AttributeTypeAndValue) []byte {
	t.Helper()
	var seq pkix.RDNSequence
	for _, rdn := range rdns {
		seq = append(seq, pkix.RelativeDistinguishedNameSET(rdn))
	}
	b, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type certOpts struct {
	holder any
	signer crypto.Signer
	parent any
}

// TestMakeCert checks that the hand-made certificate is accepted, so that
// each rejection in TestParseRejects is due to the one change it makes.
func TestMakeCert(t *testing.T) {
	iss := newIssuer(t, "id.example.gov", 1)
	der := makeCert(t, iss, nil)
	c := mustParse(t, der)
	if err := c.CheckSignature(iss.public()); err != nil {
		t.Fatal(err)
	}
	// So is one with a raw subject holding one ID number among other
	// attributes.
	raw := makeCert(t, iss, func(tmpl *x509.Certificate) {
		tmpl.RawSubject = rawName(t,
			[]pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{2, 5, 4, 6}, Value: "EE"}},
			[]pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "Jaan Tamm"}, serial(testIDNumber)})
	})
	if rc := mustParse(t, raw); rc.IDNumber != testIDNumber {
		t.Fatalf("raw subject: ID number %q", rc.IDNumber)
	}
	_, want := iss.issue(t, testIDNumber)
	if got, err := c.Label(iss.vrf.PublicKey()); err != nil || got != want {
		t.Fatalf("Label = %x, %v; want %x", got, err, want)
	}
	// The raw proof extension built by hand equals the marshalled one.
	proof := iss.vrf.Prove(credential.SubjectInput(testIDNumber))
	if !bytes.Equal(tlv(0x30, tlv(0x02, []byte{1}), tlv(0x04, proof)), proofExt(t, 1, proof)) {
		t.Fatal("tlv does not match asn1.Marshal")
	}
}

func TestParseRejects(t *testing.T) {
	iss := newIssuer(t, "id.example.gov", 1)
	der, _ := iss.issue(t, testIDNumber)
	proof := iss.vrf.Prove(credential.SubjectInput(testIDNumber))

	withExt := func(values ...[]byte) []byte {
		t.Helper()
		return makeCert(t, iss, func(tmpl *x509.Certificate) {
			tmpl.ExtraExtensions = nil
			for _, v := range values {
				tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: credential.OIDSubjectProof, Value: v})
			}
		})
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, 300)
	for i := range garbage {
		garbage[i] = byte(i*7 + 3)
	}
	seqInt1 := tlv(0x02, []byte{1})

	tests := []struct {
		name string
		der  []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"garbage", garbage},
		{"text", []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")},
		{"empty sequence", []byte{0x30, 0x00}},
		{"first byte only", der[:1]},
		{"truncated to header", der[:4]},
		{"truncated by half", der[:len(der)/2]},
		{"truncated by one byte", der[:len(der)-1]},
		{"trailing byte", append(bytes.Clone(der), 0)},
		{"two certificates", append(bytes.Clone(der), der...)},
		{"no proof extension", makeCert(t, iss, func(tmpl *x509.Certificate) { tmpl.ExtraExtensions = nil })},
		{"proof under another OID", makeCert(t, iss, func(tmpl *x509.Certificate) {
			tmpl.ExtraExtensions[0].Id = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 61072, 1, 2}
		})},
		{"version 0", withExt(proofExt(t, 0, proof))},
		{"version 2", withExt(proofExt(t, 2, proof))},
		{"version -1", withExt(proofExt(t, -1, proof))},
		{"version 257", withExt(proofExt(t, 257, proof))},
		{"empty proof", withExt(proofExt(t, 1, nil))},
		{"proof of 79 bytes", withExt(proofExt(t, 1, proof[:79]))},
		{"proof of 81 bytes", withExt(proofExt(t, 1, append(bytes.Clone(proof), 0)))},
		{"proof of 160 bytes", withExt(proofExt(t, 1, append(bytes.Clone(proof), proof...)))},
		{"trailing byte after the sequence", withExt(append(proofExt(t, 1, proof), 0))},
		{"NULL after the sequence", withExt(append(proofExt(t, 1, proof), 0x05, 0x00))},
		{"extra element in the sequence", withExt(tlv(0x30, seqInt1, tlv(0x04, proof), tlv(0x02, []byte{0})))},
		{"extra byte in the sequence", withExt(tlv(0x30, seqInt1, tlv(0x04, proof), []byte{0}))},
		{"two proofs in the sequence", withExt(tlv(0x30, seqInt1, tlv(0x04, proof), tlv(0x04, proof)))},
		{"fields swapped", withExt(tlv(0x30, tlv(0x04, proof), seqInt1))},
		{"no version", withExt(tlv(0x30, tlv(0x04, proof)))},
		{"no proof", withExt(tlv(0x30, seqInt1))},
		{"bare proof", withExt(tlv(0x04, proof))},
		{"bare proof bytes", withExt(proof)},
		{"empty extension", withExt([]byte{})},
		{"proof as BIT STRING", withExt(tlv(0x30, seqInt1, tlv(0x03, append([]byte{0}, proof...))))},
		{"version as BOOLEAN", withExt(tlv(0x30, tlv(0x01, []byte{0xff}), tlv(0x04, proof)))},
		{"version not minimal", withExt(tlv(0x30, tlv(0x02, []byte{0, 1}), tlv(0x04, proof)))},
		{"SET instead of SEQUENCE", withExt(tlv(0x31, seqInt1, tlv(0x04, proof)))},
		{"length not minimal", withExt(append([]byte{0x30, 0x81, 0x55}, tlv(0x30, seqInt1, tlv(0x04, proof))[2:]...))},
		{"indefinite length", withExt(append(append([]byte{0x30, 0x80}, tlv(0x30, seqInt1, tlv(0x04, proof))[2:]...), 0, 0))},
		{"no ID number", makeCert(t, iss, func(tmpl *x509.Certificate) { tmpl.Subject.SerialNumber = "" })},
		{"two ID numbers", makeCert(t, iss, func(tmpl *x509.Certificate) {
			tmpl.RawSubject = rawName(t, []pkix.AttributeTypeAndValue{serial(testIDNumber)}, []pkix.AttributeTypeAndValue{serial("38001085729")})
		})},
		{"same ID number twice", makeCert(t, iss, func(tmpl *x509.Certificate) {
			tmpl.RawSubject = rawName(t, []pkix.AttributeTypeAndValue{serial(testIDNumber)}, []pkix.AttributeTypeAndValue{serial(testIDNumber)})
		})},
		{"two ID numbers in one RDN", makeCert(t, iss, func(tmpl *x509.Certificate) {
			tmpl.RawSubject = rawName(t, []pkix.AttributeTypeAndValue{serial("38001085729"), serial(testIDNumber)})
		})},
		{"ECDSA subject key", makeCert(t, iss, nil, func(o *certOpts) { o.holder = ecKey.Public() })},
		{"ECDSA issuer signature", makeCert(t, iss, nil, func(o *certOpts) { o.signer, o.parent = ecKey, ecKey.Public() })},
		{"ECDSA throughout", makeCert(t, iss, nil, func(o *certOpts) { o.holder, o.signer, o.parent = ecKey.Public(), ecKey, ecKey.Public() })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := bytes.Clone(tt.der)
			c, err := credential.Parse(in)
			if err == nil {
				t.Fatalf("Parse succeeded: ID number %q, proof %x", c.IDNumber, c.Proof)
			}
			if !errors.Is(err, credential.ErrMalformed) {
				t.Errorf("Parse error %q does not wrap ErrMalformed", err)
			}
			if c != nil {
				t.Error("Parse returned a credential with an error")
			}
			if !bytes.Equal(in, tt.der) {
				t.Error("Parse modified its input")
			}
		})
	}
}

// TestDuplicateProofExtension checks that two proof extensions are refused
// (by crypto/x509, which refuses any duplicate extension).
func TestDuplicateProofExtension(t *testing.T) {
	iss := newIssuer(t, "id.example.gov", 1)
	proof := iss.vrf.Prove(credential.SubjectInput(testIDNumber))
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{SerialNumber: testIDNumber},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		ExtraExtensions: []pkix.Extension{
			{Id: credential.OIDSubjectProof, Value: proofExt(t, 1, proof)},
			{Id: credential.OIDSubjectProof, Value: proofExt(t, 1, proof)},
		},
	}
	parent := &x509.Certificate{Subject: pkix.Name{CommonName: iss.name}, PublicKey: iss.public()}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, holderKey(0x33), iss.key)
	if err != nil {
		t.Skipf("crypto/x509 refuses to create it: %v", err)
	}
	if _, err := credential.Parse(der); !errors.Is(err, credential.ErrMalformed) {
		t.Errorf("Parse = %v, want ErrMalformed", err)
	}
}

// TestTamper flips bits in every byte of a certificate: the changed
// certificate either does not parse or does not verify under the issuer
// key (and in no case parses, verifies and yields the original label).
func TestTamper(t *testing.T) {
	iss := newIssuer(t, "id.example.gov", 1)
	der, label := iss.issue(t, testIDNumber)
	id := credential.ID(der)
	parsed := 0
	for i := range der {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(der)
			bad[i] ^= mask
			c, err := credential.Parse(bad)
			if err != nil {
				if !errors.Is(err, credential.ErrMalformed) {
					t.Errorf("byte %d ^ %#02x: Parse error %q does not wrap ErrMalformed", i, mask, err)
				}
				continue
			}
			parsed++
			if c.ID == id {
				t.Fatalf("byte %d ^ %#02x: changed certificate has the original ID", i, mask)
			}
			if err := c.CheckSignature(iss.public()); err == nil {
				t.Errorf("byte %d ^ %#02x: changed certificate parses and verifies (ID number %q)", i, mask, c.IDNumber)
			}
		}
	}
	for n := range len(der) {
		if c, err := credential.Parse(der[:n]); err == nil {
			t.Errorf("prefix of %d bytes parses (ID number %q)", n, c.IDNumber)
		}
	}
	t.Logf("%d of %d changed certificates parsed; none verified", parsed, 3*len(der))
	// The original is still fine.
	c := mustParse(t, der)
	if err := c.CheckSignature(iss.public()); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Label(iss.vrf.PublicKey()); err != nil || got != label {
		t.Fatalf("Label = %x, %v", got, err)
	}
}
