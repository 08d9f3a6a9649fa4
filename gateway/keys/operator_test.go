package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
)

func TestGenerateKey(t *testing.T) {
	seed := bytes.Repeat([]byte{1}, 32)
	kid, pub, priv, err := GenerateKey(bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	if want := ed25519.NewKeyFromSeed(seed); !bytes.Equal(priv, want) {
		t.Errorf("GenerateKey did not use the reader's seed")
	}
	if !bytes.Equal(pub, priv.Public().(ed25519.PublicKey)) {
		t.Errorf("public key does not match private key")
	}
	if kid != DeriveKID(pub) || len(kid) != 16 || strings.Trim(kid, "0123456789abcdef") != "" {
		t.Errorf("kid = %q; want 16 lowercase hex characters = DeriveKID(pub) %q", kid, DeriveKID(pub))
	}
	if _, _, _, err := GenerateKey(bytes.NewReader(seed[:5])); err == nil {
		t.Errorf("GenerateKey from a short reader: no error")
	}
}

func TestDeriveKID(t *testing.T) {
	// SHA-256 of 32 zero bytes is 66687aadf862bd77...
	if got, want := DeriveKID(make([]byte, 32)), "66687aadf862bd77"; got != want {
		t.Errorf("DeriveKID(zero key) = %q; want %q", got, want)
	}
}

func TestKeyEncodings(t *testing.T) {
	_, pub, priv, err := GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pubText := EncodePublicKey(pub)
	if len(pubText) != 44 {
		t.Errorf("EncodePublicKey: %d characters; want 44", len(pubText))
	}
	gotPub, err := ParsePublicKey(" " + pubText + "\n")
	if err != nil || !bytes.Equal(gotPub, pub) {
		t.Errorf("ParsePublicKey(EncodePublicKey(pub)) = %x, %v; want %x", gotPub, err, pub)
	}
	privText := EncodePrivateKey(priv)
	gotPriv, err := ParsePrivateKey(privText + "\n")
	if err != nil || !bytes.Equal(gotPriv, priv) {
		t.Errorf("ParsePrivateKey(EncodePrivateKey(priv)) = %x, %v; want %x", gotPriv, err, priv)
	}
	if EncodePrivateKey(priv[:10]) != "" {
		t.Errorf("EncodePrivateKey of a short key is not empty")
	}
	for _, s := range []string{"", "not base64!", "AAAA", privText + privText, EncodePublicKey(make([]byte, 64))} {
		if _, err := ParsePublicKey(s); err == nil {
			t.Errorf("ParsePublicKey(%q): no error", s)
		}
		if _, err := ParsePrivateKey(s); err == nil {
			t.Errorf("ParsePrivateKey(%q): no error", s)
		}
	}
}
