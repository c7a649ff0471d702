package entry_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/credlog/credlog/log/credential"
	"github.com/credlog/credlog/log/entry"
	"github.com/credlog/credlog/log/keys"
	"github.com/credlog/credlog/log/tiles"
	"github.com/credlog/credlog/log/tlogproof"
	"github.com/credlog/credlog/log/vrf"
)

// This file keeps docs/FORMAT.md honest: it rebuilds the document's worked
// example from the same fixed inputs and checks that every value the
// document shows is what the code produces, byte for byte.

const formatDocPath = "../../docs/FORMAT.md"

// The worked example's fixed inputs (docs/FORMAT.md, "Worked example").
const (
	// RFC 8032, Section 7.1, TEST 1 secret key: the issuer's signing key.
	docIssuerSeed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	// RFC 8032, Section 7.1, TEST 2 secret key (RFC 9381, Appendix B.3,
	// Example 17): the issuer's VRF key.
	docVRFSeed = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"
	// RFC 8032, Section 7.1, TEST 3 secret key: the log's key.
	docLogSeed = "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7"

	docIssuer    = "id.example.gov"
	docOrigin    = "log.example.org/credlog"
	docIDNumber  = "0123456789"
	docCredInput = "credlog example credential"
	docTime      = 1767225600 // 2026-01-01T00:00:00Z
	docNotBefore = 1767225600 // 2026-01-01T00:00:00Z
	docNotAfter  = 1798761600 // 2027-01-01T00:00:00Z
)

// docExample is the worked example, built from the fixed inputs.
type docExample struct {
	issuerKey ed25519.PrivateKey
	vrfKey    *vrf.PrivateKey
	logKey    ed25519.PrivateKey
	alpha     []byte // VRF input
	proof     []byte // VRF proof
	beta      []byte // VRF output
	ev        *entry.Event
	raw       []byte // the entry
}

func docSeed(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("bad seed %q", s)
	}
	return b
}

func buildDocExample(t *testing.T) *docExample {
	t.Helper()
	x := &docExample{
		issuerKey: ed25519.NewKeyFromSeed(docSeed(t, docIssuerSeed)),
		logKey:    ed25519.NewKeyFromSeed(docSeed(t, docLogSeed)),
	}
	var err error
	if x.vrfKey, err = vrf.NewKeyFromSeed(docSeed(t, docVRFSeed)); err != nil {
		t.Fatal(err)
	}
	x.alpha = credential.SubjectInput(docIDNumber)
	x.proof = x.vrfKey.Prove(x.alpha)
	if x.beta, err = vrf.Verify(x.vrfKey.PublicKey(), x.proof, x.alpha); err != nil {
		t.Fatal(err)
	}
	x.ev = &entry.Event{
		Type:       entry.TypeIssue,
		Issuer:     docIssuer,
		KeyID:      keys.KeyID(docIssuer, x.issuerKey.Public().(ed25519.PublicKey)),
		Time:       docTime,
		Subject:    credential.Label(x.beta),
		Credential: credential.ID([]byte(docCredInput)),
		NotBefore:  docNotBefore,
		NotAfter:   docNotAfter,
		Version:    1,
	}
	if err := x.ev.Sign(x.issuerKey); err != nil {
		t.Fatal(err)
	}
	if x.raw, err = x.ev.Marshal(); err != nil {
		t.Fatal(err)
	}
	return x
}

// docField is one field of the annotated example.
type docField struct {
	label string
	value []byte // the bytes the field must hold, derived from the event
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// docFields lists the example's fields in the order and with the widths
// that docs/FORMAT.md specifies for an issue event without supersedes.
func docFields(ev *entry.Event) []docField {
	return []docField{
		{"version = 1", []byte{entry.Version}},
		{"type = 1 (issue)", []byte{byte(ev.Type)}},
		{fmt.Sprintf("issuer name length = %d", len(ev.Issuer)), []byte{byte(len(ev.Issuer))}},
		{fmt.Sprintf("issuer name = %q", ev.Issuer), []byte(ev.Issuer)},
		{fmt.Sprintf("key ID = %08x", ev.KeyID), be32(ev.KeyID)},
		{fmt.Sprintf("time = %d", ev.Time), be64(ev.Time)},
		{"subject label", ev.Subject[:]},
		{"credential ID", ev.Credential[:]},
		{fmt.Sprintf("not before = %d", ev.NotBefore), be64(ev.NotBefore)},
		{fmt.Sprintf("not after = %d", ev.NotAfter), be64(ev.NotAfter)},
		{fmt.Sprintf("subject version = %d", ev.Version), be32(ev.Version)},
		{"supersedes flag = 0 (no superseded credential)", []byte{0}},
		{"commitment (unused: all zero)", ev.Commitment[:]},
		{"signature", ev.Signature[:]},
	}
}

// annotate renders the annotated hex block of the example: one line per
// field (32 bytes at most per line), with its decimal offset.
func annotate(t *testing.T, raw []byte, fields []docField) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%3s  %-64s  %s\n", "off", "bytes (hex)", "field")
	off := 0
	for _, f := range fields {
		if off+len(f.value) > len(raw) || !bytes.Equal(raw[off:off+len(f.value)], f.value) {
			t.Fatalf("field %q: encoding at offset %d does not hold %x", f.label, off, f.value)
		}
		for i := 0; i < len(f.value); i += 32 {
			label := f.label
			if i > 0 {
				label = "  (continued)"
			}
			line := fmt.Sprintf("%3d  %-64s  %s", off+i, hex.EncodeToString(f.value[i:min(i+32, len(f.value))]), label)
			b.WriteString(strings.TrimRight(line, " ") + "\n")
		}
		off += len(f.value)
	}
	if off != len(raw) {
		t.Fatalf("fields cover %d bytes of a %d-byte encoding", off, len(raw))
	}
	return b.String()
}

// wrapHex renders b as hex, 64 digits a line.
func wrapHex(b []byte) string {
	h := hex.EncodeToString(b)
	var s strings.Builder
	for len(h) > 64 {
		s.WriteString(h[:64] + "\n")
		h = h[64:]
	}
	s.WriteString(h + "\n")
	return s.String()
}

// codeBlocks returns the contents of the fenced code blocks of a Markdown
// document.
func codeBlocks(doc string) []string {
	var out []string
	var cur *strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "```") {
			if cur == nil {
				cur = new(strings.Builder)
			} else {
				out = append(out, cur.String())
				cur = nil
			}
			continue
		}
		if cur != nil {
			cur.WriteString(line + "\n")
		}
	}
	return out
}

func stripSpace(s string) string {
	return strings.Join(strings.Fields(s), "")
}

func readFormatDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(formatDocPath)
	if err != nil {
		t.Fatalf("couldn't read the format document: %v", err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

// requireBlock checks that doc has a code block whose content, with all
// whitespace removed, is want with all whitespace removed.
func requireBlock(t *testing.T, doc, what, want string) {
	t.Helper()
	w := stripSpace(want)
	for _, blk := range codeBlocks(doc) {
		if stripSpace(blk) == w {
			return
		}
	}
	t.Errorf("docs/FORMAT.md has no code block with the %s; want:\n%s", what, want)
}

// requireText checks that doc contains want verbatim.
func requireText(t *testing.T, doc, what, want string) {
	t.Helper()
	if !strings.Contains(doc, want) {
		t.Errorf("docs/FORMAT.md does not contain the %s; want:\n%s", what, want)
	}
}

// TestFormatDocExample checks the worked example of docs/FORMAT.md.
func TestFormatDocExample(t *testing.T) {
	doc := readFormatDoc(t)
	x := buildDocExample(t)

	// The entry parses back to the same event, and its signature is the
	// Ed25519 signature of the prefix and every byte before the signature.
	got, err := entry.Parse(x.raw)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if b, _ := got.Marshal(); !bytes.Equal(b, x.raw) {
		t.Fatal("the example does not re-encode to the same bytes")
	}
	issuerPub := x.issuerKey.Public().(ed25519.PublicKey)
	if err := got.VerifySignature(issuerPub); err != nil {
		t.Fatal(err)
	}
	sigAt := len(x.raw) - entry.SignatureSize
	msg := append([]byte(entry.SignaturePrefix), x.raw[:sigAt]...)
	if !ed25519.Verify(issuerPub, msg, x.raw[sigAt:]) {
		t.Fatal("the signature is not over SignaturePrefix || encoding without signature")
	}
	if sm, _ := x.ev.SignedMessage(); !bytes.Equal(sm, msg) {
		t.Fatal("SignedMessage differs from SignaturePrefix || encoding without signature")
	}

	// Inputs and derived values.
	// The key texts parse back to the same keys.
	issuerSkey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", docIssuer, x.ev.KeyID,
		base64.StdEncoding.EncodeToString(append([]byte{1}, docSeed(t, docIssuerSeed)...)))
	is, err := keys.ParseSigner(issuerSkey)
	if err != nil || is.KeyID() != x.ev.KeyID || !is.Public().Equal(issuerPub) {
		t.Fatalf("ParseSigner(%q) = %v", issuerSkey, err)
	}
	vrfPriv := "PRIVATE+VRF+" + docIssuer + "+" + base64.StdEncoding.EncodeToString(x.vrfKey.Seed())
	if name, k, err := keys.ParseVRFPrivate(vrfPriv); err != nil || name != docIssuer || !bytes.Equal(k.PublicKey(), x.vrfKey.PublicKey()) {
		t.Fatalf("ParseVRFPrivate(%q) = %v", vrfPriv, err)
	}
	vrfPub := keys.VRFPublicKey(docIssuer, x.vrfKey.PublicKey())
	if name, pub, err := keys.ParseVRFPublic(vrfPub); err != nil || name != docIssuer || !bytes.Equal(pub, x.vrfKey.PublicKey()) {
		t.Fatalf("ParseVRFPublic(%q) = %v", vrfPub, err)
	}
	requireText(t, doc, "issuer verifier key", is.VerifierKey())
	requireText(t, doc, "issuer private key text", issuerSkey)
	requireText(t, doc, "VRF public key text", vrfPub)
	requireText(t, doc, "VRF private key text", vrfPriv)
	requireText(t, doc, "key ID", fmt.Sprintf("%08x", x.ev.KeyID))
	requireText(t, doc, "VRF input", hex.EncodeToString(x.alpha))
	requireBlock(t, doc, "VRF proof", wrapHex(x.proof))
	requireBlock(t, doc, "VRF output", wrapHex(x.beta))
	requireText(t, doc, "subject label", hex.EncodeToString(x.ev.Subject[:]))
	requireText(t, doc, "credential ID", hex.EncodeToString(x.ev.Credential[:]))
	requireText(t, doc, "signature prefix", hex.EncodeToString([]byte(entry.SignaturePrefix)))

	// A credential issued with the same keys carries the same proof, in
	// the subject proof extension, and yields the same label.
	holder := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	der, label, err := credential.Issue(&credential.Template{IDNumber: docIDNumber, HolderKey: holder,
		NotBefore: time.Unix(docNotBefore, 0), NotAfter: time.Unix(docNotAfter, 0)}, docIssuer, x.issuerKey, x.vrfKey)
	if err != nil {
		t.Fatal(err)
	}
	if label != x.ev.Subject {
		t.Fatal("credential.Issue gives another subject label")
	}
	c, err := credential.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := c.Label(x.vrfKey.PublicKey()); err != nil || l != label || !bytes.Equal(c.Proof, x.proof) {
		t.Fatalf("credential label %x, %v; proof %x", l, err, c.Proof)
	}
	var ext []byte
	for _, e := range c.Certificate.Extensions {
		if e.Id.Equal(credential.OIDSubjectProof) {
			if e.Critical {
				t.Error("the subject proof extension is critical")
			}
			ext = e.Value
		}
	}
	requireBlock(t, doc, "subject proof extension value", wrapHex(ext))

	// The annotated encoding, the full hex and its length.
	requireText(t, doc, "annotated encoding", annotate(t, x.raw, docFields(x.ev)))
	requireBlock(t, doc, "full encoding", wrapHex(x.raw))
	requireText(t, doc, "total length", fmt.Sprintf("Total length: %d bytes.", len(x.raw)))

	// The leaf hash: RFC 6962 SHA-256(0x00 || entry).
	leaf := sha256.Sum256(append([]byte{0}, x.raw...))
	if leaf != tiles.LeafHash(x.raw) {
		t.Fatal("tiles.LeafHash is not SHA-256(0x00 || entry)")
	}
	requireText(t, doc, "leaf hash", hex.EncodeToString(leaf[:]))

	// The entry bundle of a log holding only this entry.
	bu, err := tiles.NewBuilder(0, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := bu.Append([][]byte{x.raw})
	if err != nil {
		t.Fatal(err)
	}
	bundle := u.Bundles[0]
	if !bytes.Equal(bundle, append(be16(len(x.raw)), x.raw...)) {
		t.Fatal("the entry bundle is not uint16 length || entry")
	}
	requireText(t, doc, "bundle length prefix", fmt.Sprintf("`%x`", bundle[:2]))
	if u.Root != leaf {
		t.Fatal("the root of a one-entry tree is not its leaf hash")
	}

	// The checkpoint and tlog-proof of that one-entry log, signed as the
	// sequencer signs them.
	logSkey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", docOrigin,
		keys.KeyID(docOrigin, x.logKey.Public().(ed25519.PublicKey)),
		base64.StdEncoding.EncodeToString(append([]byte{1}, docSeed(t, docLogSeed)...)))
	logSigner, err := keys.ParseSigner(logSkey)
	if err != nil {
		t.Fatal(err)
	}
	cp := log.Checkpoint{Origin: docOrigin, Size: u.Size, Hash: u.Root[:]}
	signed, err := note.Sign(&note.Note{Text: string(cp.Marshal())}, logSigner.NoteSigner())
	if err != nil {
		t.Fatal(err)
	}
	proof := &tlogproof.Proof{Index: 0, Checkpoint: signed}
	pt := proof.Marshal()
	pp, err := tlogproof.Parse(pt)
	if err != nil {
		t.Fatal(err)
	}
	lv, err := keys.ParseVerifier(logSigner.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := pp.Verify(x.raw, docOrigin, lv.NoteVerifier()); err != nil {
		t.Fatalf("the example tlog-proof does not verify: %v", err)
	}
	requireText(t, doc, "log verifier key", logSigner.VerifierKey())
	requireText(t, doc, "example tlog-proof", string(pt))
}

func be16(n int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(n)) }

// TestFormatDocTables checks the code tables and entry sizes of
// docs/FORMAT.md against the package.
func TestFormatDocTables(t *testing.T) {
	doc := readFormatDoc(t)
	var types, reasons int
	for v := 0; v < 256; v++ {
		if ty := entry.Type(v); ty.Valid() {
			types++
			requireText(t, doc, "type row", fmt.Sprintf("| %d | `%s` |", v, ty))
		}
		if r := entry.Reason(v); r.Valid() {
			reasons++
			requireText(t, doc, "reason row", fmt.Sprintf("| %d | `%s` |", v, r))
		}
	}
	if types != 6 || reasons != 6 {
		t.Errorf("%d types and %d reasons; the document lists 6 of each", types, reasons)
	}

	// Entry sizes, as a function of the issuer name length n: the fixed
	// part is measured with a one-byte name.
	var one entry.Hash
	one[0] = 1
	sizes := []struct {
		row string
		ev  entry.Event
	}{
		{"`issue`, no supersedes", entry.Event{Type: entry.TypeIssue, Subject: one, Credential: one, NotAfter: 1, Version: 1}},
		{"`issue`, with supersedes", entry.Event{Type: entry.TypeIssue, Subject: one, Credential: one, NotAfter: 1, Version: 1, Supersedes: &entry.Hash{}}},
		{"`revoke`, `suspend`", entry.Event{Type: entry.TypeRevoke, Subject: one, Credential: one, Reason: entry.ReasonOther}},
		{"`resume`", entry.Event{Type: entry.TypeResume, Subject: one, Credential: one}},
		{"`issuer-key`", entry.Event{Type: entry.TypeIssuerKey, PublicKey: one, VRFKey: one}},
		{"`map-root`", entry.Event{Type: entry.TypeMapRoot, TreeSize: 1}},
	}
	for _, s := range sizes {
		ev := s.ev
		ev.Issuer, ev.Time = "a", 1
		b, err := ev.Marshal()
		if err != nil {
			t.Fatalf("%s: %v", s.row, err)
		}
		fixed := len(b) - 1
		requireText(t, doc, "size row", fmt.Sprintf("| %s | %d + n | %d | %d |", s.row, fixed, fixed+1, fixed+entry.MaxNameLen))
	}
	requireText(t, doc, "signature prefix", fmt.Sprintf("%q", entry.SignaturePrefix))
	requireText(t, doc, "VRF input prefix", hex.EncodeToString([]byte(credential.SubjectInputPrefix)))
	requireText(t, doc, "subject proof OID", credential.OIDSubjectProof.String())
}
