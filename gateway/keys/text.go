package keys

import (
	"fmt"
	"strings"

	"github.com/lotgate/lotgate/gateway/base45"
)

// QR text prefixes. They are matched exactly (upper case): the base45 body
// is upper case too, so a lowercased text is damaged anyway, and one
// spelling keeps keys comparable.
const (
	// Prefix starts a plain key: Prefix + base45(COSE_Sign1).
	Prefix = "LG1:"
	// ProofPrefix starts a key shown with a device proof:
	// ProofPrefix + base45(CBOR [key: bstr, step: uint, sig: bstr]).
	ProofPrefix = "LGD1:"
	// MaxTextLen bounds the text ParsePresentation accepts, surrounding
	// whitespace included.
	MaxTextLen = 4096
)

// Presentation is what a scanner or an API caller showed: a key and, for a
// device-bound key, the device's proof.
type Presentation struct {
	Key   []byte // COSE_Sign1 bytes, not yet verified: pass them to Verify
	Proof *Proof // nil for a plain LG1: text
}

// EncodeText returns the QR text of a key: Prefix + base45(key).
func EncodeText(key []byte) string {
	return Prefix + base45.Encode(key)
}

// EncodeProofText returns the QR text a holder's device shows for a
// device-bound key: ProofPrefix + base45(CBOR [key, p.Step, p.Sig]).
func EncodeProofText(key []byte, p Proof) string {
	md, err := cborModes()
	if err != nil {
		return ""
	}
	b, err := md.enc.Marshal([]any{key, p.Step, p.Sig})
	if err != nil { // cannot happen for these types
		return ""
	}
	return ProofPrefix + base45.Encode(b)
}

// ParsePresentation parses a scanned or submitted text: LG1: (a key) or
// LGD1: (a key with a device proof). Spaces, tabs, CR and LF around the
// text are trimmed (a base45 body never ends in a space, so trimming is
// safe). It checks the form only; the key still has to go through Verify
// and the proof through VerifyProof and Proof.Fresh. Errors wrap
// ErrMalformed. It never panics.
func ParsePresentation(text string) (Presentation, error) {
	if len(text) > MaxTextLen {
		return Presentation{}, fmt.Errorf("parse key text: %w: %d bytes, more than %d", ErrMalformed, len(text), MaxTextLen)
	}
	s := strings.TrimSpace(text)
	switch {
	case strings.HasPrefix(s, ProofPrefix):
		body, err := decodeBody(s[len(ProofPrefix):])
		if err != nil {
			return Presentation{}, err
		}
		key, proof, err := decodeProofArray(body)
		if err != nil {
			return Presentation{}, fmt.Errorf("parse key text: %w: %v", ErrMalformed, err)
		}
		return Presentation{Key: key, Proof: &proof}, nil
	case strings.HasPrefix(s, Prefix):
		key, err := decodeBody(s[len(Prefix):])
		if err != nil {
			return Presentation{}, err
		}
		return Presentation{Key: key}, nil
	}
	head := s
	if len(head) > 8 {
		head = head[:8]
	}
	return Presentation{}, fmt.Errorf("parse key text: %w: starts with %q, not %q or %q", ErrMalformed, head, Prefix, ProofPrefix)
}

func decodeBody(s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("parse key text: %w: nothing after the prefix", ErrMalformed)
	}
	b, err := base45.Decode(s)
	if err != nil {
		return nil, fmt.Errorf("parse key text: %w: %v", ErrMalformed, err)
	}
	return b, nil
}

// decodeProofArray decodes [key: bstr, step: uint, sig: bstr(64)].
func decodeProofArray(b []byte) ([]byte, Proof, error) {
	a, err := decodeArray(b)
	if err != nil {
		return nil, Proof{}, fmt.Errorf("proof: %w", err)
	}
	if len(a) != 3 {
		return nil, Proof{}, fmt.Errorf("proof: %d items; want [key, step, signature]", len(a))
	}
	key, err := decodeBytes(a[0])
	if err != nil {
		return nil, Proof{}, fmt.Errorf("proof: key: %w", err)
	}
	if len(key) == 0 {
		return nil, Proof{}, fmt.Errorf("proof: empty key")
	}
	step, err := decodeUint(a[1])
	if err != nil {
		return nil, Proof{}, fmt.Errorf("proof: step: %w", err)
	}
	sig, err := decodeBytes(a[2])
	if err != nil {
		return nil, Proof{}, fmt.Errorf("proof: signature: %w", err)
	}
	if len(sig) != proofSigLen {
		return nil, Proof{}, fmt.Errorf("proof: signature has %d bytes; want %d", len(sig), proofSigLen)
	}
	return key, Proof{Step: step, Sig: sig}, nil
}
