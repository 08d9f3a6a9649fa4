package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/lotgate/lotgate/gateway/tariff"
)

// minutesPerDay is 24 h in minutes; "24:00" parses to it.
const minutesPerDay = 24 * 60

// parseClock parses a time of day "HH:MM" (hour 0–24, "24:00" being the
// end of the day) into minutes after midnight.
//
// TODO(lead): dedupe with tariff.ParseClock (written in parallel).
func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	bad := fmt.Errorf(`bad time of day %q: want "HH:MM" from 00:00 to 24:00`, s)
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 || !digits(h) || !digits(m) {
		return 0, bad
	}
	hh, _ := strconv.Atoi(h)
	mm, _ := strconv.Atoi(m)
	if hh > 24 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, bad
	}
	return hh*60 + mm, nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// formatClock formats minutes after midnight as "HH:MM".
func formatClock(min int) string {
	return fmt.Sprintf("%02d:%02d", min/60, min%60)
}

// span is a run of minutes [from, to) within one day.
type span struct{ from, to int }

func (s span) String() string { return formatClock(s.from) + "–" + formatClock(s.to) }

// bandMinutes lists the spans of the day a band covers: one span, or two
// when it wraps past midnight.
func bandMinutes(b tariff.Band) []span {
	if b.From < b.To {
		return []span{{b.From, b.To}}
	}
	var out []span
	if b.From < minutesPerDay {
		out = append(out, span{b.From, minutesPerDay})
	}
	if b.To > 0 {
		out = append(out, span{0, b.To})
	}
	return out
}

// overlap is two bands covering the same minutes.
type overlap struct {
	a, b  int // band indexes, a < b
	spans []span
}

// coverage checks that bands cover every minute of the day exactly once.
// It returns the overlapping pairs and the uncovered spans. Bands with
// From == To are skipped (they are reported on their own).
//
// TODO(lead): dedupe with tariff.Validate (written in parallel).
func coverage(bands []tariff.Band) (overlaps []overlap, gaps []span) {
	var owner [minutesPerDay][]int
	for i, b := range bands {
		if b.From == b.To {
			continue
		}
		for _, s := range bandMinutes(b) {
			for m := s.from; m < s.to; m++ {
				owner[m] = append(owner[m], i)
			}
		}
	}
	// Overlaps, pair by pair, as runs of minutes.
	for i := range bands {
		for j := i + 1; j < len(bands); j++ {
			var spans []span
			in := false
			for m := 0; m <= minutesPerDay; m++ {
				both := m < minutesPerDay && contains2(owner[m], i, j)
				switch {
				case both && !in:
					spans = append(spans, span{from: m})
					in = true
				case !both && in:
					spans[len(spans)-1].to = m
					in = false
				}
			}
			if len(spans) > 0 {
				overlaps = append(overlaps, overlap{a: i, b: j, spans: wrap(spans)})
			}
		}
	}
	in := false
	for m := 0; m <= minutesPerDay; m++ {
		empty := m < minutesPerDay && len(owner[m]) == 0
		switch {
		case empty && !in:
			gaps = append(gaps, span{from: m})
			in = true
		case !empty && in:
			gaps[len(gaps)-1].to = m
			in = false
		}
	}
	return overlaps, wrap(gaps)
}

// wrap joins a run that ends at midnight with one that starts at midnight
// into one span across midnight ("20:00–08:00"), as an installer reads it.
func wrap(spans []span) []span {
	n := len(spans)
	if n < 2 || spans[0].from != 0 || spans[n-1].to != minutesPerDay {
		return spans
	}
	joined := span{from: spans[n-1].from, to: spans[0].to}
	return append([]span{joined}, spans[1:n-1]...)
}

func contains2(owners []int, i, j int) bool {
	var a, b bool
	for _, o := range owners {
		a = a || o == i
		b = b || o == j
	}
	return a && b
}

func spanList(spans []span) string {
	parts := make([]string, len(spans))
	for i, s := range spans {
		parts[i] = s.String()
	}
	return strings.Join(parts, ", ")
}
