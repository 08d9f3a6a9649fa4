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

// TestCheckTariff covers the band checks config takes from
// tariff.Validate: each problem at the line of the field it names, the
// time zone left to site.time_zone, a field already reported left alone.
func TestCheckTariff(t *testing.T) {
	b := func(name string, from, to int) tariff.Band {
		return tariff.Band{Name: name, From: from, To: to, UnitMinutes: 30, UnitPrice: 100}
	}
	tests := []struct {
		name     string
		bands    []tariff.Band
		reported []string // paths the decoder has already reported
		want     []string // "line path: message"
	}{
		{"whole day", []tariff.Band{b("all", 0, 1440)}, nil, nil},
		{"day and night", []tariff.Band{b("day", 480, 1200), b("night", 1200, 480)}, nil, nil},
		{"three bands", []tariff.Band{b("a", 0, 360), b("b", 360, 1080), b("c", 1080, 1440)}, nil, nil},
		{"gap at both ends", []tariff.Band{b("day", 480, 1200)}, nil,
			[]string{"3 tariff.bands: bands leave 20:00–08:00 uncovered"}},
		{"gap at start", []tariff.Band{b("x", 60, 1440)}, nil,
			[]string{"3 tariff.bands: bands leave 00:00–01:00 uncovered"}},
		{"two gaps", []tariff.Band{b("a", 0, 100), b("b", 200, 1300)}, nil, []string{
			"3 tariff.bands: bands leave 01:40–03:20 uncovered",
			"3 tariff.bands: bands leave 21:40–24:00 uncovered",
		}},
		{"overlap", []tariff.Band{b("day", 480, 1260), b("night", 1200, 480)}, nil,
			[]string{"3 tariff.bands: bands[0] and bands[1] overlap at 20:00–21:00"}},
		{"overlap across midnight", []tariff.Band{b("x", 0, 1440), b("night", 1320, 120)}, nil,
			[]string{"3 tariff.bands: bands[0] and bands[1] overlap at 22:00–02:00"}},
		{"empty band, no coverage", []tariff.Band{b("all", 0, 1440), b("none", 600, 600)}, nil,
			[]string{"9 tariff.bands[1].to: equals from (10:00): a band must not be empty"}},
		{"empty band already reported", []tariff.Band{b("all", 0, 1440), b("none", 600, 600)}, []string{"tariff.bands[1].to"}, nil},
		{"field without a line of its own", []tariff.Band{b("all", 0, 1440), {Name: "long", From: 0, To: 1, UnitMinutes: 1 << 30}}, nil, []string{
			"7 tariff.bands[1].unit_minutes: 1073741824 is more than 527040 (366 days)",
			"3 tariff.bands: bands[0] and bands[1] overlap at 00:00–00:01",
		}},
		{"no bands", nil, nil, []string{"3 tariff.bands: at least one band is required, covering 00:00–24:00"}},
	}
	for _, tt := range tests {
		d := newDecoder("site.yaml")
		d.lines = map[string]int{
			"tariff": 1, "tariff.version": 2, "tariff.bands": 3,
			"tariff.bands[0]": 4, "tariff.bands[0].to": 5,
			"tariff.bands[1]": 7, "tariff.bands[1].to": 9,
		}
		for _, p := range tt.reported {
			d.errorf(d.line(p), p, "reported by the decoder")
		}
		before := len(d.probs)
		// No time zone: it is the site's, checked by normalise.
		d.checkTariff("tariff", &tariff.Tariff{Version: "v1", Currency: "EUR", Bands: tt.bands})
		var got []string
		for _, p := range d.probs[before:] {
			got = append(got, fmt.Sprintf("%d %s: %s", p.Line, p.Path, p.Msg))
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: checkTariff(%v): got %q; want %q", tt.name, tt.bands, got, tt.want)
		}
	}
}
