package keys

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"

	"github.com/lotgate/lotgate/gateway/base45"
)

// Signed operator messages (docs/keys.md, "Signed messages"): what the
// cloud sends a gateway that opens something, moves money or changes what
// the gateway trusts — payment completions, revocations, list updates,
// reservations, remote commands, approval decisions, trusted time. The
// envelope is a COSE_Sign1 signed with EdDSA by an operator key named by
// kid, like a key, with a content type that keeps the two apart: a message
// never verifies as a key and a key never verifies as a message.

// MessageContentType is the COSE content type (header label 3) of a signed
// message. Verify (keys) ignores it; VerifyMessage requires it.
const MessageContentType = "application/lotgate-msg+cbor"

// MessageVersion is the envelope version ("v").
const MessageVersion = 1

// MaxMessageLen bounds the COSE bytes VerifyMessage accepts (a full local
// list of some thousands of entries fits).
const MaxMessageLen = 4 << 20

// ReceiptPrefix starts the QR text of a signed message carried by a phone
// ("phone-relayed receipt"): ReceiptPrefix + base45(COSE_Sign1).
const ReceiptPrefix = "LGR1:"

// MaxReceiptTextLen bounds the receipt text ParseReceiptText accepts: a QR
// code holds at most 4296 alphanumeric characters.
const MaxReceiptTextLen = 4296

// ErrExpiredMessage is not returned by VerifyMessage (which checks no
// time); Message.CheckTime returns it and ErrMessageNotYetValid.
var (
	ErrMessageExpired     = errors.New("message expired")
	ErrMessageNotYetValid = errors.New("message not yet valid")
)

// Message is a signed operator message. Times have second precision.
type Message struct {
	// ID is unique per message: the gateway applies a message at most once
	// by ID and refuses a replay. 1 to MaxIDLen bytes.
	ID string
	// Type names what Body holds ("payment.completed", "command", …).
	Type string
	// Site is the site ID the message is for; a gateway refuses others.
	Site string
	// IssuedAt is when it was signed (required).
	IssuedAt time.Time
	// Expires is when it stops being valid; zero means never (only types
	// whose effect is idempotent by their own ID, such as payments, may
	// leave it out; the gateway requires it on commands).
	Expires time.Time
	// Body is the type's fields as a JSON object (UTF-8 text).
	Body []byte
}

// Envelope labels (text keys of the payload map).
const (
	msgVersion = "v"
	msgID      = "id"
	msgType    = "typ"
	msgSite    = "site"
	msgIat     = "iat"
	msgExp     = "exp"
	msgBody    = "body"
	// msgMaxPairs bounds the payload map.
	msgMaxPairs = 16
)

// wireMessage is the payload map. Unknown fields are refused.
type wireMessage struct {
	V    uint64 `cbor:"v"`
	ID   string `cbor:"id"`
	Typ  string `cbor:"typ"`
	Site string `cbor:"site"`
	Iat  uint64 `cbor:"iat"`
	Exp  uint64 `cbor:"exp,omitempty"`
	Body string `cbor:"body"`
}

var msgModes = sync.OnceValues(func() (modes, error) {
	enc, err := cbor.EncOptions{Sort: cbor.SortCoreDeterministic, IndefLength: cbor.IndefLengthForbidden}.EncMode()
	if err != nil {
		return modes{}, fmt.Errorf("cbor encoding mode: %w", err)
	}
	dec, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   4,
		MaxMapPairs:       msgMaxPairs,
		MaxArrayElements:  16,
		UTF8:              cbor.UTF8RejectInvalid,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		return modes{}, fmt.Errorf("cbor decoding mode: %w", err)
	}
	return modes{enc: enc, dec: dec}, nil
})

// Validate checks the envelope rules Sign and Verify enforce: an ID, a
// type and a site (identifier-like, at most MaxIDLen bytes), an issue
// time after 1970, an expiry (when set) after the issue time, and a body
// that is a JSON object in valid UTF-8. Errors wrap ErrInvalidClaims.
func (m Message) Validate() error {
	if err := m.validate(); err != nil {
		return fmt.Errorf("%w: message: %w", ErrInvalidClaims, err)
	}
	return nil
}

func (m Message) validate() error {
	if err := checkID("message id", m.ID, true); err != nil {
		return err
	}
	if err := checkID("message type", m.Type, true); err != nil {
		return err
	}
	if err := checkID("site", m.Site, true); err != nil {
		return err
	}
	if m.IssuedAt.IsZero() || m.IssuedAt.Unix() <= 0 {
		return errors.New("issued-at is required and must be after 1970")
	}
	if !m.Expires.IsZero() && m.Expires.Unix() <= m.IssuedAt.Unix() {
		return fmt.Errorf("expires %v is not after issued-at %v", m.Expires.UTC(), m.IssuedAt.UTC())
	}
	b := strings.TrimSpace(string(m.Body))
	if !utf8.ValidString(b) || !strings.HasPrefix(b, "{") || !strings.HasSuffix(b, "}") {
		return errors.New("body must be a JSON object")
	}
	return nil
}

// SignMessage validates m and returns it as a tagged COSE_Sign1 signed with
// EdDSA by priv, whose key ID kid goes in the protected header together
// with MessageContentType. Times are written in whole seconds.
func SignMessage(m Message, kid string, priv ed25519.PrivateKey) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("sign message %q: %w", m.ID, err)
	}
	if err := checkKID(kid); err != nil {
		return nil, fmt.Errorf("sign message %q: %w: %w", m.ID, ErrInvalidClaims, err)
	}
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign message %q: operator private key has %d bytes; want %d", m.ID, len(priv), ed25519.PrivateKeySize)
	}
	md, err := msgModes()
	if err != nil {
		return nil, err
	}
	w := wireMessage{V: MessageVersion, ID: m.ID, Typ: m.Type, Site: m.Site, Iat: uint64(m.IssuedAt.Unix()), Body: string(m.Body)}
	if !m.Expires.IsZero() {
		w.Exp = uint64(m.Expires.Unix())
	}
	payload, err := md.enc.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("sign message %q: encode: %w", m.ID, err)
	}
	signer, err := cose.NewSigner(cose.AlgorithmEdDSA, priv)
	if err != nil {
		return nil, fmt.Errorf("sign message %q: %w", m.ID, err)
	}
	msg := cose.NewSign1Message()
	msg.Headers.Protected.SetAlgorithm(cose.AlgorithmEdDSA)
	msg.Headers.Protected[cose.HeaderLabelKeyID] = []byte(kid)
	msg.Headers.Protected[cose.HeaderLabelContentType] = MessageContentType
	msg.Payload = payload
	if err := msg.Sign(nil, nil, signer); err != nil {
		return nil, fmt.Errorf("sign message %q: %w", m.ID, err)
	}
	out, err := msg.MarshalCBOR()
	if err != nil {
		return nil, fmt.Errorf("sign message %q: encode COSE_Sign1: %w", m.ID, err)
	}
	return out, nil
}

// VerifyMessage checks a signed message and returns it with the kid that
// signed it. The order and the errors are Verify's: structure (tagged
// COSE_Sign1, empty unprotected header, no crit, content type
// MessageContentType, at most MaxMessageLen bytes; else ErrMalformed),
// algorithm EdDSA (else ErrBadSignature), a kid lookup knows (else
// ErrUnknownKID), the signature (else ErrBadSignature), then the payload
// (else ErrMalformed). It checks no time and no site: see CheckTime and
// the core. It never panics.
func VerifyMessage(data []byte, lookup func(kid string) (ed25519.PublicKey, bool)) (Message, string, error) {
	if lookup == nil {
		lookup = func(string) (ed25519.PublicKey, bool) { return nil, false }
	}
	if len(data) == 0 {
		return Message{}, "", fmt.Errorf("verify message: %w: empty", ErrMalformed)
	}
	if len(data) > MaxMessageLen {
		return Message{}, "", fmt.Errorf("verify message: %w: %d bytes, more than %d", ErrMalformed, len(data), MaxMessageLen)
	}
	payload, kid, err := openSign1(data, MessageContentType, lookup)
	if err != nil {
		return Message{}, kid, fmt.Errorf("verify message: %w", err)
	}
	m, err := decodeMessage(payload)
	if err != nil {
		return Message{}, kid, fmt.Errorf("verify message: %w: %v", ErrMalformed, err)
	}
	return m, kid, nil
}

func decodeMessage(payload []byte) (Message, error) {
	md, err := msgModes()
	if err != nil {
		return Message{}, err
	}
	var w wireMessage
	if err := md.dec.Unmarshal(payload, &w); err != nil {
		return Message{}, fmt.Errorf("payload: %w", err)
	}
	if w.V != MessageVersion {
		return Message{}, fmt.Errorf("envelope version %d; this gateway reads %d", w.V, MessageVersion)
	}
	if w.Iat > 1<<40 || w.Exp > 1<<40 {
		return Message{}, errors.New("time out of range")
	}
	m := Message{ID: w.ID, Type: w.Typ, Site: w.Site, IssuedAt: time.Unix(int64(w.Iat), 0).UTC(), Body: []byte(w.Body)}
	if w.Exp != 0 {
		m.Expires = time.Unix(int64(w.Exp), 0).UTC()
	}
	if err := m.validate(); err != nil {
		return Message{}, err
	}
	return m, nil
}

// CheckTime checks the message against now with the allowed clock skew:
// ErrMessageNotYetValid when it was issued after now+skew,
// ErrMessageExpired when now-skew is at or after Expires. A message with no
// expiry never expires.
func (m Message) CheckTime(now time.Time, skew time.Duration) error {
	if m.IssuedAt.After(now.Add(skew)) {
		return fmt.Errorf("message %s: %w (issued %s, now %s)", m.ID, ErrMessageNotYetValid, m.IssuedAt.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if !m.Expires.IsZero() && !now.Add(-skew).Before(m.Expires) {
		return fmt.Errorf("message %s: %w at %s", m.ID, ErrMessageExpired, m.Expires.Format(time.RFC3339))
	}
	return nil
}

// EncodeReceiptText returns the QR text of a signed message:
// ReceiptPrefix + base45(msg).
func EncodeReceiptText(msg []byte) string {
	return ReceiptPrefix + base45.Encode(msg)
}

// IsReceiptText reports whether text (trimmed) starts with ReceiptPrefix.
func IsReceiptText(text string) bool {
	return strings.HasPrefix(strings.TrimSpace(text), ReceiptPrefix)
}

// ParseReceiptText returns the COSE bytes of a receipt text, not yet
// verified (pass them to VerifyMessage). Errors wrap ErrMalformed.
func ParseReceiptText(text string) ([]byte, error) {
	if len(text) > MaxReceiptTextLen+64 {
		return nil, fmt.Errorf("parse receipt text: %w: %d bytes, more than %d", ErrMalformed, len(text), MaxReceiptTextLen)
	}
	s := strings.TrimSpace(text)
	body, ok := strings.CutPrefix(s, ReceiptPrefix)
	if !ok {
		return nil, fmt.Errorf("parse receipt text: %w: does not start with %q", ErrMalformed, ReceiptPrefix)
	}
	if body == "" {
		return nil, fmt.Errorf("parse receipt text: %w: nothing after the prefix", ErrMalformed)
	}
	b, err := base45.Decode(body)
	if err != nil {
		return nil, fmt.Errorf("parse receipt text: %w: %v", ErrMalformed, err)
	}
	return b, nil
}
