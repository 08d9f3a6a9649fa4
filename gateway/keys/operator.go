package keys

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// GenerateKey makes an operator key pair from rand (crypto/rand.Reader in
// production) and returns it with its key ID, DeriveKID(pub).
func GenerateKey(rand io.Reader) (kid string, pub ed25519.PublicKey, priv ed25519.PrivateKey, err error) {
	pub, priv, err = ed25519.GenerateKey(rand)
	if err != nil {
		return "", nil, nil, fmt.Errorf("generate operator key: %w", err)
	}
	return DeriveKID(pub), pub, priv, nil
}

// DeriveKID returns the key ID lotgate derives from an operator public key:
// the first 8 bytes of SHA-256 of the 32 raw key bytes, in lowercase hex
// (16 characters). Any kid works for Verify (the trusted-key table maps kid
// to key); a derived one lets anyone check that a table entry is
// consistent.
func DeriveKID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// EncodePublicKey returns the standard base64 (with padding) of the 32 raw
// public key bytes: the form used in site configs.
func EncodePublicKey(pub ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey parses EncodePublicKey's form; surrounding whitespace is
// ignored.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("parse public key: %d bytes; want %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// EncodePrivateKey returns the standard base64 of the key's 32-byte seed
// (RFC 8032's private key), or "" if priv is not an Ed25519 private key.
func EncodePrivateKey(priv ed25519.PrivateKey) string {
	if len(priv) != ed25519.PrivateKeySize {
		return ""
	}
	return base64.StdEncoding.EncodeToString(priv.Seed())
}

// ParsePrivateKey parses EncodePrivateKey's form; surrounding whitespace is
// ignored.
func ParsePrivateKey(s string) (ed25519.PrivateKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	if len(b) != ed25519.SeedSize {
		return nil, fmt.Errorf("parse private key: %d bytes; want a %d-byte seed", len(b), ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(b), nil
}
