package keys

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/veraison/go-cose"
)

// MaxKeyLen bounds the COSE bytes Verify accepts.
const MaxKeyLen = 4096

// Sign validates c and returns it as a tagged COSE_Sign1 (CBOR tag 18)
// signed with EdDSA by priv, whose key ID kid goes in the protected header.
// Times are written in whole seconds. Errors wrap ErrInvalidClaims when the
// claims or kid are refused.
func Sign(c Claims, kid string, priv ed25519.PrivateKey) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("sign key %q: %w", c.KeyID, err)
	}
	if err := checkKID(kid); err != nil {
		return nil, fmt.Errorf("sign key %q: %w: %w", c.KeyID, ErrInvalidClaims, err)
	}
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign key %q: operator private key has %d bytes; want %d", c.KeyID, len(priv), ed25519.PrivateKeySize)
	}
	payload, err := encodeClaims(c)
	if err != nil {
		return nil, fmt.Errorf("sign key %q: encode claims: %w", c.KeyID, err)
	}
	signer, err := cose.NewSigner(cose.AlgorithmEdDSA, priv)
	if err != nil {
		return nil, fmt.Errorf("sign key %q: %w", c.KeyID, err)
	}
	msg := cose.NewSign1Message()
	msg.Headers.Protected.SetAlgorithm(cose.AlgorithmEdDSA)
	msg.Headers.Protected[cose.HeaderLabelKeyID] = []byte(kid)
	msg.Payload = payload
	// Ed25519 signatures are deterministic: no randomness is read.
	if err := msg.Sign(nil, nil, signer); err != nil {
		return nil, fmt.Errorf("sign key %q: %w", c.KeyID, err)
	}
	out, err := msg.MarshalCBOR()
	if err != nil {
		return nil, fmt.Errorf("sign key %q: encode COSE_Sign1: %w", c.KeyID, err)
	}
	return out, nil
}

// Verify checks a key and returns its claims. In order: the bytes must be
// a tagged COSE_Sign1 with an empty unprotected header and no crit header
// (else ErrMalformed); alg must be EdDSA (else ErrBadSignature, whatever
// else it names, including a missing alg); kid must be present and lookup
// must know it (else ErrUnknownKID); the signature must verify with that
// key (else ErrBadSignature); the claims must decode with the right types
// and pass Claims.Validate (else ErrMalformed). The payload is only parsed
// once the signature has verified.
//
// Verify does not check time, site, resources or anything stateful: see
// CheckTime, AllowsResource, AllowsAction and the core. It never panics and
// is safe for concurrent use if lookup is. A nil lookup trusts no key.
func Verify(data []byte, lookup func(kid string) (ed25519.PublicKey, bool)) (Claims, error) {
	if lookup == nil {
		lookup = func(string) (ed25519.PublicKey, bool) { return nil, false }
	}
	if len(data) == 0 {
		return Claims{}, fmt.Errorf("verify key: %w: empty", ErrMalformed)
	}
	if len(data) > MaxKeyLen {
		return Claims{}, fmt.Errorf("verify key: %w: %d bytes, more than %d", ErrMalformed, len(data), MaxKeyLen)
	}
	payload, _, err := openSign1(data, "", lookup)
	if err != nil {
		return Claims{}, fmt.Errorf("verify key: %w", err)
	}
	c, err := decodeClaims(payload)
	if err != nil {
		return Claims{}, fmt.Errorf("verify key: %w: %v", ErrMalformed, err)
	}
	if err := c.validate(); err != nil {
		return Claims{}, fmt.Errorf("verify key %q: %w: %v", c.KeyID, ErrMalformed, err)
	}
	return c, nil
}

// checkKID checks an operator key ID: 1 to MaxIDLen printable ASCII
// characters without spaces.
func checkKID(kid string) error {
	if kid == "" {
		return errors.New("empty kid")
	}
	if len(kid) > MaxIDLen {
		return fmt.Errorf("kid has %d bytes, more than %d", len(kid), MaxIDLen)
	}
	for i := 0; i < len(kid); i++ {
		if kid[i] <= ' ' || kid[i] > '~' {
			return fmt.Errorf("kid %q: want printable ASCII without spaces", kid)
		}
	}
	return nil
}
