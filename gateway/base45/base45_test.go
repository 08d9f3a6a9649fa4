package base45

import (
	"bytes"
	"errors"
	"testing"
)

// The examples of RFC 9285 sections 4.3 and 4.4.
var rfcExamples = []struct {
	raw, enc string
}{
	{"AB", "BB8"},
	{"Hello!!", "%69 VD92EX0"},
	{"base-45", "UJCLQE7W581"},
	{"ietf!", "QED8WEX0"},
	{"", ""},
	{"\x00", "00"},
	{"\xff", "U5"},
	{"\xff\xff", "FGW"},
	{"\x00\x00", "000"},
}

func TestEncode(t *testing.T) {
	for _, tc := range rfcExamples {
		if got := Encode([]byte(tc.raw)); got != tc.enc {
			t.Errorf("Encode(%q) = %q; want %q", tc.raw, got, tc.enc)
		}
		if got := EncodedLen(len(tc.raw)); got != len(tc.enc) {
			t.Errorf("EncodedLen(%d) = %d; want %d", len(tc.raw), got, len(tc.enc))
		}
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range rfcExamples {
		got, err := Decode(tc.enc)
		if err != nil {
			t.Errorf("Decode(%q): %v; want %q", tc.enc, err, tc.raw)
			continue
		}
		if string(got) != tc.raw {
			t.Errorf("Decode(%q) = %q; want %q", tc.enc, got, tc.raw)
		}
	}
}

func TestDecodeInvalid(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"GGW", ErrOutOfRange},      // RFC 9285 §6: 16 + 16*45 + 32*45² = 65536
		{"ZZZ", ErrOutOfRange},      // 35*(1+45+2025) = 72485
		{"::::", ErrInvalidLength},  // 3n+1
		{"A", ErrInvalidLength},     // 3n+1
		{"BB8A", ErrInvalidLength},  // 3n+1
		{"V5", ErrOutOfRange},       // trailing pair 31 + 5*45 = 256
		{"::", ErrOutOfRange},       // trailing pair 44*46 = 2024
		{"bb8", ErrInvalidChar},     // lowercase is not in the alphabet
		{"BB8\n", ErrInvalidLength}, // a newline is not trimmed here (and 3n+1)
		{"BB8 \n", ErrInvalidChar},  // ...nor is it a character
		{"QED8WEX0=", ErrInvalidChar},
		{"A\x00B", ErrInvalidChar},
		{"é0", ErrInvalidChar},
	}
	for _, tc := range tests {
		got, err := Decode(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("Decode(%q) = %q, %v; want error %v", tc.in, got, err, tc.want)
		}
	}
}

// TestDecodeCanonical checks that every 3-character group decodes to the
// one value that encodes back to it, over the whole space of groups.
func TestDecodeCanonical(t *testing.T) {
	ok := 0
	for a := 0; a < 45; a++ {
		for b := 0; b < 45; b++ {
			for c := 0; c < 45; c++ {
				s := string([]byte{Alphabet[a], Alphabet[b], Alphabet[c]})
				got, err := Decode(s)
				n := a + b*45 + c*45*45
				if n > 0xffff {
					if !errors.Is(err, ErrOutOfRange) {
						t.Fatalf("Decode(%q) = %v, %v; want ErrOutOfRange", s, got, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("Decode(%q): %v", s, err)
				}
				if back := Encode(got); back != s {
					t.Fatalf("Encode(Decode(%q)) = %q; want %q", s, back, s)
				}
				ok++
			}
		}
	}
	if ok != 65536 {
		t.Errorf("valid triples: got %d; want 65536", ok)
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, tc := range rfcExamples {
		f.Add([]byte(tc.raw))
	}
	f.Add([]byte{0xd2, 0x84, 0x43, 0xa1, 0x01, 0x27})
	f.Add(bytes.Repeat([]byte{0xff}, 33))
	f.Fuzz(func(t *testing.T, data []byte) {
		enc := Encode(data)
		if len(enc) != EncodedLen(len(data)) {
			t.Fatalf("len(Encode(%x)) = %d; want %d", data, len(enc), EncodedLen(len(data)))
		}
		got, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(%x)): %v", data, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("Decode(Encode(%x)) = %x", data, got)
		}
	})
}

// FuzzDecode feeds arbitrary text to Decode: it must not panic, and what it
// accepts must be the canonical encoding of what it returns.
func FuzzDecode(f *testing.F) {
	for _, tc := range rfcExamples {
		f.Add(tc.enc)
	}
	f.Add("GGW")
	f.Add("::")
	f.Add("bb8")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Decode(s)
		if err != nil {
			return
		}
		if back := Encode(got); back != s {
			t.Fatalf("Encode(Decode(%q)) = %q", s, back)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	enc := Encode(bytes.Repeat([]byte{0xa5, 0x17, 0x3c}, 100))
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}
