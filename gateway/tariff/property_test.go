package tariff

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// refTotal is a deliberately plain reading of the rules, independent of the
// fast path in compute: time.In per unit, calendar arithmetic through
// time.Date, caps kept in maps. The property test holds Fee and Total to it.
func refTotal(tr *Tariff, entry, exit time.Time) int64 {
	entry, exit = entry.Round(0), exit.Round(0)
	if !exit.After(entry) || exit.Sub(entry) <= time.Duration(tr.FreeMinutes)*time.Minute {
		return 0
	}
	type date struct {
		y int
		m time.Month
		d int
	}
	type occurrence struct {
		band  string
		began date
	}
	occSpent := map[occurrence]int64{}
	daySpent := map[date]int64{}
	windowSpent := map[time.Duration]int64{}
	var total int64
	for start := entry; start.Before(exit); {
		local := start.In(tr.Location)
		tod := local.Hour()*60 + local.Minute()
		var band Band
		for _, b := range tr.Bands {
			if (b.From < b.To && b.From <= tod && tod < b.To) ||
				(b.From > b.To && (tod >= b.From || tod < b.To)) {
				band = b
				break
			}
		}
		y, m, d := local.Date()
		today := date{y, m, d}
		began := today
		if band.From > band.To && tod < band.To {
			y, m, d := time.Date(y, m, d-1, 12, 0, 0, 0, time.UTC).Date()
			began = date{y, m, d}
		}
		occ := occurrence{band.Name, began}
		window := start.Sub(entry) / (24 * time.Hour)

		charge := band.UnitPrice
		if band.Cap > 0 {
			charge = min(charge, band.Cap-occSpent[occ])
		}
		if tr.Cap24h > 0 {
			charge = min(charge, tr.Cap24h-windowSpent[window])
		}
		if tr.CapDay > 0 {
			charge = min(charge, tr.CapDay-daySpent[today])
		}
		occSpent[occ] += charge
		windowSpent[window] += charge
		daySpent[today] += charge
		total += charge
		start = start.Add(time.Duration(band.UnitMinutes) * time.Minute)
	}
	return total
}

// propertyZones have DST rules of every kind: an hour at 02:00/03:00
// (Berlin, New York), transitions at midnight so that the clocks go back
// into the previous day (Santiago, Havana, São Paulo until 2019), half-hour
// shifts (Lord Howe), odd offsets (Kathmandu, Chatham), a skipped day (Apia,
// 2011-12-30), and none (UTC).
var propertyZones = []string{
	"Europe/Berlin", "America/New_York", "America/Santiago", "America/Havana",
	"America/Sao_Paulo", "Australia/Lord_Howe", "Asia/Kathmandu",
	"Pacific/Chatham", "Pacific/Apia", "UTC",
}

// randomTariff returns a valid tariff with 1–4 bands. Band boundaries are
// sometimes put where DST transitions happen (00:00, 02:00–03:00).
func randomTariff(r *rand.Rand, loc *time.Location) *Tariff {
	tr := &Tariff{Version: "p", Currency: "EUR", Location: loc}
	if r.IntN(3) > 0 {
		tr.FreeMinutes = r.IntN(31)
	}
	if r.IntN(2) == 0 {
		tr.Cap24h = r.Int64N(3000)
	}
	if r.IntN(2) == 0 {
		tr.CapDay = r.Int64N(3000)
	}
	n := 1 + r.IntN(4)
	if n == 1 {
		tr.Bands = []Band{{From: 0, To: MinutesPerDay}}
	} else {
		seen := map[int]bool{}
		var cuts []int
		for len(cuts) < n {
			var c int
			switch r.IntN(4) {
			case 0:
				c = []int{0, 60, 120, 150, 180, 23 * 60, 23*60 + 30}[r.IntN(7)]
			default:
				c = r.IntN(MinutesPerDay)
			}
			if !seen[c] {
				seen[c] = true
				cuts = append(cuts, c)
			}
		}
		slices.Sort(cuts)
		for i, c := range cuts {
			to := cuts[(i+1)%n]
			if to == 0 && r.IntN(2) == 0 {
				to = MinutesPerDay
			}
			tr.Bands = append(tr.Bands, Band{From: c, To: to})
		}
		r.Shuffle(len(tr.Bands), func(i, j int) { tr.Bands[i], tr.Bands[j] = tr.Bands[j], tr.Bands[i] })
	}
	for i := range tr.Bands {
		b := &tr.Bands[i]
		b.Name = fmt.Sprintf("b%d", i)
		b.UnitMinutes = []int{1, 7, 15, 30, 45, 60, 90, 120, 1440, 1 + r.IntN(200)}[r.IntN(10)]
		b.UnitPrice = r.Int64N(500)
		if r.IntN(2) == 0 {
			b.Cap = r.Int64N(2000)
		}
	}
	return tr
}

// randomEntry returns an instant in 2008–2030, half the time within two days
// of one of loc's transitions, with random seconds and nanoseconds.
func randomEntry(r *rand.Rand, loc *time.Location) time.Time {
	lo := time.Date(2008, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	t := time.Unix(lo+r.Int64N(hi-lo), r.Int64N(1e9)).In(loc)
	if r.IntN(2) == 0 {
		if _, end := t.ZoneBounds(); !end.IsZero() {
			t = end.Add(time.Duration(r.Int64N(int64(96*time.Hour))) - 48*time.Hour)
		}
	}
	return t
}

// TestTotalMatchesFeeAndReference checks Total == Fee().Total == refTotal on
// random tariffs, zones and stays, the breakdown's invariants, and that
// Total never decreases as the exit moves later.
func TestTotalMatchesFeeAndReference(t *testing.T) {
	cases := 4000
	if testing.Short() {
		cases = 400
	}
	locs := make([]*time.Location, len(propertyZones))
	for i, name := range propertyZones {
		locs[i] = mustLoad(t, name)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range cases {
		loc := locs[r.IntN(len(locs))]
		tr := randomTariff(r, loc)
		if errs := tr.Validate(); errs != nil {
			t.Fatalf("case %d: random tariff invalid: %v\n%+v", i, errs, tr.Bands)
		}
		entry := randomEntry(r, loc)
		// Keep the number of units (and the test's time) bounded.
		shortest := slices.MinFunc(tr.Bands, func(a, b Band) int { return a.UnitMinutes - b.UnitMinutes }).UnitMinutes
		maxStay := time.Duration(min(shortest*3000, 40*MinutesPerDay)) * time.Minute
		var stay time.Duration
		switch r.IntN(4) {
		case 0:
			stay = time.Duration(r.IntN(3*(tr.FreeMinutes+1))) * time.Minute // around the free limit
		default:
			stay = time.Duration(r.Int64N(int64(maxStay)))
		}
		exit := entry.Add(stay)

		b := tr.Fee(entry, exit)
		got, want := tr.Total(entry, exit), refTotal(tr, entry, exit)
		if got != want || b.Total != want {
			t.Fatalf("case %d: zone %s, entry %s, exit %s, tariff %+v:\nTotal = %d, Fee.Total = %d; want %d",
				i, loc, entry, exit, *tr, got, b.Total, want)
		}
		if checkUnits(t, tr, b); t.Failed() {
			t.Fatalf("case %d: zone %s, entry %s, exit %s, tariff %+v: bad breakdown", i, loc, entry, exit, *tr)
		}
		later := exit.Add(time.Duration(r.Int64N(int64(6 * time.Hour))))
		if l := tr.Total(entry, later); l < got {
			t.Fatalf("case %d: Total(%s, %s) = %d < Total(…, %s) = %d: fee went down as the stay grew",
				i, entry, later, l, exit, got)
		}
	}
}

// TestTotalDateRevisit covers a local date that comes back: at 1867-10-19
// 15:30 local, Sitka moved from +14:58 to -09:01 (Alaska changed hands), so
// the rest of Oct 18 happened a second time. A day cap and a band occurrence
// of that date must resume where they were, not start again. No zone does
// this today, but the engine must not depend on it.
func TestTotalDateRevisit(t *testing.T) {
	loc := mustLoad(t, "America/Sitka")
	base := time.Date(1867, 10, 17, 0, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 300 {
		tr := randomTariff(r, loc)
		tr.CapDay = 200 + r.Int64N(2000)
		for j := range tr.Bands {
			tr.Bands[j].Cap = 100 + r.Int64N(1000)
			tr.Bands[j].UnitMinutes = []int{15, 30, 60}[r.IntN(3)]
		}
		entry := base.Add(time.Duration(r.Int64N(int64(72 * time.Hour))))
		exit := entry.Add(time.Duration(r.Int64N(int64(96 * time.Hour))))
		got, fee, want := tr.Total(entry, exit), tr.Fee(entry, exit).Total, refTotal(tr, entry, exit)
		if got != want || fee != want {
			t.Fatalf("case %d: entry %s, exit %s, tariff %+v:\nTotal = %d, Fee.Total = %d; want %d",
				i, entry.In(loc), exit.In(loc), *tr, got, fee, want)
		}
	}
}
