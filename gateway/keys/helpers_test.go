package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/lotgate/lotgate/gateway/base45"
	"github.com/veraison/go-cose"
)

// testKey is a deterministic Ed25519 key pair named by a seed word.
func testKey(tb testing.TB, name string) (ed25519.PublicKey, ed25519.PrivateKey) {
	tb.Helper()
	seed := sha256.Sum256([]byte(name))
	priv := ed25519.NewKeyFromSeed(seed[:])
	return priv.Public().(ed25519.PublicKey), priv
}

// operator is a trusted operator key with its kid.
type operator struct {
	kid  string
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func mustOperator(tb testing.TB, name string) operator {
	tb.Helper()
	pub, priv := testKey(tb, name)
	return operator{kid: DeriveKID(pub), pub: pub, priv: priv}
}

// lookup trusts exactly the given operators.
func lookup(ops ...operator) func(string) (ed25519.PublicKey, bool) {
	return func(kid string) (ed25519.PublicKey, bool) {
		for _, o := range ops {
			if o.kid == kid {
				return o.pub, true
			}
		}
		return nil, false
	}
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// minimalClaims is the smallest valid key.
func minimalClaims() Claims {
	return Claims{
		KeyID:     "k-1",
		Site:      "lot-1",
		Resources: []string{"gate:exit-1"},
		Actions:   []string{ActionExit},
	}
}

// fullClaims sets every field.
func fullClaims(tb testing.TB) Claims {
	tb.Helper()
	dev, _ := testKey(tb, "device")
	return Claims{
		KeyID:     "0f8e2c1a-5b7d-4e3f-9a21-6c0d8b4e7f10",
		Issuer:    "keys.example.com",
		Holder:    "acct-4711",
		Nickname:  "Anna",
		Site:      "lot-1",
		Resources: []string{"gate:*", "locker:A-*"},
		Actions:   []string{ActionEnter, ActionExit, ActionUnlock},
		Windows: []Window{
			{From: t0, Until: t0.Add(30 * 24 * time.Hour), Weekdays: []time.Weekday{time.Monday, time.Friday}, DayFrom: 7 * 60, DayTo: 19 * 60},
			{Weekdays: []time.Weekday{time.Saturday}, DayFrom: 22 * 60, DayTo: 6 * 60},
			{Until: t0.Add(time.Hour)},
		},
		Uses:      1,
		DeviceKey: dev,
		Presence: Presence{
			Policy:  PresenceGeofencePIN,
			PINHash: bytes.Repeat([]byte{0xaa}, 32),
			PINSalt: bytes.Repeat([]byte{0x55}, 16),
		},
		FeeExempt: true,
		IssuedAt:  t0,
		NotBefore: t0,
		Expires:   t0.Add(90 * 24 * time.Hour),
	}
}

func mustSign(tb testing.TB, c Claims, op operator) []byte {
	tb.Helper()
	b, err := Sign(c, op.kid, op.priv)
	if err != nil {
		tb.Fatalf("Sign: %v", err)
	}
	return b
}

// signRaw builds a tagged COSE_Sign1 by hand: any protected header map
// (nil for an empty one), unprotected header and payload, signed with
// Ed25519 whatever alg says. It builds keys Sign would never produce.
func signRaw(tb testing.TB, protected map[int64]any, unprotected map[int64]any, payload []byte, priv ed25519.PrivateKey) []byte {
	tb.Helper()
	prot := []byte{}
	if protected != nil {
		prot = mustCBOR(tb, protected)
	}
	if unprotected == nil {
		unprotected = map[int64]any{}
	}
	tbs := mustCBOR(tb, []any{"Signature1", prot, []byte{}, payload})
	sig := ed25519.Sign(priv, tbs)
	return mustCBOR(tb, cbor.Tag{Number: 18, Content: []any{prot, unprotected, payload, sig}})
}

// eddsaHeader is the protected header Sign writes.
func eddsaHeader(kid string) map[int64]any {
	return map[int64]any{cose.HeaderLabelAlgorithm: int64(cose.AlgorithmEdDSA), cose.HeaderLabelKeyID: []byte(kid)}
}

// mustCBOR encodes v deterministically.
func mustCBOR(tb testing.TB, v any) []byte {
	tb.Helper()
	md, err := cborModes()
	if err != nil {
		tb.Fatal(err)
	}
	b, err := md.enc.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func b45(b []byte) string { return base45.Encode(b) }
