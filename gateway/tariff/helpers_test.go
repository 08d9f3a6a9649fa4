package tariff

import (
	"testing"
	"time"
)

// mustLoad loads an IANA zone or fails the test.
func mustLoad(tb testing.TB, name string) *time.Location {
	tb.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		tb.Fatalf("load zone %s: %v", name, err)
	}
	return loc
}

// exampleTariff is the documented example (docs/tariff.md and the config
// example): Europe/Berlin, EUR, 15 free minutes, day 08:00–20:00 at 150 per
// 30 min, night 20:00–08:00 at 100 per 60 min capped at 400 per night,
// 2000 per 24 h from entry, no calendar-day cap.
func exampleTariff(tb testing.TB) *Tariff {
	tb.Helper()
	return &Tariff{
		Version:          "example-1",
		Currency:         "EUR",
		Location:         mustLoad(tb, "Europe/Berlin"),
		FreeMinutes:      15,
		ExitGraceMinutes: 15,
		LostTicketFee:    2500,
		Bands: []Band{
			{Name: "day", From: 8 * 60, To: 20 * 60, UnitMinutes: 30, UnitPrice: 150},
			{Name: "night", From: 20 * 60, To: 8 * 60, UnitMinutes: 60, UnitPrice: 100, Cap: 400},
		},
		Cap24h: 2000,
	}
}

// at parses "2006-01-02 15:04" in loc, or "2006-01-02 15:04:05 -0700" /
// "2006-01-02 15:04 -0700" with an explicit offset (needed for wall-clock
// times that occur twice when the clocks go back).
func at(tb testing.TB, loc *time.Location, s string) time.Time {
	tb.Helper()
	for _, layout := range []string{"2006-01-02 15:04:05 -0700", "2006-01-02 15:04 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.In(loc)
		}
	}
	t, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		tb.Fatalf("parse time %q: %v", s, err)
	}
	return t
}

// rep returns n copies of v; cat concatenates; together they write unit
// charge lists readably: cat(rep(13, 150), []int64{50}).
func rep(n int, v int64) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func cat(parts ...[]int64) []int64 {
	var s []int64
	for _, p := range parts {
		s = append(s, p...)
	}
	return s
}

// expand undoes Fee's collapsing: one Unit (Count 1) per charged unit.
func expand(b Breakdown) []Unit {
	var out []Unit
	for _, u := range b.Units {
		if u.Count < 1 {
			continue // checkUnits reports it
		}
		d := u.End.Sub(u.Start) / time.Duration(u.Count)
		for i := range u.Count {
			start := u.Start.Add(time.Duration(i) * d)
			out = append(out, Unit{Start: start, End: start.Add(d), Count: 1,
				Band: u.Band, Price: u.Price, Charged: u.Charged, CappedBy: u.CappedBy})
		}
	}
	return out
}

// listed is how many units b lists.
func listed(b Breakdown) int64 {
	var n int64
	for _, u := range b.Units {
		n += u.Count
	}
	return n
}
