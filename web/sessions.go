package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// Wire types of a session. The credential itself is left out: a ticket's
// ID is what lets its car out, and the session may be looked up by a
// space's placard or its session ID.
type (
	sessionJSON struct {
		ID            string     `json:"id"`
		Kind          string     `json:"kind"`  // ticket, key, list or space: how the session was opened
		State         string     `json:"state"` // open or closed
		Lane          string     `json:"lane,omitempty"`
		Space         string     `json:"space,omitempty"`
		EntryAt       time.Time  `json:"entry_at"`
		ExitAt        *time.Time `json:"exit_at,omitempty"`
		TariffVersion string     `json:"tariff_version"`
		Reserved      bool       `json:"reserved"`
		FeeExempt     bool       `json:"fee_exempt"`
		LostTicket    bool       `json:"lost_ticket"`
		Overridden    bool       `json:"overridden"`
	}
	dueJSON struct {
		Fee        int64      `json:"fee"`    // the whole fee accrued, minor units
		Paid       int64      `json:"paid"`   // paid so far
		Amount     int64      `json:"amount"` // still to pay before the car may leave
		InGrace    bool       `json:"in_grace"`
		GraceUntil *time.Time `json:"grace_until,omitempty"`
		Currency   string     `json:"currency"`
		// MayLeave: the session is open and nothing is due.
		MayLeave bool `json:"may_leave"`
	}
	quoteJSON struct {
		ID        string    `json:"id"`
		Amount    int64     `json:"amount"`
		At        time.Time `json:"at"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	checkoutJSON struct {
		ID        string    `json:"id"`
		QuoteID   string    `json:"quote_id"`
		StartedAt time.Time `json:"started_at"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	// sessionView is GET /api/v1/sessions/{ref}, and what a watch sends.
	sessionView struct {
		Session sessionJSON `json:"session"`
		Due     dueJSON     `json:"due"`
		// Checkout is the session's checkout in progress, and Quote the
		// amount it holds; both null when there is none.
		Checkout *checkoutJSON `json:"checkout"`
		Quote    *quoteJSON    `json:"quote"`
		At       time.Time     `json:"at"` // when Due was computed
	}
)

func utcPtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// toView maps a core session view to the wire.
func toView(v gateway.SessionView, at time.Time) sessionView {
	s, d := v.Session, v.Due
	kind, _, _ := strings.Cut(s.Credential, ":")
	return sessionView{
		Session: sessionJSON{ID: s.ID, Kind: kind, State: string(s.State), Lane: s.Lane, Space: s.Space,
			EntryAt: s.EntryAt.UTC(), ExitAt: utcPtr(s.ExitAt), TariffVersion: s.TariffVersion, Reserved: s.ReservationID != "",
			FeeExempt: s.FeeExempt, LostTicket: s.LostTicket, Overridden: s.Overridden},
		Due: dueJSON{Fee: d.Fee, Paid: d.Paid, Amount: d.Amount, InGrace: d.InGrace, GraceUntil: utcPtr(d.GraceUntil),
			Currency: d.Currency, MayLeave: s.State == gateway.SessionOpen && d.Amount == 0},
		At: at.UTC(),
	}
}

// view looks a session up with its checkout and quote in progress.
func (s *Server) view(ctx context.Context, ref string) (sessionView, error) {
	v, err := s.o.Gateway.LookupSession(ctx, ref)
	if err != nil {
		return sessionView{}, err
	}
	now := s.o.Clock.Now()
	out := toView(v, now)
	if v.Session.State != gateway.SessionOpen {
		return out, nil
	}
	err = s.o.Store.View(ctx, func(tx gateway.Tx) error {
		c, err := tx.ActiveCheckout(v.Session.ID, now)
		if gateway.KindOf(err) == gateway.NotFound {
			return nil
		} else if err != nil {
			return err
		}
		out.Checkout = &checkoutJSON{ID: c.ID, QuoteID: c.QuoteID, StartedAt: c.StartedAt.UTC(), ExpiresAt: c.ExpiresAt.UTC()}
		q, err := tx.Quote(c.QuoteID)
		if gateway.KindOf(err) == gateway.NotFound {
			return nil
		} else if err != nil {
			return err
		}
		out.Quote = &quoteJSON{ID: q.ID, Amount: q.Amount, At: q.At.UTC(), ExpiresAt: q.ExpiresAt.UTC()}
		return nil
	})
	if err != nil {
		return sessionView{}, fmt.Errorf("checkout of session %s: %w", v.Session.ID, err)
	}
	return out, nil
}

// getSession is GET /api/v1/sessions/{ref}.
func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	v, err := s.view(r.Context(), r.PathValue("ref"))
	if err != nil {
		s.fail(w, r, "look up session", err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}
