package config

import (
	"errors"
	"fmt"

	"github.com/lotgate/lotgate/gateway/tariff"
)

// parseClock parses a band's time of day with tariff.ParseClock, also
// taking a one-digit hour ("8:00"), which site files have always been
// allowed to use. The error is worded for the installer editing the file.
func parseClock(s string) (int, error) {
	hhmm := s
	if len(s) == 4 && s[1] == ':' {
		hhmm = "0" + s
	}
	min, err := tariff.ParseClock(hhmm)
	if err != nil {
		return 0, fmt.Errorf(`bad time of day %q: want "HH:MM" from 00:00 to 24:00`, s)
	}
	return min, nil
}

// checkTariff reports what t.Validate finds (band coverage: gaps and
// overlaps; limits the decoder does not check itself), each problem at the
// line of the field its FieldError names, below path (the tariff's own
// path, "tariff"). A field the decoder has already reported is left alone:
// its problem is already said, in the decoder's words. The time zone is
// not checked here: a tariff's zone is the site's (site.time_zone),
// resolved and reported by normalise, which runs after decoding.
func (d *decoder) checkTariff(path string, t *tariff.Tariff) {
	reported := make(map[string]bool, len(d.probs))
	for _, p := range d.probs {
		reported[p.Path] = true
	}
	for _, err := range t.Validate() {
		var fe *tariff.FieldError
		if !errors.As(err, &fe) {
			d.errorf(d.line(path), path, "%v", err)
			continue
		}
		if fe.Field == "time_zone" {
			continue
		}
		p := join(path, fe.Field)
		if reported[p] {
			continue
		}
		d.errorf(d.line(p), p, "%s", fe.Problem)
	}
}
