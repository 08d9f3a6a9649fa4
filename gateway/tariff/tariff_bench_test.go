package tariff

import (
	"testing"
	"time"
)

// bench30Days is the hot-path case: the example tariff with 15-minute units
// in both bands, a 30-day stay: 30 × 96 = 2880 units.
func bench30Days(b testing.TB) (*Tariff, time.Time, time.Time) {
	tr := exampleTariff(b)
	tr.Bands[0].UnitMinutes = 15
	tr.Bands[1].UnitMinutes = 15
	entry := at(b, tr.Location, "2026-04-10 10:07")
	return tr, entry, entry.Add(30 * 24 * time.Hour)
}

const bench30DaysUnits = 30 * 24 * 4

func BenchmarkFee30Days(b *testing.B) {
	tr, entry, exit := bench30Days(b)
	if n := listed(tr.Fee(entry, exit)); n != bench30DaysUnits {
		b.Fatalf("got %d units; want %d", n, bench30DaysUnits)
	}
	b.ReportAllocs()
	for b.Loop() {
		tr.Fee(entry, exit)
	}
}

func BenchmarkTotal30Days(b *testing.B) {
	tr, entry, exit := bench30Days(b)
	b.ReportAllocs()
	for b.Loop() {
		tr.Total(entry, exit)
	}
}

// BenchmarkBaselineUnitLoop is the floor to compare with: stepping a
// time.Time through the same 2880 units and nothing else.
func BenchmarkBaselineUnitLoop(b *testing.B) {
	_, entry, exit := bench30Days(b)
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for t := entry; t.Before(exit); t = t.Add(15 * time.Minute) {
			n++
		}
		if n != bench30DaysUnits {
			b.Fatalf("got %d units; want %d", n, bench30DaysUnits)
		}
	}
}
