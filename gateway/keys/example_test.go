package keys_test

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway/keys"
)

// docExample is the worked example of docs/keys.md: an operator key made
// from the seed 00 01 02 ... 1f and a small key signed with it.
func docExample() (keys.Claims, string, ed25519.PrivateKey) {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	kid := keys.DeriveKID(priv.Public().(ed25519.PublicKey))
	c := keys.Claims{
		KeyID:     "k-7f3a",
		Holder:    "acct-4711",
		Site:      "lot-1",
		Resources: []string{"gate:*"},
		Actions:   []string{keys.ActionEnter, keys.ActionExit},
		Windows: []keys.Window{{
			Weekdays: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
			DayFrom:  7 * 60, DayTo: 19 * 60,
		}},
		IssuedAt: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Expires:  time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
	}
	return c, kid, priv
}

func ExampleSign() {
	c, kid, priv := docExample()
	key, err := keys.Sign(c, kid, priv)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(kid)
	fmt.Println(keys.EncodeText(key))
	// Output:
	// 56475aa75463474c
	// LG1:RRQ7$AP60OO0WW62R6UX62DCUW6F%62R61S68CK1:CWD01ECZPC7W5:/6%86BF37UKE8G9F35TOJCOR+8AW5I-C:DCE-EGPCZPC LG1$C7WEYKEB$C-EDXPC6$C6GG53D7WE+F7%PCZEDLHGZPCV3E5KGF90E736WE2VC-FFT GKB0*M0KVC-ED$ C*VD-UEWA6 88/YAJK7FR7*O2DCJ0N8UXDUW3G20LQ5T+OWOJRC4V$Q07Q-.F$LU*4OA+NMYPNTM-2UPLLD6OVQ0TBMTLP6TR53Q40N:TM90
}

// ExampleVerify is what a gateway does with a scanned text.
func ExampleVerify() {
	c, kid, priv := docExample()
	key, _ := keys.Sign(c, kid, priv)
	scanned := keys.EncodeText(key) + "\r\n"

	trusted := map[string]ed25519.PublicKey{kid: priv.Public().(ed25519.PublicKey)}
	lookup := func(kid string) (ed25519.PublicKey, bool) { pub, ok := trusted[kid]; return pub, ok }

	p, err := keys.ParsePresentation(scanned)
	if err != nil {
		fmt.Println(err) // errors.Is(err, keys.ErrMalformed)
		return
	}
	claims, err := keys.Verify(p.Key, lookup)
	if err != nil {
		fmt.Println(err) // ErrMalformed, ErrUnknownKID or ErrBadSignature
		return
	}
	berlin := time.FixedZone("CET", 3600)
	monday := time.Date(2025, 3, 3, 8, 0, 0, 0, berlin)
	fmt.Println(claims.KeyID, claims.Site, claims.DeviceKey == nil, p.Proof == nil)
	fmt.Println(claims.AllowsResource("gate:exit-1"), claims.AllowsAction("exit"), claims.AllowsAction("open"))
	fmt.Println(claims.CheckTime(monday, berlin, 30*time.Second), claims.CheckTime(monday.Add(12*time.Hour), berlin, 30*time.Second))
	// Output:
	// k-7f3a lot-1 true true
	// true true false
	// ok outside_window
}

// TestDocsExample keeps the worked example of docs/keys.md true.
func TestDocsExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/keys.md")
	if err != nil {
		t.Fatalf("read the contract: %v", err)
	}
	c, kid, priv := docExample()
	key, err := keys.Sign(c, kid, priv)
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	for name, want := range map[string]string{
		"kid":        kid,
		"public key": keys.EncodePublicKey(pub),
		"COSE hex":   hex.EncodeToString(key),
		"QR text":    keys.EncodeText(key),
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/keys.md does not contain the example's %s %s", name, want)
		}
	}
}
