package keys

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// sentinel reports whether err wraps one of the errors Verify and
// ParsePresentation promise.
func sentinel(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrUnknownKID) || errors.Is(err, ErrBadSignature)
}

func fuzzSeeds(f *testing.F) [][]byte {
	op := mustOperator(f, "operator")
	full := fullClaims(f)
	min := mustSign(f, minimalClaims(), op)
	return [][]byte{
		min,
		mustSign(f, full, op),
		mustSign(f, minimalClaims(), mustOperator(f, "stranger")),
		min[:len(min)/2],
		min[1:],
		signRaw(f, map[int64]any{1: int64(-7), 4: []byte(op.kid)}, nil, []byte{0xa0}, op.priv),
		signRaw(f, eddsaHeader(op.kid), nil, mustCBOR(f, map[any]any{"v": 1, "win": []any{map[string]any{"tod": []int{1, 2}}}}), op.priv),
		{},
		{0xd2, 0x84, 0x40, 0xa0, 0xf6, 0x40},
		[]byte("LG1:"),
	}
}

// FuzzVerify: Verify never panics, every error wraps a sentinel, what it
// accepts validates, and its direct COSE_Sign1 route (sign1.go) never
// accepts what go-cose refuses: for keys and messages alike, both routes
// return the same payload, kid and sentinel.
func FuzzVerify(f *testing.F) {
	op := mustOperator(f, "operator")
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	msg, err := SignMessage(testMessage(), op.kid, op.priv)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(msg)
	f.Add(append(bytes.Clone(msg), 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		trust := lookup(op)
		routesAgree(t, fmt.Sprintf("%x", data), data, trust)
		c, err := Verify(data, trust)
		if err != nil {
			if !sentinel(err) {
				t.Fatalf("Verify(%x): %v wraps no sentinel", data, err)
			}
		} else if err := c.Validate(); err != nil {
			t.Fatalf("Verify(%x) accepted claims that do not validate: %v", data, err)
		}
		if _, _, err := VerifyMessage(data, trust); err != nil && !sentinel(err) {
			t.Fatalf("VerifyMessage(%x): %v wraps no sentinel", data, err)
		}
	})
}

func FuzzParsePresentation(f *testing.F) {
	op := mustOperator(f, "operator")
	_, devPriv := testKey(f, "device")
	for _, s := range fuzzSeeds(f) {
		f.Add(EncodeText(s))
		f.Add(EncodeProofText(s, Proof{Step: 1, Sig: SignProof("k-1", 1, devPriv)}))
	}
	f.Add("  LG1:BB8\r\n")
	f.Add("lg1:BB8")
	f.Add("LGD1:")
	f.Add("LG1:GGW")
	f.Fuzz(func(t *testing.T, text string) {
		p, err := ParsePresentation(text)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParsePresentation(%q): %v does not wrap ErrMalformed", text, err)
			}
			return
		}
		if p.Proof == nil {
			if got := EncodeText(p.Key); got != strings.TrimSpace(text) {
				t.Fatalf("EncodeText(ParsePresentation(%q).Key) = %q", text, got)
			}
		} else if len(p.Key) == 0 || len(p.Proof.Sig) != 64 || p.Proof.Step < 0 {
			t.Fatalf("ParsePresentation(%q) = %+v: bad key or proof", text, p)
		}
		c, err := Verify(p.Key, lookup(op))
		if err != nil && !sentinel(err) {
			t.Fatalf("Verify: %v wraps no sentinel", err)
		}
		if err == nil && p.Proof != nil && c.DeviceKey != nil {
			VerifyProof(c.DeviceKey, c.KeyID, *p.Proof) // must not panic
		}
	})
}

// FuzzDecodeClaims reaches the claims parser without a signature in the
// way: it must not panic, and what it accepts must survive a re-encoding.
func FuzzDecodeClaims(f *testing.F) {
	for _, c := range []Claims{minimalClaims(), fullClaims(f)} {
		b, err := encodeClaims(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(mustCBOR(f, map[any]any{"v": 1, "x-a": []any{1, "b"}, "win": []any{map[string]any{"days": []int{0, 6}}}}))
	f.Add([]byte{0xa1, 0x08, 0xa1, 0x01, 0xa3, 0x01, 0x01, 0x20, 0x06, 0x21, 0x40})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeClaims(data)
		if err != nil || c.validate() != nil {
			return
		}
		b, err := encodeClaims(c)
		if err != nil {
			t.Fatalf("encodeClaims(%+v): %v", c, err)
		}
		c2, err := decodeClaims(b)
		if err != nil {
			t.Fatalf("decodeClaims(encodeClaims(%+v)): %v", c, err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("claims changed in a re-encoding:\n got %+v\nwant %+v", c2, c)
		}
	})
}
