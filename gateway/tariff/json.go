package tariff

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// jsonFormat is the version of the stored JSON form. Bump it, and keep
// decoding the old one, if the form ever changes: stored tariff versions
// are read back for as long as their sessions are kept.
const jsonFormat = 1

// tariffJSON is the stored form. Field names follow the config's.
type tariffJSON struct {
	Format           int        `json:"format"`
	Version          string     `json:"version"`
	Currency         string     `json:"currency"`
	TimeZone         string     `json:"time_zone"`
	FreeMinutes      int        `json:"free_minutes"`
	ExitGraceMinutes int        `json:"exit_grace_minutes"`
	LostTicketFee    int64      `json:"lost_ticket_fee"`
	Cap24h           int64      `json:"cap_24h"`
	CapDay           int64      `json:"cap_day"`
	Bands            []bandJSON `json:"bands"`
}

type bandJSON struct {
	Name        string `json:"name"`
	From        string `json:"from"` // "HH:MM"
	To          string `json:"to"`   // "HH:MM", "24:00" allowed
	UnitMinutes int    `json:"unit_minutes"`
	UnitPrice   int64  `json:"unit_price"`
	Cap         int64  `json:"cap"`
}

// MarshalJSON encodes the tariff for storage (gateway.Tariffs): every field,
// the zone by its IANA name, band times as "HH:MM". It fails on what would
// not decode back to the same tariff: a missing zone, the machine's Local
// zone (it means something else on another machine), or a band time outside
// 00:00–24:00.
func (t Tariff) MarshalJSON() ([]byte, error) {
	if t.Location == nil {
		return nil, errors.New("encode tariff: time zone is missing")
	}
	zone := t.Location.String()
	if zone == "Local" || zone == "" {
		return nil, fmt.Errorf("encode tariff: time zone %q is not an IANA name", zone)
	}
	j := tariffJSON{
		Format:           jsonFormat,
		Version:          t.Version,
		Currency:         t.Currency,
		TimeZone:         zone,
		FreeMinutes:      t.FreeMinutes,
		ExitGraceMinutes: t.ExitGraceMinutes,
		LostTicketFee:    t.LostTicketFee,
		Cap24h:           t.Cap24h,
		CapDay:           t.CapDay,
		Bands:            make([]bandJSON, len(t.Bands)),
	}
	for i, b := range t.Bands {
		if b.From < 0 || b.From > MinutesPerDay || b.To < 0 || b.To > MinutesPerDay {
			return nil, fmt.Errorf("encode tariff: bands[%d]: %d–%d is outside 00:00–24:00", i, b.From, b.To)
		}
		j.Bands[i] = bandJSON{
			Name:        b.Name,
			From:        FormatClock(b.From),
			To:          FormatClock(b.To),
			UnitMinutes: b.UnitMinutes,
			UnitPrice:   b.UnitPrice,
			Cap:         b.Cap,
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes what MarshalJSON encodes, loading the zone with
// time.LoadLocation (the binary should embed time/tzdata so that this does
// not depend on the host's zoneinfo). Unknown fields and an unknown format
// are errors: a stored tariff read wrongly would charge wrongly. It does not
// Validate.
func (t *Tariff) UnmarshalJSON(data []byte) error {
	var j tariffJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("decode tariff: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("decode tariff: data after the JSON object")
	}
	if j.Format != jsonFormat {
		return fmt.Errorf("decode tariff %q: format %d is not %d", j.Version, j.Format, jsonFormat)
	}
	if j.TimeZone == "" || j.TimeZone == "Local" {
		return fmt.Errorf("decode tariff %q: time zone %q is not an IANA name", j.Version, j.TimeZone)
	}
	loc, err := time.LoadLocation(j.TimeZone)
	if err != nil {
		return fmt.Errorf("decode tariff %q: time zone: %w", j.Version, err)
	}
	out := Tariff{
		Version:          j.Version,
		Currency:         j.Currency,
		Location:         loc,
		FreeMinutes:      j.FreeMinutes,
		ExitGraceMinutes: j.ExitGraceMinutes,
		LostTicketFee:    j.LostTicketFee,
		Cap24h:           j.Cap24h,
		CapDay:           j.CapDay,
	}
	if j.Bands != nil {
		out.Bands = make([]Band, len(j.Bands))
	}
	for i, b := range j.Bands {
		from, err := ParseClock(b.From)
		if err != nil {
			return fmt.Errorf("decode tariff %q: bands[%d].from: %w", j.Version, i, err)
		}
		to, err := ParseClock(b.To)
		if err != nil {
			return fmt.Errorf("decode tariff %q: bands[%d].to: %w", j.Version, i, err)
		}
		out.Bands[i] = Band{
			Name:        b.Name,
			From:        from,
			To:          to,
			UnitMinutes: b.UnitMinutes,
			UnitPrice:   b.UnitPrice,
			Cap:         b.Cap,
		}
	}
	*t = out
	return nil
}
