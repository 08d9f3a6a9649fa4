package keys

import (
	"crypto/subtle"
	"fmt"
	"io"

	"golang.org/x/crypto/scrypt"
)

// PIN hash parameters: scrypt (RFC 7914) with N=2^15, r=8, p=1 (32 MiB and
// roughly 0.1 s on a desktop core, several times that on a Raspberry Pi),
// a 32-byte output, over the PIN's UTF-8 bytes as given (no
// normalisation) and a random salt of MinPINSaltLen to MaxPINSaltLen bytes.
// They are part of the key format: changing them needs a new Version.
const (
	PINScryptN   = 1 << 15
	PINScryptR   = 8
	PINScryptP   = 1
	PINHashLen   = pinHashLen
	PINSaltBytes = 16 // what NewPINSalt returns
)

// HashPIN returns the PIN hash a key carries in Presence.PINHash. It is slow
// on purpose; callers should bound how many run at once. It returns nil
// only if scrypt refuses the parameters, which it does not for these.
func HashPIN(pin string, salt []byte) []byte {
	h, err := scrypt.Key([]byte(pin), salt, PINScryptN, PINScryptR, PINScryptP, PINHashLen)
	if err != nil {
		return nil
	}
	return h
}

// CheckPIN reports whether pin hashes to hash with salt, comparing in
// constant time. A hash or salt of the wrong size never matches.
func CheckPIN(pin string, hash, salt []byte) bool {
	if len(hash) != PINHashLen || len(salt) < MinPINSaltLen || len(salt) > MaxPINSaltLen {
		return false
	}
	got := HashPIN(pin, salt)
	return got != nil && subtle.ConstantTimeCompare(got, hash) == 1
}

// NewPINSalt reads a fresh salt from rand (crypto/rand.Reader in
// production).
func NewPINSalt(rand io.Reader) ([]byte, error) {
	salt := make([]byte, PINSaltBytes)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return nil, fmt.Errorf("read PIN salt: %w", err)
	}
	return salt, nil
}
