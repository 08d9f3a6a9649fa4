package keys

import (
	"crypto/ed25519"
	"fmt"
	"sync"

	"github.com/veraison/go-cose"
)

// Verifying a COSE_Sign1 (RFC 9052 §4.4) takes two routes that accept
// exactly the same inputs:
//
//   - The direct route takes the envelope Sign and SignMessage write, and
//     only that: tag 18, a four-item array, a protected header holding
//     exactly {1: -8, 4: kid} (a message: {1: -8, 3: MessageContentType,
//     4: kid}) in deterministic encoding, an empty unprotected map, a
//     non-empty payload, a 64-byte signature, every length in its shortest
//     form and nothing after. For such bytes go-cose's decoding is known in
//     advance, so the Sig_structure is built by hand from the input's own
//     bytes into a pooled buffer and handed to ed25519.Verify: no header
//     maps, no re-encoding, no allocation beyond the claims.
//   - Anything else goes through go-cose as before (openSign1COSE), so a
//     key with an extra header parameter, a non-shortest length or a
//     missing kid is accepted or refused exactly as it always was.
//
// After the envelope, both routes run the same checks in the same order
// (kid, trusted key, signature) and return the same errors. The tests
// (sign1_test.go, FuzzVerify, FuzzVerifyMessage) hold the two to that.

// Protected headers the direct route accepts, up to the kid's bstr: the
// deterministic encodings go-cose writes for Sign and SignMessage.
const (
	keyProtectedPrefix = "\xa2" + // map(2)
		"\x01\x27" + // 1 (alg): -8 (EdDSA)
		"\x04" // 4 (kid): bstr follows
	msgProtectedPrefix = "\xa3" + // map(3)
		"\x01\x27" + // 1 (alg): -8 (EdDSA)
		"\x03\x78\x1c" + MessageContentType + // 3 (content type): tstr(28)
		"\x04" // 4 (kid): bstr follows
)

// sigStructurePrefix starts every Sig_structure of a COSE_Sign1:
// array(4), tstr(10) "Signature1".
const sigStructurePrefix = "\x84\x6aSignature1"

// coseEdDSA is the COSE algorithm the direct route implies (-8).
const coseEdDSA = cose.AlgorithmEdDSA

// maxPooledSigStructure bounds the buffers kept for reuse: a key's
// Sig_structure fits easily; a rare multi-megabyte list update is not kept.
const maxPooledSigStructure = 16 << 10

// sigBuffers holds Sig_structure buffers for reuse across verifications.
// A sync.Pool is safe for concurrent use and needs no owner.
var sigBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, 1024)
	return &b
}}

// sign1 is a COSE_Sign1 the direct route parsed. Every slice aliases the
// input.
type sign1 struct {
	protected []byte // the protected header's bstr item, head included
	payload   []byte // the payload bstr item, head included
	content   []byte // the payload's bytes
	kid       []byte
	sig       []byte
}

// parseSign1 returns the parts of data if it is exactly the envelope
// Sign (contentType "") or SignMessage (contentType MessageContentType)
// writes; ok is false for anything else, which the caller then hands to
// go-cose.
func parseSign1(data []byte, contentType string) (s sign1, ok bool) {
	prefix := keyProtectedPrefix
	if contentType != "" {
		if contentType != MessageContentType {
			return s, false
		}
		prefix = msgProtectedPrefix
	}
	if len(data) < 2 || data[0] != 0xd2 || data[1] != 0x84 { // tag 18, array(4)
		return s, false
	}
	i := 2
	start := i
	prot, i, ok := cborBytes(data, i)
	if !ok {
		return s, false
	}
	s.protected = data[start:i]
	if len(prot) <= len(prefix) || string(prot[:len(prefix)]) != prefix {
		return s, false
	}
	kid, next, ok := cborBytes(prot, len(prefix))
	if !ok || next != len(prot) {
		return s, false
	}
	s.kid = kid
	if i >= len(data) || data[i] != cborEmptyMap {
		return s, false
	}
	i++
	start = i
	if s.content, i, ok = cborBytes(data, i); !ok || len(s.content) == 0 {
		return s, false
	}
	s.payload = data[start:i]
	if s.sig, i, ok = cborBytes(data, i); !ok || len(s.sig) != ed25519.SignatureSize {
		return s, false
	}
	return s, i == len(data)
}

// cborBytes reads a definite-length byte string at data[i:] whose length
// is in its shortest form, and returns its content and the index after it.
func cborBytes(data []byte, i int) (content []byte, next int, ok bool) {
	if i >= len(data) || data[i]>>5 != majorBytes {
		return nil, 0, false
	}
	ai := data[i] & 0x1f
	i++
	var n uint64
	switch {
	case ai < 24:
		n = uint64(ai)
	case ai == 24 && i+1 <= len(data) && data[i] >= 24:
		n = uint64(data[i])
		i++
	case ai == 25 && i+2 <= len(data) && data[i] != 0:
		n = uint64(data[i])<<8 | uint64(data[i+1])
		i += 2
	case ai == 26 && i+4 <= len(data) && (data[i] != 0 || data[i+1] != 0):
		n = uint64(data[i])<<24 | uint64(data[i+1])<<16 | uint64(data[i+2])<<8 | uint64(data[i+3])
		i += 4
	default:
		// 8-byte lengths cannot fit the bounded inputs; 28-31 are
		// reserved or indefinite.
		return nil, 0, false
	}
	if n > uint64(len(data)-i) {
		return nil, 0, false
	}
	return data[i : i+int(n)], i + int(n), true
}

// openSign1 checks a COSE_Sign1 signed by an operator key and returns its
// payload and the kid that signed it (empty when no kid was read). The
// errors wrap ErrMalformed, ErrUnknownKID or ErrBadSignature, in Verify's
// order; contentType "" is a key, MessageContentType a message.
func openSign1(data []byte, contentType string, lookup func(string) (ed25519.PublicKey, bool)) (payload []byte, kid string, err error) {
	s, ok := parseSign1(data, contentType)
	if !ok {
		return openSign1COSE(data, contentType, lookup)
	}
	pub, kid, err := trustedKey(s.kid, lookup)
	if err != nil {
		return nil, kid, err
	}
	bp := sigBuffers.Get().(*[]byte)
	tbs := append((*bp)[:0], sigStructurePrefix...)
	tbs = append(tbs, s.protected...)
	tbs = append(tbs, 0x40) // external_aad: empty bstr
	tbs = append(tbs, s.payload...)
	valid := ed25519.Verify(pub, tbs, s.sig)
	if cap(tbs) <= maxPooledSigStructure {
		*bp = tbs[:0]
		sigBuffers.Put(bp)
	}
	if !valid {
		return nil, kid, fmt.Errorf("%w (kid %q): %v", ErrBadSignature, kid, cose.ErrVerification)
	}
	return s.content, kid, nil
}

// trustedKey checks the kid read from a protected header and looks its key
// up.
func trustedKey(kidb []byte, lookup func(string) (ed25519.PublicKey, bool)) (ed25519.PublicKey, string, error) {
	if len(kidb) == 0 {
		return nil, "", fmt.Errorf("%w: no kid in the protected header", ErrUnknownKID)
	}
	kid := string(kidb)
	if err := checkKID(kid); err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrUnknownKID, err)
	}
	pub, ok := lookup(kid)
	if !ok {
		return nil, kid, fmt.Errorf("%w %q", ErrUnknownKID, kid)
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, kid, fmt.Errorf("%w: trusted key %q has %d bytes, not an Ed25519 public key", ErrUnknownKID, kid, len(pub))
	}
	return pub, kid, nil
}

// openSign1COSE is openSign1 through go-cose's generic decoding and
// verification: the route for every envelope parseSign1 does not take, and
// the reference the direct route is tested against.
func openSign1COSE(data []byte, contentType string, lookup func(string) (ed25519.PublicKey, bool)) ([]byte, string, error) {
	var msg cose.Sign1Message
	if err := msg.UnmarshalCBOR(data); err != nil {
		return nil, "", fmt.Errorf("%w: not a tagged COSE_Sign1: %v", ErrMalformed, err)
	}
	if msg.Payload == nil {
		return nil, "", fmt.Errorf("%w: detached payload", ErrMalformed)
	}
	// The unprotected header is not signed: refusing anything in it keeps
	// one encoding per key.
	if len(msg.Headers.RawUnprotected) != 1 || msg.Headers.RawUnprotected[0] != cborEmptyMap {
		return nil, "", fmt.Errorf("%w: unprotected header is not empty", ErrMalformed)
	}
	if _, ok := msg.Headers.Protected[cose.HeaderLabelCritical]; ok {
		return nil, "", fmt.Errorf("%w: crit header not supported", ErrMalformed)
	}
	if contentType != "" {
		if ct, _ := msg.Headers.Protected[cose.HeaderLabelContentType].(string); ct != contentType {
			return nil, "", fmt.Errorf("%w: content type is not %q (a key is not a message)", ErrMalformed, contentType)
		}
	}
	alg, err := msg.Headers.Protected.Algorithm()
	if err != nil {
		return nil, "", fmt.Errorf("%w: algorithm: %v", ErrBadSignature, err)
	}
	if alg != coseEdDSA {
		return nil, "", fmt.Errorf("%w: algorithm %v not accepted (want EdDSA)", ErrBadSignature, alg)
	}
	kidb, _ := msg.Headers.Protected[cose.HeaderLabelKeyID].([]byte)
	pub, kid, err := trustedKey(kidb, lookup)
	if err != nil {
		return nil, kid, err
	}
	verifier, err := cose.NewVerifier(coseEdDSA, pub)
	if err != nil {
		return nil, kid, fmt.Errorf("operator key %q: %w", kid, err)
	}
	if err := msg.Verify(nil, verifier); err != nil {
		return nil, kid, fmt.Errorf("%w (kid %q): %v", ErrBadSignature, kid, err)
	}
	return msg.Payload, kid, nil
}
