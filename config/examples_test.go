package config

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamples loads every YAML file under configs/, so a new example is
// covered as soon as it is added: site files, and the device profiles
// under configs/devices/.
func TestExamples(t *testing.T) {
	var files, profiles []string
	err := filepath.WalkDir("../configs", func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return nil
		}
		if filepath.Base(filepath.Dir(path)) == "devices" {
			profiles = append(profiles, path)
		} else {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("found %d example files under configs/ (%v); want at least site.example.yaml and site.minimal.yaml", len(files), files)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := Load(path)
			if err != nil {
				t.Fatalf("Load(%q):\n%v", path, err)
			}
			if f.Site == nil || f.Site.Location == nil {
				t.Fatalf("Load(%q): site or its location is nil", path)
			}
		})
	}
	if len(profiles) < 3 {
		t.Fatalf("found %d device profiles under configs/devices/ (%v); want one per profile kind at least", len(profiles), profiles)
	}
	kinds := make(map[string]bool)
	for _, path := range profiles {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
			p, err := ParseProfile(path, name, data)
			if err != nil {
				t.Fatalf("ParseProfile(%q):\n%v", path, err)
			}
			kinds[p.Kind] = true
		})
	}
	for _, k := range []string{ProfilePayStation, ProfileLockerBoard, ProfileFlapController} {
		if !kinds[k] {
			t.Errorf("no profile of kind %s under configs/devices/", k)
		}
	}
}

// TestExampleSite checks that site.example.yaml describes the demo site
// the other packages and the docs rely on.
func TestExampleSite(t *testing.T) {
	f, err := Load("../configs/site.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := f.Site
	count := func(what string, got, want int) {
		t.Helper()
		if got != want {
			t.Errorf("%s: got %d; want %d", what, got, want)
		}
	}
	count("lanes", len(s.Lanes), 3)
	count("spaces", len(s.Spaces), 6)
	count("lockers", len(s.Lockers), 1)
	if len(s.Lockers) == 1 {
		count("compartments", len(s.Lockers[0].Compartments), 8)
	}
	count("doors", len(s.Doors), 1)
	count("capacity", s.Capacity.Spaces, 120)
	if s.ID != "demo-lot" || s.Location.String() != "Europe/Berlin" {
		t.Errorf("site: got %q in %v; want demo-lot in Europe/Berlin", s.ID, s.Location)
	}
	if s.PayStation == nil || s.FireAlarm == nil {
		t.Fatalf("pay station %v, fire alarm %v; want both", s.PayStation, s.FireAlarm)
	}
	if got := strings.Join(s.FireAlarm.Opens, ","); got != "out-1,out-2" {
		t.Errorf("fire alarm opens %q; want out-1,out-2", got)
	}
	tr := s.Tariff
	if tr == nil || tr.Location != s.Location || tr.Currency != "EUR" || len(tr.Bands) != 2 ||
		tr.FreeMinutes != 15 || tr.ExitGraceMinutes != 15 || tr.LostTicketFee != 2500 || tr.Cap24h != 2000 {
		t.Errorf("tariff: got %+v", tr)
	}
	if f.Store.Path != filepath.Join("../configs", "lotgate.db") {
		t.Errorf("store path: got %q; want it resolved against the config's directory", f.Store.Path)
	}
	if f.Cloud.Mode != CloudDemo {
		t.Errorf("cloud mode: got %q; want demo", f.Cloud.Mode)
	}
}

// TestDemoSeed checks that configs/demo-operator.seed is the private half
// of the demo key the example trusts, and that the kid is derived as
// documented.
func TestDemoSeed(t *testing.T) {
	data, err := os.ReadFile("../configs/demo-operator.seed")
	if err != nil {
		t.Fatal(err)
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(seed) != ed25519.SeedSize {
		t.Fatalf("demo-operator.seed: %d bytes, %v; want %d bytes of base64", len(seed), err, ed25519.SeedSize)
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	f, err := Load("../configs/site.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pub)
	kid := hex.EncodeToString(sum[:8])
	got, ok := f.Site.TrustedKeys[kid]
	if !ok || !got.Equal(pub) {
		t.Errorf("trusted key %q: got %x; want the demo seed's public key %x", kid, got, pub)
	}
}
