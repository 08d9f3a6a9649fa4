package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Reports for the operator: what left the site without being paid for.

// UnpaidExit is an exit let through without full payment (an attendant
// or remote override, a passback reset, a fire alarm…).
type UnpaidExit struct {
	SessionID  string    `json:"session_id"`
	Credential string    `json:"credential"`
	EntryAt    time.Time `json:"entry_at"`
	ExitAt     time.Time `json:"exit_at"`
	Fee        int64     `json:"fee"`    // what the stay cost at exit
	Paid       int64     `json:"paid"`   // what was paid
	Unpaid     int64     `json:"unpaid"` // what was let through unpaid
	Currency   string    `json:"currency"`
}

// UnpaidExits lists the exits let through unpaid with an exit time in
// [from, to) (zero bounds are open), for the operator's report.
func (g *Gateway) UnpaidExits(ctx context.Context, from, to time.Time) ([]UnpaidExit, error) {
	var out []UnpaidExit
	err := g.store.View(ctx, func(tx Tx) error {
		ss, err := tx.OverriddenSessions(from, to)
		if err != nil {
			return err
		}
		for _, s := range ss {
			full := s
			full.Overridden = false
			d, err := g.due(tx, full, s.ExitAt)
			if err != nil {
				return err
			}
			out = append(out, UnpaidExit{SessionID: s.ID, Credential: s.Credential, EntryAt: s.EntryAt, ExitAt: s.ExitAt,
				Fee: d.Fee, Paid: s.Paid, Unpaid: d.Amount, Currency: d.Currency})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("unpaid exits report: %w", err)
	}
	return out, nil
}

// UnverifiedExit is a vehicle that left through an exit the fire alarm
// held open, with no decision behind it: its session (if it had one) stays
// open until an attendant closes it.
type UnverifiedExit struct {
	Seq   uint64    `json:"seq"` // the exit.unverified event
	Lane  string    `json:"lane"`
	At    time.Time `json:"at"`
	Cause string    `json:"cause"`
}

// UnverifiedExits lists the exit.unverified events with a time in [from,
// to) (zero bounds are open), for the operator's report. It reads the
// whole event log: a report, not a decision.
func (g *Gateway) UnverifiedExits(ctx context.Context, from, to time.Time) ([]UnverifiedExit, error) {
	const batch = 1000
	var out []UnverifiedExit
	err := g.store.View(ctx, func(tx Tx) error {
		for next := uint64(1); ; {
			evs, err := tx.Events(next, batch)
			if err != nil {
				return err
			}
			for _, e := range evs {
				next = e.Seq + 1
				if e.Type != EvExitUnverified || (!from.IsZero() && e.Time.Before(from)) || (!to.IsZero() && !e.Time.Before(to)) {
					continue
				}
				u := UnverifiedExit{Seq: e.Seq, At: e.Time}
				var d struct{ Lane, Cause string }
				if !e.Redacted {
					if err := json.Unmarshal(e.Data, &d); err != nil {
						return fmt.Errorf("event %d: %w", e.Seq, err)
					}
				}
				u.Lane, u.Cause = d.Lane, d.Cause
				out = append(out, u)
			}
			if len(evs) < batch {
				return nil
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("unverified exits report: %w", err)
	}
	return out, nil
}
