package keys

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// sentinelOf names the sentinel err wraps ("" for nil, "other" for none).
func sentinelOf(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrUnknownKID):
		return "unknown_kid"
	case errors.Is(err, ErrBadSignature):
		return "bad_signature"
	}
	return "other"
}

// routesAgree opens data as a key and as a message through both routes
// (openSign1, which takes the direct route when it can, and go-cose's
// openSign1COSE) and fails unless they return the same payload, kid and
// sentinel. It reports whether the direct route took data and whether
// it was accepted.
func routesAgree(tb testing.TB, what string, data []byte, trust func(string) (ed25519.PublicKey, bool)) (direct, accepted bool) {
	tb.Helper()
	for _, ct := range []string{"", MessageContentType} {
		_, took := parseSign1(data, ct)
		direct = direct || took
		p1, k1, e1 := openSign1(data, ct, trust)
		p2, k2, e2 := openSign1COSE(data, ct, trust)
		if !bytes.Equal(p1, p2) || k1 != k2 || sentinelOf(e1) != sentinelOf(e2) {
			tb.Errorf("%s (content type %q, direct route %v):\n  direct: payload %x, kid %q, %v\n go-cose: payload %x, kid %q, %v",
				what, ct, took, p1, k1, e1, p2, k2, e2)
		}
		if sentinelOf(e1) == "other" {
			tb.Errorf("%s (content type %q): %v wraps no sentinel", what, ct, e1)
		}
		accepted = accepted || e1 == nil
	}
	return direct, accepted
}

// bstrHead is the shortest CBOR head of a byte string of n bytes.
func bstrHead(n int) []byte {
	switch {
	case n < 24:
		return []byte{0x40 | byte(n)}
	case n < 1<<8:
		return []byte{0x58, byte(n)}
	case n < 1<<16:
		return []byte{0x59, byte(n >> 8), byte(n)}
	}
	return []byte{0x5a, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

// sign1Parts is a COSE_Sign1 assembled from already-encoded parts, so a
// test can write any encoding: tag and heads as given, the signature over
// the Sig_structure of prot and payload.
type sign1Parts struct {
	tag                   []byte // e.g. d2; nil for none
	protHead, prot        []byte // head of the protected bstr, the header map's bytes
	unprot                []byte // the unprotected item
	payloadHead, payload  []byte // payloadHead nil: payload is a whole item (nil, a text…)
	sigHead, sig          []byte // sig nil: sign
	trailing              []byte
	signProt, signPayload []byte // when set, what the signature covers instead
	arrayHead             []byte // default 84
	priv                  ed25519.PrivateKey
}

func (p sign1Parts) bytes() []byte {
	if p.arrayHead == nil {
		p.arrayHead = []byte{0x84}
	}
	if p.protHead == nil {
		p.protHead = bstrHead(len(p.prot))
	}
	if p.unprot == nil {
		p.unprot = []byte{cborEmptyMap}
	}
	if p.sig == nil {
		sp, spl := p.prot, p.payload
		if p.signProt != nil {
			sp = p.signProt
		}
		if p.signPayload != nil {
			spl = p.signPayload
		}
		tbs := append([]byte(sigStructurePrefix), bstrHead(len(sp))...)
		tbs = append(tbs, sp...)
		tbs = append(tbs, 0x40)
		tbs = append(tbs, bstrHead(len(spl))...)
		tbs = append(tbs, spl...)
		p.sig = ed25519.Sign(p.priv, tbs)
	}
	if p.sigHead == nil {
		p.sigHead = bstrHead(len(p.sig))
	}
	var b []byte
	b = append(b, p.tag...)
	b = append(b, p.arrayHead...)
	b = append(b, p.protHead...)
	b = append(b, p.prot...)
	b = append(b, p.unprot...)
	if p.payloadHead == nil && p.payload != nil {
		b = append(b, bstrHead(len(p.payload))...)
	}
	b = append(b, p.payloadHead...)
	b = append(b, p.payload...)
	b = append(b, p.sigHead...)
	b = append(b, p.sig...)
	return append(b, p.trailing...)
}

// TestSignedEnvelopesTakeTheDirectRoute: what Sign and SignMessage write
// is verified without go-cose's generic path, for every length form of
// kid, payload and protected header, and agrees with go-cose.
func TestSignedEnvelopesTakeTheDirectRoute(t *testing.T) {
	var inputs []struct {
		name string
		data []byte
		ct   string
	}
	for _, kidLen := range []int{1, 23, 24, 64} {
		op := mustOperator(t, "operator")
		op.kid = strings.Repeat("K", kidLen)
		trust := lookup(op)
		for _, c := range []Claims{minimalClaims(), fullClaims(t)} {
			key := mustSign(t, c, op)
			inputs = append(inputs, struct {
				name string
				data []byte
				ct   string
			}{fmt.Sprintf("key of %d bytes, kid of %d", len(key), kidLen), key, ""})
			if _, err := Verify(key, trust); err != nil {
				t.Errorf("Verify(key, kid of %d): %v", kidLen, err)
			}
		}
		for _, bodyLen := range []int{10, 300, 70_000} {
			m := testMessage()
			m.Body = []byte(`{"x":"` + strings.Repeat("y", bodyLen) + `"}`)
			msg, err := SignMessage(m, op.kid, op.priv)
			if err != nil {
				t.Fatal(err)
			}
			inputs = append(inputs, struct {
				name string
				data []byte
				ct   string
			}{fmt.Sprintf("message of %d bytes, kid of %d", len(msg), kidLen), msg, MessageContentType})
			if _, kid, err := VerifyMessage(msg, trust); err != nil || kid != op.kid {
				t.Errorf("VerifyMessage(body of %d, kid of %d): %q, %v", bodyLen, kidLen, kid, err)
			}
		}
		for _, in := range inputs {
			if _, ok := parseSign1(in.data, in.ct); !ok {
				t.Errorf("%s: the direct route refused what Sign wrote", in.name)
			}
			if direct, accepted := routesAgree(t, in.name, in.data, trust); !direct || !accepted {
				t.Errorf("%s: direct route %v, accepted %v; want both", in.name, direct, accepted)
			}
		}
		inputs = inputs[:0]
	}
}

// TestSign1RoutesAgree holds the direct route to go-cose's on valid
// envelopes and on every tampering: a flipped bit in every byte, every
// truncation, trailing bytes, other tags or none, other encodings of the
// same values, changed headers (alg, kid, content type, crit, extra
// parameters), a non-empty unprotected header, detached, empty and
// non-bstr payloads, and signatures of the wrong size.
func TestSign1RoutesAgree(t *testing.T) {
	op := mustOperator(t, "operator")
	trust := lookup(op)
	key := mustSign(t, minimalClaims(), op)
	msg, err := SignMessage(testMessage(), op.kid, op.priv)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := encodeClaims(minimalClaims())
	if err != nil {
		t.Fatal(err)
	}
	kidItem := append(bstrHead(len(op.kid)), op.kid...)
	keyProt := append([]byte(keyProtectedPrefix), kidItem...)
	msgProt := append([]byte(msgProtectedPrefix), kidItem...)
	base := sign1Parts{tag: []byte{0xd2}, prot: keyProt, payload: payload, priv: op.priv}
	if got := base.bytes(); !bytes.Equal(got, key) {
		t.Fatalf("sign1Parts does not rebuild Sign's output:\n got %x\nwant %x", got, key)
	}
	with := func(edit func(*sign1Parts)) []byte {
		p := base
		edit(&p)
		return p.bytes()
	}
	header := func(m map[any]any) []byte { return mustCBOR(t, m) }

	cases := []struct {
		name string
		data []byte
		// want: "" accepted, or the sentinel both routes must return.
		want string
	}{
		{"valid key", key, ""},
		{"valid message", msg, ""},
		{"trailing byte", append(bytes.Clone(key), 0x00), "malformed"},
		{"trailing item", append(bytes.Clone(key), 0xa0), "malformed"},
		{"tag 17", append([]byte{0xd1}, key[1:]...), "malformed"},
		{"tag 19", append([]byte{0xd3}, key[1:]...), "malformed"},
		{"tag 98", append([]byte{0xd8, 0x62}, key[1:]...), "malformed"},
		{"tag 18 in two bytes", append([]byte{0xd8, 0x12}, key[1:]...), "malformed"},
		{"tag 18 twice", append([]byte{0xd2}, key...), "malformed"},
		{"no tag", key[1:], "malformed"},
		{"array of 5", with(func(p *sign1Parts) { p.arrayHead = []byte{0x85}; p.trailing = []byte{0x40} }), "malformed"},
		{"indefinite array", with(func(p *sign1Parts) { p.arrayHead = []byte{0x9f}; p.trailing = []byte{0xff} }), "malformed"},
		{"protected bstr length in two bytes", with(func(p *sign1Parts) { p.protHead = []byte{0x58, byte(len(p.prot))} }), ""},
		{"payload length in three bytes", with(func(p *sign1Parts) { p.payloadHead = []byte{0x59, 0, byte(len(p.payload))} }), ""},
		{"signature length in three bytes", with(func(p *sign1Parts) { p.sigHead = []byte{0x59, 0, 64} }), ""},
		{"kid length in two bytes", with(func(p *sign1Parts) {
			p.prot = append([]byte(keyProtectedPrefix), append([]byte{0x58, byte(len(op.kid))}, op.kid...)...)
		}), ""},
		{"alg -8 in two bytes", with(func(p *sign1Parts) {
			p.prot = append([]byte{0xa2, 0x01, 0x38, 0x07, 0x04}, kidItem...)
		}), ""},
		{"kid before alg", with(func(p *sign1Parts) {
			p.prot = append(append([]byte{0xa2, 0x04}, kidItem...), 0x01, 0x27)
		}), ""},
		{"indefinite protected map", with(func(p *sign1Parts) {
			p.prot = append(append([]byte{0xbf, 0x01, 0x27, 0x04}, kidItem...), 0xff)
		}), "malformed"},
		{"duplicate alg", with(func(p *sign1Parts) {
			p.prot = append([]byte{0xa3, 0x01, 0x27, 0x01, 0x27, 0x04}, kidItem...)
		}), "malformed"},
		{"extra header parameter", with(func(p *sign1Parts) { p.prot = header(map[any]any{1: -8, 4: []byte(op.kid), 99: "x"}) }), ""},
		{"content type on a key", with(func(p *sign1Parts) { p.prot = msgProt }), ""},
		{"other content type", with(func(p *sign1Parts) {
			p.prot = header(map[any]any{1: -8, 3: "application/cbor", 4: []byte(op.kid)})
		}), ""},
		{"content type as uint", with(func(p *sign1Parts) { p.prot = header(map[any]any{1: -8, 3: 60, 4: []byte(op.kid)}) }), ""},
		{"alg ES256", with(func(p *sign1Parts) { p.prot = header(map[any]any{1: -7, 4: []byte(op.kid)}) }), "bad_signature"},
		{"alg 0", with(func(p *sign1Parts) { p.prot = header(map[any]any{1: 0, 4: []byte(op.kid)}) }), "bad_signature"},
		{"alg as text", with(func(p *sign1Parts) { p.prot = header(map[any]any{1: "EdDSA", 4: []byte(op.kid)}) }), "bad_signature"},
		{"alg missing", with(func(p *sign1Parts) { p.prot = header(map[any]any{4: []byte(op.kid)}) }), "bad_signature"},
		{"empty protected header", with(func(p *sign1Parts) { p.prot = []byte{} }), "bad_signature"},
		{"protected header an empty map", with(func(p *sign1Parts) { p.prot = []byte{0xa0} }), "bad_signature"},
		{"kid missing", with(func(p *sign1Parts) { p.prot = header(map[any]any{1: -8}) }), "unknown_kid"},
		{"kid empty", with(func(p *sign1Parts) { p.prot = header(map[any]any{1: -8, 4: []byte{}}) }), "unknown_kid"},
		{"kid as text", with(func(p *sign1Parts) { p.prot = header(map[any]any{1: -8, 4: op.kid}) }), "malformed"},
		{"kid with a space", with(func(p *sign1Parts) { p.prot = header(map[any]any{1: -8, 4: []byte("a b")}) }), "unknown_kid"},
		{"kid of 65 bytes", with(func(p *sign1Parts) { p.prot = header(map[any]any{1: -8, 4: bytes.Repeat([]byte("k"), 65)}) }), "unknown_kid"},
		{"unknown kid", with(func(p *sign1Parts) { p.prot = header(map[any]any{1: -8, 4: []byte("someone-else")}) }), "unknown_kid"},
		{"crit", with(func(p *sign1Parts) {
			p.prot = header(map[any]any{1: -8, 2: []any{99}, 4: []byte(op.kid), 99: 1})
		}), "malformed"},
		{"IV and partial IV", with(func(p *sign1Parts) {
			p.prot = header(map[any]any{1: -8, 4: []byte(op.kid), 5: []byte{1}, 6: []byte{2}})
		}), "malformed"},
		{"kid in the unprotected header only", with(func(p *sign1Parts) {
			p.prot = header(map[any]any{1: -8})
			p.unprot = header(map[any]any{4: []byte(op.kid)})
		}), "malformed"},
		{"unprotected header not empty", with(func(p *sign1Parts) { p.unprot = header(map[any]any{99: 1}) }), "malformed"},
		{"unprotected header indefinite and empty", with(func(p *sign1Parts) { p.unprot = []byte{0xbf, 0xff} }), "malformed"},
		{"unprotected header not a map", with(func(p *sign1Parts) { p.unprot = []byte{0x40} }), "malformed"},
		{"detached payload", with(func(p *sign1Parts) { p.payload, p.payloadHead, p.signPayload = []byte{0xf6}, []byte{}, payload }), "malformed"},
		{"empty payload", with(func(p *sign1Parts) { p.payload = []byte{} }), "malformed"},
		{"payload as text", with(func(p *sign1Parts) {
			head := bstrHead(len(payload))
			head[0] += 0x20 // major type 3: text
			p.payloadHead, p.payload, p.signPayload = []byte{}, append(head, payload...), payload
		}), "malformed"},
		{"signature of 63 bytes", with(func(p *sign1Parts) { p.sig = bytes.Repeat([]byte{1}, 63) }), "bad_signature"},
		{"signature of 65 bytes", with(func(p *sign1Parts) { p.sig = bytes.Repeat([]byte{1}, 65) }), "bad_signature"},
		{"empty signature", with(func(p *sign1Parts) { p.sig = []byte{} }), "malformed"},
		{"signature of zeros", with(func(p *sign1Parts) { p.sig = make([]byte, 64) }), "bad_signature"},
		{"signature over another payload", with(func(p *sign1Parts) { p.signPayload = append(bytes.Clone(payload), 0) }), "bad_signature"},
		{"signature over another protected header", with(func(p *sign1Parts) { p.signProt = msgProt }), "bad_signature"},
	}
	directOK, directRefused := 0, 0
	for _, tc := range cases {
		direct, accepted := routesAgree(t, tc.name, tc.data, trust)
		_, err := Verify(tc.data, trust)
		if strings.HasPrefix(tc.name, "valid message") {
			_, _, err = VerifyMessage(tc.data, trust)
		}
		// Verify also refuses, after the envelope, claims that are not
		// lotgate claims: the accepted envelopes here carry valid ones.
		if got := sentinelOf(err); got != tc.want {
			t.Errorf("%s: Verify got %q (%v); want %q", tc.name, got, err, tc.want)
		}
		switch {
		case direct && accepted:
			directOK++
		case direct:
			directRefused++
		}
	}
	// Every single-bit flip and every truncation: refused by both.
	for _, in := range []struct {
		name string
		data []byte
	}{{"key", key}, {"message", msg}} {
		for i := range in.data {
			for _, bit := range []byte{0x01, 0x20, 0x80} {
				b := bytes.Clone(in.data)
				b[i] ^= bit
				name := fmt.Sprintf("%s with byte %d ^ %#02x", in.name, i, bit)
				direct, accepted := routesAgree(t, name, b, trust)
				if accepted {
					t.Errorf("%s: accepted", name)
				}
				if direct {
					directRefused++
				}
			}
			if _, accepted := routesAgree(t, fmt.Sprintf("%s cut to %d bytes", in.name, i), in.data[:i], trust); accepted {
				t.Errorf("%s cut to %d bytes: accepted", in.name, i)
			}
		}
	}
	// The comparison means something only if the direct route both
	// accepted and refused envelopes.
	if directOK < 2 || directRefused < 100 {
		t.Errorf("direct route: %d accepted, %d refused; want at least 2 and 100", directOK, directRefused)
	}
}

// TestSign1MessageIsNotAKey: the content type keeps keys and messages
// apart on the direct route as on go-cose's.
func TestSign1MessageIsNotAKey(t *testing.T) {
	op := mustOperator(t, "operator")
	key := mustSign(t, minimalClaims(), op)
	msg, err := SignMessage(testMessage(), op.kid, op.priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := VerifyMessage(key, lookup(op)); !errors.Is(err, ErrMalformed) {
		t.Errorf("VerifyMessage(a key): got %v; want ErrMalformed", err)
	}
	if _, err := Verify(msg, lookup(op)); !errors.Is(err, ErrMalformed) {
		t.Errorf("Verify(a message): got %v; want ErrMalformed", err)
	}
	if _, ok := parseSign1(key, MessageContentType); ok {
		t.Error("the direct route took a key as a message")
	}
	if _, ok := parseSign1(msg, ""); ok {
		t.Error("the direct route took a message as a key")
	}
}
