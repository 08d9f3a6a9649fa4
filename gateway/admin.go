package gateway

import (
	"context"
	"fmt"
	"strings"
)

// Override is an attendant's decision, always with a reason, always
// audited.
type Override struct {
	Operator string // who decided
	Reason   string // why; required
}

func (o Override) validate() error {
	if strings.TrimSpace(o.Operator) == "" {
		return Errorf(Invalid, "an override needs the operator's name")
	}
	if strings.TrimSpace(o.Reason) == "" {
		return Errorf(Invalid, "an override needs a reason")
	}
	return nil
}

// OverrideLane lets a car through a lane: the barrier rises and, at an
// exit, the car's open session (if ref names one) is closed as overridden,
// so it is listed among exits let through unpaid.
func (g *Gateway) OverrideLane(ctx context.Context, laneID, ref string, o Override) (Decision, error) {
	if err := o.validate(); err != nil {
		return Decision{}, err
	}
	ls, ok := g.lanes[laneID]
	if !ok {
		return Decision{}, Errorf(NotFound, "no lane %q", laneID)
	}
	now := g.clock.Now()
	d := Allow()
	d.Reason, d.Message = ReasonOverride, ReasonOverride.Message()
	freed := "" // the space whose session the override closed
	err := g.update(ctx, func(tx Tx, rec *recorder) error {
		freed = ""
		data := map[string]any{"lane": laneID, "operator": o.Operator, "reason": o.Reason}
		if ref != "" {
			s, err := findSession(tx, ref)
			if err != nil {
				return err
			}
			due, err := g.due(tx, s, now)
			if err != nil {
				return err
			}
			data["session_id"], data["unpaid"] = s.ID, due.Amount
			d.SessionID = s.ID
			s.Overridden = due.Amount > 0
			if ls.lane.Direction == Exit && s.State == SessionOpen {
				if err := g.closeSession(tx, rec, s, now, "override:"+laneID); err != nil {
					return err
				}
				freed = s.Space
				// The key's car left: clear its anti-passback state as
				// an exit with the key would.
				if keyID, ok := strings.CutPrefix(s.Credential, "key:"); ok {
					st, err := tx.KeyState(keyID)
					if err != nil {
						return err
					}
					if st.Inside {
						st.Inside = false
						if err := tx.PutKeyState(st); err != nil {
							return err
						}
					}
				}
			}
		}
		if err := rec.add(tx, now, EvOverride, data); err != nil {
			return err
		}
		d.Seq = rec.last()
		return nil
	})
	if err != nil {
		return Decision{}, fmt.Errorf("override lane %s: %w", laneID, err)
	}
	if freed != "" {
		// The car on that space is let go too: with its session closed
		// and its flap up, nothing else would ever lower it.
		g.releaseSpace(ctx, freed)
	}
	g.raise(ctx, ls)
	return d, nil
}

// ResetPassback clears a key's anti-passback state (the car left while the
// barrier was open for someone else, say) and closes the key's open
// session, marked overridden when something was still due.
func (g *Gateway) ResetPassback(ctx context.Context, keyID string, o Override) error {
	if err := o.validate(); err != nil {
		return err
	}
	now := g.clock.Now()
	return g.update(ctx, func(tx Tx, rec *recorder) error {
		st, err := tx.KeyState(keyID)
		if err != nil {
			return err
		}
		st.Inside = false
		if err := tx.PutKeyState(st); err != nil {
			return err
		}
		data := map[string]any{"key_id": keyID, "operator": o.Operator, "reason": o.Reason}
		// The car is gone: its session ends here, or entry would still
		// refuse the key for having an open session. What it owed is
		// listed as let through unpaid.
		s, err := tx.OpenSessionByCredential("key:" + keyID)
		if err == nil {
			due, err := g.due(tx, s, now)
			if err != nil {
				return err
			}
			s.Overridden = due.Amount > 0
			data["session_id"], data["unpaid"] = s.ID, due.Amount
			if err := g.closeSession(tx, rec, s, now, "passback_reset"); err != nil {
				return err
			}
		} else if KindOf(err) != NotFound {
			return err
		}
		return rec.add(tx, now, EvPassbackReset, data)
	})
}

// Revoke revokes a key. Revoking twice is not an error.
func (g *Gateway) Revoke(ctx context.Context, r Revocation) error {
	if r.KeyID == "" {
		return Errorf(Invalid, "revocation has no key ID")
	}
	now := g.clock.Now()
	if r.At.IsZero() {
		r.At = now
	}
	return g.update(ctx, func(tx Tx, rec *recorder) error {
		if err := tx.Revoke(r); err != nil {
			return err
		}
		return rec.add(tx, now, EvRevocation, map[string]any{"key_id": r.KeyID, "reason": r.Reason})
	})
}

// ListUpdate replaces the local list (Full) or patches it by difference.
// A differential update names the version it applies to (From); when that
// is not the stored version the update is refused with a Conflict that
// says both versions, so the sender sends a full list instead of the
// gateway guessing.
type ListUpdate struct {
	Full    bool
	From    int64 // for a differential update: the version it applies to
	Version int64 // the version after the update; must be greater than the stored one
	Upsert  []ListEntry
	Remove  []string
}

// VersionMismatchError reports a differential list update for another
// version than the stored one.
type VersionMismatchError struct {
	Have, Want int64
}

func (e *VersionMismatchError) Error() string {
	return fmt.Sprintf("local list is at version %d, update applies to version %d", e.Have, e.Want)
}

// UpdateList applies a local-list update.
func (g *Gateway) UpdateList(ctx context.Context, u ListUpdate) error {
	for i, e := range u.Upsert {
		if e.ID == "" {
			return Errorf(Invalid, "list entry %d has no ID", i)
		}
		switch e.Status {
		case ListAccepted, ListBlocked, ListExpired:
		default:
			return Errorf(Invalid, "list entry %q: unknown status %q", e.ID, e.Status)
		}
	}
	now := g.clock.Now()
	err := g.update(ctx, func(tx Tx, rec *recorder) error {
		have, err := tx.ListVersion()
		if err != nil {
			return err
		}
		if !u.Full && u.From != have {
			return &Error{Kind: Conflict, Message: "local list version mismatch", Err: &VersionMismatchError{Have: have, Want: u.From}}
		}
		if u.Version <= have {
			return Errorf(Conflict, "local list update to version %d is not newer than version %d", u.Version, have)
		}
		if u.Full {
			err = tx.ReplaceList(u.Version, u.Upsert)
		} else {
			err = tx.PatchList(u.Version, u.Upsert, u.Remove)
		}
		if err != nil {
			return err
		}
		return rec.add(tx, now, EvListUpdated, map[string]any{
			"full": u.Full, "from": have, "version": u.Version, "upserted": len(u.Upsert), "removed": len(u.Remove),
		})
	})
	if err != nil {
		return fmt.Errorf("update local list to version %d: %w", u.Version, err)
	}
	return nil
}

// PutReservation stores a reservation.
func (g *Gateway) PutReservation(ctx context.Context, r Reservation) error {
	if r.ID == "" || r.Credential == "" || !r.Until.After(r.From) {
		return Errorf(Invalid, "reservation needs an ID, a credential and From before Until")
	}
	return g.store.Update(ctx, func(tx Tx) error { return tx.PutReservation(r) })
}

// LostTicket opens a session charged the lost-ticket fee for a driver who
// lost the ticket, and returns it. The driver pays it like any session
// (its reference is "lost:<id>").
func (g *Gateway) LostTicket(ctx context.Context, laneID string, o Override) (SessionView, error) {
	if err := o.validate(); err != nil {
		return SessionView{}, err
	}
	if _, ok := g.lanes[laneID]; !ok {
		return SessionView{}, Errorf(NotFound, "no lane %q", laneID)
	}
	now := g.clock.Now()
	var v SessionView
	err := g.update(ctx, func(tx Tx, rec *recorder) error {
		s, err := g.newSession(tx, "lost:"+newID(10), now)
		if err != nil {
			return err
		}
		s.Lane, s.LostTicket = laneID, true
		if err := g.openSession(tx, rec, s, now); err != nil {
			return err
		}
		d, err := g.due(tx, s, now)
		if err != nil {
			return err
		}
		v = SessionView{Session: s, Due: d}
		return rec.add(tx, now, EvOverride, map[string]any{"lost_ticket": true, "lane": laneID, "session_id": s.ID,
			"operator": o.Operator, "reason": o.Reason, "fee": d.Fee})
	})
	return v, err
}

// SetClosed closes or reopens the site for entries.
func (g *Gateway) SetClosed(ctx context.Context, closed bool, o Override) error {
	if err := o.validate(); err != nil {
		return err
	}
	g.mu.Lock()
	g.closed = closed
	g.mu.Unlock()
	now := g.clock.Now()
	return g.update(ctx, func(tx Tx, rec *recorder) error {
		return rec.add(tx, now, EvCapacity, map[string]any{"closed": closed, "operator": o.Operator, "reason": o.Reason})
	})
}
