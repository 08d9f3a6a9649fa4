package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// A unit price the loader used to accept overflowed the fee: two units of
// 2^62 cents printed "total  --92233720368547758.-8 EUR" and --json gave a
// negative total. The price is now refused (tariff.MaxAmount); were it not,
// the fee must still not be negative.
func TestFeeNoOverflow(t *testing.T) {
	cfg := exampleSite(t, [2]string{"unit_price: 150", "unit_price: 4611686018427387904"}, [2]string{"cap_24h: 2000 ", "cap_24h: 0 "})
	out, _, code := lotgate(t, "", "check-config", cfg)
	if code != ExitConfig || !strings.Contains(out, "tariff.bands[0].unit_price: 4611686018427387904 is more than 1000000000") {
		t.Errorf("check-config with a unit price of 2^62: exit %d, %q; want exit %d naming the price and the bound", code, out, ExitConfig)
	}
	out, _, code = lotgate(t, "", "fee", "--config", cfg, "--entry", "2026-03-02 10:00", "--exit", "2026-03-02 10:31", "--json")
	var r struct{ Total int64 }
	if code == 0 {
		if err := json.Unmarshal([]byte(out), &r); err != nil || r.Total < 0 {
			t.Errorf("fee of two units at 2^62 cents: exit 0, %q; want a refused config", out)
		}
	} else if code != ExitConfig {
		t.Errorf("fee with a unit price of 2^62: exit %d; want %d", code, ExitConfig)
	}
	// The bound itself is accepted.
	cfg = exampleSite(t, [2]string{"unit_price: 150", "unit_price: 1000000000"}, [2]string{"cap_24h: 2000 ", "cap_24h: 0 "})
	if out, _, code := lotgate(t, "", "check-config", cfg); code != 0 {
		t.Errorf("check-config with a unit price of 10^9: exit %d, %q; want ok", code, out)
	}
}

// lotgate fee refuses stays longer than 366 days (an exit in 9999 was
// OOM-killed listing every unit), and lists a month in a readable number
// of lines.
func TestFeeLongStays(t *testing.T) {
	cfg := "../../configs/site.example.yaml"
	for _, tt := range []struct{ entry, exit string }{
		{"2026-03-10 10:00", "9999-12-31 23:59"},
		{"0001-01-01 00:00", "2026-03-10 10:00"},
		{"2026-03-10 10:00", "2027-03-11 10:01"},
	} {
		_, stderr, code := lotgate(t, "", "fee", "--config", cfg, "--entry", tt.entry, "--exit", tt.exit)
		if code != ExitUsage || !strings.Contains(stderr, "more than 366 days after --entry") {
			t.Errorf("fee %s → %s: exit %d, %q; want exit %d, more than 366 days", tt.entry, tt.exit, code, stderr, ExitUsage)
		}
	}
	out, _, code := lotgate(t, "", "fee", "--config", cfg, "--entry", "2026-03-10 10:00", "--exit", "2027-03-11 10:00", "--json")
	var year feeJSON
	if err := json.Unmarshal([]byte(out), &year); err != nil || code != 0 {
		t.Fatalf("fee over 366 days: exit %d, %v", code, err)
	}
	// 366 windows of 24 h, each 2000 (the cap), and the unit starting
	// exactly at the exit is not charged.
	if year.Total != 366*2000 || year.UnlistedUnits != 0 || len(year.Lines) > 5*366 {
		t.Errorf("fee over 366 days: total %d, %d lines, %d unlisted; want %d, at most %d lines, 0", year.Total, len(year.Lines), year.UnlistedUnits, 366*2000, 5*366)
	}

	out, _, code = lotgate(t, "", "fee", "--config", cfg, "--entry", "2026-04-10 10:00", "--exit", "2026-05-10 10:00")
	lines := strings.Count(out, "\n")
	if code != 0 || lines > 5*30+5 || !strings.Contains(out, "total  600.00 EUR (1080 units)") {
		t.Errorf("fee over 30 days: exit %d, %d lines; want at most %d lines and total 600.00 EUR (1080 units):\n%s", code, lines, 5*30+5, out)
	}
}
