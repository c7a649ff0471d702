package edsig

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"testing"

	"filippo.io/edwards25519"
)

// torsion returns the encodings of the eight points of order dividing 8,
// found as [L]P for multiples of a point P of mixed order.
func torsion(t testing.TB) [][]byte {
	t.Helper()
	// A point of order 8 (RFC 8032's curve, x and y from the literature's
	// table of small-order points).
	p8 := mustPoint(t, "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
	var out [][]byte
	q := edwards25519.NewIdentityPoint()
	for range 8 {
		out = append(out, q.Bytes())
		q = new(edwards25519.Point).Add(q, p8)
	}
	if !bytes.Equal(q.Bytes(), edwards25519.NewIdentityPoint().Bytes()) {
		t.Fatal("the point is not of order 8")
	}
	return out
}

func mustPoint(t testing.TB, h string) *edwards25519.Point {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// scalar returns a scalar from a seed.
func scalar(seed string) *edwards25519.Scalar {
	h := sha512.Sum512([]byte(seed))
	s, err := edwards25519.NewScalar().SetUniformBytes(h[:])
	if err != nil {
		panic(err)
	}
	return s
}

// signRaw signs msg with secret scalar a, nonce r, as the public key
// encoded by pub and nonce point encoded by rEnc: an honest signer has
// pub = [a]B and rEnc = [r]B; the cases below add small-order points to
// either, which only the cofactored equation forgives.
func signRaw(a, r *edwards25519.Scalar, pub, rEnc, msg []byte) []byte {
	h := sha512.New()
	h.Write(rEnc)
	h.Write(pub)
	h.Write(msg)
	k, err := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
	if err != nil {
		panic(err)
	}
	s := edwards25519.NewScalar().MultiplyAdd(k, a, r)
	return append(bytes.Clone(rEnc), s.Bytes()...)
}

type vector struct {
	name          string
	pub, msg, sig []byte
}

// vectors returns honest signatures, their corruptions, and the cases on
// which Ed25519 implementations are known to disagree.
func vectors(t testing.TB) []vector {
	var vs []vector
	add := func(name string, pub, msg, sig []byte) {
		vs = append(vs, vector{name, bytes.Clone(pub), bytes.Clone(msg), bytes.Clone(sig)})
	}
	torsion := torsion(t)
	for i := range 8 {
		seed := bytes.Repeat([]byte{byte(i)}, 32)
		priv := ed25519.NewKeyFromSeed(seed)
		pub := priv.Public().(ed25519.PublicKey)
		msg := fmt.Appendf(nil, "message %d", i)
		sig := ed25519.Sign(priv, msg)
		add("honest", pub, msg, sig)
		for _, bit := range []int{0, 7, 255, 256, 511} {
			s := bytes.Clone(sig)
			s[bit/8] ^= 1 << (bit % 8)
			add(fmt.Sprintf("signature bit %d flipped", bit), pub, msg, s)
		}
		p := bytes.Clone(pub)
		p[3] ^= 0x10
		add("key bit flipped", p, msg, sig)
		add("other message", pub, append(msg, '!'), sig)

		// s + L: the same point, but a non-canonical scalar.
		l := []byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
			0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
		s := bytes.Clone(sig)
		carry := 0
		for j := range 32 {
			v := int(s[32+j]) + int(l[j]) + carry
			s[32+j], carry = byte(v), v>>8
		}
		add("s plus the group order", pub, msg, s)

		// Mixed-order key and nonce: [a]B + T and [r]B + T.
		a, r := scalar(fmt.Sprint("a", i)), scalar(fmt.Sprint("r", i))
		aB := new(edwards25519.Point).ScalarBaseMult(a)
		rB := new(edwards25519.Point).ScalarBaseMult(r)
		for j, te := range torsion {
			T, err := new(edwards25519.Point).SetBytes(te)
			if err != nil {
				t.Fatal(err)
			}
			mixedA := new(edwards25519.Point).Add(aB, T).Bytes()
			mixedR := new(edwards25519.Point).Add(rB, T).Bytes()
			for k := range 4 {
				m := fmt.Appendf(nil, "mixed %d %d %d", i, j, k)
				add("mixed-order key", mixedA, m, signRaw(a, r, mixedA, rB.Bytes(), m))
				add("mixed-order nonce", aB.Bytes(), m, signRaw(a, r, aB.Bytes(), mixedR, m))
			}
			// Small-order key and nonce with s = 0.
			add("small-order key and nonce, s = 0", te, msg, append(bytes.Clone(te), make([]byte, 32)...))
			add("small-order key, honest-looking nonce", te, msg, append(rB.Bytes(), make([]byte, 32)...))
		}
	}
	// Non-canonical encodings of the identity (y = 1 + p) and of a point
	// with x = 0 and the sign bit set.
	nonCanon := append([]byte{0xee}, bytes.Repeat([]byte{0xff}, 30)...)
	nonCanon = append(nonCanon, 0x7f)
	negZero := append([]byte{1}, make([]byte, 31)...)
	negZero[31] = 0x80
	ident := edwards25519.NewIdentityPoint().Bytes()
	zero := make([]byte, 32)
	for _, enc := range [][]byte{nonCanon, negZero} {
		add("non-canonical key", enc, []byte("m"), append(bytes.Clone(ident), zero...))
		add("non-canonical nonce", ident, []byte("m"), append(bytes.Clone(enc), zero...))
	}
	add("key not on the curve", bytes.Repeat([]byte{0x02}, 32), []byte("m"), append(bytes.Clone(ident), zero...))
	return vs
}

// TestMatchesStdlib checks Verify against crypto/ed25519 on every vector,
// and that the vectors exercise both answers.
func TestMatchesStdlib(t *testing.T) {
	counts := map[bool]int{}
	for _, v := range vectors(t) {
		want := ed25519.Verify(v.pub, v.msg, v.sig)
		counts[want]++
		// Twice: the first call expands and caches the key.
		for range 2 {
			if got := Verify(v.pub, v.msg, v.sig); got != want {
				t.Errorf("%s: Verify(%x, %q, %x) = %v, crypto/ed25519 says %v", v.name, v.pub, v.msg, v.sig, got, want)
			}
		}
	}
	if counts[true] < 8 || counts[false] < 8 {
		t.Errorf("vectors accepted/rejected = %d/%d, want both exercised", counts[true], counts[false])
	}
	t.Logf("%d vectors accepted, %d rejected", counts[true], counts[false])
}

// TestMixedOrderSometimesAccepted checks the premise of the mixed-order
// vectors: crypto/ed25519 accepts some (when the hash is a multiple of
// the torsion's order) and rejects most, so an implementation that used
// the cofactored equation would fail TestMatchesStdlib.
func TestMixedOrderSometimesAccepted(t *testing.T) {
	acc, rej := 0, 0
	for _, v := range vectors(t) {
		if v.name != "mixed-order key" && v.name != "mixed-order nonce" {
			continue
		}
		if ed25519.Verify(v.pub, v.msg, v.sig) {
			acc++
		} else {
			rej++
		}
	}
	if acc == 0 || rej == 0 {
		t.Fatalf("mixed-order vectors accepted/rejected = %d/%d", acc, rej)
	}
}

func TestWrongLengths(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	pub := priv.Public().(ed25519.PublicKey)
	sig := ed25519.Sign(priv, []byte("m"))
	if !Verify(pub, []byte("m"), sig) {
		t.Fatal("honest signature rejected")
	}
	for _, c := range []struct {
		pub, sig []byte
	}{{pub[:31], sig}, {append(bytes.Clone(pub), 0), sig}, {pub, sig[:63]}, {pub, append(bytes.Clone(sig), 0)}, {nil, nil}} {
		if Verify(c.pub, []byte("m"), c.sig) {
			t.Errorf("Verify accepted a %d-byte key and %d-byte signature", len(c.pub), len(c.sig))
		}
	}
}

func TestCacheBounded(t *testing.T) {
	for i := range MaxCachedKeys + 10 {
		var seed [32]byte
		seed[0], seed[1], seed[2] = byte(i), byte(i>>8), 0xcc
		priv := ed25519.NewKeyFromSeed(seed[:])
		if !Verify(priv.Public().(ed25519.PublicKey), []byte("m"), ed25519.Sign(priv, []byte("m"))) {
			t.Fatalf("key %d: honest signature rejected", i)
		}
	}
	if n := cached.Load(); n > MaxCachedKeys {
		t.Fatalf("%d keys cached, bound %d", n, MaxCachedKeys)
	}
}

// TestUncachedMatchesStdlib: with the cache full, keys are not expanded,
// and the answers are still crypto/ed25519's.
func TestUncachedMatchesStdlib(t *testing.T) {
	cache.Clear()
	cached.Store(MaxCachedKeys)
	defer func() {
		cache.Clear()
		cached.Store(0)
	}()
	for _, v := range vectors(t) {
		if got, want := Verify(v.pub, v.msg, v.sig), ed25519.Verify(v.pub, v.msg, v.sig); got != want {
			t.Errorf("%s: Verify(%x, %q, %x) = %v, crypto/ed25519 says %v", v.name, v.pub, v.msg, v.sig, got, want)
		}
	}
	if n := cached.Load(); n != MaxCachedKeys {
		t.Errorf("cache count %d after verifying with a full cache, want %d", n, MaxCachedKeys)
	}
	if _, ok := cache.Load([32]byte(vectors(t)[0].pub)); ok {
		t.Error("a key was cached past the bound")
	}
}

func FuzzMatchesStdlib(f *testing.F) {
	for _, v := range vectors(f) {
		f.Add(v.pub, v.msg, v.sig)
	}
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		want := len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, sig)
		if got := Verify(pub, msg, sig); got != want {
			t.Fatalf("Verify(%x, %x, %x) = %v, crypto/ed25519 says %v", pub, msg, sig, got, want)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	pub := priv.Public().(ed25519.PublicKey)
	msg := make([]byte, 150)
	sig := ed25519.Sign(priv, msg)
	b.Run("edsig", func(b *testing.B) {
		for b.Loop() {
			if !Verify(pub, msg, sig) {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("crypto-ed25519", func(b *testing.B) {
		for b.Loop() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("rejected")
			}
		}
	})
}
