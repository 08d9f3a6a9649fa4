// Package tariff computes parking fees: site-local time (IANA zone, DST
// aware), consecutive units from entry, bands by time of day, and caps per
// band occurrence, per 24 h from entry and per calendar day. Money is integer
// minor units. It imports only the standard library.
package tariff

import "time"

// Tariff is one version of a site's tariff.
type Tariff struct {
	Version  string
	Currency string // ISO 4217, e.g. "EUR"
	// Location is the site's time zone; bands and calendar days are read in it.
	Location *time.Location
	// A stay of at most FreeMinutes costs nothing.
	FreeMinutes int
	// After a payment the car may leave within ExitGraceMinutes.
	ExitGraceMinutes int
	// LostTicketFee is charged for a session whose ticket is lost.
	LostTicketFee int64
	// Bands cover the day (00:00–24:00) without gaps or overlaps.
	Bands []Band
	// Cap24h caps what any 24 h counted from entry costs (0: no cap).
	Cap24h int64
	// CapDay caps what units starting on one calendar day cost (0: no cap).
	CapDay int64
}

// Band is a time-of-day band. From and To are minutes after local midnight
// (0..1440); To < From wraps past midnight (a night band 20:00–08:00 is
// From=1200, To=480); From == To is invalid.
type Band struct {
	Name        string
	From, To    int
	UnitMinutes int   // length of one unit started in this band, > 0
	UnitPrice   int64 // price of one unit, minor units, >= 0
	// Cap caps what one occurrence of the band costs (0: no cap). An
	// occurrence is one contiguous stretch of the band, e.g. Monday 20:00 to
	// Tuesday 08:00.
	Cap int64
}
