package gateway_test

// Adversarial tests of the core: inputs a careless or hostile caller may
// send, races, and the product's "never" list (a gate opened on a bad
// credential, a single-use key used twice, a payment lost or applied
// twice, a fire exit held shut, a barrier lowered onto a car, a denial not
// recorded, a panic).

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lotgate/lotgate/drivers/sim"
	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/keys"
)

// allKey is a multi-use key for every resource and every action.
func allKey() keys.Claims {
	return keys.Claims{Resources: []string{"*"}, Actions: []string{keys.ActionEnter, keys.ActionExit,
		keys.ActionOpen, keys.ActionUnlock, keys.ActionLock}}
}

// keyState reads a key's stored state.
func (h *harness) keyState(id string) gateway.KeyState {
	h.t.Helper()
	var st gateway.KeyState
	if err := h.db.View(h.ctx, func(tx gateway.Tx) error {
		var err error
		st, err = tx.KeyState(id)
		return err
	}); err != nil {
		h.t.Fatalf("KeyState(%s): %v", id, err)
	}
	return st
}

// TestRedAuthorizeUnknownResource asks for resources the site does not
// have with a key that allows everything: nothing is allowed, nothing is
// counted against the key, and each refusal is recorded.
func TestRedAuthorizeUnknownResource(t *testing.T) {
	h := newHarness(t)
	c := allKey()
	c.Uses = 1
	text, id := h.mustKey(c)
	for _, req := range []gateway.AccessRequest{
		{Resource: "gate:out-1x", Action: gateway.ActionExit},
		{Resource: "gate:out-", Action: gateway.ActionExit},
		{Resource: "gate:", Action: gateway.ActionExit},
		{Resource: "gate:nowhere", Action: gateway.ActionEnter},
		{Resource: "gate:*", Action: gateway.ActionEnter},
		{Resource: "locker:Z-99", Action: gateway.ActionOpen},
		{Resource: "locker:A-0", Action: gateway.ActionOpen},
		{Resource: "door:lobby ", Action: gateway.ActionUnlock},
		{Resource: "space:P99", Action: gateway.ActionOpen},
		{Resource: "*", Action: gateway.ActionOpen},
		{Resource: "nonsense", Action: gateway.ActionOpen},
	} {
		req.Text, req.Channel = text, gateway.ChannelScanner
		d := h.authorize(req)
		if d.Allowed || d.Seq == 0 {
			t.Errorf("Authorize(%s %q): got %v (seq %d); want a recorded denial", req.Action, req.Resource, d, d.Seq)
		}
	}
	if st := h.keyState(id); st.Uses != 0 || st.Inside {
		t.Errorf("key state after requests for unknown resources: %+v; want unused, not inside", st)
	}
	// The single-use key still makes its one visit.
	h.sensor("in-1-loop", true)
	wantDecision(t, "entry after the unknown resources", h.present("in-1", text), true, gateway.ReasonOK)
}

// TestRedLaneActionsOnlyAtLanes: enter and exit are what lanes do. A key
// that allows them everywhere, asked to "exit" a locker, must not count as
// having left the site (anti-passback) nor as having entered it.
func TestRedLaneActionsOnlyAtLanes(t *testing.T) {
	h := newHarness(t)
	c := allKey()
	c.Uses = 1
	text, id := h.mustKey(c)
	for _, req := range []gateway.AccessRequest{
		{Resource: "locker:A-03", Action: gateway.ActionEnter},
		{Resource: "door:lobby", Action: gateway.ActionExit},
		{Resource: "space:P01", Action: gateway.ActionEnter},
	} {
		req.Text, req.Channel = text, gateway.ChannelScanner
		d := h.authorize(req)
		wantDecision(t, string(req.Action)+" "+req.Resource, d, false, gateway.ReasonActionNotAllowed)
		h.wantRecorded(string(req.Action)+" "+req.Resource, d, gateway.EvAccess)
	}
	if st := h.keyState(id); st.Uses != 0 || st.Inside {
		t.Errorf("key state: %+v; want unused, not inside", st)
	}
	h.sensor("in-1-loop", true)
	wantDecision(t, "entry", h.present("in-1", text), true, gateway.ReasonOK)
	h.sensor("in-1-loop", false)
	// Inside, "exiting" the lobby door does not clear anti-passback.
	d := h.authorize(gateway.AccessRequest{Text: text, Resource: "door:lobby", Action: gateway.ActionExit, Channel: gateway.ChannelScanner})
	wantDecision(t, "exit the lobby door while inside", d, false, gateway.ReasonActionNotAllowed)
	if st := h.keyState(id); !st.Inside {
		t.Errorf("key state after exiting a door: %+v; want still inside", st)
	}
	h.clock.Advance(5 * time.Minute)
	wantDecision(t, "exit at the lane", h.present("out-1", text), true, gateway.ReasonOK)
}

// parkOn puts a car on a space and waits until its flap rises.
func (h *harness) parkOn(space string) {
	h.t.Helper()
	h.sensor(space+"-sensor", true)
	h.advance(time.Minute) // the example's RaiseAfter
	h.wantFlap("parked on "+space, space+"-flap", true)
}

// TestRedLatePaymentForOldSpaceSession: the fire alarm lets a car off P01
// unpaid; a new car parks there. The old session's e-payment completion
// then arrives: it is applied to the old session and must not lower the
// flap under the new car, which has paid nothing.
func TestRedLatePaymentForOldSpaceSession(t *testing.T) {
	h := newHarness(t)
	h.parkOn("P01")
	old := h.session("space:P01").Session
	h.clock.Advance(time.Hour)
	h.sensor("fire-panel", true)
	h.sensor("P01-sensor", false)
	h.advance(time.Minute)
	h.sensor("fire-panel", false)
	if v := h.session(old.ID); v.Session.State != gateway.SessionClosed {
		t.Fatalf("old session after the car left: %s; want closed", v.Session.State)
	}
	h.parkOn("P01")
	h.clock.Advance(time.Hour)
	r := h.pay(gateway.PaymentIn{ID: "late-ep", Ref: old.ID, Method: gateway.PayEPayment, Amount: 450})
	if r.SessionID != old.ID {
		t.Errorf("late payment applied to %s; want the old session %s", r.SessionID, old.ID)
	}
	h.wantFlap("late payment for the previous car", "P01-flap", true)
	if v := h.session("space:P01"); v.Due.Amount == 0 {
		t.Errorf("new car's session after the old one's payment: due 0; want something due")
	}
}

// TestRedClosedSessionStopsAccruing: after the car left, its session owes
// what it owed at the exit, however long ago that was.
func TestRedClosedSessionStopsAccruing(t *testing.T) {
	h := newHarness(t)
	text, s := enterWithTicket(h)
	h.clock.Advance(10 * time.Minute) // free
	h.sensor("out-1-loop", true)
	wantDecision(t, "free exit", h.present("out-1", text), true, gateway.ReasonOK)
	h.clock.Advance(5 * time.Hour)
	v := h.session(s.ID)
	if v.Session.State != gateway.SessionClosed || v.Due.Amount != 0 || v.Due.Fee != 0 {
		t.Errorf("closed session 5 h after a free exit: state %s due %+v; want closed, fee 0, due 0", v.Session.State, v.Due)
	}
}

// TestRedPaymentIDReuse: a payment ID is applied once. The same payment
// again is a duplicate; a different payment under a used ID (a pay
// station whose transaction counter restarted, a cloud bug) must not be
// swallowed as a duplicate, or its money is lost without a trace.
func TestRedPaymentIDReuse(t *testing.T) {
	h := newHarness(t)
	textA, a := enterWithTicket(h)
	h.sensor("in-1-loop", false)
	textB, b := enterWithTicket(h)
	h.clock.Advance(50 * time.Minute)
	first := h.pay(gateway.PaymentIn{ID: "p-1", Ref: textA, Method: gateway.PayCash, Amount: 300})
	if first.Duplicate || !first.Settled {
		t.Fatalf("first payment: %+v; want applied and settled", first)
	}
	same := h.pay(gateway.PaymentIn{ID: "p-1", Ref: textA, Method: gateway.PayCash, Amount: 300})
	if !same.Duplicate || same.SessionID != a.ID {
		t.Errorf("same payment again: %+v; want a duplicate for %s", same, a.ID)
	}
	for _, in := range []gateway.PaymentIn{
		{ID: "p-1", Ref: textB, Method: gateway.PayCash, Amount: 300},           // another session
		{ID: "p-1", Ref: textA, Method: gateway.PayCash, Amount: 150},           // another amount
		{ID: "p-1", Ref: textA, Method: gateway.PayEPayment, Amount: 300},       // another method
		{ID: "p-1", Ref: b.ID, Method: gateway.PayCash, Amount: 300},            // another session, by ID
		{ID: "p-1", Ref: "ticket:NOSUCH", Method: gateway.PayCash, Amount: 300}, // no such session
	} {
		r, err := h.gw.ApplyPayment(h.ctx, in)
		if err == nil {
			t.Errorf("ApplyPayment(%+v) under a used ID: got %+v; want a Conflict error", in, r)
		} else if gateway.KindOf(err) != gateway.Conflict {
			t.Errorf("ApplyPayment(%+v) under a used ID: got %v; want a Conflict error", in, err)
		}
	}
	if v := h.session(textB); v.Session.Paid != 0 {
		t.Errorf("session B paid %d; want 0", v.Session.Paid)
	}
	// Cash under a reused pay-station transaction ID raises an alarm the
	// operator sees instead of vanishing.
	before := h.lastSeq()
	h.gw.CashPaid(h.ctx, gateway.CashPayment{ID: "7", Ref: textA, Amount: 300})
	h.gw.CashPaid(h.ctx, gateway.CashPayment{ID: "7", Ref: textB, Amount: 300})
	// A was paid already: its cash is applied, and is an overpayment.
	var kinds []string
	for _, e := range h.eventsOf(gateway.EvAlarm, before) {
		kinds = append(kinds, eventData(t, e)["alarm"].(string))
	}
	if strings.Join(kinds, ",") != "overpaid,cash_payment_unapplied" {
		t.Errorf("cash under a reused transaction ID: alarms %v; want overpaid (A was paid) and cash_payment_unapplied (B)", kinds)
	}
}

// TestRedPaymentOverflow: amounts near the int64 limit never wrap the
// session's total paid.
func TestRedPaymentOverflow(t *testing.T) {
	h := newHarness(t)
	text, s := enterWithTicket(h)
	h.clock.Advance(50 * time.Minute)
	h.pay(gateway.PaymentIn{ID: "huge", Ref: text, Method: gateway.PayEPayment, Amount: math.MaxInt64})
	_, err := h.gw.ApplyPayment(h.ctx, gateway.PaymentIn{ID: "one-more", Ref: text, Method: gateway.PayCash, Amount: 1})
	if gateway.KindOf(err) != gateway.Invalid {
		t.Errorf("a payment that would overflow the total: got %v; want an Invalid error", err)
	}
	if v := h.session(s.ID); v.Session.Paid != math.MaxInt64 {
		t.Errorf("paid after the overflow attempt: %d; want %d", v.Session.Paid, int64(math.MaxInt64))
	}
}

// TestRedCheckoutOfAnotherSession: a payment for session A naming session
// B's checkout must not release B's checkout lock.
func TestRedCheckoutOfAnotherSession(t *testing.T) {
	h := newHarness(t)
	textA, _ := enterWithTicket(h)
	h.sensor("in-1-loop", false)
	textB, _ := enterWithTicket(h)
	h.clock.Advance(50 * time.Minute)
	cb, _, err := h.gw.BeginCheckout(h.ctx, textB)
	if err != nil {
		t.Fatal(err)
	}
	h.pay(gateway.PaymentIn{ID: "pa", Ref: textA, Method: gateway.PayEPayment, Amount: 300, CheckoutID: cb.ID})
	if _, _, err := h.gw.BeginCheckout(h.ctx, textB); gateway.KindOf(err) != gateway.Conflict {
		t.Errorf("second checkout for B after A's payment named B's checkout: got %v; want a Conflict (B's checkout still runs)", err)
	}
}

// TestRedQuoteOfAnotherSession: a quote holds only for its own session.
func TestRedQuoteOfAnotherSession(t *testing.T) {
	h := newHarness(t)
	textA, _ := enterWithTicket(h)
	h.sensor("in-1-loop", false)
	h.clock.Advance(20 * time.Minute)
	textB, b := enterWithTicket(h) // B entered 10:20
	h.clock.Advance(8 * time.Minute)
	qa, _, err := h.gw.Quote(h.ctx, textA) // A at 10:28: 150
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(35 * time.Minute) // 11:03: B owes 300
	r := h.pay(gateway.PaymentIn{ID: "pb", Ref: b.ID, Method: gateway.PayEPayment, Amount: 150, QuoteID: qa.ID})
	if r.Settled {
		t.Errorf("B paid 150 with A's quote: %+v; want 150 still due", r)
	}
	wantDecision(t, "B's exit", h.present("out-1", textB), false, gateway.ReasonPaymentDue)
}

// TestRedCheckoutRace starts many checkouts for one session at once:
// exactly one wins.
func TestRedCheckoutRace(t *testing.T) {
	h := newHarness(t)
	text, _ := enterWithTicket(h)
	h.clock.Advance(50 * time.Minute)
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	begin := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-begin
			_, _, errs[i] = h.gw.BeginCheckout(h.ctx, text)
		}()
	}
	close(begin)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case gateway.KindOf(err) != gateway.Conflict:
			t.Errorf("checkout %d: %v; want success or Conflict", i, err)
		}
	}
	if won != 1 {
		t.Errorf("concurrent checkouts: %d succeeded; want 1", won)
	}
}

// TestRedPaymentRace applies the same payment from many goroutines while
// the car tries both exits: the payment is applied once, the car leaves
// once.
func TestRedPaymentRace(t *testing.T) {
	h := newHarness(t)
	text, s := enterWithTicket(h)
	h.clock.Advance(50 * time.Minute)
	h.sensor("out-1-loop", true)
	h.sensor("out-2-loop", true)
	const n = 8
	var wg sync.WaitGroup
	begin := make(chan struct{})
	res := make([]gateway.PaymentResult, n)
	perr := make([]error, n)
	exits := make([]gateway.Decision, 2*n)
	xerr := make([]error, 2*n)
	for i := range n {
		wg.Add(3)
		go func() {
			defer wg.Done()
			<-begin
			res[i], perr[i] = h.gw.ApplyPayment(h.ctx, gateway.PaymentIn{ID: "ep-race", Ref: s.ID, Method: gateway.PayEPayment, Amount: 300})
		}()
		for j, lane := range []string{"out-1", "out-2"} {
			go func() {
				defer wg.Done()
				<-begin
				exits[2*i+j], xerr[2*i+j] = h.gw.PresentAtLane(h.ctx, lane, text)
			}()
		}
	}
	close(begin)
	wg.Wait()
	applied := 0
	for i := range n {
		if perr[i] != nil {
			t.Fatalf("payment %d: %v", i, perr[i])
		}
		if !res[i].Duplicate {
			applied++
		}
	}
	left := 0
	for i, d := range exits {
		if xerr[i] != nil {
			t.Fatalf("exit %d: %v", i, xerr[i])
		}
		if d.Allowed {
			left++
		}
		if d.Seq == 0 {
			t.Errorf("exit %d: %v has no event", i, d)
		}
	}
	if applied != 1 || left > 1 {
		t.Errorf("payment applied %d times, car left %d times; want 1 and at most 1", applied, left)
	}
	v := h.session(s.ID)
	if v.Session.Paid != 300 {
		t.Errorf("paid %d; want 300", v.Session.Paid)
	}
	if left == 0 {
		wantDecision(t, "exit after the race", h.present("out-1", text), true, gateway.ReasonOK)
	}
}

// TestRedTicketRace shows one paid ticket at both exits at once, round
// after round: one opens, the other finds no session.
func TestRedTicketRace(t *testing.T) {
	h := newHarness(t)
	for round := range 10 {
		h.sensor("in-1-loop", false)
		text := h.ticket()
		got, errs := h.presentAtOnce(text, "out-1", "out-2")
		if errs[0] != nil || errs[1] != nil {
			t.Fatal(errs)
		}
		if got[0].Allowed == got[1].Allowed {
			t.Fatalf("round %d: %v, %v; want exactly one exit", round, got[0], got[1])
		}
		for _, d := range got {
			if !d.Allowed && d.Reason != gateway.ReasonNoSession {
				t.Errorf("round %d: loser %v; want no_session", round, d)
			}
		}
		h.advance(h.site.Policy.BarrierOpenTimeout)
	}
}

// TestRedOverrideSpaceSession: an attendant who lets the car on P01 go
// through an exit lane's override must also lower P01's flap, or the car
// is locked on a space whose session no longer exists.
func TestRedOverrideSpaceSession(t *testing.T) {
	h := newHarness(t)
	h.parkOn("P01")
	h.clock.Advance(time.Hour)
	if _, err := h.gw.OverrideLane(h.ctx, "out-1", "space:P01", attendant); err != nil {
		t.Fatal(err)
	}
	h.wantFlap("override of the space's session", "P01-flap", false)
	h.sensor("P01-sensor", false)
	h.advance(time.Minute)
	h.sensor("P01-sensor", true)
	h.advance(time.Minute)
	h.wantFlap("next car", "P01-flap", true)
}

// TestRedReleaseSpaceRecorded: a release decision, granted or refused, is
// an event.
func TestRedReleaseSpaceRecorded(t *testing.T) {
	h := newHarness(t)
	h.parkOn("P01")
	h.clock.Advance(time.Hour)
	d, err := h.gw.ReleaseSpace(h.ctx, "P01")
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, "release while unpaid", d, false, gateway.ReasonPaymentDue)
	h.wantRecorded("release while unpaid", d, gateway.EvAccess)
	h.parkOn("P02")
	d, err = h.gw.ReleaseSpace(h.ctx, "P02")
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, "release within the free minutes", d, true, gateway.ReasonOK)
	h.wantRecorded("release within the free minutes", d, gateway.EvAccess)
	d, err = h.gw.ReleaseSpace(h.ctx, "P03")
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, "release of an empty space", d, false, gateway.ReasonNoSession)
	h.wantRecorded("release of an empty space", d, gateway.EvAccess)
}

// TestRedLostTicketUnknownLane: a lost-ticket session names a real lane.
func TestRedLostTicketUnknownLane(t *testing.T) {
	h := newHarness(t)
	before := h.lastSeq()
	if _, err := h.gw.LostTicket(h.ctx, "nowhere", attendant); gateway.KindOf(err) != gateway.NotFound {
		t.Errorf("LostTicket at an unknown lane: got %v; want NotFound", err)
	}
	if got := h.lastSeq(); got != before {
		t.Errorf("LostTicket at an unknown lane recorded %d events; want none", got-before)
	}
}

// TestRedListStatusFailsClosed: a list entry with an empty ID or a status
// the gateway does not know (a typo, a case change, trailing space) never
// reaches the list, whether it comes through UpdateList or straight to
// the store; the card stays unknown.
func TestRedListStatusFailsClosed(t *testing.T) {
	h := newHarness(t)
	bad := [][]gateway.ListEntry{
		{{ID: "CARD-TYPO", Kind: "rfid", Status: "blocked "}},
		{{ID: "CARD-EMPTY", Kind: "rfid", Status: ""}},
		{{ID: "CARD-CASE", Kind: "rfid", Status: "Accepted"}},
		{{ID: "", Kind: "rfid", Status: gateway.ListAccepted}},
	}
	for i, entries := range bad {
		if err := h.gw.UpdateList(h.ctx, gateway.ListUpdate{Full: true, Version: int64(i + 1), Upsert: entries}); gateway.KindOf(err) != gateway.Invalid {
			t.Errorf("UpdateList(%+v): got %v; want Invalid", entries, err)
		}
		if err := h.db.Update(h.ctx, func(tx gateway.Tx) error { return tx.ReplaceList(int64(i+1), entries) }); err == nil {
			t.Errorf("store ReplaceList(%+v): got nil; want an error", entries)
		}
	}
	h.sensor("in-1-loop", true)
	for _, id := range []string{"CARD-TYPO", "CARD-EMPTY", "CARD-CASE"} {
		wantDecision(t, id, h.present("in-1", id), false, gateway.ReasonUnknownCredential)
	}
	h.wantBarrier("unknown statuses", "in-1-barrier", false)
}

// TestRedNULAndLookalikes: a scanned credential matches only itself.
func TestRedNULAndLookalikes(t *testing.T) {
	h := newHarness(t)
	if err := h.gw.UpdateList(h.ctx, gateway.ListUpdate{Full: true, Version: 1, Upsert: []gateway.ListEntry{
		{ID: "CARD", Kind: "rfid", Status: gateway.ListAccepted},
	}}); err != nil {
		t.Fatal(err)
	}
	// At an exit a list credential with no session may leave: each text
	// is judged on its own.
	for _, text := range []string{"CARD\x00", "CARD\x00X", "card", "CAR", "CARD%", "CAR_", "C%", "%", "_ARD", "CARD ", "\u00a0CARD", "ＣＡＲＤ", "CARD"} {
		d := h.present("out-2", text)
		if want := strings.TrimSpace(text) == "CARD"; d.Allowed != want {
			t.Errorf("list credential %q at the exit: %v; want allowed=%v", text, d, want)
		}
		if d.Seq == 0 {
			t.Errorf("list credential %q: %v not recorded", text, d)
		}
	}
	text, _ := enterWithTicket(h)
	id := strings.TrimPrefix(text, gateway.TicketPrefix)
	h.sensor("out-1-loop", true)
	for _, t2 := range []string{gateway.TicketPrefix + id + "\x00", gateway.TicketPrefix + id[:len(id)-1], gateway.TicketPrefix + id[:len(id)-1] + "%",
		gateway.TicketPrefix + id[:len(id)-1] + "_", gateway.TicketPrefix + "%", gateway.TicketPrefix + id + "X"} {
		wantDecision(t, "ticket lookalike "+t2, h.present("out-1", t2), false, gateway.ReasonNoSession)
	}
	wantDecision(t, "lowercase ticket", h.present("out-1", strings.ToLower(text)), true, gateway.ReasonOK)
}

// funcObserver calls f for every committed event.
type funcObserver struct {
	mu sync.Mutex
	f  func(gateway.Event)
}

func (o *funcObserver) EventCommitted(e gateway.Event) {
	o.mu.Lock()
	f := o.f
	o.mu.Unlock()
	if f != nil {
		f(e)
	}
}

func (o *funcObserver) set(f func(gateway.Event)) {
	o.mu.Lock()
	o.f = f
	o.mu.Unlock()
}

// observed replaces the harness's gateway (and simulated devices) by one
// on the same store that tells o about every event.
func (h *harness) observed(o gateway.Observer) {
	h.t.Helper()
	devs, err := sim.New(h.site, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Options{Site: h.site, Store: h.db, Actuators: devs.Actuators(), Clock: h.clock, Observers: []gateway.Observer{o}})
	if err != nil {
		h.t.Fatal(err)
	}
	devs.Attach(gw)
	if err := gw.Open(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	h.gw, h.sim = gw, devs
}

// TestRedFireWhileFlapRises: the fire alarm goes off while the gateway is
// opening a space session, just before it raises the flap. No flap may
// rise during a fire alarm.
func TestRedFireWhileFlapRises(t *testing.T) {
	h := newHarness(t)
	var o funcObserver
	h.observed(&o)
	o.set(func(e gateway.Event) {
		if e.Type == gateway.EvSessionOpened {
			o.set(nil)
			h.sensor("fire-panel", true)
		}
	})
	h.sensor("P01-sensor", true)
	h.advance(time.Minute)
	if !h.gw.FireAlarmActive() {
		t.Fatal("the fire alarm did not go off")
	}
	h.wantFlap("fire alarm while the flap was about to rise", "P01-flap", false)
	h.advance(time.Minute)
	h.wantFlap("during the fire alarm", "P01-flap", false)
	h.sensor("fire-panel", false)
	h.advance(time.Minute)
	h.wantFlap("after the alarm, car still there", "P01-flap", true)
}

// TestRedCarLeavesWhileFlapRises: the car drives off while the gateway is
// opening its space session. The flap must not rise under a leaving car,
// and the space must not stay locked with a session nobody has.
func TestRedCarLeavesWhileFlapRises(t *testing.T) {
	h := newHarness(t)
	var o funcObserver
	h.observed(&o)
	o.set(func(e gateway.Event) {
		if e.Type == gateway.EvSessionOpened {
			o.set(nil)
			h.sensor("P01-sensor", false)
		}
	})
	h.sensor("P01-sensor", true)
	h.advance(time.Minute)
	h.wantFlap("car left as the session opened", "P01-flap", false)
	h.advance(time.Minute)
	if _, err := h.gw.LookupSession(h.ctx, "space:P01"); gateway.KindOf(err) != gateway.NotFound {
		t.Errorf("open session of the empty space: got %v; want NotFound (closed)", err)
	}
	h.sensor("P01-sensor", true)
	h.advance(time.Minute)
	h.wantFlap("next car", "P01-flap", true)
}

// TestRedFireExitRetried: a fire exit whose barrier did not answer when
// the alarm went off is commanded again until it does; the same for a
// fire door's lock and a flap that must lower.
func TestRedFireExitRetried(t *testing.T) {
	h := newHarness(t)
	h.parkOn("P01")
	for _, id := range []string{"out-1-barrier", "lobby-lock", "P01-flap"} {
		if err := h.sim.SetOffline(id, true); err != nil {
			t.Fatal(err)
		}
	}
	h.sensor("fire-panel", true)
	h.wantBarrier("alarm, barrier offline", "out-1-barrier", false)
	h.wantBarrier("alarm", "out-2-barrier", true)
	for _, id := range []string{"out-1-barrier", "lobby-lock", "P01-flap"} {
		if err := h.sim.SetOffline(id, false); err != nil {
			t.Fatal(err)
		}
	}
	h.advance(time.Second)
	h.wantBarrier("alarm, barrier back online", "out-1-barrier", true)
	h.wantLocked("alarm, lock back online", "lobby-lock", false)
	h.wantFlap("alarm, flap back online", "P01-flap", false)
	// Once held, nothing more is commanded tick after tick.
	n := len(h.sim.History("out-1-barrier"))
	h.advance(time.Second)
	h.advance(time.Second)
	if got := len(h.sim.History("out-1-barrier")); got != n {
		t.Errorf("out-1-barrier commanded %d more times after it rose; want none", got-n)
	}
}

// TestRedFireFlapping toggles the fire alarm quickly while a car stands on
// out-1's loop: the barrier never lowers onto it, and it is up at the end.
func TestRedFireFlapping(t *testing.T) {
	h := newHarness(t)
	h.sensor("out-1-loop", true)
	for i := range 25 {
		h.sensor("fire-panel", i%2 == 0)
		h.clock.Advance(100 * time.Millisecond)
	}
	if slices.Contains(h.sim.History("out-1-barrier"), "lower") {
		t.Errorf("out-1-barrier lowered with a car on its loop (history %v)", h.sim.History("out-1-barrier"))
	}
	h.sensor("fire-panel", false)
	h.wantBarrier("alarm cleared, car on the loop", "out-1-barrier", true)
	h.advance(h.site.Policy.BarrierOpenTimeout * 3)
	h.wantBarrier("timeout, car on the loop", "out-1-barrier", true)
	h.sensor("out-1-loop", false)
	h.wantBarrier("car left", "out-1-barrier", false)
	// Concurrent flapping, from two goroutines, with the car back.
	h.sensor("out-2-loop", true)
	n := len(h.sim.History("out-2-barrier"))
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				h.gw.SensorChanged(h.ctx, "fire-panel", (i+g)%2 == 0)
			}
		}()
	}
	wg.Wait()
	if slices.Contains(h.sim.History("out-2-barrier")[n:], "lower") {
		t.Errorf("out-2-barrier lowered with a car on its loop (history %v)", h.sim.History("out-2-barrier"))
	}
}

// TestRedHaltWithCarOnLoop: shutting down with a car under an open
// barrier never commands it down.
func TestRedHaltWithCarOnLoop(t *testing.T) {
	h := newHarness(t)
	openExit(h, "out-1")
	h.sensor("out-1-loop", true)
	if err := h.gw.Halt(h.ctx); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(h.sim.History("out-1-barrier"), "lower") {
		t.Errorf("halt lowered a barrier with a car on its loop (history %v)", h.sim.History("out-1-barrier"))
	}
	h.wantBarrier("halt with a car on the loop", "out-1-barrier", true)
}

// TestRedOverrideNeedsAReason: blank reasons and operators are refused,
// whatever the whitespace, and nothing opens or is recorded.
func TestRedOverrideNeedsAReason(t *testing.T) {
	h := newHarness(t)
	before := h.lastSeq()
	for _, o := range []gateway.Override{
		{Operator: "anna", Reason: ""},
		{Operator: "anna", Reason: " \t\r\n"},
		{Operator: "anna", Reason: "\u00a0\u2003\u3000"},
		{Operator: " ", Reason: "broken barrier"},
		{Operator: "\n", Reason: "broken barrier"},
	} {
		if _, err := h.gw.OverrideLane(h.ctx, "out-1", "", o); gateway.KindOf(err) != gateway.Invalid {
			t.Errorf("OverrideLane(%+v): got %v; want Invalid", o, err)
		}
		if err := h.gw.ResetPassback(h.ctx, "k-1", o); gateway.KindOf(err) != gateway.Invalid {
			t.Errorf("ResetPassback(%+v): got %v; want Invalid", o, err)
		}
		if _, err := h.gw.LostTicket(h.ctx, "out-1", o); gateway.KindOf(err) != gateway.Invalid {
			t.Errorf("LostTicket(%+v): got %v; want Invalid", o, err)
		}
		if err := h.gw.SetClosed(h.ctx, true, o); gateway.KindOf(err) != gateway.Invalid {
			t.Errorf("SetClosed(%+v): got %v; want Invalid", o, err)
		}
	}
	if got := h.lastSeq(); got != before {
		t.Errorf("blank overrides recorded %d events; want none", got-before)
	}
	h.wantBarrier("blank overrides", "out-1-barrier", false)
	if st, _, err := h.gw.Occupancy(h.ctx); err != nil || st != gateway.Open {
		t.Errorf("occupancy after blank overrides: %s, %v; want open", st, err)
	}
}

// TestRedRevokedInside: a key revoked while its car is inside no longer
// opens the exit (a revoked credential never opens anything); the
// attendant lets the car out, which closes its session and clears its
// anti-passback state.
func TestRedRevokedInside(t *testing.T) {
	h := newHarness(t)
	text, id := h.mustKey(parkKey())
	h.sensor("in-1-loop", true)
	wantDecision(t, "entry", h.present("in-1", text), true, gateway.ReasonOK)
	h.sensor("in-1-loop", false)
	if err := h.gw.Revoke(h.ctx, gateway.Revocation{KeyID: id, Reason: "stolen phone"}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(5 * time.Minute)
	h.sensor("out-1-loop", true)
	d := h.present("out-1", text)
	wantDecision(t, "revoked key at the exit", d, false, gateway.ReasonRevoked)
	h.wantRecorded("revoked key at the exit", d, gateway.EvAccess)
	h.wantBarrier("revoked key at the exit", "out-1-barrier", false)
	if _, err := h.gw.OverrideLane(h.ctx, "out-1", "key:"+id, attendant); err != nil {
		t.Fatal(err)
	}
	h.wantBarrier("override", "out-1-barrier", true)
	if st := h.keyState(id); st.Inside {
		t.Errorf("revoked key after the override exit: %+v; want not inside", st)
	}
	if _, err := h.gw.LookupSession(h.ctx, "key:"+id); gateway.KindOf(err) != gateway.NotFound {
		t.Errorf("revoked key's session after the override: got %v; want closed", err)
	}
}

// TestRedProofConfusion: a device proof proves one key ID at one step.
func TestRedProofConfusion(t *testing.T) {
	h := newHarness(t)
	pub, priv := deviceKey(t)
	_, otherPriv := deviceKey(t)
	ca, cb := lockerKey(), lockerKey()
	ca.DeviceKey, cb.DeviceKey = pub, pub
	ba, ca := h.sign(ca)
	_, cb = h.sign(cb)
	step := keys.Step(h.now(), h.site.Policy.ProofStep)
	plain := keys.EncodeText(ba)
	for _, c := range []struct {
		name string
		text string
		want gateway.Reason
	}{
		{"key A with B's proof", proofText(ba, cb.KeyID, step, priv), gateway.ReasonBadSignature},
		{"key A with another device's proof", proofText(ba, ca.KeyID, step, otherPriv), gateway.ReasonBadSignature},
		{"key A without a proof", plain, gateway.ReasonProofRequired},
		{"key A with a stale proof", proofText(ba, ca.KeyID, step-2, priv), gateway.ReasonProofRequired},
		{"key A with a future proof", proofText(ba, ca.KeyID, step+2, priv), gateway.ReasonProofRequired},
		{"key A with a proof for the step", proofText(ba, ca.KeyID, step, priv), gateway.ReasonOK},
	} {
		d := h.authorize(atLocker(c.text, "A-03"))
		wantDecision(t, c.name, d, c.want == gateway.ReasonOK, c.want)
		h.wantRecorded(c.name, d, gateway.EvAccess)
	}
}

// TestRedTrustedTimeEdges: a zero trusted time moves nothing; a trusted
// time far ahead of the clock makes time-limited keys refused (saying
// why), while keys that need no clock and tickets still work.
func TestRedTrustedTimeEdges(t *testing.T) {
	h := newHarness(t)
	before := h.lastSeq()
	if moved, err := h.gw.AdvanceTrustedTime(h.ctx, time.Time{}, "test"); err != nil || moved {
		t.Errorf("AdvanceTrustedTime(zero): %v, %v; want false, nil", moved, err)
	}
	if got := h.lastSeq(); got != before {
		t.Errorf("a zero trusted time recorded %d events; want none", got-before)
	}
	limited := lockerKey()
	limited.Expires = h.now().Add(24 * time.Hour).Truncate(time.Second)
	ltext, _ := h.mustKey(limited)
	utext, _ := h.mustKey(lockerKey())
	if moved, err := h.gw.AdvanceTrustedTime(h.ctx, h.now().Add(10*365*24*time.Hour), "test"); err != nil || !moved {
		t.Fatalf("AdvanceTrustedTime(+10 years): %v, %v; want true, nil", moved, err)
	}
	wantDecision(t, "time-limited key, clock far behind", h.authorize(atLocker(ltext, "A-03")), false, gateway.ReasonClockUntrusted)
	wantDecision(t, "unlimited key, clock far behind", h.authorize(atLocker(utext, "A-03")), true, gateway.ReasonOK)
	if ok, _ := h.gw.ClockTrusted(h.ctx); ok {
		t.Errorf("ClockTrusted with a trusted time 10 years ahead: true; want false")
	}
}

// TestRedClockBackwards: the wall clock jumps back before a session's
// entry. Nothing panics, the decision is recorded, and the fee is never
// negative.
func TestRedClockBackwards(t *testing.T) {
	h := newHarness(t)
	text, s := enterWithTicket(h)
	h.clock.Advance(3 * time.Hour)
	if _, err := h.gw.AdvanceTrustedTime(h.ctx, h.now(), "test"); err != nil {
		t.Fatal(err)
	}
	h.clock.Set(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	v := h.session(s.ID)
	if v.Due.Amount < 0 || v.Due.Fee < 0 {
		t.Errorf("due with the clock before the entry: %+v; want nothing negative", v.Due)
	}
	h.sensor("out-1-loop", true)
	d := h.present("out-1", text)
	h.wantRecorded("exit with the clock before the entry", d, gateway.EvExit)
	t.Logf("exit with the clock 5 years behind the entry: %v (due %d)", d, d.Due)
}

// TestRedWindowsAtDST: time windows follow the site's wall clock on the
// days it jumps.
func TestRedWindowsAtDST(t *testing.T) {
	h := newHarness(t)
	two := lockerKey()
	two.Windows = []keys.Window{{Weekdays: []time.Weekday{time.Sunday}, DayFrom: 120, DayTo: 180}} // Sun 02:00-03:00
	night := lockerKey()
	night.Windows = []keys.Window{{Weekdays: []time.Weekday{time.Saturday}, DayFrom: 22 * 60, DayTo: 6 * 60}} // Sat 22:00 - Sun 06:00
	ttwo, _ := h.mustKey(two)
	tnight, _ := h.mustKey(night)
	utc := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			h.t.Fatal(err)
		}
		return t
	}
	for _, c := range []struct {
		at         string
		text, name string
		want       gateway.Reason
	}{
		// 30 March 2025: 02:00 CET becomes 03:00 CEST; 02:xx never happens.
		{"2025-03-30T00:59:59Z", ttwo, "01:59:59 CET", gateway.ReasonOutsideWindow},
		{"2025-03-30T01:00:00Z", ttwo, "03:00 CEST", gateway.ReasonOutsideWindow},
		// 26 October 2025: 03:00 CEST becomes 02:00 CET; 02:xx happens twice.
		{"2025-10-26T00:30:00Z", ttwo, "02:30 CEST", gateway.ReasonOK},
		{"2025-10-26T01:30:00Z", ttwo, "02:30 CET", gateway.ReasonOK},
		{"2025-10-26T02:00:00Z", ttwo, "03:00 CET", gateway.ReasonOutsideWindow},
		{"2025-10-26T04:59:00Z", tnight, "Sun 05:59 CET", gateway.ReasonOK},
		{"2025-10-26T05:00:00Z", tnight, "Sun 06:00 CET", gateway.ReasonOutsideWindow},
		{"2025-03-30T03:59:00Z", tnight, "Sun 05:59 CEST", gateway.ReasonOK},
		{"2025-03-29T20:59:00Z", tnight, "Sat 21:59 CET", gateway.ReasonOutsideWindow},
	} {
		h.clock.Set(utc(c.at))
		wantDecision(t, c.name, h.checkKey(atLocker(c.text, "A-03")), c.want == gateway.ReasonOK, c.want)
	}
}

// TestRedOutOfOrderPayment: a payment applied late but made earlier (a pay
// station whose report was delayed) must not shorten the grace that a
// later payment already gave.
func TestRedOutOfOrderPayment(t *testing.T) {
	h := newHarness(t)
	text, s := enterWithTicket(h)
	h.clock.Advance(50 * time.Minute) // 10:50: 300 due
	h.pay(gateway.PaymentIn{ID: "ep", Ref: s.ID, Method: gateway.PayEPayment, Amount: 300})
	// A cash coin inserted at 10:20 is reported only now.
	h.pay(gateway.PaymentIn{ID: "cash-late", Ref: text, Method: gateway.PayCash, Amount: 10, At: h.now().Add(-30 * time.Minute)})
	h.clock.Advance(12 * time.Minute) // 11:02: a new unit began, the grace of 10:50 runs
	h.sensor("out-1-loop", true)
	wantDecision(t, "exit within the grace of the 10:50 payment", h.present("out-1", text), true, gateway.ReasonOK)
}

// The fuzz targets sign with fixed keys, so that the keys in the seed
// corpus are valid in every fuzzing worker (each builds its own harness).
var (
	fuzzPriv     = ed25519.NewKeyFromSeed([]byte("lotgate red team operator key 01"))
	fuzzPub      = fuzzPriv.Public().(ed25519.PublicKey)
	fuzzKID      = keys.DeriveKID(fuzzPub)
	strangerPriv = ed25519.NewKeyFromSeed([]byte("lotgate red team stranger key 01"))
	fuzzDevPriv  = ed25519.NewKeyFromSeed([]byte("lotgate red team device key 0001"))
)

// fuzzKeys are the keys of the fuzz corpus, by name: what each is and
// whether the gateway may ever allow it.
type fuzzKey struct {
	claims keys.Claims
	text   string
}

func fuzzSign(tb testing.TB, c keys.Claims, priv ed25519.PrivateKey) []byte {
	tb.Helper()
	b, err := keys.Sign(c, keys.DeriveKID(priv.Public().(ed25519.PublicKey)), priv)
	if err != nil {
		tb.Fatalf("sign %+v: %v", c, err)
	}
	return b
}

// fuzzHarness is a harness that trusts the fixed fuzz operator key, with
// a local list, a revoked key and a car on in-1's loop (so tickets can be
// issued).
func fuzzHarness(f *testing.F) (*harness, map[string]fuzzKey) {
	h := newHarness(f, func(s *gateway.Site) {
		s.TrustedKeys[fuzzKID] = fuzzPub
		s.Capacity.Spaces = math.MaxInt32 // every {TICKET} input leaves a car on the site
	})
	site := h.site.ID
	at := h.now()
	exp := at.Add(-time.Hour).Truncate(time.Second)
	ks := map[string]keys.Claims{
		"exit":      {KeyID: "fz-exit", Site: site, Resources: []string{"gate:out-*"}, Actions: []string{keys.ActionExit}},
		"park":      {KeyID: "fz-park", Site: site, Resources: []string{"gate:*"}, Actions: []string{keys.ActionEnter, keys.ActionExit}},
		"single":    {KeyID: "fz-single", Site: site, Resources: []string{"gate:out-1"}, Actions: []string{keys.ActionExit}, Uses: 1},
		"locker":    {KeyID: "fz-locker", Site: site, Resources: []string{"locker:A-03"}, Actions: []string{keys.ActionOpen}},
		"expired":   {KeyID: "fz-expired", Site: site, Resources: []string{"*"}, Actions: []string{keys.ActionEnter, keys.ActionExit, keys.ActionOpen}, NotBefore: exp.Add(-time.Hour), Expires: exp},
		"future":    {KeyID: "fz-future", Site: site, Resources: []string{"*"}, Actions: []string{keys.ActionEnter, keys.ActionExit, keys.ActionOpen}, NotBefore: at.Add(time.Hour).Truncate(time.Second)},
		"elsewhere": {KeyID: "fz-elsewhere", Site: site + "x", Resources: []string{"*"}, Actions: []string{keys.ActionEnter, keys.ActionExit, keys.ActionOpen}},
		"revoked":   {KeyID: "fz-revoked", Site: site, Resources: []string{"*"}, Actions: []string{keys.ActionEnter, keys.ActionExit, keys.ActionOpen}},
		"bound":     {KeyID: "fz-bound", Site: site, Resources: []string{"*"}, Actions: []string{keys.ActionEnter, keys.ActionExit, keys.ActionOpen}, DeviceKey: fuzzDevPriv.Public().(ed25519.PublicKey)},
		"stranger":  {KeyID: "fz-stranger", Site: site, Resources: []string{"*"}, Actions: []string{keys.ActionEnter, keys.ActionExit, keys.ActionOpen}},
	}
	out := map[string]fuzzKey{}
	for name, c := range ks {
		priv := fuzzPriv
		if name == "stranger" {
			priv = strangerPriv
		}
		b := fuzzSign(f, c, priv)
		text := keys.EncodeText(b)
		if name == "bound" {
			step := keys.Step(at, h.site.Policy.ProofStep)
			text = keys.EncodeProofText(b, keys.Proof{Step: step, Sig: keys.SignProof(c.KeyID, step, fuzzDevPriv)})
			out["bound-plain"] = fuzzKey{claims: c, text: keys.EncodeText(b)}
		}
		out[name] = fuzzKey{claims: c, text: text}
	}
	if err := h.gw.Revoke(h.ctx, gateway.Revocation{KeyID: "fz-revoked", Reason: "fuzz"}); err != nil {
		f.Fatal(err)
	}
	if err := h.gw.UpdateList(h.ctx, gateway.ListUpdate{Full: true, Version: 1, Upsert: []gateway.ListEntry{
		{ID: "CARD-OK", Kind: "rfid", Status: gateway.ListAccepted},
		{ID: "CARD-BLOCKED", Kind: "rfid", Status: gateway.ListBlocked},
		{ID: "CARD-OLD", Kind: "rfid", Status: gateway.ListAccepted, ValidUntil: exp},
	}}); err != nil {
		f.Fatal(err)
	}
	h.sensor("in-1-loop", true)
	return h, out
}

// fuzzTexts is the seed corpus: real keys, tickets ({TICKET} is replaced by
// a freshly issued ticket's ID), list credentials, and damaged forms.
func fuzzTexts(ks map[string]fuzzKey) []string {
	out := []string{
		"", " ", "\x00", "LGT1:", "LGT1:{TICKET}", "lgt1:{TICKET}", " LGT1:{TICKET}\r\n", "LGT1:{TICKET}\x00",
		"LGT1: {TICKET}", "LGT1:LGT1:{TICKET}", "LGT1:%", "LGT1:*", "LGT1:s-", "LG1:", "LGD1:", "lg1:", "LG1",
		"LGT1", "CARD-OK", "card-ok", " CARD-OK\t", "CARD-OK\x00", "CARD-BLOCKED", "CARD-OLD", "CARD-%",
		"list:CARD-OK", "ticket:{TICKET}", "key:fz-exit", "space:P01", strings.Repeat("A", 129),
		strings.Repeat("LGT1:", 1000), "LG1:" + strings.Repeat("0", 5000), "\ufeffLGT1:{TICKET}", "ＬＧＴ１:{TICKET}",
		"LGT1:\u0131", "LG1:\u017f", "\u00a0CARD-OK", "CARD-OK\u200b",
	}
	for _, k := range ks {
		out = append(out, k.text, " "+k.text+"\n", strings.ToLower(k.text), k.text[:len(k.text)-1], k.text+"A",
			k.text[:len(k.text)/2], strings.Replace(k.text, "LG1:", "LGD1:", 1), strings.Replace(k.text, "LGD1:", "LG1:", 1))
	}
	return out
}

// fuzzOracle says whether the gateway may allow text for resource and
// action: only a trusted, unexpired, unrevoked key for this site,
// resource and action, with its proof when it is bound to a device.
func fuzzKeyMayOpen(h *harness, text, resource string, action gateway.Action) (keys.Claims, bool) {
	p, err := keys.ParsePresentation(text)
	if err != nil {
		return keys.Claims{}, false
	}
	c, err := keys.Verify(p.Key, func(kid string) (ed25519.PublicKey, bool) {
		if kid == fuzzKID {
			return fuzzPub, true
		}
		return nil, false
	})
	if err != nil || c.Site != h.site.ID || !c.AllowsResource(resource) || !c.AllowsAction(string(action)) ||
		c.CheckTime(h.now(), h.site.Location, h.site.Policy.ClockSkew) != keys.TimeOK || c.KeyID == "fz-revoked" {
		return c, false
	}
	if len(c.DeviceKey) > 0 && (p.Proof == nil || !keys.VerifyProof(c.DeviceKey, c.KeyID, *p.Proof)) {
		return c, false
	}
	return c, true
}

// FuzzPresent shows arbitrary text at every lane, to Authorize for a
// locker and a gate, and to CheckKey. Nothing panics or fails; nothing is
// allowed but a valid credential for that lane or resource; every decision
// but CheckKey's is recorded, in order; a single-use key opens once.
//
// The committed test runs the seed corpus; fuzz with
//
//	go test ./gateway/ -run '^$' -fuzz FuzzPresent -fuzztime 60s
func FuzzPresent(f *testing.F) {
	h, ks := fuzzHarness(f)
	for _, s := range fuzzTexts(ks) {
		f.Add(s)
	}
	var (
		mu      sync.Mutex // fuzz bodies run one at a time per process; this guards the maps anyway
		tickets = map[string]bool{}
		uses    = map[string]int{}
		lastSeq uint64
	)
	f.Fuzz(func(t *testing.T, text string) {
		mu.Lock()
		defer mu.Unlock()
		ctx := context.Background()
		if strings.Contains(text, "{TICKET}") {
			// The car before drove in; a new one stands on the loop.
			h.gw.SensorChanged(ctx, "in-1-loop", false)
			h.gw.SensorChanged(ctx, "in-1-loop", true)
			d, ticket, err := h.gw.IssueTicket(ctx, "in-1")
			if err != nil || !d.Allowed {
				t.Fatalf("IssueTicket: %v, %v", d, err)
			}
			id := strings.TrimPrefix(ticket, gateway.TicketPrefix)
			tickets[id] = true
			text = strings.ReplaceAll(text, "{TICKET}", id)
		}
		seq := func(what string, d gateway.Decision) {
			if d.Seq <= lastSeq {
				t.Fatalf("%s %q: decision %v has seq %d after %d; want a new event", what, text, d, d.Seq, lastSeq)
			}
			lastSeq = d.Seq
		}
		allowed := func(what string, d gateway.Decision, resource string, action gateway.Action) {
			if !d.Allowed {
				return
			}
			trimmed := strings.TrimSpace(text)
			up := strings.ToUpper(trimmed)
			switch {
			case strings.HasPrefix(up, keys.Prefix), strings.HasPrefix(up, keys.ProofPrefix):
				c, ok := fuzzKeyMayOpen(h, text, resource, action)
				if !ok {
					t.Fatalf("%s %q: %v; want a refusal (claims %+v)", what, text, d, c)
				}
				if c.Uses > 0 {
					uses[c.KeyID]++
					// An allowed exit nobody drove through gives its use
					// back (exit.undone): it does not count.
					undone := 0
					var evs []gateway.Event
					if err := h.db.View(ctx, func(tx gateway.Tx) error {
						var err error
						evs, err = tx.Events(1, math.MaxInt32)
						return err
					}); err != nil {
						t.Fatal(err)
					}
					for _, e := range evs {
						if e.Type == gateway.EvExitUndone && strings.Contains(string(e.Data), `"key_id":"`+c.KeyID+`"`) {
							undone++
						}
					}
					if uses[c.KeyID]-undone > c.Uses {
						t.Fatalf("%s %q: key %s with %d uses allowed %d times (%d given back)", what, text, c.KeyID, c.Uses, uses[c.KeyID], undone)
					}
				}
			case strings.HasPrefix(up, gateway.TicketPrefix):
				if id := up[len(gateway.TicketPrefix):]; !tickets[id] || !strings.HasPrefix(resource, "gate:out-") {
					t.Fatalf("%s %q: %v; want a refusal (ticket %q issued: %v)", what, text, d, id, tickets[id])
				}
				delete(tickets, up[len(gateway.TicketPrefix):])
			default:
				if trimmed != "CARD-OK" {
					t.Fatalf("%s %q: %v; want a refusal", what, text, d)
				}
			}
		}
		for _, lane := range []string{"in-1", "out-1", "out-2"} {
			d, err := h.gw.PresentAtLane(ctx, lane, text)
			if err != nil {
				t.Fatalf("PresentAtLane(%s, %q): %v", lane, text, err)
			}
			seq("PresentAtLane "+lane, d)
			action := gateway.ActionExit
			if lane == "in-1" {
				action = gateway.ActionEnter
			}
			allowed("PresentAtLane "+lane, d, "gate:"+lane, action)
		}
		for _, req := range []gateway.AccessRequest{
			{Resource: "locker:A-03", Action: gateway.ActionOpen, Channel: gateway.ChannelScanner},
			{Resource: "gate:out-2", Action: gateway.ActionExit, Channel: gateway.ChannelRemote},
			{Resource: "gate:out-1", Action: gateway.ActionExit},
		} {
			req.Text = text
			d, err := h.gw.Authorize(ctx, req)
			if err != nil {
				t.Fatalf("Authorize(%s %s, %q): %v", req.Action, req.Resource, text, err)
			}
			seq("Authorize "+req.Resource, d)
			allowed("Authorize "+req.Resource, d, req.Resource, req.Action)
		}
		d, err := h.gw.CheckKey(ctx, gateway.AccessRequest{Text: text, Resource: "gate:out-1", Action: gateway.ActionExit, Channel: gateway.ChannelScanner})
		if err != nil {
			t.Fatalf("CheckKey(%q): %v", text, err)
		}
		if d.Seq != 0 {
			t.Fatalf("CheckKey(%q): %v recorded as %d; want nothing recorded", text, d, d.Seq)
		}
		if d.Allowed {
			if _, ok := fuzzKeyMayOpen(h, text, "gate:out-1", gateway.ActionExit); !ok {
				t.Fatalf("CheckKey(%q): %v; want a refusal", text, d)
			}
		}
		// Let the barriers come down for the next input.
		h.gw.Tick(ctx, h.clock.Advance(h.site.Policy.BarrierOpenTimeout))
		h.clock.Advance(-h.site.Policy.BarrierOpenTimeout)
	})
}

// FuzzAuthorize asks for arbitrary resources and actions with a key that
// allows everything: only resources the site has, with actions they
// support, are allowed; every decision is recorded.
func FuzzAuthorize(f *testing.F) {
	h, _ := fuzzHarness(f)
	all := keys.Claims{KeyID: "fz-all", Site: h.site.ID, Resources: []string{"*"}, Actions: []string{keys.ActionEnter,
		keys.ActionExit, keys.ActionOpen, keys.ActionUnlock, keys.ActionLock}}
	text := keys.EncodeText(fuzzSign(f, all, fuzzPriv))
	known := map[string]bool{}
	for _, l := range h.site.Lanes {
		known[l.Resource()] = true
	}
	for _, s := range h.site.Spaces {
		known[s.Resource()] = true
	}
	for _, l := range h.site.Lockers {
		for _, c := range l.Compartments {
			known[c.Resource()] = true
		}
	}
	for _, d := range h.site.Doors {
		known[d.Resource()] = true
	}
	for r := range known {
		for _, a := range []string{"enter", "exit", "open", "unlock", "lock", ""} {
			f.Add(r, a)
		}
	}
	for _, r := range []string{"", "*", "gate:", "gate:*", "gate:out-1x", "gate:out-", "locker:", "locker:A-0", "door:lobby ",
		"GATE:out-1", "gate:OUT-1", "gate:out-1\x00", "space:P01*", "door:*", "gate:in-1\n"} {
		f.Add(r, "open")
		f.Add(r, "exit")
	}
	var lastSeq uint64
	f.Fuzz(func(t *testing.T, resource, action string) {
		ctx := context.Background()
		d, err := h.gw.Authorize(ctx, gateway.AccessRequest{Text: text, Resource: resource, Action: gateway.Action(action),
			Channel: gateway.ChannelScanner})
		if err != nil {
			t.Fatalf("Authorize(%q, %q): %v", resource, action, err)
		}
		if d.Seq <= lastSeq {
			t.Fatalf("Authorize(%q, %q): %v has seq %d after %d; want a new event", resource, action, d, d.Seq, lastSeq)
		}
		lastSeq = d.Seq
		if !d.Allowed {
			return
		}
		lane := strings.HasPrefix(resource, "gate:")
		switch {
		case !known[resource]:
			t.Fatalf("Authorize(%q, %q): %v for a resource the site does not have", resource, action, d)
		case lane && action != "enter" && action != "exit" && action != "":
			t.Fatalf("Authorize(%q, %q): %v; a lane only enters or exits", resource, action, d)
		case !lane && (action == "enter" || action == "exit"):
			t.Fatalf("Authorize(%q, %q): %v; only lanes enter or exit", resource, action, d)
		}
		// Leave for the next input: out of any session the entry opened.
		if lane && (action == "enter" || (action == "" && resource == "gate:in-1")) {
			if err := h.gw.ResetPassback(ctx, "fz-all", attendant); err != nil {
				t.Fatal(err)
			}
		}
		h.gw.Tick(ctx, h.clock.Advance(h.site.Policy.BarrierOpenTimeout))
		h.clock.Advance(-h.site.Policy.BarrierOpenTimeout)
	})
}

// TestRedPositionNotAPosition: a remote request's position must be a place
// on Earth to count as inside the geofence.
func TestRedPositionNotAPosition(t *testing.T) {
	h := newHarness(t)
	c := exitKey(0)
	c.Presence = keys.Presence{Policy: keys.PresenceGeofence}
	text, _ := h.mustKey(c)
	lat, lon := h.site.Geofence.Center.Lat, h.site.Geofence.Center.Lon
	for _, p := range []gateway.Point{
		{Lat: math.NaN(), Lon: math.NaN()}, {Lat: math.Inf(1), Lon: lon}, {Lat: lat, Lon: math.NaN()},
		{Lat: lat + 360, Lon: lon}, {Lat: lat, Lon: lon + 360}, {Lat: lat - 360, Lon: lon - 720},
	} {
		d := h.authorize(gateway.AccessRequest{Text: text, Resource: "gate:out-1", Action: gateway.ActionExit, Channel: gateway.ChannelRemote, Position: &p})
		wantDecision(t, fmt.Sprintf("remote from %v", p), d, false, gateway.ReasonOutsideGeofence)
	}
	h.wantBarrier("positions that are not positions", "out-1-barrier", false)
	d := h.authorize(gateway.AccessRequest{Text: text, Resource: "gate:out-1", Action: gateway.ActionExit, Channel: gateway.ChannelRemote,
		Position: &gateway.Point{Lat: lat, Lon: lon}})
	wantDecision(t, "remote from the centre", d, true, gateway.ReasonOK)
}

// TestRedProofWithClockBehind: a device proof is only as fresh as the clock
// that judges it. With the wall clock behind the trusted time, a proof
// captured at the time the clock now shows must not open.
func TestRedProofWithClockBehind(t *testing.T) {
	h := newHarness(t)
	pub, priv := deviceKey(t)
	c := lockerKey()
	c.DeviceKey = pub
	b, c := h.sign(c)
	then := h.now()
	captured := proofText(b, c.KeyID, keys.Step(then, h.site.Policy.ProofStep), priv) // photographed, never shown
	h.clock.Advance(24 * time.Hour)
	if _, err := h.gw.AdvanceTrustedTime(h.ctx, h.now(), "test"); err != nil {
		t.Fatal(err)
	}
	h.clock.Set(then) // a power cut; the clock restarts where it was a day ago
	d := h.authorize(atLocker(captured, "A-03"))
	wantDecision(t, "day-old proof, clock a day behind", d, false, gateway.ReasonClockUntrusted)
	h.wantRecorded("day-old proof, clock a day behind", d, gateway.EvAccess)
	h.wantLocked("day-old proof", "A-03-lock", true)
}

// FuzzPayment applies arbitrary payments (ID, reference, amount, time) to
// a site with a ticket session and a space session: nothing panics, an
// error is one of the kinds a caller can act on, a session's total paid
// only grows and never wraps, and a payment ID is applied at most once.
func FuzzPayment(f *testing.F) {
	h, _ := fuzzHarness(f)
	ticket, s := enterWithTicket(h)
	h.parkOn("P01")
	h.clock.Advance(50 * time.Minute)
	for _, ref := range []string{ticket, s.ID, "ticket:" + strings.TrimPrefix(ticket, gateway.TicketPrefix), strings.ToLower(ticket),
		"space:P01", "P01", "", "LGT1:", "s-", "%", "key:fz-exit", "lost:"} {
		for _, amount := range []int64{1, 300, 0, -1, math.MaxInt64, math.MinInt64} {
			f.Add("p-1", ref, amount, int64(0))
		}
	}
	f.Add("p-2", ticket, int64(100), int64(-1<<62))
	f.Add("p-3", ticket, int64(100), int64(1<<62))
	f.Add("", ticket, int64(100), int64(0))
	paid := map[string]int64{}
	applied := map[string]string{} // payment ID → session
	f.Fuzz(func(t *testing.T, id, ref string, amount, atNanos int64) {
		ctx := context.Background()
		var at time.Time
		if atNanos != 0 {
			at = time.Unix(0, atNanos)
		}
		r, err := h.gw.ApplyPayment(ctx, gateway.PaymentIn{ID: id, Ref: ref, Method: gateway.PayEPayment, Amount: amount, At: at})
		if err != nil {
			switch gateway.KindOf(err) {
			case gateway.Invalid, gateway.NotFound, gateway.Conflict:
			default:
				t.Fatalf("ApplyPayment(%q, %q, %d, %v): %v (kind %s); want Invalid, NotFound or Conflict", id, ref, amount, at, err, gateway.KindOf(err))
			}
			return
		}
		if prev, ok := applied[id]; ok && (!r.Duplicate || r.SessionID != prev) {
			t.Fatalf("payment %q applied again: %+v (first to %s)", id, r, prev)
		}
		applied[id] = r.SessionID
		v, err := h.gw.LookupSession(ctx, r.SessionID)
		if err != nil {
			t.Fatal(err)
		}
		if v.Session.Paid < paid[r.SessionID] || v.Session.Paid < 0 || v.Due.Amount < 0 {
			t.Fatalf("session %s after payment %q of %d: paid %d (was %d), due %d", r.SessionID, id, amount, v.Session.Paid, paid[r.SessionID], v.Due.Amount)
		}
		paid[r.SessionID] = v.Session.Paid
	})
}

// TestRedProofOnUnboundKey: a proof attached to a key that is not bound to
// a device proves nothing and is not checked, so it must not be recorded
// either: the key works the same with or without it, again and again.
func TestRedProofOnUnboundKey(t *testing.T) {
	h := newHarness(t)
	_, priv := deviceKey(t)
	b, c := h.sign(lockerKey())
	step := keys.Step(h.now(), h.site.Policy.ProofStep)
	for _, text := range []string{
		proofText(b, c.KeyID, step, priv),
		proofText(b, c.KeyID, step, priv),
		keys.EncodeProofText(b, keys.Proof{Step: math.MaxInt64, Sig: make([]byte, 64)}),
		keys.EncodeProofText(b, keys.Proof{Step: math.MaxInt64, Sig: make([]byte, 64)}),
	} {
		d := h.authorize(atLocker(text, "A-03"))
		wantDecision(t, "unbound key with a proof attached", d, true, gateway.ReasonOK)
	}
	var fresh bool
	if err := h.db.Update(h.ctx, func(tx gateway.Tx) error {
		var err error
		fresh, err = tx.UseProofStep(c.KeyID, step)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !fresh {
		t.Errorf("proof step %d of unbound key %s was recorded as used; want nothing recorded", step, c.KeyID)
	}
}
