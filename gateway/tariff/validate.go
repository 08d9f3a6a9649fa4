package tariff

import (
	"fmt"
	"time"
)

// Upper bounds Validate puts on a tariff. No real tariff comes near them;
// they exist so that no input, from a site file or a signed tariff update,
// can make a fee overflow or a duration wrap.
const (
	// MaxAmount bounds every amount of a tariff (unit_price, cap, cap_24h,
	// cap_day, lost_ticket_fee): 10^9 minor units, 10 000 000.00 in a
	// two-decimal currency. With it, even a stay from year 1 to 9999 in
	// one-minute units sums to less than 2^63 (the engine saturates anyway).
	MaxAmount int64 = 1_000_000_000
	// MaxMinutes bounds every length of a tariff (unit_minutes,
	// free_minutes, exit_grace_minutes): 366 days.
	MaxMinutes = 366 * MinutesPerDay
	// MaxBands bounds the number of bands: one every 15 minutes. Validate's
	// overlap check grows with its square.
	MaxBands = 96
)

// maxUnitMinutes bounds a unit's length in the engine, for tariffs that did
// not pass Validate.
const maxUnitMinutes = MaxMinutes

// FieldError is one problem found by Validate. Field is a path in the
// config's names ("bands[1].from", "cap_24h"), so a config loader can prefix
// it ("tariff.") and find the line.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Validate returns every problem of the tariff (nil when there is none), each
// a *FieldError. Fee and Total assume a tariff that passed Validate: on an
// invalid one their result is meaningless, though they never panic or loop
// forever.
func (t *Tariff) Validate() []error {
	if t == nil {
		return []error{&FieldError{"tariff", "is missing"}}
	}
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{field, fmt.Sprintf(format, args...)})
	}
	if t.Version == "" {
		add("version", "is required")
	}
	if !isCurrency(t.Currency) {
		add("currency", "%q is not an ISO 4217 code (three capital letters, e.g. EUR)", t.Currency)
	}
	if t.Location == nil {
		add("time_zone", "is required (an IANA name, e.g. Europe/Berlin)")
	}
	minutes := func(field string, v int) {
		switch {
		case v < 0:
			add(field, "%d is negative", v)
		case v > MaxMinutes:
			add(field, "%d is more than %d (366 days)", v, MaxMinutes)
		}
	}
	// amount checks an amount; capNote is said of a negative one.
	amount := func(field string, v int64, capNote string) {
		switch {
		case v < 0:
			add(field, "%d is negative%s", v, capNote)
		case v > MaxAmount:
			add(field, "%d is more than %d minor units, the most a tariff amount may be", v, MaxAmount)
		}
	}
	const noCap = " (0 means no cap)"
	minutes("free_minutes", t.FreeMinutes)
	minutes("exit_grace_minutes", t.ExitGraceMinutes)
	amount("lost_ticket_fee", t.LostTicketFee, "")
	amount("cap_24h", t.Cap24h, noCap)
	amount("cap_day", t.CapDay, noCap)
	if len(t.Bands) == 0 {
		add("bands", "at least one band is required, covering 00:00–24:00")
		return errs
	}
	if len(t.Bands) > MaxBands {
		add("bands", "%d bands are more than %d", len(t.Bands), MaxBands)
		return errs
	}

	names := make(map[string]int, len(t.Bands))
	rangesOK := true
	for i, b := range t.Bands {
		p := fmt.Sprintf("bands[%d]", i)
		switch first, dup := names[b.Name]; {
		case b.Name == "":
			add(p+".name", "is required")
		case dup:
			add(p+".name", "%q is already the name of bands[%d]", b.Name, first)
		default:
			names[b.Name] = i
		}
		if b.From < 0 || b.From >= MinutesPerDay {
			add(p+".from", "%s is out of range 00:00..23:59", FormatClock(b.From))
			rangesOK = false
		}
		if b.To < 0 || b.To > MinutesPerDay {
			add(p+".to", "%s is out of range 00:00..24:00", FormatClock(b.To))
			rangesOK = false
		}
		if b.From == b.To {
			add(p+".to", "equals from (%s): a band must not be empty", FormatClock(b.From))
			rangesOK = false
		}
		if b.UnitMinutes <= 0 {
			add(p+".unit_minutes", "%d must be positive", b.UnitMinutes)
		} else {
			minutes(p+".unit_minutes", b.UnitMinutes)
		}
		amount(p+".unit_price", b.UnitPrice, "")
		amount(p+".cap", b.Cap, noCap)
	}
	if !rangesOK {
		// Coverage of a band with a bad range is unknown: reporting gaps
		// or overlaps would only add noise to the real problem.
		return errs
	}

	for i := range t.Bands {
		for j := i + 1; j < len(t.Bands); j++ {
			bi, bj := t.Bands[i], t.Bands[j]
			for _, r := range minuteRanges(func(m int) bool { return bi.covers(m) && bj.covers(m) }) {
				add("bands", "bands[%d] and bands[%d] overlap at %s", i, j, r)
			}
		}
	}
	for _, r := range minuteRanges(func(m int) bool { return t.bandAt(m) < 0 }) {
		add("bands", "bands leave %s uncovered", r)
	}
	return errs
}

func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// covers reports whether minute m of the local day (0..1439) is in the band.
func (b *Band) covers(m int) bool {
	if b.From < b.To {
		return b.From <= m && m < b.To
	}
	return m >= b.From || m < b.To // wraps past midnight
}

// wraps reports whether the band runs past midnight (20:00–08:00).
func (b *Band) wraps() bool { return b.To < b.From }

// bandAt returns the index of the first band covering minute m of the local
// day, or -1.
func (t *Tariff) bandAt(m int) int {
	for i := range t.Bands {
		if t.Bands[i].covers(m) {
			return i
		}
	}
	return -1
}

// minuteRanges returns the maximal runs of minutes of the day for which in
// is true, as "HH:MM–HH:MM". A run that reaches 24:00 and one that starts at
// 00:00 are one run across midnight ("23:00–01:00").
func minuteRanges(in func(m int) bool) []string {
	type run struct{ from, to int }
	var runs []run
	for m := 0; m < MinutesPerDay; m++ {
		if !in(m) {
			continue
		}
		if n := len(runs); n > 0 && runs[n-1].to == m {
			runs[n-1].to = m + 1
		} else {
			runs = append(runs, run{m, m + 1})
		}
	}
	if n := len(runs); n > 1 && runs[0].from == 0 && runs[n-1].to == MinutesPerDay {
		runs[0].from = runs[n-1].from
		runs = runs[:n-1]
	}
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = FormatClock(r.from) + "–" + FormatClock(r.to)
	}
	return out
}

// location returns the tariff's zone; UTC when it is missing (an invalid
// tariff) so that nothing panics.
func (t *Tariff) location() *time.Location {
	if t.Location == nil {
		return time.UTC
	}
	return t.Location
}
