package keys

import (
	"crypto/ed25519"
	"testing"
)

// BenchmarkVerify and BenchmarkBaselineEd25519Verify together show what the
// COSE/CBOR layers cost on top of the one signature check they wrap.
func BenchmarkVerify(b *testing.B) {
	op := mustOperator(b, "operator")
	key := mustSign(b, fullClaims(b), op)
	trust := lookup(op)
	b.SetBytes(int64(len(key)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(key, trust); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyMinimal verifies the smallest valid key.
func BenchmarkVerifyMinimal(b *testing.B) {
	op := mustOperator(b, "operator")
	key := mustSign(b, minimalClaims(), op)
	trust := lookup(op)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(key, trust); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineEd25519Verify is a bare ed25519.Verify of a 64-byte
// message: the floor BenchmarkVerify cannot go below.
func BenchmarkBaselineEd25519Verify(b *testing.B) {
	pub, priv := testKey(b, "operator")
	msg := make([]byte, 64)
	sig := ed25519.Sign(priv, msg)
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("signature does not verify")
		}
	}
}

// BenchmarkParseAndVerifyText is the scanner path: QR text to claims.
func BenchmarkParseAndVerifyText(b *testing.B) {
	op := mustOperator(b, "operator")
	text := EncodeText(mustSign(b, fullClaims(b), op))
	trust := lookup(op)
	b.ReportAllocs()
	for b.Loop() {
		p, err := ParsePresentation(text)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Verify(p.Key, trust); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	op := mustOperator(b, "operator")
	c := fullClaims(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(c, op.kid, op.priv); err != nil {
			b.Fatal(err)
		}
	}
}
