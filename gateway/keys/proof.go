package keys

import (
	"crypto/ed25519"
	"encoding/binary"
	"time"
)

// ProofContext starts every proof message, so a device signature made for
// anything else is never a proof.
const ProofContext = "lotgate-proof-v1"

// DefaultProofStep is the proof time step when none is configured.
const DefaultProofStep = 30 * time.Second

const proofSigLen = ed25519.SignatureSize

// Proof shows that the holder's device, the one a key is bound to
// (Claims.DeviceKey), was present at a time step: Sig is its Ed25519
// signature over ProofContext || key ID || Step as 8 bytes big-endian.
type Proof struct {
	Step int64
	Sig  []byte
}

// Step returns the time step of t: Unix seconds divided by stepLen in whole
// seconds (DefaultProofStep when stepLen is under a second), rounded down.
func Step(t time.Time, stepLen time.Duration) int64 {
	n := int64(stepLen / time.Second)
	if n < 1 {
		n = int64(DefaultProofStep / time.Second)
	}
	sec := t.Unix()
	q := sec / n
	if sec%n < 0 {
		q--
	}
	return q
}

// ProofMessage returns the bytes a device signs for keyID at step.
func ProofMessage(keyID string, step int64) []byte {
	m := make([]byte, 0, len(ProofContext)+len(keyID)+8)
	m = append(m, ProofContext...)
	m = append(m, keyID...)
	return binary.BigEndian.AppendUint64(m, uint64(step))
}

// SignProof returns the device's signature for keyID at step, or nil if
// devicePriv is not an Ed25519 private key.
func SignProof(keyID string, step int64, devicePriv ed25519.PrivateKey) []byte {
	if len(devicePriv) != ed25519.PrivateKeySize {
		return nil
	}
	return ed25519.Sign(devicePriv, ProofMessage(keyID, step))
}

// VerifyProof reports whether p is devicePub's signature for keyID at
// p.Step. It does not judge freshness (Proof.Fresh) or replay (the core
// remembers used key ID and step pairs).
func VerifyProof(devicePub ed25519.PublicKey, keyID string, p Proof) bool {
	if len(devicePub) != ed25519.PublicKeySize || len(p.Sig) != proofSigLen || p.Step < 0 {
		return false
	}
	return ed25519.Verify(devicePub, ProofMessage(keyID, p.Step), p.Sig)
}

// Fresh reports whether p's step is the step of now or the one before or
// after it, which tolerates a phone clock up to one step off and a QR shown
// at the end of its step.
func (p Proof) Fresh(now time.Time, stepLen time.Duration) bool {
	d := p.Step - Step(now, stepLen)
	return d >= -1 && d <= 1
}
