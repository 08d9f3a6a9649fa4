package tariff

import (
	"fmt"
	"time"
)

// maxUnitMinutes bounds a unit's length (366 days) so that durations never
// overflow; no real tariff comes near it.
const maxUnitMinutes = 366 * MinutesPerDay

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
	if t.FreeMinutes < 0 {
		add("free_minutes", "%d is negative", t.FreeMinutes)
	}
	if t.ExitGraceMinutes < 0 {
		add("exit_grace_minutes", "%d is negative", t.ExitGraceMinutes)
	}
	if t.LostTicketFee < 0 {
		add("lost_ticket_fee", "%d is negative", t.LostTicketFee)
	}
	if t.Cap24h < 0 {
		add("cap_24h", "%d is negative (0 means no cap)", t.Cap24h)
	}
	if t.CapDay < 0 {
		add("cap_day", "%d is negative (0 means no cap)", t.CapDay)
	}
	if len(t.Bands) == 0 {
		add("bands", "at least one band is required, covering 00:00–24:00")
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
		} else if b.UnitMinutes > maxUnitMinutes {
			add(p+".unit_minutes", "%d is more than %d (366 days)", b.UnitMinutes, maxUnitMinutes)
		}
		if b.UnitPrice < 0 {
			add(p+".unit_price", "%d is negative", b.UnitPrice)
		}
		if b.Cap < 0 {
			add(p+".cap", "%d is negative (0 means no cap)", b.Cap)
		}
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
