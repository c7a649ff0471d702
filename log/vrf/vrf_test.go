package vrf

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"filippo.io/edwards25519"
)

const vectorsFile = "testdata/rfc9381-edwards25519-sha512-tai.json"

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	*h = d
	return nil
}

type vector struct {
	Name    string   `json:"name"`
	SK      hexBytes `json:"sk"`
	PK      hexBytes `json:"pk"`
	Alpha   hexBytes `json:"alpha"`
	X       hexBytes `json:"x"`
	Ctr     int      `json:"ctr"`
	H       hexBytes `json:"h"`
	KString hexBytes `json:"k_string"`
	K       hexBytes `json:"k"`
	U       hexBytes `json:"u"`
	V       hexBytes `json:"v"`
	Pi      hexBytes `json:"pi"`
	Beta    hexBytes `json:"beta"`
}

func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	data, err := os.ReadFile(vectorsFile)
	if err != nil {
		tb.Fatal(err)
	}
	var file struct {
		Note    string   `json:"note"`
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		tb.Fatal(err)
	}
	if len(file.Vectors) != 3 {
		tb.Fatalf("got %d vectors, want 3", len(file.Vectors))
	}
	for _, v := range file.Vectors {
		if len(v.SK) != SeedSize || len(v.PK) != PublicKeySize || len(v.X) != 32 ||
			len(v.H) != 32 || len(v.KString) != 64 || len(v.K) != 32 || len(v.U) != 32 ||
			len(v.V) != 32 || len(v.Pi) != ProofSize || len(v.Beta) != OutputSize {
			tb.Fatalf("%s: field with wrong length", v.Name)
		}
	}
	return file.Vectors
}

func mustKey(tb testing.TB, seed []byte) *PrivateKey {
	tb.Helper()
	k, err := NewKeyFromSeed(seed)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			k := mustKey(t, v.SK)
			if got := k.PublicKey(); !bytes.Equal(got, v.PK) {
				t.Errorf("PublicKey = %x, want %x", got, v.PK)
			}
			if got := k.Seed(); !bytes.Equal(got, v.SK) {
				t.Errorf("Seed = %x, want %x", got, v.SK)
			}
			pi := k.Prove(v.Alpha)
			if !bytes.Equal(pi, v.Pi) {
				t.Errorf("Prove = %x, want %x", pi, v.Pi)
			}
			beta, err := Verify(v.PK, v.Pi, v.Alpha)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !bytes.Equal(beta, v.Beta) {
				t.Errorf("Verify beta = %x, want %x", beta, v.Beta)
			}
			beta, err = ProofToHash(v.Pi)
			if err != nil {
				t.Fatalf("ProofToHash: %v", err)
			}
			if !bytes.Equal(beta, v.Beta) {
				t.Errorf("ProofToHash = %x, want %x", beta, v.Beta)
			}
		})
	}
}

// TestVectorIntermediates checks every intermediate value that the RFC
// publishes, so that a mistake is located to a single step.
func TestVectorIntermediates(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			k := mustKey(t, v.SK)

			// x is printed as the clamped, unreduced scalar string.
			h := sha512.Sum512(v.SK)
			clamped := h[:32]
			clamped[0] &= 248
			clamped[31] &= 127
			clamped[31] |= 64
			if !bytes.Equal(clamped, v.X) {
				t.Errorf("x = %x, want %x", clamped, v.X)
			}
			if !bytes.Equal(k.prefix[:], h[32:]) {
				t.Errorf("prefix mismatch")
			}
			wantX, err := edwards25519.NewScalar().SetUniformBytes(append(bytes.Clone(v.X), make([]byte, 32)...))
			if err != nil {
				t.Fatal(err)
			}
			if k.x.Equal(wantX) != 1 {
				t.Errorf("scalar x = %x, want %x mod L", k.x.Bytes(), v.X)
			}

			H, ctr := encodeToCurve(v.PK, v.Alpha)
			if ctr != v.Ctr {
				t.Errorf("try_and_increment ctr = %d, want %d", ctr, v.Ctr)
			}
			hString := H.Bytes()
			if !bytes.Equal(hString, v.H) {
				t.Errorf("H = %x, want %x", hString, v.H)
			}

			kString := nonceHash(&k.prefix, hString)
			if !bytes.Equal(kString[:], v.KString) {
				t.Errorf("k_string = %x, want %x", kString, v.KString)
			}
			nonce := nonceScalar(&k.prefix, hString)
			if got := nonce.Bytes(); !bytes.Equal(got, v.K) {
				t.Errorf("k = %x, want %x", got, v.K)
			}
			if got := new(edwards25519.Point).ScalarBaseMult(nonce).Bytes(); !bytes.Equal(got, v.U) {
				t.Errorf("U = %x, want %x", got, v.U)
			}
			if got := new(edwards25519.Point).ScalarMult(nonce, H).Bytes(); !bytes.Equal(got, v.V) {
				t.Errorf("V = %x, want %x", got, v.V)
			}
			gamma := new(edwards25519.Point).ScalarMult(&k.x, H).Bytes()
			if !bytes.Equal(gamma, v.Pi[:32]) {
				t.Errorf("Gamma = %x, want %x", gamma, v.Pi[:32])
			}
			c := challenge(v.PK, v.H, v.Pi[:32], v.U, v.V)
			if !bytes.Equal(c[:], v.Pi[32:48]) {
				t.Errorf("c = %x, want %x", c, v.Pi[32:48])
			}
		})
	}
}

func isRejection(err error) bool {
	return errors.Is(err, ErrInvalidProof) || errors.Is(err, ErrMalformedProof)
}

func TestBitFlipsRejected(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			for i := 0; i < ProofSize*8; i++ {
				pi := bytes.Clone(v.Pi)
				pi[i/8] ^= 1 << (i % 8)
				beta, err := Verify(v.PK, pi, v.Alpha)
				if !isRejection(err) || beta != nil {
					t.Errorf("bit %d flipped: Verify = %x, %v; want rejection", i, beta, err)
				}
			}
		})
	}
}

func TestWrongAlphaAndKey(t *testing.T) {
	vs := loadVectors(t)
	for i, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			for _, alpha := range [][]byte{append(bytes.Clone(v.Alpha), 0), []byte("something else"), vs[(i+1)%len(vs)].Alpha} {
				if _, err := Verify(v.PK, v.Pi, alpha); !errors.Is(err, ErrInvalidProof) {
					t.Errorf("Verify with alpha %x: err = %v, want ErrInvalidProof", alpha, err)
				}
			}
			if len(v.Alpha) > 0 {
				if _, err := Verify(v.PK, v.Pi, v.Alpha[:len(v.Alpha)-1]); !errors.Is(err, ErrInvalidProof) {
					t.Errorf("Verify with truncated alpha: err = %v, want ErrInvalidProof", err)
				}
			}
			other := vs[(i+1)%len(vs)].PK
			if _, err := Verify(other, v.Pi, v.Alpha); !errors.Is(err, ErrInvalidProof) {
				t.Errorf("Verify with other key: err = %v, want ErrInvalidProof", err)
			}
			// Proof from another vector.
			if _, err := Verify(v.PK, vs[(i+1)%len(vs)].Pi, v.Alpha); !errors.Is(err, ErrInvalidProof) {
				t.Errorf("Verify with other proof: err = %v, want ErrInvalidProof", err)
			}
		})
	}
}

func TestMalformedProofs(t *testing.T) {
	v := loadVectors(t)[0]

	for _, n := range []int{0, 1, 31, 32, 48, 79, 81, 96, 160} {
		pi := make([]byte, n)
		copy(pi, v.Pi)
		if _, err := Verify(v.PK, pi, v.Alpha); !errors.Is(err, ErrMalformedProof) {
			t.Errorf("len %d: Verify err = %v, want ErrMalformedProof", n, err)
		}
		if _, err := ProofToHash(pi); !errors.Is(err, ErrMalformedProof) {
			t.Errorf("len %d: ProofToHash err = %v, want ErrMalformedProof", n, err)
		}
	}
	if _, err := Verify(v.PK, nil, v.Alpha); !errors.Is(err, ErrMalformedProof) {
		t.Errorf("nil proof: err = %v, want ErrMalformedProof", err)
	}
	if _, err := Verify(v.PK, append(bytes.Clone(v.Pi), 0), v.Alpha); !errors.Is(err, ErrMalformedProof) {
		t.Errorf("extended proof: err = %v, want ErrMalformedProof", err)
	}

	// s >= L.
	order, _ := hex.DecodeString("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
	sPlus, _ := hex.DecodeString("eed3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
	allOnes := bytes.Repeat([]byte{0xff}, 32)
	// s + L, which is congruent to the valid s and would verify if s were
	// reduced rather than rejected.
	sPlusL := addLE(v.Pi[48:], order)
	for name, s := range map[string][]byte{"L": order, "L+1": sPlus, "2^256-1": allOnes, "s+L": sPlusL} {
		pi := append(bytes.Clone(v.Pi[:48]), s...)
		if _, err := Verify(v.PK, pi, v.Alpha); !errors.Is(err, ErrMalformedProof) {
			t.Errorf("s = %s: Verify err = %v, want ErrMalformedProof", name, err)
		}
		if _, err := ProofToHash(pi); !errors.Is(err, ErrMalformedProof) {
			t.Errorf("s = %s: ProofToHash err = %v, want ErrMalformedProof", name, err)
		}
	}

	// Gamma not on the curve (y = 2 has no x), and non-canonical encodings.
	for name, g := range map[string]string{
		"not on curve":    "0200000000000000000000000000000000000000000000000000000000000000",
		"y = p (0)":       "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"y = p+1 (1)":     "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"x = 0, sign bit": "0100000000000000000000000000000000000000000000000000000000000080",
		"all ones":        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	} {
		gb, _ := hex.DecodeString(g)
		pi := append(gb, v.Pi[32:]...)
		if _, err := Verify(v.PK, pi, v.Alpha); !errors.Is(err, ErrMalformedProof) {
			t.Errorf("Gamma %s: Verify err = %v, want ErrMalformedProof", name, err)
		}
		if _, err := ProofToHash(pi); !errors.Is(err, ErrMalformedProof) {
			t.Errorf("Gamma %s: ProofToHash err = %v, want ErrMalformedProof", name, err)
		}
	}
}

// addLE returns a+b for 32-byte little-endian a and b, which must not
// overflow.
func addLE(a, b []byte) []byte {
	out := make([]byte, 32)
	var carry uint16
	for i := range out {
		t := uint16(a[i]) + uint16(b[i]) + carry
		out[i] = byte(t)
		carry = t >> 8
	}
	if carry != 0 {
		panic("overflow")
	}
	return out
}

// smallOrderEncodings are the canonical encodings of the eight points of
// order dividing 8.
var smallOrderEncodings = []string{
	"0100000000000000000000000000000000000000000000000000000000000000", // identity
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
	"0000000000000000000000000000000000000000000000000000000000000000", // order 4
	"0000000000000000000000000000000000000000000000000000000000000080", // order 4
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
}

func TestInvalidPublicKeys(t *testing.T) {
	v := loadVectors(t)[0]
	identity := edwards25519.NewIdentityPoint()

	seen := map[string]bool{}
	for _, e := range smallOrderEncodings {
		pk, _ := hex.DecodeString(e)
		// Sanity check of the table: a canonical encoding of a point whose
		// order divides 8.
		p, ok := decodePoint(pk)
		if !ok {
			t.Fatalf("%s does not decode", e)
		}
		if new(edwards25519.Point).MultByCofactor(p).Equal(identity) != 1 {
			t.Fatalf("%s is not of small order", e)
		}
		seen[e] = true
		if _, err := Verify(pk, v.Pi, v.Alpha); !errors.Is(err, ErrInvalidPublicKey) {
			t.Errorf("small-order key %s: err = %v, want ErrInvalidPublicKey", e, err)
		}
	}
	if len(seen) != 8 {
		t.Fatalf("small-order table has %d distinct entries", len(seen))
	}

	// The eight small-order points are exactly the torsion subgroup: adding
	// any of them to the identity and to each other stays in the table.
	for _, a := range smallOrderEncodings {
		for _, b := range smallOrderEncodings {
			pa, _ := decodePoint(mustHex(t, a))
			pb, _ := decodePoint(mustHex(t, b))
			sum := hex.EncodeToString(new(edwards25519.Point).Add(pa, pb).Bytes())
			if !seen[sum] {
				t.Fatalf("%s + %s = %s, not in the table", a, b, sum)
			}
		}
	}

	bad := map[string]string{
		"not on curve":               "0200000000000000000000000000000000000000000000000000000000000000",
		"identity with sign bit":     "0100000000000000000000000000000000000000000000000000000000000080",
		"order 2 with sign bit":      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"identity as y = p+1":        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"order 4 as y = p":           "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"order 4 as y = p, sign bit": "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"non-canonical y = p+2":      "efffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	}
	for name, e := range bad {
		pk := mustHex(t, e)
		if _, err := Verify(pk, v.Pi, v.Alpha); !errors.Is(err, ErrInvalidPublicKey) {
			t.Errorf("%s: err = %v, want ErrInvalidPublicKey", name, err)
		}
	}

	for _, n := range []int{0, 1, 31, 33, 64} {
		pk := make([]byte, n)
		copy(pk, v.PK)
		if _, err := Verify(pk, v.Pi, v.Alpha); !errors.Is(err, ErrInvalidPublicKey) {
			t.Errorf("len %d: err = %v, want ErrInvalidPublicKey", n, err)
		}
	}
	if _, err := Verify(nil, v.Pi, v.Alpha); !errors.Is(err, ErrInvalidPublicKey) {
		t.Errorf("nil key: err = %v, want ErrInvalidPublicKey", err)
	}

	// The vector key with its sign bit flipped encodes -Y, a valid key
	// under which the proof must not verify.
	negY := bytes.Clone(v.PK)
	negY[31] ^= 0x80
	if _, err := Verify(negY, v.Pi, v.Alpha); !errors.Is(err, ErrInvalidProof) {
		t.Errorf("negated key: err = %v, want ErrInvalidProof", err)
	}

	// A key with a small-order component but not itself of small order is
	// a valid point (RFC 9381 only rejects keys of small order); proofs made
	// for the honest key must not verify under it.
	torsion, _ := decodePoint(mustHex(t, smallOrderEncodings[4]))
	y, _ := decodePoint(v.PK)
	mixed := new(edwards25519.Point).Add(y, torsion).Bytes()
	if _, err := Verify(mixed, v.Pi, v.Alpha); !errors.Is(err, ErrInvalidProof) {
		t.Errorf("key with torsion component: err = %v, want ErrInvalidProof", err)
	}
}

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestNewKeyFromSeedLength(t *testing.T) {
	for _, n := range []int{0, 1, 31, 33, 64} {
		if k, err := NewKeyFromSeed(make([]byte, n)); err == nil || k != nil {
			t.Errorf("NewKeyFromSeed(len %d) = %v, %v; want error", n, k, err)
		}
	}
	if _, err := NewKeyFromSeed(nil); err == nil {
		t.Error("NewKeyFromSeed(nil) succeeded")
	}
}

func TestGenerateKeyReader(t *testing.T) {
	seed := bytes.Repeat([]byte{0x42}, SeedSize)
	k, err := GenerateKey(bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.Seed(), seed) {
		t.Errorf("Seed = %x, want %x", k.Seed(), seed)
	}
	if _, err := GenerateKey(bytes.NewReader(seed[:SeedSize-1])); err == nil {
		t.Error("GenerateKey with short reader succeeded")
	}
}

func TestKeyAccessorsCopy(t *testing.T) {
	k, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	seed, pk := k.Seed(), k.PublicKey()
	s2, p2 := k.Seed(), k.PublicKey()
	s2[0] ^= 0xff
	p2[0] ^= 0xff
	if !bytes.Equal(k.Seed(), seed) || !bytes.Equal(k.PublicKey(), pk) {
		t.Error("Seed or PublicKey returned internal storage")
	}
	if len(seed) != SeedSize || len(pk) != PublicKeySize {
		t.Errorf("lengths %d, %d", len(seed), len(pk))
	}
}

func TestRoundTrip(t *testing.T) {
	for i := 0; i < 32; i++ {
		k, err := GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		// The key form is that of Ed25519.
		edPub := ed25519.NewKeyFromSeed(k.Seed()).Public().(ed25519.PublicKey)
		if !bytes.Equal(edPub, k.PublicKey()) {
			t.Fatalf("public key %x differs from Ed25519 public key %x", k.PublicKey(), edPub)
		}
		k2 := mustKey(t, k.Seed())
		if !bytes.Equal(k2.PublicKey(), k.PublicKey()) || !bytes.Equal(k2.Seed(), k.Seed()) ||
			k2.x.Equal(&k.x) != 1 || k2.prefix != k.prefix {
			t.Fatal("NewKeyFromSeed(Seed()) differs")
		}

		alpha := make([]byte, i*7)
		rand.Read(alpha)
		pi := k.Prove(alpha)
		if len(pi) != ProofSize {
			t.Fatalf("proof length %d", len(pi))
		}
		if pi2 := k.Prove(alpha); !bytes.Equal(pi, pi2) {
			t.Fatal("Prove is not deterministic")
		}
		if pi3 := k2.Prove(alpha); !bytes.Equal(pi, pi3) {
			t.Fatal("Prove differs for a key rebuilt from its seed")
		}
		beta, err := Verify(k.PublicKey(), pi, alpha)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if len(beta) != OutputSize {
			t.Fatalf("beta length %d", len(beta))
		}
		beta2, err := ProofToHash(pi)
		if err != nil || !bytes.Equal(beta, beta2) {
			t.Fatalf("ProofToHash = %x, %v; want %x", beta2, err, beta)
		}
		if _, err := Verify(k.PublicKey(), pi, append(alpha, 1)); !errors.Is(err, ErrInvalidProof) {
			t.Fatalf("Verify with other alpha: %v", err)
		}
		other, _ := GenerateKey(nil)
		if _, err := Verify(other.PublicKey(), pi, alpha); !errors.Is(err, ErrInvalidProof) {
			t.Fatalf("Verify with other key: %v", err)
		}
		// Different inputs give different outputs.
		beta3, err := Verify(k.PublicKey(), k.Prove(append(alpha, 1)), append(alpha, 1))
		if err != nil || bytes.Equal(beta, beta3) {
			t.Fatalf("beta for a different alpha: %x, %v", beta3, err)
		}
	}
}

func FuzzVerify(f *testing.F) {
	vs := loadVectors(f)
	for _, v := range vs {
		f.Add([]byte(v.PK), []byte(v.Pi), []byte(v.Alpha))
	}
	for i, v := range vs {
		f.Add([]byte(v.PK), []byte(vs[(i+1)%len(vs)].Pi), []byte(v.Alpha))
	}
	f.Fuzz(func(t *testing.T, pk, proof, alpha []byte) {
		beta, err := Verify(pk, proof, alpha)
		beta2, err2 := ProofToHash(proof)
		if err != nil {
			if beta != nil {
				t.Fatalf("Verify returned beta %x with error %v", beta, err)
			}
			if !errors.Is(err, ErrInvalidPublicKey) && !errors.Is(err, ErrMalformedProof) && !errors.Is(err, ErrInvalidProof) {
				t.Fatalf("unexpected error %v", err)
			}
			if errors.Is(err, ErrInvalidProof) && err2 != nil {
				t.Fatalf("proof decodes in Verify but ProofToHash fails: %v", err2)
			}
			return
		}
		if len(beta) != OutputSize {
			t.Fatalf("beta length %d", len(beta))
		}
		if err2 != nil || !bytes.Equal(beta, beta2) {
			t.Fatalf("ProofToHash = %x, %v; Verify gave %x", beta2, err2, beta)
		}
	})
}

func FuzzProofToHash(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add([]byte(v.Pi))
	}
	f.Fuzz(func(t *testing.T, proof []byte) {
		beta, err := ProofToHash(proof)
		if err != nil {
			if !errors.Is(err, ErrMalformedProof) || beta != nil {
				t.Fatalf("ProofToHash = %x, %v", beta, err)
			}
			return
		}
		if len(proof) != ProofSize || len(beta) != OutputSize {
			t.Fatalf("accepted proof of length %d, beta length %d", len(proof), len(beta))
		}
		// Gamma must be canonical and s reduced.
		if _, ok := decodePoint(proof[:32]); !ok {
			t.Fatal("accepted non-canonical Gamma")
		}
		if _, err := edwards25519.NewScalar().SetCanonicalBytes(proof[48:]); err != nil {
			t.Fatal("accepted s >= L")
		}
		// c does not affect beta.
		p2 := bytes.Clone(proof)
		p2[40] ^= 0x5a
		if beta2, err := ProofToHash(p2); err != nil || !bytes.Equal(beta, beta2) {
			t.Fatalf("beta depends on c: %x, %v", beta2, err)
		}
	})
}

func BenchmarkProve(b *testing.B) {
	k := mustKey(b, make([]byte, SeedSize))
	alpha := []byte("benchmark input")
	b.ReportAllocs()
	for b.Loop() {
		k.Prove(alpha)
	}
}

func BenchmarkVerify(b *testing.B) {
	k := mustKey(b, make([]byte, SeedSize))
	alpha := []byte("benchmark input")
	pi := k.Prove(alpha)
	pk := k.PublicKey()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(pk, pi, alpha); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProofToHash(b *testing.B) {
	k := mustKey(b, make([]byte, SeedSize))
	pi := k.Prove([]byte("benchmark input"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ProofToHash(pi); err != nil {
			b.Fatal(err)
		}
	}
}
