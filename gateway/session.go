package gateway

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
)

// Due is what a session owes at a moment.
type Due struct {
	Fee     int64 // the whole fee accrued from entry (or the lost-ticket fee)
	Paid    int64
	Amount  int64 // what must still be paid before the car may leave; 0 when it may
	InGrace bool  // nothing is due because the exit grace after a payment runs
	// GraceUntil is when the grace after the last payment ends (zero when
	// there was no payment).
	GraceUntil time.Time
	Currency   string
}

// due computes what a session owes at t, by the tariff version it started
// under. It is the one place the exit rule lives: the car may leave when
// nothing is due, or within the exit grace after a payment that settled
// everything due at the time it covered.
func (g *Gateway) due(tx Tx, s Session, t time.Time) (Due, error) {
	tf, err := g.tariffFor(tx, s.TariffVersion)
	if err != nil {
		return Due{}, err
	}
	d := Due{Paid: s.Paid, Currency: tf.Currency}
	if s.State == SessionClosed && !s.ExitAt.IsZero() && t.After(s.ExitAt) {
		// The car left: the session owes what it owed then, however long
		// ago that was.
		t = s.ExitAt
	}
	if s.State == SessionOpen {
		// A clock behind the latest trusted time (a Pi after a power cut
		// with no network) must not shorten a stay: fees run to the later
		// of the two.
		g.mu.Lock()
		if g.trustedLoaded && t.Before(g.trusted) {
			t = g.trusted
		}
		g.mu.Unlock()
	}
	if s.FeeExempt || s.Overridden {
		return d, nil
	}
	var res *Reservation
	if s.ReservationID != "" {
		// A prepaid reservation covers its window; overstay is charged
		// from the tariff from the reservation's end.
		r, err := tx.Reservation(s.ReservationID)
		switch {
		case err == nil && r.Prepaid:
			res = &r
		case err != nil && KindOf(err) != NotFound:
			return Due{}, err
		}
	}
	fee := func(until time.Time) int64 {
		switch {
		case s.LostTicket:
			return tf.LostTicketFee
		case res != nil:
			if !until.After(res.Until.Add(g.site.Policy.ReservationLate)) {
				return 0
			}
			return tf.Total(res.Until, until)
		default:
			return tf.Total(s.EntryAt, until)
		}
	}
	d.Fee = fee(t)
	d.Amount = max(0, d.Fee-s.Paid)
	if !s.PaidAt.IsZero() {
		d.GraceUntil = s.PaidAt.Add(time.Duration(tf.ExitGraceMinutes) * time.Minute)
		through := s.PaidThrough
		if through.IsZero() {
			through = s.PaidAt
		}
		if d.Amount > 0 && !t.After(d.GraceUntil) && fee(through) <= s.Paid {
			d.Amount, d.InGrace = 0, true
		}
	}
	return d, nil
}

// SessionView is a session with what it owes now.
type SessionView struct {
	Session Session
	Due     Due
}

// LookupSession finds a session by ID or, failing that, as the open session
// of a credential or reference ("ticket:…", "space:…", "key:…", or a
// ticket's QR text).
func (g *Gateway) LookupSession(ctx context.Context, ref string) (SessionView, error) {
	now := g.clock.Now()
	var v SessionView
	err := g.store.View(ctx, func(tx Tx) error {
		s, err := findSession(tx, ref)
		if err != nil {
			return err
		}
		d, err := g.due(tx, s, now)
		if err != nil {
			return err
		}
		v = SessionView{Session: s, Due: d}
		return nil
	})
	return v, err
}

// findSession resolves a reference to a session.
func findSession(tx Tx, ref string) (Session, error) {
	if kind, id := classify(ref); kind == credTicket {
		ref = "ticket:" + id
	}
	if s, err := tx.Session(ref); err == nil {
		return s, nil
	} else if KindOf(err) != NotFound {
		return Session{}, err
	}
	s, err := tx.OpenSessionByCredential(ref)
	if err != nil {
		if KindOf(err) == NotFound {
			return Session{}, &Error{Kind: NotFound, Message: fmt.Sprintf("no session for %q", ref), Err: err}
		}
		return Session{}, err
	}
	return s, nil
}

// Quote quotes the amount due for a session; the amount holds for the
// site's quote hold time.
func (g *Gateway) Quote(ctx context.Context, ref string) (Quote, Due, error) {
	now := g.clock.Now()
	var q Quote
	var d Due
	err := g.update(ctx, func(tx Tx, rec *recorder) error {
		s, err := findSession(tx, ref)
		if err != nil {
			return err
		}
		q, d, err = g.quote(tx, rec, s, now)
		return err
	})
	return q, d, err
}

func (g *Gateway) quote(tx Tx, rec *recorder, s Session, now time.Time) (Quote, Due, error) {
	if s.State != SessionOpen {
		return Quote{}, Due{}, Errorf(Conflict, "session %s is closed", s.ID)
	}
	d, err := g.due(tx, s, now)
	if err != nil {
		return Quote{}, Due{}, err
	}
	q := Quote{ID: "q-" + newID(12), SessionID: s.ID, Amount: d.Amount, At: now, ExpiresAt: now.Add(g.site.Policy.QuoteHold)}
	if err := tx.PutQuote(q); err != nil {
		return Quote{}, Due{}, err
	}
	err = rec.add(tx, now, EvQuote, map[string]any{
		"quote_id": q.ID, "session_id": s.ID, "amount": q.Amount, "currency": d.Currency, "expires_at": q.ExpiresAt,
	})
	return q, d, err
}

// BeginCheckout starts an electronic payment for a session: it quotes the
// amount due and locks the session so that a second checkout is refused
// (Conflict) until this one completes, is cancelled or times out.
func (g *Gateway) BeginCheckout(ctx context.Context, ref string) (Checkout, Quote, error) {
	now := g.clock.Now()
	var c Checkout
	var q Quote
	err := g.update(ctx, func(tx Tx, rec *recorder) error {
		s, err := findSession(tx, ref)
		if err != nil {
			return err
		}
		if active, err := tx.ActiveCheckout(s.ID, now); err == nil {
			return Errorf(Conflict, "a checkout for this session is already in progress until %s", active.ExpiresAt.Format(time.RFC3339))
		} else if KindOf(err) != NotFound {
			return err
		}
		q, _, err = g.quote(tx, rec, s, now)
		if err != nil {
			return err
		}
		if q.Amount == 0 {
			return Errorf(Conflict, "nothing is due for this session")
		}
		c = Checkout{ID: "co-" + newID(12), SessionID: s.ID, QuoteID: q.ID, StartedAt: now, ExpiresAt: now.Add(g.site.Policy.CheckoutTimeout)}
		if err := tx.PutCheckout(c); err != nil {
			return err
		}
		return rec.add(tx, now, EvCheckout, map[string]any{
			"checkout_id": c.ID, "session_id": s.ID, "quote_id": q.ID, "amount": q.Amount, "expires_at": c.ExpiresAt,
		})
	})
	return c, q, err
}

// CancelCheckout releases a session's checkout lock.
func (g *Gateway) CancelCheckout(ctx context.Context, checkoutID string) error {
	now := g.clock.Now()
	return g.update(ctx, func(tx Tx, rec *recorder) error {
		c, err := tx.Checkout(checkoutID)
		if err != nil {
			return err
		}
		if c.Done {
			return nil
		}
		c.Done = true
		if err := tx.PutCheckout(c); err != nil {
			return err
		}
		return rec.add(tx, now, EvCheckout, map[string]any{"checkout_id": c.ID, "session_id": c.SessionID, "cancelled": true})
	})
}

// PaymentIn is a payment to apply.
type PaymentIn struct {
	ID         string // unique; a payment ID is applied at most once
	Ref        string // session ID, credential, or ticket text
	Method     PaymentMethod
	Amount     int64
	At         time.Time // when the payment was made; zero means now
	QuoteID    string
	CheckoutID string
}

// PaymentResult says what applying a payment did.
type PaymentResult struct {
	Payment   Payment
	Duplicate bool // the payment ID was applied before; nothing changed
	SessionID string
	Due       Due // what is due after the payment
	Settled   bool
	Seq       uint64
}

// ApplyPayment applies a cash or electronic payment to a session, exactly
// once per payment ID. After the payment is durably recorded it lifts the
// exit restriction (a flap lowers) and tells the pay station the session is
// settled. A payment below what is due leaves the difference due; a payment
// against an expired quote is applied and what accrued since stays due.
func (g *Gateway) ApplyPayment(ctx context.Context, in PaymentIn) (PaymentResult, error) {
	if in.ID == "" {
		return PaymentResult{}, Errorf(Invalid, "payment has no ID")
	}
	if in.Amount <= 0 {
		return PaymentResult{}, Errorf(Invalid, "payment %s: amount must be positive, got %d", in.ID, in.Amount)
	}
	if in.Method != PayCash && in.Method != PayEPayment {
		return PaymentResult{}, Errorf(Invalid, "payment %s: unknown method %q", in.ID, in.Method)
	}
	now := g.clock.Now()
	if in.At.IsZero() {
		in.At = now
	}
	var res PaymentResult
	var sess Session
	if err := g.update(ctx, g.paymentTx(in, now, &res, &sess)); err != nil {
		return PaymentResult{}, fmt.Errorf("apply payment %s: %w", in.ID, err)
	}
	// A payment for a session that already ended (a late e-payment for a
	// car the fire alarm let go) lifts nothing: its space may hold the
	// next car by now.
	if !res.Duplicate && res.Settled && sess.State == SessionOpen {
		g.afterSettled(ctx, sess, in.Method)
	}
	return res, nil
}

// paymentTx is ApplyPayment's transaction; cloud sync also runs it in the
// transaction that stores a payment completion (one fsync before the
// barrier moves). in has passed ApplyPayment's checks and has At set.
// After the commit the caller lifts the exit restriction as ApplyPayment
// does.
func (g *Gateway) paymentTx(in PaymentIn, now time.Time, res *PaymentResult, sess *Session) func(Tx, *recorder) error {
	return func(tx Tx, rec *recorder) error {
		*res = PaymentResult{}
		if old, err := tx.Payment(in.ID); err == nil {
			s, err := tx.Session(old.SessionID)
			if err != nil {
				return err
			}
			// The same payment delivered again is a duplicate. Another
			// payment under a used ID (a pay station whose transaction
			// counter restarted) is refused, not swallowed: its money
			// would vanish without a trace.
			if old.Amount != in.Amount || old.Method != in.Method || !refersTo(s, in.Ref) {
				return Errorf(Conflict, "payment ID %s was already used for %s %d on session %s; refusing %s %d for %q",
					in.ID, old.Method, old.Amount, old.SessionID, in.Method, in.Amount, in.Ref)
			}
			*res = PaymentResult{Payment: old, Duplicate: true, SessionID: old.SessionID}
			if res.Due, err = g.due(tx, s, now); err != nil {
				return err
			}
			res.Settled = res.Due.Amount == 0
			if err := rec.add(tx, now, EvPaymentDup, map[string]any{"payment_id": in.ID, "session_id": old.SessionID}); err != nil {
				return err
			}
			res.Seq = rec.last()
			return nil
		} else if KindOf(err) != NotFound {
			return err
		}
		s, err := findSession(tx, in.Ref)
		if err != nil {
			return err
		}
		dueBefore, err := g.due(tx, s, now)
		if err != nil {
			return err
		}
		if s.Paid > math.MaxInt64-in.Amount {
			return Errorf(Invalid, "payment %s: amount %d would overflow session %s's total paid %d", in.ID, in.Amount, s.ID, s.Paid)
		}
		p := Payment{ID: in.ID, SessionID: s.ID, Method: in.Method, Amount: in.Amount, At: in.At, QuoteID: in.QuoteID, CheckoutID: in.CheckoutID}
		if err := tx.InsertPayment(p); err != nil {
			return err
		}
		through := in.At
		if in.QuoteID != "" {
			q, err := tx.Quote(in.QuoteID)
			switch {
			case err == nil && q.SessionID == s.ID && !in.At.After(q.ExpiresAt):
				// A quote holds: the fee is settled up to when it was quoted.
				through = q.At
			case err != nil && KindOf(err) != NotFound:
				return err
			}
		}
		s.Paid += in.Amount
		// Payments may be applied out of order (an e-payment completion
		// delayed while the site was offline, a pay station reporting
		// late): an earlier one must not shorten the grace or the
		// settled period a later one already gave.
		if in.At.After(s.PaidAt) {
			s.PaidAt = in.At
		}
		if through.After(s.PaidThrough) {
			s.PaidThrough = through
		}
		if err := tx.PutSession(s); err != nil {
			return err
		}
		if in.CheckoutID != "" {
			// Only the paid session's own checkout ends: another
			// session's stays locked against a second payment.
			if c, err := tx.Checkout(in.CheckoutID); err == nil && !c.Done && c.SessionID == s.ID {
				c.Done = true
				if err := tx.PutCheckout(c); err != nil {
					return err
				}
			}
		}
		d, err := g.due(tx, s, now)
		if err != nil {
			return err
		}
		*res = PaymentResult{Payment: p, SessionID: s.ID, Due: d, Settled: d.Amount == 0}
		*sess = s
		if err := rec.add(tx, now, EvPayment, map[string]any{
			"payment_id": p.ID, "session_id": s.ID, "method": p.Method, "amount": p.Amount,
			"currency": d.Currency, "paid_total": s.Paid, "due_after": d.Amount, "settled": res.Settled,
			"quote_id": p.QuoteID, "checkout_id": p.CheckoutID,
			// Paid twice over (cash at the station during a phone checkout,
			// say): the surplus is listed for the operator to refund.
			"overpaid": max(0, s.Paid-d.Fee),
		}); err != nil {
			return err
		}
		res.Seq = rec.last()
		if over := in.Amount - dueBefore.Amount; over > 0 {
			// More than was due (cash at the station during a phone
			// checkout, say): an alarm, so the operator refunds it.
			if err := rec.add(tx, now, EvAlarm, map[string]any{"alarm": "overpaid", "session_id": s.ID,
				"payment_id": p.ID, "method": p.Method, "amount": in.Amount, "due_before": dueBefore.Amount,
				"overpaid": over, "currency": d.Currency}); err != nil {
				return err
			}
		}
		return nil
	}
}

// refersTo reports whether ref names session s by any of the references
// findSession accepts, whether s is still open or not.
func refersTo(s Session, ref string) bool {
	if kind, id := classify(ref); kind == credTicket {
		ref = "ticket:" + id
	}
	return ref == s.ID || ref == s.Credential
}

// afterSettled lifts the exit restriction of a settled session.
// The devices move in the background (inBackground): the payment is
// already durable, and a jammed flap or a pay station that does not answer
// must not hold up whoever delivered the payment.
func (g *Gateway) afterSettled(ctx context.Context, s Session, method PaymentMethod) {
	tellPayStation := method != PayCash && g.act.PayStation != nil && g.site.PayStation != nil
	if !tellPayStation && s.Space == "" {
		return
	}
	g.inBackground(ctx, func(ctx context.Context) {
		if tellPayStation {
			_ = g.actuate(ctx, g.site.PayStation.Device, "settled "+payRef(s), func(ctx context.Context) error {
				return g.act.PayStation.Settled(ctx, payRef(s))
			})
		}
		if s.Space != "" {
			g.releaseSpace(ctx, s.Space)
		}
	})
}

// payRef is the reference the pay station knows a session by: the one it
// reports cash payments with (CashPayment.Ref). For a ticket that is the
// ticket's QR text, which is what the pay station reads off the ticket.
func payRef(s Session) string {
	if s.Space != "" {
		return "space:" + s.Space
	}
	if id, ok := strings.CutPrefix(s.Credential, "ticket:"); ok {
		return TicketPrefix + id
	}
	return s.Credential
}

// newSession builds a session opened now under the current tariff.
func (g *Gateway) newSession(tx Tx, cred string, at time.Time) (Session, error) {
	s := Session{
		ID: "s-" + newID(12), Credential: cred, EntryAt: at, State: SessionOpen,
		TariffVersion: g.CurrentTariff().Version,
	}
	p := g.site.Policy
	if r, err := tx.ReservationFor(cred, at, p.ReservationEarly, p.ReservationLate); err == nil {
		s.ReservationID = r.ID
	} else if KindOf(err) != NotFound {
		return Session{}, err
	}
	return s, nil
}

// openSession stores a new session and its event.
func (g *Gateway) openSession(tx Tx, rec *recorder, s Session, now time.Time) error {
	if err := tx.PutSession(s); err != nil {
		return fmt.Errorf("open session %s: %w", s.ID, err)
	}
	return rec.add(tx, now, EvSessionOpened, map[string]any{
		"session_id": s.ID, "credential": s.Credential, "lane": s.Lane, "space": s.Space,
		"entry_at": s.EntryAt, "tariff_version": s.TariffVersion, "reservation_id": s.ReservationID,
	})
}

// closeSession marks a session closed at now and records it.
func (g *Gateway) closeSession(tx Tx, rec *recorder, s Session, now time.Time, how string) error {
	s.State = SessionClosed
	s.ExitAt = now
	if err := tx.PutSession(s); err != nil {
		return fmt.Errorf("close session %s: %w", s.ID, err)
	}
	return rec.add(tx, now, EvSessionClosed, map[string]any{
		"session_id": s.ID, "credential": s.Credential, "exit_at": now, "paid": s.Paid, "how": how,
		"overridden": s.Overridden,
	})
}
