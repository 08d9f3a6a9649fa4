package gateway_test

import (
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// The example tariff in the day band: 30-minute units at 150, the first 15
// minutes free, 15 minutes' grace after a payment. The harness starts at
// 10:00.

// TestTicketCashExit is the cash flow end to end: a ticket at the entry,
// the fee, cash at the pay station, the exit scan.
func TestTicketCashExit(t *testing.T) {
	h := newHarness(t)
	text := h.ticket()
	if len(text) <= len(gateway.TicketPrefix) || text[:len(gateway.TicketPrefix)] != gateway.TicketPrefix {
		t.Fatalf("ticket text %q; want the %s prefix", text, gateway.TicketPrefix)
	}
	entry := h.now()
	v := h.session(text)
	if v.Session.State != gateway.SessionOpen || !v.Session.EntryAt.Equal(entry) || v.Session.Lane != "in-1" {
		t.Fatalf("ticket session: got %+v; want open at in-1 since %v", v.Session, entry)
	}
	if v.Due.Amount != 0 {
		t.Errorf("due at entry: %d; want 0", v.Due.Amount)
	}

	h.clock.Advance(10 * time.Minute)
	if v := h.session(text); v.Due.Amount != 0 {
		t.Errorf("due after 10 min (free minutes): %d; want 0", v.Due.Amount)
	}
	h.clock.Advance(100 * time.Minute) // 11:50: units at 10:00, 10:30, 11:00, 11:30
	v = h.session(text)
	if v.Due.Amount != 600 || v.Due.Fee != 600 || v.Due.Currency != "EUR" {
		t.Fatalf("due at 11:50: got %+v; want 600 EUR", v.Due)
	}
	// The exit refuses the unpaid ticket.
	h.sensor("out-1-loop", true)
	d := h.present("out-1", text)
	wantDecision(t, "exit before paying", d, false, gateway.ReasonPaymentDue)
	if d.Due != 600 {
		t.Errorf("exit before paying: due %d; want 600", d.Due)
	}
	h.wantRecorded("exit before paying", d, gateway.EvExit)
	h.wantBarrier("exit before paying", "out-1-barrier", false)

	tx, err := h.sim.PayCash(h.ctx, text, 600)
	if err != nil {
		t.Fatalf("PayCash: %v", err)
	}
	v = h.session(text)
	if v.Session.Paid != 600 || v.Due.Amount != 0 {
		t.Fatalf("after paying cash: paid %d, due %d; want 600, 0", v.Session.Paid, v.Due.Amount)
	}
	pays := h.eventsOf(gateway.EvPayment, 0)
	if len(pays) != 1 {
		t.Fatalf("payment.applied events: %d; want 1", len(pays))
	}
	if m := eventData(t, pays[0]); m["payment_id"] != "cash-"+tx || m["method"] != "cash" || m["amount"] != 600.0 || m["settled"] != true {
		t.Errorf("payment event: %s; want cash-%s, cash, 600, settled", pays[0].Data, tx)
	}
	if h.sim.PayStationSettled(text) {
		t.Errorf("the pay station was told a cash payment it took was settled elsewhere")
	}

	h.clock.Advance(3 * time.Minute)
	if err := h.sim.Scan(h.ctx, "out-1-scanner", text); err != nil {
		t.Fatal(err)
	}
	h.wantBarrier("exit after paying", "out-1-barrier", true)
	v = h.session(v.Session.ID)
	if v.Session.State != gateway.SessionClosed || !v.Session.ExitAt.Equal(h.now()) {
		t.Errorf("session after the exit: %+v; want closed at %v", v.Session, h.now())
	}
	h.sensor("out-1-loop", false)
	h.wantBarrier("car left", "out-1-barrier", false)

	// The ticket does not open the exit a second time.
	d = h.present("out-2", text)
	wantDecision(t, "ticket again", d, false, gateway.ReasonNoSession)
	h.wantBarrier("ticket again", "out-2-barrier", false)
}

// enterWithTicket issues a ticket at the harness's current time.
func enterWithTicket(h *harness) (string, gateway.Session) {
	h.t.Helper()
	text := h.ticket()
	return text, h.session(text).Session
}

// TestGraceAfterPayment pays at 10:50 for two units; a third unit starts at
// 11:00. Leaving within the grace costs nothing more; overstaying owes
// exactly what accrued since the payment.
func TestGraceAfterPayment(t *testing.T) {
	for _, c := range []struct {
		name    string
		leaveAt time.Duration // after the payment
		wantDue int64
	}{
		{"in grace after a new unit", 14 * time.Minute, 0},
		{"at the end of the grace", 15 * time.Minute, 0},
		{"past the grace", 16 * time.Minute, 150},
		{"past the grace and another unit", 41 * time.Minute, 300},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			text, s := enterWithTicket(h)
			h.clock.Advance(50 * time.Minute)
			if v := h.session(text); v.Due.Amount != 300 {
				t.Fatalf("due at 10:50: %d; want 300", v.Due.Amount)
			}
			r := h.pay(gateway.PaymentIn{ID: "ep-1", Ref: text, Method: gateway.PayEPayment, Amount: 300})
			if !r.Settled || r.Due.Amount != 0 || r.SessionID != s.ID {
				t.Fatalf("payment: %+v; want settled for %s", r, s.ID)
			}
			if !h.sim.PayStationSettled(text) {
				t.Errorf("after an e-payment the pay station was not told %s is settled", text)
			}
			h.clock.Advance(c.leaveAt)
			d := h.present("out-1", text)
			if c.wantDue == 0 {
				wantDecision(t, "exit", d, true, gateway.ReasonOK)
				h.wantBarrier("exit", "out-1-barrier", true)
				return
			}
			wantDecision(t, "exit", d, false, gateway.ReasonPaymentDue)
			if d.Due != c.wantDue {
				t.Errorf("exit: due %d; want %d", d.Due, c.wantDue)
			}
			h.wantRecorded("exit", d, gateway.EvExit)
			h.wantBarrier("exit", "out-1-barrier", false)
			// Paying the difference lets the car out.
			h.pay(gateway.PaymentIn{ID: "ep-2", Ref: text, Method: gateway.PayEPayment, Amount: c.wantDue})
			wantDecision(t, "exit after paying the rest", h.present("out-1", text), true, gateway.ReasonOK)
		})
	}
}

// TestDuplicatePayment delivers the same payment twice, both as a cash
// redelivery from the pay station and as an e-payment applied twice.
func TestDuplicatePayment(t *testing.T) {
	h := newHarness(t)
	text, s := enterWithTicket(h)
	h.clock.Advance(50 * time.Minute)

	tx, err := h.sim.PayCash(h.ctx, text, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.sim.RedeliverCash(h.ctx, tx); err != nil {
		t.Fatal(err)
	}
	if v := h.session(s.ID); v.Session.Paid != 100 || v.Due.Amount != 200 {
		t.Errorf("after a redelivered cash payment: paid %d, due %d; want 100, 200", v.Session.Paid, v.Due.Amount)
	}

	in := gateway.PaymentIn{ID: "ep-7", Ref: s.ID, Method: gateway.PayEPayment, Amount: 200}
	first := h.pay(in)
	if first.Duplicate || !first.Settled {
		t.Errorf("first e-payment: %+v; want applied and settled", first)
	}
	second := h.pay(in)
	if !second.Duplicate || second.Payment.Amount != 200 || second.SessionID != s.ID {
		t.Errorf("second e-payment: %+v; want a duplicate of the 200 payment for %s", second, s.ID)
	}
	if v := h.session(s.ID); v.Session.Paid != 300 {
		t.Errorf("paid total after duplicates: %d; want 300", v.Session.Paid)
	}
	if n := len(h.eventsOf(gateway.EvPayment, 0)); n != 2 {
		t.Errorf("payment.applied events: %d; want 2 (one cash, one e-payment)", n)
	}
	if n := len(h.eventsOf(gateway.EvPaymentDup, 0)); n != 2 {
		t.Errorf("payment.duplicate events: %d; want 2", n)
	}
	settled := 0
	for _, e := range h.sim.History("paystation") {
		if e == "settled "+text {
			settled++
		}
	}
	if settled != 1 {
		t.Errorf("pay station told settled %d times; want 1 (history %v)", settled, h.sim.History("paystation"))
	}
}

// TestPaymentInvalid refuses payments without an ID, amount or method.
func TestPaymentInvalid(t *testing.T) {
	h := newHarness(t)
	text, _ := enterWithTicket(h)
	for _, in := range []gateway.PaymentIn{
		{Ref: text, Method: gateway.PayCash, Amount: 100},
		{ID: "p", Ref: text, Method: gateway.PayCash},
		{ID: "p", Ref: text, Method: gateway.PayCash, Amount: -5},
		{ID: "p", Ref: text, Method: "cheque", Amount: 100},
	} {
		if _, err := h.gw.ApplyPayment(h.ctx, in); gateway.KindOf(err) != gateway.Invalid {
			t.Errorf("ApplyPayment(%+v): got %v; want an Invalid error", in, err)
		}
	}
	_, err := h.gw.ApplyPayment(h.ctx, gateway.PaymentIn{ID: "p", Ref: "ticket:NOSUCH", Method: gateway.PayCash, Amount: 100})
	if gateway.KindOf(err) != gateway.NotFound {
		t.Errorf("payment for an unknown ticket: got %v; want NotFound", err)
	}
}

// TestCheckoutLock starts two checkouts for one session.
func TestCheckoutLock(t *testing.T) {
	h := newHarness(t)
	text, s := enterWithTicket(h)
	h.clock.Advance(50 * time.Minute)

	c1, q1, err := h.gw.BeginCheckout(h.ctx, text)
	if err != nil {
		t.Fatalf("first checkout: %v", err)
	}
	if c1.SessionID != s.ID || q1.Amount != 300 || c1.QuoteID != q1.ID {
		t.Errorf("first checkout: %+v quote %+v; want session %s, amount 300", c1, q1, s.ID)
	}
	if _, _, err := h.gw.BeginCheckout(h.ctx, text); gateway.KindOf(err) != gateway.Conflict {
		t.Fatalf("second checkout while the first runs: got %v; want a Conflict", err)
	}
	// Cancelled: a new one may start.
	if err := h.gw.CancelCheckout(h.ctx, c1.ID); err != nil {
		t.Fatalf("CancelCheckout: %v", err)
	}
	c2, q2, err := h.gw.BeginCheckout(h.ctx, s.ID)
	if err != nil {
		t.Fatalf("checkout after the cancel: %v", err)
	}
	// Completed (here with a partial payment, so something stays due): a
	// new one may start.
	r := h.pay(gateway.PaymentIn{ID: "ep-1", Ref: s.ID, Method: gateway.PayEPayment, Amount: 100, QuoteID: q2.ID, CheckoutID: c2.ID})
	if r.Settled || r.Due.Amount != 200 {
		t.Errorf("partial checkout payment: %+v; want 200 still due", r)
	}
	c3, q3, err := h.gw.BeginCheckout(h.ctx, s.ID)
	if err != nil {
		t.Fatalf("checkout after a completed one: %v", err)
	}
	if q3.Amount != 200 {
		t.Errorf("third quote: %d; want 200", q3.Amount)
	}
	// Abandoned: it locks the session until the checkout timeout.
	h.clock.Advance(h.site.Policy.CheckoutTimeout - time.Second)
	if _, _, err := h.gw.BeginCheckout(h.ctx, s.ID); gateway.KindOf(err) != gateway.Conflict {
		t.Fatalf("checkout just before the timeout: got %v; want a Conflict", err)
	}
	h.clock.Advance(time.Second)
	c4, _, err := h.gw.BeginCheckout(h.ctx, s.ID)
	if err != nil {
		t.Fatalf("checkout after the timeout of %s: %v", c3.ID, err)
	}
	if c4.ID == c3.ID {
		t.Errorf("new checkout reuses ID %s", c4.ID)
	}
	if n := len(h.eventsOf(gateway.EvCheckout, 0)); n != 5 {
		t.Errorf("checkout.started events: %d; want 5 (4 started, 1 cancelled)", n)
	}
	// Nothing due: no checkout.
	h2 := newHarness(t)
	text2, _ := enterWithTicket(h2)
	if _, _, err := h2.gw.BeginCheckout(h2.ctx, text2); gateway.KindOf(err) != gateway.Conflict {
		t.Errorf("checkout with nothing due: got %v; want a Conflict", err)
	}
}

// TestQuoteHonoured pays a quoted amount within the quote hold after a new
// unit began: the quote settles the session.
func TestQuoteHonoured(t *testing.T) {
	h := newHarness(t)
	text, s := enterWithTicket(h)
	h.clock.Advance(28 * time.Minute) // 10:28: one unit
	q, d, err := h.gw.Quote(h.ctx, text)
	if err != nil {
		t.Fatalf("Quote: %v", err)
	}
	if q.Amount != 150 || d.Amount != 150 || !q.ExpiresAt.Equal(h.now().Add(h.site.Policy.QuoteHold)) {
		t.Fatalf("quote at 10:28: %+v; want 150 holding for %s", q, h.site.Policy.QuoteHold)
	}
	h.clock.Advance(7 * time.Minute) // 10:35: a second unit started
	if v := h.session(text); v.Due.Amount != 300 {
		t.Fatalf("due at 10:35: %d; want 300", v.Due.Amount)
	}
	r := h.pay(gateway.PaymentIn{ID: "ep-q", Ref: s.ID, Method: gateway.PayEPayment, Amount: q.Amount, QuoteID: q.ID})
	if !r.Settled || r.Due.Amount != 0 {
		t.Fatalf("payment of the quote: %+v; want settled", r)
	}
	wantDecision(t, "exit", h.present("out-1", text), true, gateway.ReasonOK)

	// A quote that ran out settles only what it covered.
	h2 := newHarness(t)
	text2, s2 := enterWithTicket(h2)
	h2.clock.Advance(28 * time.Minute)
	q2, _, err := h2.gw.Quote(h2.ctx, text2)
	if err != nil {
		t.Fatal(err)
	}
	h2.clock.Advance(h2.site.Policy.QuoteHold + time.Minute) // 10:39
	r2 := h2.pay(gateway.PaymentIn{ID: "ep-late", Ref: s2.ID, Method: gateway.PayEPayment, Amount: q2.Amount, QuoteID: q2.ID})
	if r2.Settled || r2.Due.Amount != 150 {
		t.Errorf("payment of an expired quote: %+v; want 150 still due", r2)
	}
}

// TestPartialEPayment leaves the difference due.
func TestPartialEPayment(t *testing.T) {
	h := newHarness(t)
	text, s := enterWithTicket(h)
	h.clock.Advance(80 * time.Minute) // 11:20: three units
	r := h.pay(gateway.PaymentIn{ID: "ep-1", Ref: text, Method: gateway.PayEPayment, Amount: 250})
	if r.Settled || r.Due.Amount != 200 || r.Due.Paid != 250 {
		t.Fatalf("payment of 250 of 450: %+v; want 200 still due", r)
	}
	if h.sim.PayStationSettled(text) {
		t.Errorf("the pay station was told a partly paid session is settled")
	}
	d := h.present("out-1", text)
	wantDecision(t, "exit", d, false, gateway.ReasonPaymentDue)
	if d.Due != 200 || d.SessionID != s.ID {
		t.Errorf("exit: due %d for %s; want 200 for %s", d.Due, d.SessionID, s.ID)
	}
}

// TestLostTicket charges the lost-ticket fee.
func TestLostTicket(t *testing.T) {
	h := newHarness(t)
	if _, err := h.gw.LostTicket(h.ctx, "out-1", gateway.Override{Operator: "anna"}); gateway.KindOf(err) != gateway.Invalid {
		t.Errorf("lost ticket without a reason: got %v; want Invalid", err)
	}
	v, err := h.gw.LostTicket(h.ctx, "out-1", attendant)
	if err != nil {
		t.Fatalf("LostTicket: %v", err)
	}
	if v.Due.Amount != 2500 || !v.Session.LostTicket {
		t.Fatalf("lost ticket: %+v; want 2500 due", v)
	}
	h.clock.Advance(30 * time.Hour) // the fee does not grow
	if got := h.session(v.Session.ID); got.Due.Amount != 2500 {
		t.Errorf("lost ticket a day later: due %d; want 2500", got.Due.Amount)
	}
	r := h.pay(gateway.PaymentIn{ID: "cash-lost", Ref: v.Session.ID, Method: gateway.PayCash, Amount: 2500})
	if !r.Settled {
		t.Errorf("lost-ticket payment: %+v; want settled", r)
	}
}

// smallSite has room for two cars.
func smallSite(s *gateway.Site) { s.Capacity.Spaces = 2 }

// TestSiteFull fills a two-car site; a car with a reservation still
// enters.
func TestSiteFull(t *testing.T) {
	h := newHarness(t, smallSite)
	first := h.ticket()
	h.ticket()
	if st, n, err := h.gw.Occupancy(h.ctx); err != nil || st != gateway.Full || n != 2 {
		t.Errorf("Occupancy: got %s, %d, %v; want full, 2", st, n, err)
	}
	h.sensor("in-1-loop", true)
	d, text, err := h.gw.IssueTicket(h.ctx, "in-1")
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, "third ticket", d, false, gateway.ReasonSiteFull)
	h.wantRecorded("third ticket", d, gateway.EvEntry)
	if text != "" || h.sim.Printed("in-1-ticket") != 2 {
		t.Errorf("third ticket: printed %d tickets, text %q; want 2 and none", h.sim.Printed("in-1-ticket"), text)
	}
	h.wantBarrier("third ticket", "in-1-barrier", false)

	// Keys without a reservation are refused too; with one, the car enters.
	plain, _ := h.mustKey(parkKey())
	wantDecision(t, "key without a reservation", h.present("in-1", plain), false, gateway.ReasonSiteFull)
	reserved, id := h.mustKey(parkKey())
	if err := h.gw.PutReservation(h.ctx, gateway.Reservation{ID: "r-1", Credential: "key:" + id,
		From: h.now().Add(10 * time.Minute), Until: h.now().Add(3 * time.Hour)}); err != nil {
		t.Fatalf("PutReservation: %v", err)
	}
	d = h.present("in-1", reserved)
	wantDecision(t, "key with a reservation", d, true, gateway.ReasonOK)
	h.wantBarrier("key with a reservation", "in-1-barrier", true)
	if s := h.session(d.SessionID).Session; s.ReservationID != "r-1" {
		t.Errorf("reserved session: reservation %q; want r-1", s.ReservationID)
	}
	// The key refused for a full site consumed nothing: it enters once
	// two cars left (the reserved car counts too).
	h.sensor("in-1-loop", false)
	h.clock.Advance(5 * time.Minute)
	if _, err := h.gw.OverrideLane(h.ctx, "out-1", first, attendant); err != nil {
		t.Fatal(err)
	}
	h.sensor("in-1-loop", true)
	wantDecision(t, "key after one car left", h.present("in-1", plain), false, gateway.ReasonSiteFull)
	if _, err := h.gw.OverrideLane(h.ctx, "out-1", d.SessionID, attendant); err != nil {
		t.Fatal(err)
	}
	h.sensor("in-1-loop", true)
	wantDecision(t, "key after a car left", h.present("in-1", plain), true, gateway.ReasonOK)
}

// TestSiteClosed refuses every entry, reserved or not, until reopened.
func TestSiteClosed(t *testing.T) {
	h := newHarness(t)
	if err := h.gw.SetClosed(h.ctx, true, attendant); err != nil {
		t.Fatal(err)
	}
	if st, _, err := h.gw.Occupancy(h.ctx); err != nil || st != gateway.Closed {
		t.Errorf("Occupancy: got %s, %v; want closed", st, err)
	}
	h.sensor("in-1-loop", true)
	d, _, err := h.gw.IssueTicket(h.ctx, "in-1")
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, "ticket", d, false, gateway.ReasonSiteClosed)
	h.wantRecorded("ticket", d, gateway.EvEntry)
	text, id := h.mustKey(parkKey())
	if err := h.gw.PutReservation(h.ctx, gateway.Reservation{ID: "r-1", Credential: "key:" + id, From: h.now(), Until: h.now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	wantDecision(t, "reserved key", h.present("in-1", text), false, gateway.ReasonSiteClosed)
	h.wantBarrier("closed", "in-1-barrier", false)

	if err := h.gw.SetClosed(h.ctx, false, attendant); err != nil {
		t.Fatal(err)
	}
	wantDecision(t, "reserved key after reopening", h.present("in-1", text), true, gateway.ReasonOK)

	// A site closed in its config starts closed.
	h2 := newHarness(t, func(s *gateway.Site) { s.Capacity.Closed = true })
	h2.sensor("in-1-loop", true)
	d, _, err = h2.gw.IssueTicket(h2.ctx, "in-1")
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, "ticket at a site closed by config", d, false, gateway.ReasonSiteClosed)
}

// TestTicketNeedsAVehicle refuses a ticket with no car on the loop.
func TestTicketNeedsAVehicle(t *testing.T) {
	h := newHarness(t)
	d, text, err := h.gw.IssueTicket(h.ctx, "in-1")
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, "ticket without a car", d, false, gateway.ReasonNoVehicle)
	h.wantRecorded("ticket without a car", d, gateway.EvEntry)
	if text != "" || h.sim.Printed("in-1-ticket") != 0 {
		t.Errorf("ticket without a car printed %q", text)
	}
	h.wantBarrier("ticket without a car", "in-1-barrier", false)
}

// TestOneTicketPerCar: while the barrier is up for the car on the loop, a
// second press prints nothing and opens no second session; once the car
// has passed, the next car gets its ticket.
func TestOneTicketPerCar(t *testing.T) {
	h := newHarness(t)
	h.sensor("in-1-loop", true)
	d, first, err := h.gw.IssueTicket(h.ctx, "in-1")
	if err != nil || !d.Allowed {
		t.Fatalf("first ticket: %v, %v", d, err)
	}
	d, text, err := h.gw.IssueTicket(h.ctx, "in-1")
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, "second press for the same car", d, false, gateway.ReasonAlreadyAdmitted)
	h.wantRecorded("second press", d, gateway.EvEntry)
	if text != "" || h.sim.Printed("in-1-ticket") != 1 {
		t.Errorf("second press printed %q (%d tickets); want nothing more", text, h.sim.Printed("in-1-ticket"))
	}
	if _, n, err := h.gw.Occupancy(h.ctx); err != nil || n != 1 {
		t.Errorf("occupancy after two presses: %d, %v; want 1", n, err)
	}
	h.sensor("in-1-loop", false) // the car drives in
	h.wantBarrier("car passed", "in-1-barrier", false)
	h.sensor("in-1-loop", true) // the next car
	if d, second, err := h.gw.IssueTicket(h.ctx, "in-1"); err != nil || !d.Allowed || second == first {
		t.Errorf("next car's ticket: %v %q, %v; want a new ticket", d, second, err)
	}
}

// TestSpaceSession parks on P01, pays electronically and leaves.
func TestSpaceSession(t *testing.T) {
	h := newHarness(t)
	sp := h.site.Spaces[0]
	if sp.ID != "P01" {
		t.Fatalf("first space is %s; want P01", sp.ID)
	}
	parked := h.now()
	h.sensor("P01-sensor", true)
	h.advance(sp.RaiseAfter)
	h.wantFlap("car parked", "P01-flap", true)
	v := h.session("space:P01")
	if v.Session.State != gateway.SessionOpen || !v.Session.EntryAt.Equal(parked) || v.Session.Space != "P01" {
		t.Fatalf("space session: %+v; want open on P01 since %v", v.Session, parked)
	}

	h.clock.Advance(time.Hour) // 11:01: units at 10:00, 10:30, 11:00
	if v := h.session("space:P01"); v.Due.Amount != 450 {
		t.Fatalf("due at 11:01: %d; want 450", v.Due.Amount)
	}
	// Releasing refuses while something is due.
	d, err := h.gw.ReleaseSpace(h.ctx, "P01")
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || d.Reason != gateway.ReasonPaymentDue || d.Due != 450 {
		t.Errorf("ReleaseSpace before paying: %v due %d; want payment_due 450", d, d.Due)
	}
	h.wantFlap("release refused", "P01-flap", true)

	r := h.pay(gateway.PaymentIn{ID: "ep-p01", Ref: "space:P01", Method: gateway.PayEPayment, Amount: 450})
	if !r.Settled {
		t.Fatalf("payment: %+v; want settled", r)
	}
	h.wantFlap("paid", "P01-flap", false)
	if !h.sim.PayStationSettled("space:P01") {
		t.Errorf("pay station not told space:P01 is settled (history %v)", h.sim.History("paystation"))
	}

	// The car stays a while: the flap stays down.
	h.advance(sp.RaiseAfter * 3)
	h.wantFlap("car still there", "P01-flap", false)
	h.sensor("P01-sensor", false)
	h.advance(sp.EmptyFor - time.Second)
	h.wantFlap("car just left", "P01-flap", false)
	if v := h.session(r.SessionID); v.Session.State != gateway.SessionOpen {
		t.Errorf("session before EmptyFor: %s; want open", v.Session.State)
	}
	h.advance(time.Second)
	v = h.session(r.SessionID)
	if v.Session.State != gateway.SessionClosed {
		t.Errorf("session after EmptyFor: %s; want closed", v.Session.State)
	}
	if n := len(h.eventsOf(gateway.EvSessionClosed, 0)); n != 1 {
		t.Errorf("session.closed events: %d; want 1", n)
	}

	// The next car gets a new session and the flap rises again.
	h.sensor("P01-sensor", true)
	h.advance(sp.RaiseAfter)
	h.wantFlap("next car", "P01-flap", true)
	if next := h.session("space:P01"); next.Session.ID == r.SessionID {
		t.Errorf("next car reuses session %s", r.SessionID)
	}
}

// TestSpaceFreeStay releases a car that stayed within the free minutes.
func TestSpaceFreeStay(t *testing.T) {
	h := newHarness(t)
	h.sensor("P02-sensor", true)
	h.advance(h.site.Spaces[1].RaiseAfter)
	h.wantFlap("parked", "P02-flap", true)
	h.clock.Advance(10 * time.Minute)
	d, err := h.gw.ReleaseSpace(h.ctx, "P02")
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, "release within the free minutes", d, true, gateway.ReasonOK)
	h.wantFlap("released", "P02-flap", false)
}

// TestFeeExemptKey enters and leaves with a fee-exempt key after hours.
func TestFeeExemptKey(t *testing.T) {
	h := newHarness(t)
	c := parkKey()
	c.FeeExempt = true
	exempt, _ := h.mustKey(c)
	payer, _ := h.mustKey(parkKey())
	h.sensor("in-1-loop", true)
	wantDecision(t, "exempt entry", h.present("in-1", exempt), true, gateway.ReasonOK)
	wantDecision(t, "payer entry", h.present("in-1", payer), true, gateway.ReasonOK)
	h.sensor("in-1-loop", false)
	h.clock.Advance(3 * time.Hour)
	wantDecision(t, "exempt exit", h.present("out-1", exempt), true, gateway.ReasonOK)
	d := h.present("out-2", payer)
	wantDecision(t, "payer exit", d, false, gateway.ReasonPaymentDue)
	if d.Due != 900 {
		t.Errorf("payer exit: due %d; want 900", d.Due)
	}
	// The refused exit did not count as leaving: the key is still inside.
	h.sensor("in-1-loop", true)
	wantDecision(t, "payer re-entry", h.present("in-1", payer), false, gateway.ReasonPassback)
}

// TestJammedFlapDoesNotHoldUpPayment: a payment is durable before any
// device moves, and the flap lowered after it moves in the background: a
// flap that does not answer must not hold up whoever delivered the
// payment (the cloud's downlink, the pay station's poll). Its failure is
// still an event.
func TestJammedFlapDoesNotHoldUpPayment(t *testing.T) {
	h := newHarness(t)
	sp := h.site.Spaces[0]
	h.sensor(sp.Sensor, true)
	h.advance(sp.RaiseAfter)
	h.wantFlap("car parked", sp.Flap, true)
	h.clock.Advance(time.Hour)
	if err := h.sim.SetDelay(sp.Flap, time.Hour); err != nil {
		t.Fatal(err)
	}
	mark := h.lastSeq()
	r, err := h.gw.ApplyPayment(h.ctx, gateway.PaymentIn{ID: "ep-jam", Ref: "space:" + sp.ID, Method: gateway.PayEPayment, Amount: 450})
	if err != nil || !r.Settled {
		t.Fatalf("ApplyPayment: %+v, %v; want settled", r, err)
	}
	// Had ApplyPayment waited for the flap, the failed lower would
	// already be an event: it is recorded when the call ends. (The pay
	// station, told first, may already have answered.)
	for _, e := range h.eventsOf(gateway.EvActuation, mark) {
		if d := eventData(t, e); d["device"] == sp.Flap {
			t.Fatalf("ApplyPayment returned after the flap's command ended (%v); want it to return at once", d)
		}
	}
	h.gw.WaitActuations(h.ctx)
	var lower map[string]any
	for _, e := range h.eventsOf(gateway.EvActuation, mark) {
		if d := eventData(t, e); d["device"] == sp.Flap && d["command"] == "lower" {
			lower = d
		}
	}
	if lower == nil || lower["error"] == nil {
		t.Errorf("the jammed flap's lower: event %v; want one with its error", lower)
	}
	if v := h.session("space:" + sp.ID); v.Due.Amount != 0 {
		t.Errorf("due after the payment: %d; want 0", v.Due.Amount)
	}
}

// TestOverpaidAlarm: cash at the pay station while the phone checkout is
// under way settles the session; the e-payment that then completes is
// applied (the money was taken) and raises an overpaid alarm with the
// amount to refund. A payment of what is due raises none.
func TestOverpaidAlarm(t *testing.T) {
	h := newHarness(t)
	text, _ := enterWithTicket(h)
	h.clock.Advance(50 * time.Minute)
	if _, _, err := h.gw.BeginCheckout(h.ctx, text); err != nil {
		t.Fatal(err)
	}
	mark := h.lastSeq()
	if r := h.pay(gateway.PaymentIn{ID: "cash-1", Ref: text, Method: gateway.PayCash, Amount: 300}); !r.Settled {
		t.Fatalf("cash: %+v; want settled", r)
	}
	if n := len(h.eventsOf(gateway.EvAlarm, mark)); n != 0 {
		t.Errorf("alarms after paying what was due: %d; want 0", n)
	}
	h.pay(gateway.PaymentIn{ID: "ep-1", Ref: text, Method: gateway.PayEPayment, Amount: 300})
	var alarm map[string]any
	for _, e := range h.eventsOf(gateway.EvAlarm, mark) {
		if d := eventData(t, e); d["alarm"] == "overpaid" {
			alarm = d
		}
	}
	if alarm == nil || alarm["overpaid"] != float64(300) || alarm["payment_id"] != "ep-1" {
		t.Errorf("overpaid alarm: %v; want one for ep-1 of 300", alarm)
	}
}
