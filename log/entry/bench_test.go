package entry_test

import (
	"crypto/ed25519"
	"testing"

	"github.com/credlog/credlog/log/entry"
)

func BenchmarkMarshal(b *testing.B) {
	ev := samples()["reissue"]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ev.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	data, _ := samples()["reissue"].Marshal()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := entry.Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(nil)
	ev := samples()["reissue"]
	for b.Loop() {
		if err := ev.Sign(priv); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	ev := samples()["reissue"]
	if err := ev.Sign(priv); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := ev.VerifySignature(pub); err != nil {
			b.Fatal(err)
		}
	}
}
