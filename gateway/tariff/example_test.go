package tariff_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/lotgate/lotgate/gateway/tariff"
)

// The documented example tariff (docs/tariff.md): a stay from Tuesday 19:00
// to Wednesday 07:30 reaches the night cap.
func ExampleTariff_Fee() {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		fmt.Println(err)
		return
	}
	t := &tariff.Tariff{
		Version: "example-1", Currency: "EUR", Location: berlin,
		FreeMinutes: 15, ExitGraceMinutes: 15, LostTicketFee: 2500,
		Bands: []tariff.Band{
			{Name: "day", From: 8 * 60, To: 20 * 60, UnitMinutes: 30, UnitPrice: 150},
			{Name: "night", From: 20 * 60, To: 8 * 60, UnitMinutes: 60, UnitPrice: 100, Cap: 400},
		},
		Cap24h: 2000,
	}
	if errs := t.Validate(); errs != nil {
		fmt.Println(errs)
		return
	}
	entry := time.Date(2026, 3, 10, 19, 0, 0, 0, berlin)
	exit := time.Date(2026, 3, 11, 7, 30, 0, 0, berlin)
	b := t.Fee(entry, exit)
	for _, u := range b.Units {
		line := fmt.Sprintf("%s–%s %2d × %-5s %3d %3d %s", u.Start.Format("Mon 15:04"), u.End.Format("15:04"),
			u.Count, u.Band, u.Price, u.Charged, strings.Join(u.CappedBy, ", "))
		fmt.Println(strings.TrimSpace(line))
	}
	fmt.Println("total", b.Total, b.Currency)
	// Output:
	// Tue 19:00–20:00  2 × day   150 150
	// Tue 20:00–00:00  4 × night 100 100
	// Wed 00:00–08:00  8 × night 100   0 band night occurrence 2026-03-10
	// total 700 EUR
}
