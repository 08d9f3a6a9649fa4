package tariff

import (
	"math"
	"slices"
	"testing"
	"time"
)

// The expected amounts below are worked out by hand from the example tariff
// (see exampleTariff): day 08:00–20:00, 30-min units at 150; night
// 20:00–08:00, 60-min units at 100, at most 400 per night; at most 2000 per
// 24 h from entry; 15 free minutes. Times are Europe/Berlin wall clock; 2026-03-10
// is a Tuesday in CET (UTC+1).
func TestFee(t *testing.T) {
	type capped struct {
		unit int
		by   []string // nil: the unit must not be capped
	}
	tests := []struct {
		name         string
		change       func(*Tariff) // applied to the example tariff, may be nil
		entry, exit  string
		wantTotal    int64
		wantFree     bool
		wantCharged  []int64 // per unit, in order
		wantStarts   map[int]string
		wantCapped   []capped
		wantNumUnits int // checked when wantCharged is nil
	}{
		{
			// 10:00, 10:30, 11:00 are day units (11:00 < 11:10 is started,
			// so charged in full): 3 × 150 = 450.
			name:  "inside one band",
			entry: "2026-03-10 10:00", exit: "2026-03-10 11:10",
			wantTotal: 450, wantCharged: rep(3, 150),
		},
		{
			// Day units 18:50, 19:20, 19:50 (the last runs to 20:20 at the
			// day price: the band is read at the unit's start), then night
			// units 20:20, 21:20; 22:20 is after the exit.
			// 3 × 150 + 2 × 100 = 650.
			name:  "crossing day to night",
			entry: "2026-03-10 18:50", exit: "2026-03-10 22:05",
			wantTotal:   650,
			wantCharged: cat(rep(3, 150), rep(2, 100)),
			wantStarts:  map[int]string{3: "2026-03-10 20:20 +0100"},
			wantCapped:  []capped{{4, nil}},
		},
		{
			// Day 19:00, 19:30: 300. Night 20:00..07:00, 12 units: the first
			// four (20:00..23:00) use up the night's 400, the eight from
			// 00:00 to 07:00 (07:00 < 07:30, started) are 0.
			// 300 + 400 = 700; the 24 h cap (2000) is not reached.
			name:  "night cap reached",
			entry: "2026-03-10 19:00", exit: "2026-03-11 07:30",
			wantTotal:   700,
			wantCharged: cat(rep(2, 150), rep(4, 100), rep(8, 0)),
			wantCapped: []capped{
				{5, nil},
				{6, []string{"band night occurrence 2026-03-10"}},
				{13, []string{"band night occurrence 2026-03-10"}},
			},
		},
		{
			// 24 h window #1 is Tue 12:00 – Wed 12:00, #2 from Wed 12:00.
			// Tue day 12:00..19:30 is 16 units: 12:00..18:00 (13) = 1950,
			// 18:30 gets the remaining 50, 19:00 and 19:30 get 0. The 12
			// night units and Wed's 08:00..11:30 (8 day units) are still in
			// window #1: 0. Window #2: 12:00 and 12:30 (< 13:00): 300.
			// 2000 + 300 = 2300, 16 + 12 + 8 + 2 = 38 units.
			name:  "24 h cap across two days",
			entry: "2026-03-10 12:00", exit: "2026-03-11 13:00",
			wantTotal: 2300,
			wantCharged: cat(rep(13, 150), []int64{50}, rep(2, 0),
				rep(12, 0), rep(8, 0), rep(2, 150)),
			wantStarts: map[int]string{36: "2026-03-11 12:00 +0100"},
			wantCapped: []capped{
				{12, nil},
				{13, []string{"24h #1"}},
				// The night occurrence still has its 400: only the window binds.
				{20, []string{"24h #1"}},
				{35, []string{"24h #1"}},
				{36, nil},
			},
		},
		{
			// With at most 1000 per calendar day. Tue: day 16:00..18:30
			// (6 units) = 900, 19:00 gets the remaining 100, 19:30 and
			// the night units 20:00..23:00 get 0 (and so take nothing from
			// the night's 400). Wed (new day, 1000): 00:00..03:00 = 4 × 100
			// uses up the night's 400, 04:00..07:00 = 0; day 08:00, 08:30
			// = 300 (Wed total 700). 900 + 100 + 400 + 300 = 1700. The 24 h
			// window (Tue 16:00 – Wed 16:00) sees 1700 < 2000.
			name:   "calendar-day cap",
			change: func(t *Tariff) { t.CapDay = 1000 },
			entry:  "2026-03-10 16:00", exit: "2026-03-11 09:00",
			wantTotal: 1700,
			wantCharged: cat(rep(6, 150), []int64{100, 0}, rep(4, 0),
				rep(4, 100), rep(4, 0), rep(2, 150)),
			wantCapped: []capped{
				{6, []string{"day 2026-03-10"}},
				{8, []string{"day 2026-03-10"}},
				{12, nil},
				{16, []string{"band night occurrence 2026-03-10"}},
			},
		},
		{
			name:  "free minutes: exactly at them",
			entry: "2026-03-10 10:00", exit: "2026-03-10 10:15",
			wantTotal: 0, wantFree: true, wantCharged: []int64{},
		},
		{
			// One minute past: charged from entry, the 15 minutes are not
			// deducted: one day unit 10:00–10:30.
			name:  "free minutes: one minute past",
			entry: "2026-03-10 10:00", exit: "2026-03-10 10:16",
			wantTotal: 150, wantCharged: []int64{150},
		},
		{
			// The free limit is exact: one second past is charged too.
			name:  "free minutes: one second past",
			entry: "2026-03-10 10:00:00 +0100", exit: "2026-03-10 10:15:01 +0100",
			wantTotal: 150, wantCharged: []int64{150},
		},
		{
			name:  "exit at entry",
			entry: "2026-03-10 10:00", exit: "2026-03-10 10:00",
			wantTotal: 0, wantFree: true, wantCharged: []int64{},
		},
		{
			name:  "exit before entry",
			entry: "2026-03-10 10:00", exit: "2026-03-10 09:00",
			wantTotal: 0, wantFree: true, wantCharged: []int64{},
		},
		{
			// No free minutes: a one-second stay is one unit.
			name:   "no free minutes",
			change: func(t *Tariff) { t.FreeMinutes = 0 },
			entry:  "2026-03-10 10:00:00 +0100", exit: "2026-03-10 10:00:01 +0100",
			wantTotal: 150, wantCharged: []int64{150},
		},
		{
			// Spring forward: 2026-03-29 02:00 CET becomes 03:00 CEST.
			// 01:30 CET = 00:30 UTC, 03:40 CEST = 01:40 UTC: 70 real minutes
			// although the wall clock shows 2 h 10 min. Units are real time:
			// 01:30 CET (night, 100), then 01:30 CET + 60 min = 03:30 CEST
			// (night, 100); 04:30 is after the exit. 200, not the 300 a
			// wall-clock count would give.
			name:  "DST spring forward, short stay",
			entry: "2026-03-29 01:30 +0100", exit: "2026-03-29 03:40 +0200",
			wantTotal:   200,
			wantCharged: rep(2, 100),
			wantStarts:  map[int]string{1: "2026-03-29 03:30 +0200"},
		},
		{
			// Sat 19:00 CET (18:00 UTC) to Sun 09:10 CEST (07:10 UTC): 13 h
			// 10 min. Day 19:00, 19:30 = 300. The night has only 11 real
			// hours: 20:00, 21:00, 22:00, 23:00, 00:00, 01:00 CET, then
			// 03:00 (02:00 does not exist), 04:00, 05:00, 06:00, 07:00 CEST;
			// the first four use up the 400. Day 08:00, 08:30, 09:00 CEST
			// = 450. 300 + 400 + 450 = 1150 over 2 + 11 + 3 = 16 units.
			name:  "DST spring forward, overnight",
			entry: "2026-03-28 19:00", exit: "2026-03-29 09:10",
			wantTotal:   1150,
			wantCharged: cat(rep(2, 150), rep(4, 100), rep(7, 0), rep(3, 150)),
			wantStarts: map[int]string{
				7:  "2026-03-29 01:00 +0100",
				8:  "2026-03-29 03:00 +0200",
				13: "2026-03-29 08:00 +0200",
			},
			wantCapped: []capped{{6, []string{"band night occurrence 2026-03-28"}}},
		},
		{
			// Fall back: 2026-10-25 03:00 CEST becomes 02:00 CET, so
			// 02:00–03:00 happens twice. 01:30 CEST = 23:30 UTC (Sat),
			// 02:45 CET = 01:45 UTC: 2 h 15 min, though the wall clock shows
			// 1 h 15 min. Night units 01:30 CEST, 02:30 CEST, 02:30 CET
			// (the second 02:30): 3 × 100 = 300, not the 200 a wall-clock
			// count would give.
			name:  "DST fall back, short stay",
			entry: "2026-10-25 01:30 +0200", exit: "2026-10-25 02:45 +0100",
			wantTotal:   300,
			wantCharged: rep(3, 100),
			wantStarts: map[int]string{
				1: "2026-10-25 02:30 +0200",
				2: "2026-10-25 02:30 +0100",
			},
		},
		{
			// Sat 19:00 CEST (17:00 UTC) to Sun 09:10 CET (08:10 UTC):
			// 15 h 10 min. Day 19:00, 19:30 = 300. The night has 13 real
			// hours: 20:00 … 02:00 CEST (7 units), 02:00 … 07:00 CET (6
			// units); the first four use up the 400, 9 units are 0. Day
			// 08:00, 08:30, 09:00 CET = 450. 1150 over 2 + 13 + 3 = 18 units.
			name:  "DST fall back, overnight",
			entry: "2026-10-24 19:00 +0200", exit: "2026-10-25 09:10 +0100",
			wantTotal:   1150,
			wantCharged: cat(rep(2, 150), rep(4, 100), rep(9, 0), rep(3, 150)),
			wantStarts: map[int]string{
				8:  "2026-10-25 02:00 +0200",
				9:  "2026-10-25 02:00 +0100",
				15: "2026-10-25 08:00 +0100",
			},
			wantCapped: []capped{{14, []string{"band night occurrence 2026-10-24"}}},
		},
		{
			// The 24 h cap counts real hours across the fall back. Entry Sat
			// 12:00 CEST = 10:00 UTC, so window #2 starts Sun 10:00 UTC =
			// 11:00 CET (not 12:00). Sat day 12:00..19:30, 16 units: 13 ×
			// 150 + 50 = 2000, then 0; 13 night units and Sun day 08:00..
			// 10:30 CET (6 units) are 0; Sun 11:00 CET opens window #2:
			// 150. Exit 11:20 CET = 10:20 UTC. 2150 over 36 units.
			name:  "DST fall back, 24 h window",
			entry: "2026-10-24 12:00 +0200", exit: "2026-10-25 11:20 +0100",
			wantTotal: 2150,
			wantCharged: cat(rep(13, 150), []int64{50}, rep(2, 0),
				rep(13, 0), rep(6, 0), []int64{150}),
			wantStarts: map[int]string{35: "2026-10-25 11:00 +0100"},
			wantCapped: []capped{{34, []string{"24h #1"}}, {35, nil}},
		},
		{
			// 30 days without a DST change, 2026-04-10 10:00 CEST to
			// 2026-05-10 10:20 CEST. Every 24 h window (10:00 to 10:00)
			// holds day 10:00..19:30 (20 units), night 20:00..07:00 (12)
			// and day 08:00..09:30 (4): 36 units, and reaches its 2000 at
			// the 14th unit (13 × 150 + 50). 30 windows = 60000 over 1080
			// units; window #31 starts at 10:00 on 05-10: one more unit,
			// 150. 60150 over 1081 units.
			name:  "30 days",
			entry: "2026-04-10 10:00", exit: "2026-05-10 10:20",
			wantTotal: 60150, wantNumUnits: 1081,
			wantCapped: []capped{
				{13, []string{"24h #1"}},
				{36 + 13, []string{"24h #2"}},
				{1080, nil},
			},
		},
		{
			// 30 days across the spring forward: 2026-03-10 10:00 CET (09:00
			// UTC) to 2026-04-09 10:20 CEST (08:20 UTC), 29 d 23 h 20 min:
			// 30 windows. Before the change they start at 10:00 CET, after
			// it at 11:00 CEST; either way the day units from the window's
			// start (20 or 18 of them) reach 2000, so each window is
			// exactly 2000: 60000.
			name:  "30 days across DST",
			entry: "2026-03-10 10:00", exit: "2026-04-09 10:20",
			wantTotal: 60000, wantNumUnits: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := exampleTariff(t)
			if tt.change != nil {
				tt.change(tr)
			}
			if errs := tr.Validate(); errs != nil {
				t.Fatalf("tariff invalid: %v", errs)
			}
			entry, exit := at(t, tr.Location, tt.entry), at(t, tr.Location, tt.exit)
			b := tr.Fee(entry, exit)
			units := expand(b)

			if b.Total != tt.wantTotal {
				t.Errorf("Fee(%s, %s).Total = %d; want %d", tt.entry, tt.exit, b.Total, tt.wantTotal)
			}
			if got := tr.Total(entry, exit); got != tt.wantTotal {
				t.Errorf("Total(%s, %s) = %d; want %d", tt.entry, tt.exit, got, tt.wantTotal)
			}
			if b.Free != tt.wantFree {
				t.Errorf("Free = %v; want %v", b.Free, tt.wantFree)
			}
			charged := make([]int64, len(units))
			var sum int64
			for i, u := range units {
				charged[i] = u.Charged
				sum += u.Charged
			}
			if sum != b.Total {
				t.Errorf("units sum to %d; Total = %d", sum, b.Total)
			}
			if tt.wantCharged != nil && !slices.Equal(charged, tt.wantCharged) {
				t.Errorf("charged per unit = %v; want %v", charged, tt.wantCharged)
			}
			if tt.wantNumUnits > 0 && len(units) != tt.wantNumUnits {
				t.Errorf("got %d units; want %d", len(units), tt.wantNumUnits)
			}
			for i, want := range tt.wantStarts {
				if i >= len(units) {
					t.Errorf("unit %d: missing (%d units)", i, len(units))
					continue
				}
				if got := units[i].Start.Format("2006-01-02 15:04 -0700"); got != want {
					t.Errorf("unit %d starts %s; want %s", i, got, want)
				}
			}
			for _, c := range tt.wantCapped {
				if c.unit >= len(units) {
					t.Errorf("unit %d: missing (%d units)", c.unit, len(units))
					continue
				}
				if got := units[c.unit].CappedBy; !slices.Equal(got, c.by) {
					t.Errorf("unit %d (%s) capped by %q; want %q", c.unit, units[c.unit].Start, got, c.by)
				}
			}
			checkUnits(t, tr, b)
		})
	}
}

// checkUnits checks what every breakdown must satisfy: lines of Count >= 1
// units, each line different from the one before (runs are maximal), and,
// unit by unit, units back to back from entry, each starting before the
// exit, with the band in force at its local start, its band's price and
// length, and a charge within 0..price.
func checkUnits(t *testing.T, tr *Tariff, b Breakdown) {
	t.Helper()
	for i, u := range b.Units {
		if u.Count < 1 {
			t.Errorf("line %d: count %d; want >= 1", i, u.Count)
			return
		}
		if i > 0 {
			p := b.Units[i-1]
			if p.Band == u.Band && p.Price == u.Price && p.Charged == u.Charged && slices.Equal(p.CappedBy, u.CappedBy) {
				t.Errorf("lines %d and %d are alike (%s %d %d %q); want one line", i-1, i, u.Band, u.Price, u.Charged, u.CappedBy)
			}
		}
	}
	if b.Unlisted != 0 {
		t.Errorf("%d units unlisted; want all listed", b.Unlisted)
	}
	units := expand(b)
	next := b.Entry
	for i, u := range units {
		if !u.Start.Equal(next) {
			t.Errorf("unit %d starts %s; want %s (end of the previous unit)", i, u.Start, next)
			return
		}
		if !u.Start.Before(b.Exit) {
			t.Errorf("unit %d starts %s, not before the exit %s", i, u.Start, b.Exit)
		}
		if u.Start.Location() != tr.Location {
			t.Errorf("unit %d start in %s; want %s", i, u.Start.Location(), tr.Location)
		}
		h, m, _ := u.Start.Clock()
		bi := tr.bandAt(h*60 + m)
		band := tr.Bands[bi]
		if u.Band != band.Name || u.Price != band.UnitPrice {
			t.Errorf("unit %d at %s: band %s price %d; want %s %d", i, u.Start, u.Band, u.Price, band.Name, band.UnitPrice)
		}
		if d := u.End.Sub(u.Start); d != time.Duration(band.UnitMinutes)*time.Minute {
			t.Errorf("unit %d lasts %s; want %d min", i, d, band.UnitMinutes)
		}
		if u.Charged < 0 || u.Charged > u.Price {
			t.Errorf("unit %d charged %d; want 0..%d", i, u.Charged, u.Price)
		}
		if (u.Charged < u.Price) != (len(u.CappedBy) > 0) {
			t.Errorf("unit %d charged %d of %d, capped by %q", i, u.Charged, u.Price, u.CappedBy)
		}
		next = u.End
	}
	if n := len(units); n > 0 && units[n-1].End.Before(b.Exit) {
		t.Errorf("last unit ends %s, before the exit %s", units[n-1].End, b.Exit)
	}
}

func TestFeeBreakdownHeader(t *testing.T) {
	tr := exampleTariff(t)
	entry := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC) // 10:00 CET
	b := tr.Fee(entry, entry.Add(time.Hour))
	if b.Version != "example-1" || b.Currency != "EUR" {
		t.Errorf("Version, Currency = %q, %q; want example-1, EUR", b.Version, b.Currency)
	}
	if got := b.Entry.Format("15:04 MST"); got != "10:00 CET" {
		t.Errorf("Entry = %s; want 10:00 CET (the tariff's zone)", got)
	}
}

// A stay with a monotonic clock reading is measured on the wall clock, as
// stored, so a fee computed now and recomputed from the store agree.
func TestFeeIgnoresMonotonic(t *testing.T) {
	tr := exampleTariff(t)
	now := time.Now() // carries a monotonic reading
	entry := now.Add(-20 * time.Minute)
	if got, want := tr.Total(entry, now), tr.Total(entry.Round(0), now.Round(0)); got != want {
		t.Errorf("Total with monotonic readings = %d; without = %d", got, want)
	}
}

// A tariff that failed Validate must still not panic or loop forever.
func TestFeeInvalidTariffIsSafe(t *testing.T) {
	entry := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	for _, tr := range []*Tariff{
		{},
		{Bands: []Band{{Name: "a", From: 0, To: 600, UnitMinutes: 0, UnitPrice: 5}}},
		{Bands: []Band{{Name: "a", From: 0, To: 720, UnitMinutes: -3, UnitPrice: 5}}, Cap24h: 100, CapDay: 50},
	} {
		b := tr.Fee(entry, entry.Add(3*time.Hour))
		if got := tr.Total(entry, entry.Add(3*time.Hour)); got != b.Total {
			t.Errorf("Total = %d; Fee.Total = %d", got, b.Total)
		}
		if n := len(expand(b)); n != 180 {
			t.Errorf("got %d units; want 180 one-minute units", n)
		}
	}
}

func TestTotalDoesNotAllocate(t *testing.T) {
	tr := exampleTariff(t)
	entry := at(t, tr.Location, "2026-03-10 10:00")
	exit := entry.Add(30 * 24 * time.Hour)
	if n := testing.AllocsPerRun(10, func() { tr.Total(entry, exit) }); n != 0 {
		t.Errorf("Total allocates %v times per call; want 0", n)
	}
}

// No tariff, valid or not, wraps a fee negative: an invalid price of 2^62
// saturates at the largest int64 (two units would wrap to -2^63).
func TestTotalSaturates(t *testing.T) {
	tr := exampleTariff(t)
	tr.Cap24h, tr.FreeMinutes = 0, 0
	tr.Bands = []Band{{Name: "all", From: 0, To: MinutesPerDay, UnitMinutes: 1, UnitPrice: 1 << 62}}
	entry := at(t, tr.Location, "2026-03-02 10:00")
	for _, minutes := range []int{1, 2, 3, 31} {
		exit := entry.Add(time.Duration(minutes) * time.Minute)
		want := int64(math.MaxInt64)
		if minutes == 1 {
			want = 1 << 62
		}
		if got := tr.Total(entry, exit); got != want {
			t.Errorf("Total over %d min at 2^62 a minute = %d; want %d", minutes, got, want)
		}
		if got := tr.Fee(entry, exit).Total; got != want {
			t.Errorf("Fee over %d min at 2^62 a minute: Total = %d; want %d", minutes, got, want)
		}
	}
}

// The largest valid amounts over the longest stay time.Time can be parsed
// from ("0001-01-01" to "9999-12-31") neither overflow nor stop early: a
// Duration saturates at 292 years, so the engine counts in seconds.
func TestTotalLongestStay(t *testing.T) {
	tr := exampleTariff(t)
	tr.Cap24h, tr.FreeMinutes = 0, 0
	tr.Bands = []Band{{Name: "all", From: 0, To: MinutesPerDay, UnitMinutes: MaxMinutes, UnitPrice: MaxAmount}}
	entry := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	exit := time.Date(9999, 12, 31, 23, 59, 0, 0, time.UTC)
	unit := int64(MaxMinutes) * 60
	units := (exit.Unix()-entry.Unix())/unit + 1 // the last one is started
	want := units * MaxAmount
	if got := tr.Total(entry, exit); got != want {
		t.Errorf("Total(0001-01-01, 9999-12-31) = %d; want %d units × %d = %d", got, units, MaxAmount, want)
	}
	b := tr.Fee(entry, exit)
	if b.Total != want || len(b.Units) != 1 || b.Units[0].Count != units {
		t.Fatalf("Fee: total %d, %d lines; want %d, one line of %d units", b.Total, len(b.Units), want, units)
	}
	if u := b.Units[0]; !u.Start.Equal(entry) || u.End.Before(exit) || u.End.Sub(u.Start) < 0 {
		t.Errorf("the line runs %s to %s; want from %s to at least %s", u.Start, u.End, entry, exit)
	}
}

// A breakdown lists at most MaxLines lines; the rest are counted, and in
// the total.
func TestFeeUnlisted(t *testing.T) {
	tr := exampleTariff(t)
	tr.Cap24h, tr.FreeMinutes = 0, 0
	// Two half-day bands of one unit each: every unit is its own line.
	tr.Bands = []Band{
		{Name: "am", From: 0, To: 720, UnitMinutes: 720, UnitPrice: 1},
		{Name: "pm", From: 720, To: MinutesPerDay, UnitMinutes: 720, UnitPrice: 2},
	}
	entry := time.Date(2000, 1, 1, 0, 0, 0, 0, tr.Location)
	exit := entry.AddDate(30, 0, 0)
	b := tr.Fee(entry, exit)
	if len(b.Units) != MaxLines {
		t.Errorf("got %d lines; want MaxLines (%d)", len(b.Units), MaxLines)
	}
	if b.Unlisted == 0 || listed(b)+b.Unlisted < 2*365*30 {
		t.Errorf("%d listed, %d unlisted units; want MaxLines listed and the rest of about %d counted", listed(b), b.Unlisted, 2*365*30)
	}
	if got := tr.Total(entry, exit); b.Total != got {
		t.Errorf("Fee.Total = %d; Total = %d", b.Total, got)
	}
}

// Identical consecutive units are one line: a 30-day stay of the example
// tariff in 15-minute units (2880 units) is a short breakdown.
func TestFeeCollapses(t *testing.T) {
	tr, entry, exit := bench30Days(t)
	b := tr.Fee(entry, exit)
	if n := listed(b); n != bench30DaysUnits {
		t.Errorf("%d units listed; want %d", n, bench30DaysUnits)
	}
	if len(b.Units) > 5*30 {
		t.Errorf("%d lines for 30 days; want at most 5 a day", len(b.Units))
	}
	checkUnits(t, tr, b)
}
