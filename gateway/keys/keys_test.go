package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

func TestRoundTrip(t *testing.T) {
	op := mustOperator(t, "operator")
	minimal := minimalClaims()
	minimal.Presence.Policy = PresenceNone // what Verify returns for an absent presence claim
	for name, c := range map[string]Claims{"minimal": minimal, "full": fullClaims(t)} {
		t.Run(name, func(t *testing.T) {
			key := mustSign(t, c, op)
			text := EncodeText(key)
			if !strings.HasPrefix(text, "LG1:") {
				t.Fatalf("EncodeText = %q; want prefix LG1:", text)
			}
			p, err := ParsePresentation(" \t" + text + "\r\n")
			if err != nil {
				t.Fatalf("ParsePresentation(%q): %v", text, err)
			}
			if p.Proof != nil {
				t.Errorf("plain text gave proof %+v; want nil", p.Proof)
			}
			got, err := Verify(p.Key, lookup(op))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !reflect.DeepEqual(got, c) {
				t.Errorf("Verify(Sign(c)):\n got %+v\nwant %+v", got, c)
			}
			t.Logf("%s: %d COSE bytes, %d text characters", name, len(key), len(text))
		})
	}
}

func TestSignIsDeterministic(t *testing.T) {
	op := mustOperator(t, "operator")
	a, b := mustSign(t, fullClaims(t), op), mustSign(t, fullClaims(t), op)
	if !bytes.Equal(a, b) {
		t.Errorf("two signatures of the same claims differ:\n%x\n%x", a, b)
	}
	if a[0] != 0xd2 {
		t.Errorf("first byte %#x; want 0xd2 (tag 18)", a[0])
	}
}

// TestTimesTruncated checks that sub-second times and zones are normalised
// to UTC seconds.
func TestTimesTruncated(t *testing.T) {
	op := mustOperator(t, "operator")
	c := minimalClaims()
	berlin := time.FixedZone("CET", 3600)
	c.Expires = time.Date(2030, 1, 2, 3, 4, 5, 999_000_000, berlin)
	got, err := Verify(mustSign(t, c, op), lookup(op))
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2030, 1, 2, 2, 4, 5, 0, time.UTC)
	if got.Expires != want {
		t.Errorf("Expires = %v; want %v", got.Expires, want)
	}
}

func TestVerifyRejects(t *testing.T) {
	op := mustOperator(t, "operator")
	other := mustOperator(t, "somebody else")
	good := mustSign(t, minimalClaims(), op)
	payload := mustCBOR(t, map[any]any{"v": 1, int64(7): []byte("k-1"), "site": "lot-1", "res": []string{"gate:exit-1"}, "act": []string{"exit"}})

	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecSigner, err := cose.NewSigner(cose.AlgorithmES256, ecKey)
	if err != nil {
		t.Fatal(err)
	}
	es256 := cose.NewSign1Message()
	es256.Headers.Protected.SetAlgorithm(cose.AlgorithmES256)
	es256.Headers.Protected[cose.HeaderLabelKeyID] = []byte(op.kid)
	es256.Payload = payload
	if err := es256.Sign(rand.Reader, nil, ecSigner); err != nil {
		t.Fatal(err)
	}
	es256Bytes, err := es256.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}

	var tampered cose.Sign1Message
	if err := tampered.UnmarshalCBOR(good); err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(tampered.Payload, []byte("exit-1"))
	tampered.Payload[i+5] = '2' // gate:exit-1 -> gate:exit-2
	tamperedBytes, err := tampered.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}

	flippedSig := bytes.Clone(good)
	flippedSig[len(flippedSig)-1] ^= 1

	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"forged: untrusted key, trusted kid", mustSign(t, minimalClaims(), operator{kid: op.kid, priv: other.priv}), ErrBadSignature},
		{"tampered claim", tamperedBytes, ErrBadSignature},
		{"flipped signature bit", flippedSig, ErrBadSignature},
		{"unknown kid", mustSign(t, minimalClaims(), other), ErrUnknownKID},
		{"no kid", signRaw(t, map[int64]any{1: int64(-8)}, nil, payload, op.priv), ErrUnknownKID},
		{"empty kid", signRaw(t, map[int64]any{1: int64(-8), 4: []byte{}}, nil, payload, op.priv), ErrUnknownKID},
		{"kid in unprotected header only", signRaw(t, map[int64]any{1: int64(-8)}, map[int64]any{4: []byte(op.kid)}, payload, op.priv), ErrMalformed},
		{"alg ES256", es256Bytes, ErrBadSignature},
		{"alg missing", signRaw(t, map[int64]any{4: []byte(op.kid)}, nil, payload, op.priv), ErrBadSignature},
		{"alg 0 (none)", signRaw(t, map[int64]any{1: int64(0), 4: []byte(op.kid)}, nil, payload, op.priv), ErrBadSignature},
		{"alg as text", signRaw(t, map[int64]any{1: "EdDSA", 4: []byte(op.kid)}, nil, payload, op.priv), ErrBadSignature},
		{"empty protected header", signRaw(t, nil, nil, payload, op.priv), ErrBadSignature},
		{"crit header", signRaw(t, map[int64]any{1: int64(-8), 2: []any{int64(99)}, 4: []byte(op.kid), 99: 1}, nil, payload, op.priv), ErrMalformed},
		{"empty", nil, ErrMalformed},
		{"garbage", []byte("hello, gate"), ErrMalformed},
		{"truncated", good[:len(good)-10], ErrMalformed},
		{"trailing byte", append(bytes.Clone(good), 0), ErrMalformed},
		{"untagged", good[1:], ErrMalformed},
		{"too long", append([]byte{0xd2}, make([]byte, MaxKeyLen)...), ErrMalformed},
		{"detached payload", mustCBOR(t, cbor.Tag{Number: 18, Content: []any{mustCBOR(t, eddsaHeader(op.kid)), map[int64]any{}, nil, make([]byte, 64)}}), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Verify(tc.in, lookup(op))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %+v, %v; want %v", c, err, tc.want)
			}
			t.Log(err)
		})
	}
}

// TestVerifyClaimTypes signs well-formed COSE over bad claims: the
// signature verifies, the claims do not.
func TestVerifyClaimTypes(t *testing.T) {
	op := mustOperator(t, "operator")
	base := func() map[any]any {
		return map[any]any{"v": 1, int64(7): []byte("k-1"), "site": "lot-1", "res": []string{"gate:exit-1"}, "act": []string{"exit"}}
	}
	tests := []struct {
		name   string
		change func(m map[any]any)
		want   error // nil: accepted
	}{
		{"valid", func(map[any]any) {}, nil},
		{"informational x- claim ignored", func(m map[any]any) { m["x-note"] = "hello" }, nil},
		{"version 2", func(m map[any]any) { m["v"] = 2 }, ErrMalformed},
		{"no version", func(m map[any]any) { delete(m, "v") }, ErrMalformed},
		{"version as text", func(m map[any]any) { m["v"] = "1" }, ErrMalformed},
		{"unknown text claim", func(m map[any]any) { m["speed"] = 1 }, ErrMalformed},
		{"unknown int claim (aud)", func(m map[any]any) { m[int64(3)] = "x" }, ErrMalformed},
		{"cti as text", func(m map[any]any) { m[int64(7)] = "k-1" }, ErrMalformed},
		{"no cti", func(m map[any]any) { delete(m, int64(7)) }, ErrMalformed},
		{"no site", func(m map[any]any) { delete(m, "site") }, ErrMalformed},
		{"site as bytes", func(m map[any]any) { m["site"] = []byte("lot-1") }, ErrMalformed},
		{"resources empty", func(m map[any]any) { m["res"] = []string{} }, ErrMalformed},
		{"resource as int", func(m map[any]any) { m["res"] = []any{1} }, ErrMalformed},
		{"unknown action", func(m map[any]any) { m["act"] = []string{"fly"} }, ErrMalformed},
		{"exp as float", func(m map[any]any) { m[int64(4)] = 1.5e9 }, ErrMalformed},
		{"exp negative", func(m map[any]any) { m[int64(4)] = -1 }, ErrMalformed},
		{"exp before nbf", func(m map[any]any) { m[int64(4)] = 100; m[int64(5)] = 200 }, ErrMalformed},
		{"uses negative", func(m map[any]any) { m["uses"] = -1 }, ErrMalformed},
		{"uses huge", func(m map[any]any) { m["uses"] = uint64(1) << 63 }, ErrMalformed},
		{"nofee false", func(m map[any]any) { m["nofee"] = false }, ErrMalformed},
		{"presence none written", func(m map[any]any) { m["pres"] = map[string]any{"policy": "none"} }, ErrMalformed},
		{"presence unknown", func(m map[any]any) { m["pres"] = map[string]any{"policy": "moon"} }, ErrMalformed},
		{"presence pin without hash", func(m map[any]any) { m["pres"] = map[string]any{"policy": "geofence_pin"} }, ErrMalformed},
		{"presence geofence", func(m map[any]any) { m["pres"] = map[string]any{"policy": "geofence"} }, nil},
		{"window ok", func(m map[any]any) { m["win"] = []any{map[string]any{"days": []int{1}, "tod": []int{60, 120}}} }, nil},
		{"window empty list", func(m map[any]any) { m["win"] = []any{} }, ErrMalformed},
		{"window weekday 7", func(m map[any]any) { m["win"] = []any{map[string]any{"days": []int{7}}} }, ErrMalformed},
		{"window weekday twice", func(m map[any]any) { m["win"] = []any{map[string]any{"days": []int{1, 1}}} }, ErrMalformed},
		{"window tod 3 items", func(m map[any]any) { m["win"] = []any{map[string]any{"tod": []int{1, 2, 3}}} }, ErrMalformed},
		{"window tod past midnight", func(m map[any]any) { m["win"] = []any{map[string]any{"tod": []int{1441, 2}}} }, ErrMalformed},
		{"window tod equal", func(m map[any]any) { m["win"] = []any{map[string]any{"tod": []int{60, 60}}} }, ErrMalformed},
		{"window unknown field", func(m map[any]any) { m["win"] = []any{map[string]any{"moon": 1}} }, ErrMalformed},
		{"window from after until", func(m map[any]any) { m["win"] = []any{map[string]any{"from": 200, "until": 100}} }, ErrMalformed},
		{"cnf wrong curve", func(m map[any]any) {
			m[int64(8)] = map[int]any{1: map[int]any{1: 1, -1: 4, -2: make([]byte, 32)}}
		}, ErrMalformed},
		{"cnf short x", func(m map[any]any) {
			m[int64(8)] = map[int]any{1: map[int]any{1: 1, -1: 6, -2: make([]byte, 31)}}
		}, ErrMalformed},
		{"cnf extra parameter", func(m map[any]any) {
			m[int64(8)] = map[int]any{1: map[int]any{1: 1, -1: 6, -2: make([]byte, 32), 3: -8}}
		}, ErrMalformed},
		{"cnf ok", func(m map[any]any) {
			m[int64(8)] = map[int]any{1: map[int]any{1: 1, -1: 6, -2: make([]byte, 32)}}
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			tc.change(m)
			key := signRaw(t, eddsaHeader(op.kid), nil, mustCBOR(t, m), op.priv)
			c, err := Verify(key, lookup(op))
			if tc.want == nil && err != nil {
				t.Fatalf("Verify: %v; want accepted", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %+v, %v; want %v", c, err, tc.want)
			}
		})
	}
	t.Run("payload not a map", func(t *testing.T) {
		key := signRaw(t, eddsaHeader(op.kid), nil, mustCBOR(t, []int{1}), op.priv)
		if _, err := Verify(key, lookup(op)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify: %v; want ErrMalformed", err)
		}
	})
	t.Run("duplicate claim", func(t *testing.T) {
		// {"v": 1, "v": 1} written by hand: encoders refuse duplicates.
		key := signRaw(t, eddsaHeader(op.kid), nil, []byte{0xa2, 0x61, 'v', 0x01, 0x61, 'v', 0x01}, op.priv)
		if _, err := Verify(key, lookup(op)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify: %v; want ErrMalformed", err)
		}
	})
	t.Run("bad trusted key", func(t *testing.T) {
		key := mustSign(t, minimalClaims(), op)
		bad := func(string) (ed25519.PublicKey, bool) { return ed25519.PublicKey{1, 2, 3}, true }
		if _, err := Verify(key, bad); !errors.Is(err, ErrUnknownKID) {
			t.Errorf("Verify with a 3-byte trusted key: %v; want ErrUnknownKID", err)
		}
	})
}

func TestSignRejects(t *testing.T) {
	op := mustOperator(t, "operator")
	tests := []struct {
		name   string
		change func(c *Claims)
	}{
		{"no key id", func(c *Claims) { c.KeyID = "" }},
		{"key id too long", func(c *Claims) { c.KeyID = strings.Repeat("k", MaxIDLen+1) }},
		{"key id with newline", func(c *Claims) { c.KeyID = "k\n1" }},
		{"no site", func(c *Claims) { c.Site = "" }},
		{"no resources", func(c *Claims) { c.Resources = nil }},
		{"empty resource", func(c *Claims) { c.Resources = []string{""} }},
		{"resource with space", func(c *Claims) { c.Resources = []string{"gate: 1"} }},
		{"no actions", func(c *Claims) { c.Actions = nil }},
		{"unknown action", func(c *Claims) { c.Actions = []string{"teleport"} }},
		{"action twice", func(c *Claims) { c.Actions = []string{"exit", "exit"} }},
		{"negative uses", func(c *Claims) { c.Uses = -1 }},
		{"short device key", func(c *Claims) { c.DeviceKey = make([]byte, 31) }},
		{"unknown presence", func(c *Claims) { c.Presence.Policy = "psychic" }},
		{"pin policy without hash", func(c *Claims) { c.Presence = Presence{Policy: PresenceGeofencePIN} }},
		{"pin policy short salt", func(c *Claims) {
			c.Presence = Presence{Policy: PresenceGeofencePIN, PINHash: make([]byte, 32), PINSalt: make([]byte, 8)}
		}},
		{"hash without pin policy", func(c *Claims) { c.Presence = Presence{Policy: PresenceGeofence, PINHash: make([]byte, 32)} }},
		{"nbf not before exp", func(c *Claims) { c.NotBefore, c.Expires = t0, t0 }},
		{"exp before 1970", func(c *Claims) { c.Expires = time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"window from after until", func(c *Claims) { c.Windows = []Window{{From: t0, Until: t0.Add(-time.Second)}} }},
		{"window weekday 9", func(c *Claims) { c.Windows = []Window{{Weekdays: []time.Weekday{9}}} }},
		{"window day from 1440", func(c *Claims) { c.Windows = []Window{{DayFrom: 1440, DayTo: 10}} }},
		{"window day to 1441", func(c *Claims) { c.Windows = []Window{{DayFrom: 10, DayTo: 1441}} }},
		{"window day from = day to", func(c *Claims) { c.Windows = []Window{{DayFrom: 60, DayTo: 60}} }},
		{"window negative minutes", func(c *Claims) { c.Windows = []Window{{DayFrom: -1, DayTo: 60}} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := minimalClaims()
			tc.change(&c)
			b, err := Sign(c, op.kid, op.priv)
			if !errors.Is(err, ErrInvalidClaims) {
				t.Fatalf("Sign(%+v) = %x, %v; want ErrInvalidClaims", c, b, err)
			}
		})
	}
	for _, kid := range []string{"", "with space", strings.Repeat("k", MaxIDLen+1), "tab\t"} {
		if _, err := Sign(minimalClaims(), kid, op.priv); !errors.Is(err, ErrInvalidClaims) {
			t.Errorf("Sign with kid %q: %v; want ErrInvalidClaims", kid, err)
		}
	}
	if _, err := Sign(minimalClaims(), op.kid, op.priv[:32]); err == nil {
		t.Errorf("Sign with a 32-byte private key: no error")
	}
}

func TestParsePresentation(t *testing.T) {
	op := mustOperator(t, "operator")
	key := mustSign(t, minimalClaims(), op)
	_, devPriv := testKey(t, "device")
	proof := Proof{Step: 58_000_000, Sig: SignProof("k-1", 58_000_000, devPriv)}
	proofText := EncodeProofText(key, proof)
	if !strings.HasPrefix(proofText, "LGD1:") {
		t.Fatalf("EncodeProofText = %q; want prefix LGD1:", proofText)
	}
	p, err := ParsePresentation(proofText + "\n")
	if err != nil {
		t.Fatalf("ParsePresentation(proof text): %v", err)
	}
	if !bytes.Equal(p.Key, key) || p.Proof == nil || !reflect.DeepEqual(*p.Proof, proof) {
		t.Fatalf("ParsePresentation = %+v; want key %x, proof %+v", p, key, proof)
	}

	badArray := func(v any) string { return ProofPrefix + b45(mustCBOR(t, v)) }
	sig := proof.Sig
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"whitespace", " \r\n"},
		{"no prefix", b45(key)},
		{"lowercase prefix", "lg1:" + b45(key)},
		{"other prefix", "HC1:" + b45(key)},
		{"nothing after prefix", "LG1:"},
		{"nothing after proof prefix", "LGD1:"},
		{"bad base45 char", "LG1:" + b45(key)[:6] + "a" + b45(key)[7:]},
		{"bad base45 length", "LG1:" + b45(key) + "A"},
		{"space inside", "LG1:" + b45(key)[:6] + "\n" + b45(key)[6:]},
		{"too long", "LG1:" + strings.Repeat("0", MaxTextLen)},
		{"proof not an array", badArray(map[int]int{1: 1})},
		{"proof two items", badArray([]any{key, 1})},
		{"proof four items", badArray([]any{key, 1, sig, 1})},
		{"proof key as text", badArray([]any{"key", 1, sig})},
		{"proof empty key", badArray([]any{[]byte{}, 1, sig})},
		{"proof negative step", badArray([]any{key, -1, sig})},
		{"proof step as text", badArray([]any{key, "1", sig})},
		{"proof short signature", badArray([]any{key, 1, sig[:63]})},
		{"proof trailing data", ProofPrefix + b45(append(mustCBOR(t, []any{key, 1, sig}), 0))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePresentation(tc.in)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParsePresentation(%.40q) = %+v, %v; want ErrMalformed", tc.in, p, err)
			}
		})
	}
}
