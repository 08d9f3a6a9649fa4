package gateway_test

import (
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// TestOverrideLane lets an unpaid ticket out: the barrier rises, the
// session closes marked overridden with what it owed, and the override is
// audited.
func TestOverrideLane(t *testing.T) {
	h := newHarness(t)
	text, s := enterWithTicket(h)
	h.clock.Advance(time.Hour)
	for _, o := range []gateway.Override{{}, {Operator: "anna"}, {Reason: "broken card reader"}} {
		if _, err := h.gw.OverrideLane(h.ctx, "out-1", text, o); gateway.KindOf(err) != gateway.Invalid {
			t.Errorf("OverrideLane with %+v: got %v; want Invalid", o, err)
		}
	}
	if _, err := h.gw.OverrideLane(h.ctx, "out-9", "", attendant); gateway.KindOf(err) != gateway.NotFound {
		t.Errorf("OverrideLane at an unknown lane: got %v; want NotFound", err)
	}
	h.wantBarrier("refused overrides", "out-1-barrier", false)

	d, err := h.gw.OverrideLane(h.ctx, "out-1", text, attendant)
	if err != nil {
		t.Fatalf("OverrideLane: %v", err)
	}
	if !d.Allowed || d.Reason != gateway.ReasonOverride || d.SessionID != s.ID || d.Seq == 0 {
		t.Errorf("override: %+v; want allowed, reason override, session %s, recorded", d, s.ID)
	}
	h.wantBarrier("override", "out-1-barrier", true)
	v := h.session(s.ID)
	if v.Session.State != gateway.SessionClosed || !v.Session.Overridden {
		t.Errorf("overridden session: %+v; want closed and overridden", v.Session)
	}
	e := h.event(d.Seq)
	m := eventData(t, e)
	if e.Type != gateway.EvOverride || m["unpaid"] != 300.0 || m["operator"] != attendant.Operator || m["session_id"] != s.ID {
		t.Errorf("override event %s %s; want override of %s with unpaid 300 by %s", e.Type, e.Data, s.ID, attendant.Operator)
	}
}

// TestOverrideExitClearsPassback lets a key car out by override: the key
// may enter again.
func TestOverrideExitClearsPassback(t *testing.T) {
	h := newHarness(t)
	text, id := h.mustKey(parkKey())
	h.sensor("in-1-loop", true)
	d := h.present("in-1", text)
	wantDecision(t, "entry", d, true, gateway.ReasonOK)
	h.sensor("in-1-loop", false)
	h.clock.Advance(time.Hour)
	if _, err := h.gw.OverrideLane(h.ctx, "out-1", "key:"+id, attendant); err != nil {
		t.Fatalf("OverrideLane: %v", err)
	}
	if v := h.session(d.SessionID); v.Session.State != gateway.SessionClosed {
		t.Fatalf("session after the override: %s; want closed", v.Session.State)
	}
	h.clock.Advance(time.Hour)
	h.sensor("in-1-loop", true)
	wantDecision(t, "entry after leaving by override", h.present("in-1", text), true, gateway.ReasonOK)
}

// TestCapacityCountsCarsNotSpaces parks a ticket car on a flap-lock space:
// the car takes one place of the site's capacity, not two.
func TestCapacityCountsCarsNotSpaces(t *testing.T) {
	h := newHarness(t, smallSite)
	h.ticket()
	h.sensor("P01-sensor", true)
	h.advance(h.site.Spaces[0].RaiseAfter)
	h.wantFlap("parked", "P01-flap", true)
	if st, n, err := h.gw.Occupancy(h.ctx); err != nil || st != gateway.Open || n != 1 {
		t.Errorf("Occupancy with one car parked on P01: %s, %d, %v; want open, 1", st, n, err)
	}
	h.ticket()
	h.sensor("in-1-loop", true)
	d, _, err := h.gw.IssueTicket(h.ctx, "in-1")
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, "third car", d, false, gateway.ReasonSiteFull)
}

// TestBadInputs checks what happens with unknown devices, lanes and
// references: errors of the right kind, or a recorded event, never an
// opening.
func TestBadInputs(t *testing.T) {
	h := newHarness(t)
	if _, err := h.gw.PresentAtLane(h.ctx, "nowhere", "CARD"); gateway.KindOf(err) != gateway.NotFound {
		t.Errorf("PresentAtLane at an unknown lane: got %v; want NotFound", err)
	}
	if _, _, err := h.gw.IssueTicket(h.ctx, "out-1"); gateway.KindOf(err) != gateway.NotFound {
		t.Errorf("IssueTicket at an exit: got %v; want NotFound", err)
	}
	if _, err := h.gw.ReleaseSpace(h.ctx, "P99"); gateway.KindOf(err) != gateway.NotFound {
		t.Errorf("ReleaseSpace of an unknown space: got %v; want NotFound", err)
	}
	if _, err := h.gw.LookupSession(h.ctx, "ticket:NOSUCH"); gateway.KindOf(err) != gateway.NotFound {
		t.Errorf("LookupSession of an unknown ticket: got %v; want NotFound", err)
	}

	before := h.lastSeq()
	h.gw.Scanned(h.ctx, "ghost-scanner", "CARD")
	evs := h.eventsOf(gateway.EvAccess, before)
	if len(evs) != 1 || eventData(t, evs[0])["reason"] != string(gateway.ReasonUnknownDevice) {
		t.Errorf("scan from an unknown scanner: events %v; want one access event with reason unknown_device", evs)
	}
	h.gw.SensorChanged(h.ctx, "ghost-loop", true)
	h.gw.TicketRequested(h.ctx, "ghost-ticket")
	if got := h.lastSeq(); got != before+1 {
		t.Errorf("unknown sensor and ticket button: log went %d → %d; want nothing recorded", before+1, got)
	}

	// Cash for a ticket the gateway does not know is not lost: it raises
	// an alarm the operator sees.
	before = h.lastSeq()
	if _, err := h.sim.PayCash(h.ctx, gateway.TicketPrefix+"NOSUCH", 300); err != nil {
		t.Fatal(err)
	}
	alarms := h.eventsOf(gateway.EvAlarm, before)
	if len(alarms) != 1 || eventData(t, alarms[0])["alarm"] != "cash_payment_unapplied" || eventData(t, alarms[0])["amount"] != 300.0 {
		t.Errorf("cash for an unknown ticket: alarms %v; want one cash_payment_unapplied of 300", alarms)
	}
	for _, l := range h.site.Lanes {
		h.wantBarrier("after bad inputs", l.Barrier, false)
	}
}
