package credential_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/credlog/credlog/log/credential"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/vrf"
)

// DESIGN.md §5: no personal data in the log, ever. The tests below build a
// realistic holder, issue two certificates for them, sign one event of
// every type and look for the holder's data, in many encodings, in every
// entry encoding and every signed message.

// piiHolder is the person a credential is about. The data is made up, in
// the forms an Estonian ID card carries.
type piiHolder struct {
	name     string
	idNumber string // personal identification code: sex/century, YYMMDD, serial, check digit
	phone    string
	dob      time.Time
}

var piiPerson = piiHolder{
	name:     "Mari-Liis Männik-Õunapuu",
	idNumber: "49403136526",
	phone:    "+372 5123 4567",
	dob:      time.Date(1994, 3, 13, 0, 0, 0, 0, time.UTC),
}

// piiFixture is an issuer, a log, the holder's two certificates and one
// signed event of every type.
type piiFixture struct {
	issuer, rotated, log *keys.Signer
	vrfKey               *vrf.PrivateKey
	holderPub            []ed25519.PublicKey
	certs                []*credential.Credential
	labels               []entry.Hash
	events               []namedEvent
}

type namedEvent struct {
	name string
	ev   *entry.Event
	key  *keys.Signer
}

func newSigner(t *testing.T, name string) *keys.Signer {
	t.Helper()
	skey, _, err := keys.Generate(name, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := keys.ParseSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newPIIFixture(t *testing.T) *piiFixture {
	t.Helper()
	const issuerName, logName = "id.example.gov", "log.example.org"
	f := &piiFixture{
		issuer:  newSigner(t, issuerName),
		rotated: newSigner(t, issuerName),
		log:     newSigner(t, logName),
	}
	vrfText, vrfPubText, err := keys.GenerateVRF(issuerName, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, f.vrfKey, err = keys.ParseVRFPrivate(vrfText); err != nil {
		t.Fatal(err)
	}
	_, vrfPub, err := keys.ParseVRFPublic(vrfPubText)
	if err != nil {
		t.Fatal(err)
	}

	// Two certificates for the same holder: the first, and a reissue with
	// a new holder key.
	nb := time.Date(2025, 11, 23, 9, 0, 0, 0, time.UTC)
	na := nb.AddDate(5, 0, 0)
	for range 2 {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &credential.Template{IDNumber: piiPerson.idNumber, Name: piiPerson.name, HolderKey: pub, NotBefore: nb, NotAfter: na}
		der, label, err := credential.Issue(tmpl, f.issuer.Name(), f.issuer.PrivateKey(), f.vrfKey)
		if err != nil {
			t.Fatal(err)
		}
		c := mustParse(t, der)
		if c.IDNumber != piiPerson.idNumber || c.Certificate.Subject.CommonName != piiPerson.name {
			t.Fatalf("certificate holds %q, %q", c.IDNumber, c.Certificate.Subject.CommonName)
		}
		if got, err := c.Label(vrfPub); err != nil || got != label {
			t.Fatalf("Label = %x, %v; want %x", got, err, label)
		}
		f.holderPub = append(f.holderPub, pub)
		f.certs = append(f.certs, c)
		f.labels = append(f.labels, label)
	}
	if f.labels[0] != f.labels[1] {
		t.Fatal("the two certificates have different labels")
	}

	// A hiding commitment the issuer binds the date of birth with: a
	// salted hash, as an issuer would use the commitment field.
	salt := make([]byte, 32)
	rand.Read(salt)
	commitment := entry.Hash(sha256.Sum256(append(salt, piiPerson.dob.Format(time.DateOnly)...)))

	first, second := f.certs[0].ID, f.certs[1].ID
	label := f.labels[0]
	t0 := uint64(nb.Unix())
	u64 := func(t time.Time) uint64 { return uint64(t.Unix()) }
	var vk [entry.KeySize]byte
	copy(vk[:], vrfPub)
	var mapRoot entry.Hash
	rand.Read(mapRoot[:])
	f.events = []namedEvent{
		{"issuer-key", &entry.Event{Type: entry.TypeIssuerKey, Issuer: issuerName, KeyID: f.log.KeyID(), Time: t0 - 3600,
			PublicKey: [32]byte(f.issuer.Public()), VRFKey: vk}, f.log},
		{"issue", &entry.Event{Type: entry.TypeIssue, Issuer: issuerName, KeyID: f.issuer.KeyID(), Time: t0,
			Subject: label, Credential: first, NotBefore: u64(nb), NotAfter: u64(na), Version: 1, Commitment: commitment}, f.issuer},
		{"suspend", &entry.Event{Type: entry.TypeSuspend, Issuer: issuerName, KeyID: f.issuer.KeyID(), Time: t0 + 60,
			Subject: label, Credential: first, Reason: entry.ReasonHolderRequest}, f.issuer},
		{"resume", &entry.Event{Type: entry.TypeResume, Issuer: issuerName, KeyID: f.issuer.KeyID(), Time: t0 + 120,
			Subject: label, Credential: first}, f.issuer},
		{"reissue", &entry.Event{Type: entry.TypeIssue, Issuer: issuerName, KeyID: f.issuer.KeyID(), Time: t0 + 180,
			Subject: label, Credential: second, NotBefore: u64(nb), NotAfter: u64(na), Version: 2, Supersedes: &first}, f.issuer},
		{"revoke", &entry.Event{Type: entry.TypeRevoke, Issuer: issuerName, KeyID: f.issuer.KeyID(), Time: t0 + 240,
			Subject: label, Credential: second, Reason: entry.ReasonKeyCompromise}, f.issuer},
		{"issuer-key rotation", &entry.Event{Type: entry.TypeIssuerKey, Issuer: issuerName, KeyID: f.issuer.KeyID(), Time: t0 + 300,
			PublicKey: [32]byte(f.rotated.Public()), VRFKey: vk}, f.issuer},
		{"map-root", &entry.Event{Type: entry.TypeMapRoot, Issuer: logName, KeyID: f.log.KeyID(), Time: t0 + 360,
			TreeSize: 7, MapRoot: mapRoot}, f.log},
	}
	types := map[entry.Type]bool{}
	for _, ne := range f.events {
		types[ne.ev.Type] = true
	}
	for typ := entry.Type(1); typ.Valid(); typ++ {
		if !types[typ] {
			t.Fatalf("fixture has no %s event", typ)
		}
	}
	return f
}

// haystacks signs every event and returns its entry encoding and its
// signed message.
func (f *piiFixture) haystacks(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, ne := range f.events {
		if err := ne.ev.Sign(ne.key.PrivateKey()); err != nil {
			t.Fatalf("%s: Sign: %v", ne.name, err)
		}
		if err := ne.ev.VerifySignature(ne.key.Public()); err != nil {
			t.Fatalf("%s: %v", ne.name, err)
		}
		b, err := ne.ev.Marshal()
		if err != nil {
			t.Fatalf("%s: Marshal: %v", ne.name, err)
		}
		if _, err := entry.Parse(b); err != nil {
			t.Fatalf("%s: Parse: %v", ne.name, err)
		}
		msg, err := ne.ev.SignedMessage()
		if err != nil {
			t.Fatalf("%s: SignedMessage: %v", ne.name, err)
		}
		out[ne.name+" entry"] = b
		out[ne.name+" signed message"] = msg
	}
	return out
}

type needle struct {
	what string
	b    []byte
}

// minNeedle is the shortest needle searched for: shorter ones would match
// by chance and mean nothing.
const minNeedle = 4

type needles []needle

func (ns *needles) add(what string, b []byte) {
	if len(b) < minNeedle {
		return
	}
	*ns = append(*ns, needle{what, bytes.Clone(b)})
}

// addText adds s in UTF-8, UTF-16LE and UTF-16BE.
func (ns *needles) addText(what, s string) {
	ns.add(what+" (UTF-8)", []byte(s))
	u := utf16.Encode([]rune(s))
	le, be := make([]byte, 2*len(u)), make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(le[2*i:], c)
		binary.BigEndian.PutUint16(be[2*i:], c)
	}
	ns.add(what+" (UTF-16LE)", le)
	ns.add(what+" (UTF-16BE)", be)
}

// addNumber adds a decimal number as binary integers: minimal and 8-byte,
// big- and little-endian, and as lowercase and uppercase hex text.
func (ns *needles) addNumber(what string, n uint64) {
	var be [8]byte
	binary.BigEndian.PutUint64(be[:], n)
	minimal := bytes.TrimLeft(be[:], "\x00")
	ns.add(what+" (big-endian, minimal)", minimal)
	ns.add(what+" (big-endian, 8 bytes)", be[:])
	var le [8]byte
	binary.LittleEndian.PutUint64(le[:], n)
	ns.add(what+" (little-endian, minimal)", le[:len(minimal)])
	ns.add(what+" (little-endian, 8 bytes)", le[:])
	ns.add(what+" (hex integer)", []byte(strconv.FormatUint(n, 16)))
	ns.add(what+" (HEX integer)", []byte(strings.ToUpper(strconv.FormatUint(n, 16))))
}

// bcd packs decimal digits two to a byte. swap puts the first digit of
// each pair in the low nibble (TBCD, as telephony does). An odd count is
// padded with 0 in front or with F at the end.
func bcd(digits string, swap, padFront bool) []byte {
	nib := make([]byte, 0, len(digits)+1)
	if len(digits)%2 == 1 && padFront {
		nib = append(nib, 0)
	}
	for _, d := range []byte(digits) {
		nib = append(nib, d-'0')
	}
	if len(nib)%2 == 1 {
		nib = append(nib, 0xf)
	}
	out := make([]byte, len(nib)/2)
	for i := range out {
		hi, lo := nib[2*i], nib[2*i+1]
		if swap {
			hi, lo = lo, hi
		}
		out[i] = hi<<4 | lo
	}
	return out
}

// addDigits adds a string of decimal digits in every form an encoder
// might choose.
func (ns *needles) addDigits(what, digits string) {
	ns.addText(what, digits)
	for _, swap := range []bool{false, true} {
		for _, front := range []bool{false, true} {
			ns.add(fmt.Sprintf("%s (BCD, swap=%v, pad front=%v)", what, swap, front), bcd(digits, swap, front))
		}
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		panic(err)
	}
	ns.addNumber(what, n)
	ns.add(what+" (hex of ASCII)", []byte(hex.EncodeToString([]byte(digits))))
	ns.add(what+" (HEX of ASCII)", []byte(strings.ToUpper(hex.EncodeToString([]byte(digits)))))
	for _, enc := range []struct {
		name string
		e    *base64.Encoding
	}{{"std", base64.StdEncoding}, {"url", base64.URLEncoding}, {"raw std", base64.RawStdEncoding}, {"raw url", base64.RawURLEncoding}} {
		ns.add(what+" (base64 "+enc.name+")", []byte(enc.e.EncodeToString([]byte(digits))))
	}
	h := sha256.Sum256([]byte(digits))
	ns.add(what+" (SHA-256)", h[:])
}

// personalNeedles returns the holder's personal data in many encodings.
func personalNeedles(p piiHolder) needles {
	var ns needles

	// Name: whole and in parts, composed and decomposed, folded, Latin-1.
	nfd := strings.NewReplacer("ä", "a\u0308", "Õ", "O\u0303").Replace(p.name)
	ascii := strings.NewReplacer("ä", "a", "Õ", "O").Replace(p.name)
	latin1 := strings.NewReplacer("ä", "\xe4", "Õ", "\xd5").Replace(p.name)
	for _, s := range []struct{ what, s string }{
		{"name", p.name}, {"name (NFD)", nfd}, {"name (ASCII)", ascii},
		{"lowercase name", strings.ToLower(p.name)}, {"uppercase name", strings.ToUpper(p.name)},
		{"first name", "Mari-Liis"}, {"surname", "Männik-Õunapuu"},
		{"surname part", "Männik"}, {"surname part", "Õunapuu"}, {"surname part (ASCII)", "Ounapuu"},
		{"lowercase surname", strings.ToLower("Männik-Õunapuu")}, {"uppercase surname", strings.ToUpper("Männik-Õunapuu")},
		{"name, surname first", "Männik-Õunapuu, Mari-Liis"},
	} {
		ns.addText(s.what, s.s)
	}
	ns.add("name (Latin-1)", []byte(latin1))
	nameHash := sha256.Sum256([]byte(p.name))
	ns.add("name (SHA-256)", nameHash[:])

	// ID number, and its VRF input.
	ns.addDigits("ID number", p.idNumber)
	ns.addText("ID number without check digit", p.idNumber[:len(p.idNumber)-1])
	in := credential.SubjectInput(p.idNumber)
	ns.add("ID number with the SubjectInput prefix", in)
	inHash := sha256.Sum256(in)
	ns.add("SubjectInput (SHA-256)", inHash[:])

	// Phone number.
	ns.addText("phone", p.phone)
	e164 := strings.ReplaceAll(p.phone, " ", "")
	ns.addText("phone without spaces", e164)
	ns.addDigits("phone digits", strings.TrimPrefix(e164, "+"))
	ns.addDigits("national phone number", strings.TrimPrefix(e164, "+372"))
	ns.addText("national phone number", strings.TrimPrefix(p.phone, "+372 "))

	// Date of birth.
	for _, layout := range []string{"2006-01-02", "20060102", "02.01.2006", "02/01/2006", "01/02/2006", "060102", "020106", "2 January 2006"} {
		ns.addText("date of birth "+layout, p.dob.Format(layout))
	}
	ns.addNumber("date of birth (Unix seconds)", uint64(p.dob.Unix()))
	var u32 [4]byte
	binary.BigEndian.PutUint32(u32[:], uint32(p.dob.Unix()))
	ns.add("date of birth (Unix seconds, uint32 big-endian)", u32[:])
	binary.LittleEndian.PutUint32(u32[:], uint32(p.dob.Unix()))
	ns.add("date of birth (Unix seconds, uint32 little-endian)", u32[:])
	return ns
}

// windowSize is the length of the certificate windows searched for.
const windowSize = 16

// certNeedles returns a certificate's DER, its parts that identify the
// holder, and every windowSize-byte window of it except those that overlap
// the issuer's name, which entries carry by design.
func certNeedles(c *credential.Credential, holderPub ed25519.PublicKey, issuerName string) needles {
	var ns needles
	ns.add("certificate DER", c.DER)
	ns.add("certificate TBS", c.Certificate.RawTBSCertificate)
	ns.add("certificate subject", c.Certificate.RawSubject)
	ns.add("certificate signature", c.Certificate.Signature)
	ns.add("certificate serial", c.Certificate.SerialNumber.Bytes())
	ns.add("certificate subject public key info", c.Certificate.RawSubjectPublicKeyInfo)
	ns.add("holder public key", holderPub)
	ns.add("holder public key (base64)", []byte(base64.StdEncoding.EncodeToString(holderPub)))
	ns.add("holder public key (hex)", []byte(hex.EncodeToString(holderPub)))
	ns.add("VRF proof", c.Proof)

	var skip []int // byte offsets of the issuer name in the DER
	name := []byte(issuerName)
	for i := 0; ; {
		j := bytes.Index(c.DER[i:], name)
		if j < 0 {
			break
		}
		skip = append(skip, i+j)
		i += j + 1
	}
	if len(skip) == 0 {
		panic("issuer name not in the certificate")
	}
windows:
	for i := 0; i+windowSize <= len(c.DER); i++ {
		for _, s := range skip {
			if i < s+len(name) && s < i+windowSize {
				continue windows
			}
		}
		ns.add(fmt.Sprintf("certificate DER[%d:%d]", i, i+windowSize), c.DER[i:i+windowSize])
	}
	return ns
}

func (f *piiFixture) needles() needles {
	ns := personalNeedles(piiPerson)
	for i, c := range f.certs {
		ns = append(ns, certNeedles(c, f.holderPub[i], f.issuer.Name())...)
	}
	return ns
}

// contains reports whether needle occurs in haystack.
func contains(haystack, needle []byte) bool { return bytes.Contains(haystack, needle) }

// findPII returns one line for every needle found in a haystack.
func findPII(haystacks map[string][]byte, ns needles) []string {
	var found []string
	for name, h := range haystacks {
		for _, n := range ns {
			if contains(h, n.b) {
				found = append(found, fmt.Sprintf("%s in %s", n.what, name))
			}
		}
	}
	return found
}

func TestNoPersonalDataInEntries(t *testing.T) {
	f := newPIIFixture(t)
	hay := f.haystacks(t)
	ns := f.needles()
	for _, n := range ns {
		if len(n.b) < minNeedle {
			t.Fatalf("needle %q is %d bytes", n.what, len(n.b))
		}
	}
	for _, found := range findPII(hay, ns) {
		t.Errorf("personal data in the log: %s", found)
	}
	t.Logf("searched %d entries and signed messages for %d needles", len(hay), len(ns))

	// The haystacks are the real thing: the label and the credential ID,
	// which entries carry by design, are found.
	for _, tt := range []struct {
		hay  string
		cert int
	}{
		{"issue entry", 0}, {"issue signed message", 0}, {"suspend entry", 0}, {"resume entry", 0},
		{"reissue entry", 0}, {"reissue entry", 1}, {"revoke entry", 1}, {"revoke signed message", 1},
	} {
		label, id := f.labels[tt.cert], f.certs[tt.cert].ID
		if !contains(hay[tt.hay], label[:]) || !contains(hay[tt.hay], id[:]) {
			t.Errorf("%s does not carry the label and ID of certificate %d", tt.hay, tt.cert)
		}
	}
}

func TestContains(t *testing.T) {
	id := []byte(piiPerson.idNumber)
	for _, tt := range []struct {
		hay  string
		want bool
	}{
		{piiPerson.idNumber, true},
		{"\x00\x01" + piiPerson.idNumber, true},
		{piiPerson.idNumber + "\x00", true},
		{"xx" + piiPerson.idNumber + "yy", true},
		{piiPerson.idNumber[:10], false},
		{"4940313652 6", false},
		{"", false},
	} {
		if got := contains([]byte(tt.hay), id); got != tt.want {
			t.Errorf("contains(%q, %q) = %v", tt.hay, id, got)
		}
	}
}

// TestPIICheckFindsPlanted plants personal data into otherwise valid,
// signed events and checks that the search reports each plant: the test
// above can fail.
func TestPIICheckFindsPlanted(t *testing.T) {
	f := newPIIFixture(t)
	ev := func(name string) *entry.Event {
		for _, ne := range f.events {
			if ne.name == name {
				return ne.ev
			}
		}
		t.Fatalf("no %s event", name)
		return nil
	}
	var be [8]byte
	binary.BigEndian.PutUint64(be[:], 49403136526)
	subjectHash := sha256.Sum256(credential.SubjectInput(piiPerson.idNumber))

	ev("issue").Issuer = piiPerson.idNumber          // ID number as the issuer name
	copy(ev("issue").Commitment[:], be[:])           // as a binary integer
	ev("reissue").Subject = entry.Hash(subjectHash)  // a hash for a label
	copy(ev("map-root").MapRoot[:], f.certs[0].DER)  // the start of a certificate
	copy(ev("revoke").Credential[:], f.holderPub[1]) // the holder key for a credential ID
	ev("suspend").Credential = entry.Hash(bcdHash(bcd("37251234567", true, false)))

	found := map[string]bool{}
	for _, s := range findPII(f.haystacks(t), f.needles()) {
		found[s] = true
	}
	for _, want := range []string{
		"ID number (UTF-8) in issue entry",
		"ID number (UTF-8) in issue signed message",
		"ID number (big-endian, 8 bytes) in issue entry",
		"ID number (big-endian, minimal) in issue entry",
		"SubjectInput (SHA-256) in reissue entry",
		"certificate DER[0:16] in map-root entry",
		"holder public key in revoke entry",
		"phone digits (BCD, swap=true, pad front=false) in suspend entry",
	} {
		if !found[want] {
			t.Errorf("planted %s: not found", want)
		}
	}
	for s := range found {
		for _, clean := range []string{"resume", "issuer-key", "issuer-key rotation"} {
			if strings.HasSuffix(s, " in "+clean+" entry") || strings.HasSuffix(s, " in "+clean+" signed message") {
				t.Errorf("personal data reported in the clean %s event: %s", clean, s)
			}
		}
	}
}

// bcdHash pads b with 0xff to a hash.
func bcdHash(b []byte) [32]byte {
	var h [32]byte
	for i := range h {
		h[i] = 0xff
	}
	copy(h[:], b)
	return h
}
