package tariff

import (
	"errors"
	"fmt"
	"testing"
)

func TestValidate(t *testing.T) {
	day := func(from, to int) Band {
		return Band{Name: "day", From: from, To: to, UnitMinutes: 30, UnitPrice: 150}
	}
	night := func(from, to int) Band {
		return Band{Name: "night", From: from, To: to, UnitMinutes: 60, UnitPrice: 100, Cap: 400}
	}
	tests := []struct {
		name   string
		change func(*Tariff)
		want   []string
	}{
		{name: "example is valid", change: func(*Tariff) {}},
		{
			name: "one band all day is valid",
			change: func(t *Tariff) {
				t.Bands = []Band{{Name: "flat", From: 0, To: 1440, UnitMinutes: 60, UnitPrice: 200}}
			},
		},
		{
			name: "band ending at 00:00 wraps to midnight",
			change: func(t *Tariff) {
				t.Bands = []Band{day(0, 1200), night(1200, 0)}
			},
		},
		{
			name:   "overlap",
			change: func(t *Tariff) { t.Bands = []Band{day(7*60, 20*60), night(20*60, 8*60)} },
			want:   []string{"bands: bands[0] and bands[1] overlap at 07:00–08:00"},
		},
		{
			name:   "overlap on both sides, across midnight",
			change: func(t *Tariff) { t.Bands = []Band{day(7*60, 21*60), night(20*60, 8*60)} },
			want: []string{
				"bands: bands[0] and bands[1] overlap at 07:00–08:00",
				"bands: bands[0] and bands[1] overlap at 20:00–21:00",
			},
		},
		{
			name: "overlap at midnight",
			change: func(t *Tariff) {
				t.Bands = []Band{day(60, 22*60), night(20*60, 2*60)}
			},
			want: []string{
				"bands: bands[0] and bands[1] overlap at 01:00–02:00",
				"bands: bands[0] and bands[1] overlap at 20:00–22:00",
			},
		},
		{
			name: "gap",
			change: func(t *Tariff) {
				afternoon := day(13*60, 20*60)
				afternoon.Name = "afternoon"
				t.Bands = []Band{day(8*60, 12*60), night(20*60, 8*60), afternoon}
			},
			want: []string{"bands: bands leave 12:00–13:00 uncovered"},
		},
		{
			name:   "gap across midnight",
			change: func(t *Tariff) { t.Bands = []Band{day(60, 23*60)} },
			want:   []string{"bands: bands leave 23:00–01:00 uncovered"},
		},
		{
			name: "bad minutes",
			change: func(t *Tariff) {
				t.Bands = []Band{day(8*60, 1500), night(1440, -1)}
			},
			want: []string{
				"bands[0].to: 1500 min is out of range 00:00..24:00",
				"bands[1].from: 24:00 is out of range 00:00..23:59",
				"bands[1].to: -1 min is out of range 00:00..24:00",
			},
		},
		{
			name:   "empty band",
			change: func(t *Tariff) { t.Bands[1].To = t.Bands[1].From },
			want: []string{
				"bands[1].to: equals from (20:00): a band must not be empty",
			},
		},
		{
			name:   "zero unit",
			change: func(t *Tariff) { t.Bands[0].UnitMinutes = 0 },
			want:   []string{"bands[0].unit_minutes: 0 must be positive"},
		},
		{
			name:   "huge unit",
			change: func(t *Tariff) { t.Bands[0].UnitMinutes = 1 << 40 },
			want:   []string{"bands[0].unit_minutes: 1099511627776 is more than 527040 (366 days)"},
		},
		{
			name: "names",
			change: func(t *Tariff) {
				t.Bands[0].Name = "night"
				t.Bands = append(t.Bands, Band{From: 0, To: 1, UnitMinutes: 1})
				t.Bands[1].From, t.Bands[1].To = 20*60, 0 // leave room for the third
			},
			want: []string{
				`bands[1].name: "night" is already the name of bands[0]`,
				"bands[2].name: is required",
				"bands: bands leave 00:01–08:00 uncovered",
			},
		},
		{
			name: "negatives and missing header",
			change: func(t *Tariff) {
				t.Version = ""
				t.Currency = "eur"
				t.Location = nil
				t.FreeMinutes = -1
				t.ExitGraceMinutes = -2
				t.LostTicketFee = -3
				t.Cap24h = -4
				t.CapDay = -5
				t.Bands[0].UnitPrice = -6
				t.Bands[1].Cap = -7
			},
			want: []string{
				"version: is required",
				`currency: "eur" is not an ISO 4217 code (three capital letters, e.g. EUR)`,
				"time_zone: is required (an IANA name, e.g. Europe/Berlin)",
				"free_minutes: -1 is negative",
				"exit_grace_minutes: -2 is negative",
				"lost_ticket_fee: -3 is negative",
				"cap_24h: -4 is negative (0 means no cap)",
				"cap_day: -5 is negative (0 means no cap)",
				"bands[0].unit_price: -6 is negative",
				"bands[1].cap: -7 is negative (0 means no cap)",
			},
		},
		{
			name: "every bound, exactly",
			change: func(t *Tariff) {
				t.FreeMinutes, t.ExitGraceMinutes = MaxMinutes, MaxMinutes
				t.LostTicketFee, t.Cap24h, t.CapDay = MaxAmount, MaxAmount, MaxAmount
				t.Bands[0].UnitMinutes, t.Bands[0].UnitPrice, t.Bands[0].Cap = MaxMinutes, MaxAmount, MaxAmount
			},
		},
		{
			name: "every bound, one over",
			change: func(t *Tariff) {
				t.FreeMinutes, t.ExitGraceMinutes = MaxMinutes+1, MaxMinutes+1
				t.LostTicketFee, t.Cap24h, t.CapDay = MaxAmount+1, MaxAmount+1, MaxAmount+1
				t.Bands[0].UnitMinutes, t.Bands[0].UnitPrice, t.Bands[0].Cap = MaxMinutes+1, MaxAmount+1, MaxAmount+1
			},
			want: []string{
				"free_minutes: 527041 is more than 527040 (366 days)",
				"exit_grace_minutes: 527041 is more than 527040 (366 days)",
				"lost_ticket_fee: 1000000001 is more than 1000000000 minor units, the most a tariff amount may be",
				"cap_24h: 1000000001 is more than 1000000000 minor units, the most a tariff amount may be",
				"cap_day: 1000000001 is more than 1000000000 minor units, the most a tariff amount may be",
				"bands[0].unit_minutes: 527041 is more than 527040 (366 days)",
				"bands[0].unit_price: 1000000001 is more than 1000000000 minor units, the most a tariff amount may be",
				"bands[0].cap: 1000000001 is more than 1000000000 minor units, the most a tariff amount may be",
			},
		},
		{
			// The QA case: two units of 2^62 overflowed the fee.
			name:   "price of 2^62",
			change: func(t *Tariff) { t.Bands[1].UnitPrice = 1 << 62 },
			want:   []string{"bands[1].unit_price: 4611686018427387904 is more than 1000000000 minor units, the most a tariff amount may be"},
		},
		{
			name:   "MaxBands bands are valid",
			change: func(t *Tariff) { t.Bands = quarterBands(MaxBands) },
		},
		{
			name:   "one band too many",
			change: func(t *Tariff) { t.Bands = quarterBands(MaxBands + 1) },
			want:   []string{"bands: 97 bands are more than 96"},
		},
		{
			name:   "no bands",
			change: func(t *Tariff) { t.Bands = nil },
			want:   []string{"bands: at least one band is required, covering 00:00–24:00"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := exampleTariff(t)
			tt.change(tr)
			errs := tr.Validate()
			got := make([]string, len(errs))
			for i, err := range errs {
				got[i] = err.Error()
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Errorf("error %q is %T; want *FieldError", err, err)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Validate() = %q; want %q", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("Validate()[%d] = %q; want %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestValidateNil(t *testing.T) {
	var tr *Tariff
	if errs := tr.Validate(); len(errs) != 1 {
		t.Errorf("(*Tariff)(nil).Validate() = %v; want one error", errs)
	}
}

// quarterBands returns n back-to-back bands covering the day (n <= 1440).
func quarterBands(n int) []Band {
	bands := make([]Band, n)
	for i := range bands {
		bands[i] = Band{Name: fmt.Sprintf("b%d", i), From: i * MinutesPerDay / n, To: (i + 1) * MinutesPerDay / n,
			UnitMinutes: 15, UnitPrice: 100}
	}
	return bands
}
