// Package base45 implements the Base45 encoding of RFC 9285, the text form
// that fits a QR code's alphanumeric mode. lotgate uses it for key QR codes
// ("LG1:" + base45 of a COSE_Sign1), as the EU digital COVID certificates did.
//
// Decoding is strict: every input has at most one decoding and Encode of a
// decoded value gives back the input. Characters outside the 45-character
// alphabet (lowercase letters included), a length of 3n+1, and groups whose
// value does not fit (a triple above 65535, a trailing pair above 255) are
// rejected with an error that wraps ErrInvalidChar, ErrInvalidLength or
// ErrOutOfRange and names the offset.
//
// It imports only the standard library.
package base45

import (
	"errors"
	"fmt"
	"strings"
)

// Alphabet is the RFC 9285 alphabet: the value of a character is its index.
const Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// Errors returned (wrapped, with the offset) by Decode.
var (
	ErrInvalidChar   = errors.New("base45: invalid character")
	ErrInvalidLength = errors.New("base45: invalid length")
	ErrOutOfRange    = errors.New("base45: value out of range")
)

// EncodedLen is the length of the encoding of n bytes.
func EncodedLen(n int) int { return n/2*3 + n%2*2 }

// Encode returns the Base45 encoding of src: every 2 bytes become 3
// characters, a trailing odd byte becomes 2.
func Encode(src []byte) string {
	var b strings.Builder
	b.Grow(EncodedLen(len(src)))
	for i := 0; i+1 < len(src); i += 2 {
		n := int(src[i])<<8 | int(src[i+1])
		b.WriteByte(Alphabet[n%45])
		b.WriteByte(Alphabet[n/45%45])
		b.WriteByte(Alphabet[n/(45*45)])
	}
	if len(src)%2 == 1 {
		n := int(src[len(src)-1])
		b.WriteByte(Alphabet[n%45])
		b.WriteByte(Alphabet[n/45])
	}
	return b.String()
}

// Decode returns the bytes encoded by s. It never panics; see the package
// doc for what it rejects.
func Decode(s string) ([]byte, error) {
	if len(s)%3 == 1 {
		return nil, fmt.Errorf("%w: %d characters (a length of 3n+1 is never produced)", ErrInvalidLength, len(s))
	}
	out := make([]byte, 0, len(s)/3*2+len(s)%3/2)
	for i := 0; i < len(s); i += 3 {
		end := min(i+3, len(s))
		n, mul := 0, 1
		for j := i; j < end; j++ {
			v := value(s[j])
			if v < 0 {
				return nil, fmt.Errorf("%w %q at offset %d", ErrInvalidChar, s[j], j)
			}
			n += v * mul
			mul *= 45
		}
		if end-i == 3 {
			if n > 0xffff {
				return nil, fmt.Errorf("%w: %q at offset %d is %d, above 65535", ErrOutOfRange, s[i:end], i, n)
			}
			out = append(out, byte(n>>8), byte(n))
		} else {
			if n > 0xff {
				return nil, fmt.Errorf("%w: %q at offset %d is %d, above 255", ErrOutOfRange, s[i:end], i, n)
			}
			out = append(out, byte(n))
		}
	}
	return out, nil
}

// value is the value of character c, or -1 when c is not in the alphabet.
func value(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	switch c {
	case ' ':
		return 36
	case '$':
		return 37
	case '%':
		return 38
	case '*':
		return 39
	case '+':
		return 40
	case '-':
		return 41
	case '.':
		return 42
	case '/':
		return 43
	case ':':
		return 44
	}
	return -1
}
