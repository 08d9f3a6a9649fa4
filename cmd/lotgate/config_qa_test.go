package main

// Regression tests from the fresh-eyes QA pass: an installer's mistakes in
// the site file, each refused by check-config with exit 3 and a problem that
// names the line and the field.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestQACheckConfigInstallerMistakes(t *testing.T) {
	src, err := os.ReadFile("../../configs/site.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		old, new string // replaced once in the example site
		want     string // in stdout+stderr
	}{
		{"typo in a key", "time_zone: Europe/Berlin", "timezone: Europe/Berlin", `:17: site.timezone: unknown key "timezone"`},
		{"unknown time zone", "time_zone: Europe/Berlin", "time_zone: Europe/Atlantis", `:17: site.time_zone: unknown time zone "Europe/Atlantis"`},
		{"no version", "version: 1\n", "\n", `:14: version: missing; a site file starts with "version: 1"`},
		{"version 2", "version: 1\n", "version: 2\n", ":12: version: unsupported version 2; this lotgate reads version 1"},
		{"duplicate key", "    spaces: 120", "    spaces: 120\n    spaces: 130", ":23: site.capacity.spaces: duplicate key (first at line 22)"},
		{"huge number", "    spaces: 120", "    spaces: 99999999999999999999999", ":22: site.capacity.spaces: must be an integer"},
		{"negative duration", "  clock_skew: 2m", "  clock_skew: -2m", ":157: policy.clock_skew: must be positive, got -2m"},
		{"bare number duration", "  clock_skew: 2m", "  clock_skew: 120", `:157: policy.clock_skew: must be a duration with a unit`},
		{"device used twice", "    loop: out-1-loop", "    loop: in-1-loop", `:86: lanes[1].loop: device "in-1-loop" is already used by lanes[0].loop (line 80)`},
		{"overlapping bands", `from: "20:00"`, `from: "19:00"`, ":136: tariff.bands: bands[0] and bands[1] overlap at 19:00–20:00"},
		{"bands with a gap", `to: "20:00"`, `to: "19:00"`, ":136: tariff.bands: bands leave 19:00–20:00 uncovered"},
		{"price with decimals", "unit_price: 150", "unit_price: 1.50", ":141: tariff.bands[0].unit_price: must be an integer amount in minor units"},
		{"negative price", "unit_price: 150", "unit_price: -150", ":141: tariff.bands[0].unit_price: must not be negative"},
		{"bad port", `listen: "127.0.0.1:8080"`, `listen: "127.0.0.1:99999"`, `:177: http.listen: bad port "99999"`},
		{"demo page off loopback", "mode: demo ", "mode: demo\n  demo: {checkout_listen: \"0.0.0.0:8090\"}\n ", `:175: cloud.demo.checkout_listen: "0.0.0.0:8090" is not a loopback address`},
		{"latitude out of range", "lat: 52.52170", "lat: 152.52170", ":19: site.geofence.center.lat: latitude must be from -90 to 90"},
		{"lowercase currency", "currency: EUR", "currency: eur", `:130: tariff.currency: bad currency "eur"`},
		{"bad public key", "Rw=", "R=", ":154: trusted_keys[0].public_key: not valid base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := string(src)
			if !strings.Contains(text, tt.old) {
				t.Fatalf("example site has no %q", tt.old)
			}
			path := filepath.Join(t.TempDir(), "site.yaml")
			if err := os.WriteFile(path, []byte(strings.Replace(text, tt.old, tt.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			out, stderr, code := lotgate(t, "", "check-config", path)
			if code != ExitConfig || !strings.Contains(out+stderr, path+tt.want) {
				t.Errorf("check-config: exit %d, output %q; want exit %d and %q", code, out+stderr, ExitConfig, tt.want)
			}
		})
	}
}

// Files that are not a site file at all are refused, never a panic.
func TestQACheckConfigNotASiteFile(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"empty", "", `empty file; a site file starts with "version: 1"`},
		{"a list", "- a\n", `must be a mapping (key: value) starting with "version: 1", got a list`},
		{"two documents", "version: 1\n---\nversion: 1\n", "more than one YAML document"},
		{"binary", "\xff\xfe\x00garbage\x01", "YAML syntax"},
		{"alias", "version: 1\nsite: &s {id: x}\nx: *s\n", "YAML aliases (*s) are not supported"},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "site.yaml")
		if err := os.WriteFile(path, []byte(tt.text), 0o644); err != nil {
			t.Fatal(err)
		}
		out, stderr, code := lotgate(t, "", "check-config", path)
		if code != ExitConfig || !strings.Contains(out+stderr, tt.want) {
			t.Errorf("%s: exit %d, output %q; want exit %d and %q", tt.name, code, out+stderr, ExitConfig, tt.want)
		}
	}
}
