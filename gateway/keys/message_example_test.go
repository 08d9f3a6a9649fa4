package keys

import (
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"
)

// exampleMessage is the worked example of docs/operators.md, signed with
// the example seed 000102…1f of docs/keys.md.
func exampleMessage(t *testing.T) (Message, []byte) {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	m := Message{ID: "m-2025-0001", Type: "payment.completed", Site: "lot-1",
		IssuedAt: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Body:     []byte(`{"payment_id":"psp-8812","ref":"s-4Q2M7ZKD","amount":450,"currency":"EUR"}`)}
	raw, err := SignMessage(m, DeriveKID(priv.Public().(ed25519.PublicKey)), priv)
	if err != nil {
		t.Fatal(err)
	}
	return m, raw
}

// TestOperatorsGuideExample checks that docs/operators.md still shows the
// bytes this package produces (Ed25519 is deterministic).
func TestOperatorsGuideExample(t *testing.T) {
	_, raw := exampleMessage(t)
	doc, err := os.ReadFile("../../docs/operators.md")
	if err != nil {
		t.Fatal(err)
	}
	if h := hex.EncodeToString(raw); !strings.Contains(string(doc), h) {
		t.Errorf("docs/operators.md does not contain the example's hex:\n%s", h)
	}
	if txt := EncodeReceiptText(raw); !strings.Contains(string(doc), txt) {
		t.Errorf("docs/operators.md does not contain the example's receipt text:\n%s", txt)
	}
}
