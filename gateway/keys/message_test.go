package keys

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

func testMessage() Message {
	return Message{ID: "m-1", Type: "payment.completed", Site: "lot-1", IssuedAt: t0, Expires: t0.Add(time.Hour),
		Body: []byte(`{"payment_id":"p-1","ref":"s-1","amount":250}`)}
}

func TestMessageRoundTrip(t *testing.T) {
	op := mustOperator(t, "op")
	for _, m := range []Message{testMessage(), func() Message { m := testMessage(); m.Expires = time.Time{}; return m }()} {
		b, err := SignMessage(m, op.kid, op.priv)
		if err != nil {
			t.Fatal(err)
		}
		got, kid, err := VerifyMessage(b, lookup(op))
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		if kid != op.kid || got.ID != m.ID || got.Type != m.Type || got.Site != m.Site || !got.IssuedAt.Equal(m.IssuedAt) ||
			!got.Expires.Equal(m.Expires) || string(got.Body) != string(m.Body) {
			t.Errorf("got %+v kid %s; want %+v kid %s", got, kid, m, op.kid)
		}
		// Receipt text round trip.
		text := EncodeReceiptText(b)
		if !IsReceiptText(" " + text + "\n") {
			t.Errorf("IsReceiptText(%q) = false", text)
		}
		back, err := ParseReceiptText(text + "\r\n")
		if err != nil || string(back) != string(b) {
			t.Errorf("ParseReceiptText: %v", err)
		}
	}
}

func TestVerifyMessageRefuses(t *testing.T) {
	op := mustOperator(t, "op")
	other := mustOperator(t, "other")
	good, err := SignMessage(testMessage(), op.kid, op.priv)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := SignMessage(testMessage(), op.kid, other.priv)
	if err != nil {
		t.Fatal(err)
	}
	tampered := append([]byte(nil), good...)
	i := strings.Index(string(tampered), "250")
	tampered[i] = '9'
	key, err := Sign(minimalClaims(), op.kid, op.priv)
	if err != nil {
		t.Fatal(err)
	}
	// A message whose payload has an unknown field, signed correctly.
	extra := resign(t, good, op, func(m map[string]any) { m["x"] = 1 })
	badVersion := resign(t, good, op, func(m map[string]any) { m["v"] = 2 })
	noSite := resign(t, good, op, func(m map[string]any) { delete(m, "site") })
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"garbage", []byte("hello"), ErrMalformed},
		{"forged", forged, ErrBadSignature},
		{"tampered", tampered, ErrBadSignature},
		{"key is not a message", key, ErrMalformed},
		{"unknown field", extra, ErrMalformed},
		{"unknown version", badVersion, ErrMalformed},
		{"no site", noSite, ErrMalformed},
	}
	for _, tt := range tests {
		_, _, err := VerifyMessage(tt.data, lookup(op))
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v; want %v", tt.name, err, tt.want)
		}
	}
	if _, _, err := VerifyMessage(good, lookup(other)); !errors.Is(err, ErrUnknownKID) {
		t.Errorf("unknown kid: got %v; want ErrUnknownKID", err)
	}
	// A message is not a key either.
	if _, err := Verify(good, lookup(op)); !errors.Is(err, ErrMalformed) {
		t.Errorf("message as key: got %v; want ErrMalformed", err)
	}
}

// resign decodes a message's payload, lets edit change it and signs it
// again with op, keeping the protected header.
func resign(t *testing.T, data []byte, op operator, edit func(map[string]any)) []byte {
	t.Helper()
	var msg cose.Sign1Message
	if err := msg.UnmarshalCBOR(data); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := cbor.Unmarshal(msg.Payload, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	p, err := cbor.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := cose.NewSign1Message()
	out.Headers.Protected = msg.Headers.Protected
	out.Payload = p
	signer, err := cose.NewSigner(cose.AlgorithmEdDSA, op.priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Sign(nil, nil, signer); err != nil {
		t.Fatal(err)
	}
	b, err := out.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignMessageValidates(t *testing.T) {
	op := mustOperator(t, "op")
	tests := []struct {
		name string
		edit func(*Message)
	}{
		{"no id", func(m *Message) { m.ID = "" }},
		{"no type", func(m *Message) { m.Type = "" }},
		{"no site", func(m *Message) { m.Site = "" }},
		{"no iat", func(m *Message) { m.IssuedAt = time.Time{} }},
		{"exp before iat", func(m *Message) { m.Expires = m.IssuedAt.Add(-time.Second) }},
		{"body not an object", func(m *Message) { m.Body = []byte(`[1]`) }},
		{"long id", func(m *Message) { m.ID = strings.Repeat("x", MaxIDLen+1) }},
	}
	for _, tt := range tests {
		m := testMessage()
		tt.edit(&m)
		if _, err := SignMessage(m, op.kid, op.priv); !errors.Is(err, ErrInvalidClaims) {
			t.Errorf("%s: got %v; want ErrInvalidClaims", tt.name, err)
		}
	}
}

func TestMessageCheckTime(t *testing.T) {
	m := testMessage()
	m.Expires = t0.Add(30 * time.Second)
	skew := 2 * time.Second
	tests := []struct {
		now  time.Time
		want error
	}{
		{t0, nil},
		{t0.Add(-skew), nil},
		{t0.Add(-skew - time.Second), ErrMessageNotYetValid},
		{t0.Add(31 * time.Second), nil},
		{t0.Add(32 * time.Second), ErrMessageExpired},
	}
	for _, tt := range tests {
		if err := m.CheckTime(tt.now, skew); !errors.Is(err, tt.want) && !(err == nil && tt.want == nil) {
			t.Errorf("CheckTime(%v): got %v; want %v", tt.now, err, tt.want)
		}
	}
}

func TestParseReceiptTextRefuses(t *testing.T) {
	for _, text := range []string{"", "LG1:ABC", "LGR1:", "LGR1:abc", "lgr1:ABC", strings.Repeat("A", MaxReceiptTextLen+100)} {
		if _, err := ParseReceiptText(text); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseReceiptText(%.20q): got %v; want ErrMalformed", text, err)
		}
	}
}
