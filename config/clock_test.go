package config

import (
	"fmt"
	"testing"

	"github.com/lotgate/lotgate/gateway/tariff"
)

func TestParseClock(t *testing.T) {
	tests := []struct {
		in   string
		want int // -1: error
	}{
		{"00:00", 0}, {"08:00", 480}, {"8:00", 480}, {"23:59", 1439}, {"24:00", 1440}, {"12:30", 750},
		{"24:01", -1}, {"25:00", -1}, {"12:60", -1}, {"12:5", -1}, {"1200", -1}, {"", -1},
		{"-1:00", -1}, {"12:00:00", -1}, {"١٢:٠٠", -1}, {"123:00", -1}, {"+1:00", -1},
	}
	for _, tt := range tests {
		got, err := parseClock(tt.in)
		if tt.want < 0 {
			if err == nil {
				t.Errorf("parseClock(%q): got %d; want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseClock(%q): got %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestCoverage(t *testing.T) {
	b := func(name string, from, to int) tariff.Band { return tariff.Band{Name: name, From: from, To: to} }
	tests := []struct {
		name                   string
		bands                  []tariff.Band
		wantOverlaps, wantGaps string
	}{
		{"whole day", []tariff.Band{b("all", 0, 1440)}, "[]", ""},
		{"day and night", []tariff.Band{b("day", 480, 1200), b("night", 1200, 480)}, "[]", ""},
		{"three bands", []tariff.Band{b("a", 0, 360), b("b", 360, 1080), b("c", 1080, 1440)}, "[]", ""},
		{"gap at both ends", []tariff.Band{b("day", 480, 1200)}, "[]", "20:00–08:00"},
		{"gap at start", []tariff.Band{b("x", 60, 1440)}, "[]", "00:00–01:00"},
		{"two gaps", []tariff.Band{b("a", 0, 100), b("b", 200, 1300)}, "[]", "01:40–03:20, 21:40–24:00"},
		{"overlap", []tariff.Band{b("day", 480, 1260), b("night", 1200, 480)}, "[{0 1 20:00–21:00}]", ""},
		{"overlap across midnight", []tariff.Band{b("x", 0, 1440), b("night", 1320, 120)}, "[{0 1 22:00–02:00}]", ""},
		{"empty band skipped", []tariff.Band{b("all", 0, 1440), b("none", 600, 600)}, "[]", ""},
	}
	for _, tt := range tests {
		overlaps, gaps := coverage(tt.bands)
		var got []string
		for _, o := range overlaps {
			got = append(got, fmt.Sprintf("{%d %d %s}", o.a, o.b, spanList(o.spans)))
		}
		if got := fmt.Sprint(got); got != tt.wantOverlaps {
			t.Errorf("%s: overlaps: got %s; want %s", tt.name, got, tt.wantOverlaps)
		}
		if got := spanList(gaps); got != tt.wantGaps {
			t.Errorf("%s: gaps: got %q; want %q", tt.name, got, tt.wantGaps)
		}
	}
}
