package keys

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

func TestStep(t *testing.T) {
	tests := []struct {
		t    time.Time
		len  time.Duration
		want int64
	}{
		{time.Unix(0, 0), 30 * time.Second, 0},
		{time.Unix(29, 999), 30 * time.Second, 0},
		{time.Unix(30, 0), 30 * time.Second, 1},
		{time.Unix(1_740_830_400, 0), 30 * time.Second, 58_027_680},
		{time.Unix(1_740_830_400, 0), 0, 58_027_680},                // default step
		{time.Unix(1_740_830_400, 0), time.Millisecond, 58_027_680}, // under a second: default
		{time.Unix(1_740_830_400, 0), time.Minute, 29_013_840},
		{time.Unix(-1, 0), 30 * time.Second, -1}, // rounds down
	}
	for _, tc := range tests {
		if got := Step(tc.t, tc.len); got != tc.want {
			t.Errorf("Step(%d, %v) = %d; want %d", tc.t.Unix(), tc.len, got, tc.want)
		}
	}
}

func TestProofMessage(t *testing.T) {
	got := ProofMessage("k-1", 0x0102030405060708)
	want := append([]byte("lotgate-proof-v1k-1"), 1, 2, 3, 4, 5, 6, 7, 8)
	if !bytes.Equal(got, want) {
		t.Errorf("ProofMessage = %x; want %x", got, want)
	}
}

func TestProof(t *testing.T) {
	devPub, devPriv := testKey(t, "device")
	otherPub, otherPriv := testKey(t, "other device")
	now := time.Date(2025, 3, 1, 12, 0, 10, 0, time.UTC)
	step := Step(now, DefaultProofStep)
	p := Proof{Step: step, Sig: SignProof("k-1", step, devPriv)}
	if len(p.Sig) != 64 {
		t.Fatalf("SignProof: %d bytes; want 64", len(p.Sig))
	}
	tests := []struct {
		name  string
		pub   []byte
		keyID string
		p     Proof
		want  bool
	}{
		{"valid", devPub, "k-1", p, true},
		{"wrong step", devPub, "k-1", Proof{Step: step + 1, Sig: p.Sig}, false},
		{"wrong key id", devPub, "k-2", p, false},
		{"wrong device key", otherPub, "k-1", p, false},
		{"signed by another device", devPub, "k-1", Proof{Step: step, Sig: SignProof("k-1", step, otherPriv)}, false},
		{"short signature", devPub, "k-1", Proof{Step: step, Sig: p.Sig[:63]}, false},
		{"no signature", devPub, "k-1", Proof{Step: step}, false},
		{"short device key", devPub[:31], "k-1", p, false},
		{"negative step", devPub, "k-1", Proof{Step: -1, Sig: SignProof("k-1", -1, devPriv)}, false},
	}
	for _, tc := range tests {
		if got := VerifyProof(tc.pub, tc.keyID, tc.p); got != tc.want {
			t.Errorf("%s: VerifyProof = %v; want %v", tc.name, got, tc.want)
		}
	}
	if got := SignProof("k-1", step, devPriv[:10]); got != nil {
		t.Errorf("SignProof with a short key = %x; want nil", got)
	}
}

func TestProofFresh(t *testing.T) {
	now := time.Unix(1_740_830_400, 0) // step 58_027_680
	for _, tc := range []struct {
		step int64
		want bool
	}{
		{58_027_680, true},
		{58_027_679, true},
		{58_027_681, true},
		{58_027_678, false},
		{58_027_682, false},
		{0, false},
	} {
		if got := (Proof{Step: tc.step}).Fresh(now, DefaultProofStep); got != tc.want {
			t.Errorf("Proof{Step: %d}.Fresh(step 58027680) = %v; want %v", tc.step, got, tc.want)
		}
	}
}

// TestDeviceBoundFlow is what the core does with a device-bound key: parse
// the LGD1 text, verify the key, then the proof with the key's device key.
func TestDeviceBoundFlow(t *testing.T) {
	op := mustOperator(t, "operator")
	devPub, devPriv := testKey(t, "device")
	c := minimalClaims()
	c.DeviceKey = devPub
	key := mustSign(t, c, op)
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	step := Step(now, DefaultProofStep)
	text := EncodeProofText(key, Proof{Step: step, Sig: SignProof(c.KeyID, step, devPriv)})

	p, err := ParsePresentation(text)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(p.Key, lookup(op))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.DeviceKey, devPub) {
		t.Fatalf("DeviceKey = %x; want %x", got.DeviceKey, devPub)
	}
	if p.Proof == nil || !VerifyProof(got.DeviceKey, got.KeyID, *p.Proof) || !p.Proof.Fresh(now, DefaultProofStep) {
		t.Errorf("proof %+v does not verify or is not fresh", p.Proof)
	}
	if p.Proof.Fresh(now.Add(2*DefaultProofStep), DefaultProofStep) {
		t.Errorf("proof still fresh two steps later")
	}
	// A copied plain LG1 text of the same key carries no proof.
	plain, err := ParsePresentation(EncodeText(key))
	if err != nil || plain.Proof != nil {
		t.Errorf("ParsePresentation(LG1) = %+v, %v; want no proof", plain, err)
	}
}

func TestPIN(t *testing.T) {
	salt := bytes.Repeat([]byte{0x5a}, 16)
	h := HashPIN("123456", salt)
	// Pinned so that a change of parameters (a format change) is noticed;
	// computed independently with Python's hashlib.scrypt(b"123456",
	// salt=b"\x5a"*16, n=32768, r=8, p=1, dklen=32).
	const want = "90af124f571466c1a552d4bf1c0fa14ff56c3eb158b4ada1bef39d31d109be67"
	if got := hex.EncodeToString(h); got != want {
		t.Errorf("HashPIN(123456, 5a×16) = %s; want %s", got, want)
	}
	if len(h) != PINHashLen {
		t.Fatalf("HashPIN: %d bytes; want %d", len(h), PINHashLen)
	}
	if !CheckPIN("123456", h, salt) {
		t.Errorf("CheckPIN(right PIN) = false; want true")
	}
	if CheckPIN("123457", h, salt) {
		t.Errorf("CheckPIN(wrong PIN) = true; want false")
	}
	// These return before hashing.
	if CheckPIN("123456", h[:31], salt) || CheckPIN("123456", h, salt[:8]) || CheckPIN("123456", nil, nil) {
		t.Errorf("CheckPIN with a short hash or salt = true; want false")
	}
}

func TestNewPINSalt(t *testing.T) {
	s, err := NewPINSalt(bytes.NewReader(bytes.Repeat([]byte{7}, 16)))
	if err != nil || len(s) != PINSaltBytes {
		t.Fatalf("NewPINSalt = %x, %v; want %d bytes", s, err, PINSaltBytes)
	}
	if _, err := NewPINSalt(bytes.NewReader([]byte{1, 2})); err == nil {
		t.Errorf("NewPINSalt from a 2-byte reader: no error")
	}
	if _, err := NewPINSalt(errReader{}); !errors.Is(err, errBoom) {
		t.Errorf("NewPINSalt from a failing reader: %v; want errBoom", err)
	}
}

var errBoom = errors.New("boom")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBoom }
