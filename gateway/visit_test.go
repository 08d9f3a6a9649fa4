package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lotgate/lotgate/drivers/sim"
	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/keys"
)

// TestSingleUseKeyVisit: a single-use key is one visit, in and out; it
// cannot enter a second time.
func TestSingleUseKeyVisit(t *testing.T) {
	h := newHarness(t)
	c := parkKey()
	c.Uses = 1
	text, _ := h.mustKey(c)
	h.sensor("in-1-loop", true)
	wantDecision(t, "entry", h.present("in-1", text), true, gateway.ReasonOK)
	h.sensor("in-1-loop", false)
	h.clock.Advance(10 * time.Minute) // within the free minutes
	wantDecision(t, "exit after entering", h.present("out-1", text), true, gateway.ReasonOK)
	wantDecision(t, "second exit", h.present("out-2", text), false, gateway.ReasonUsedUp)
	h.sensor("in-1-loop", true)
	wantDecision(t, "second entry", h.present("in-1", text), false, gateway.ReasonUsedUp)
}

// TestRemoteGateOpen opens an exit from the holder's phone: the lane's
// rules apply, the barrier rises, and the presence policy is enforced for
// remote requests — including one that forgot to say its channel.
func TestRemoteGateOpen(t *testing.T) {
	h := newHarness(t)
	c := exitKey(0)
	c.Presence = keys.Presence{Policy: keys.PresenceGeofence}
	text, _ := h.mustKey(c)
	far := &gateway.Point{Lat: h.site.Geofence.Center.Lat + 0.05, Lon: h.site.Geofence.Center.Lon}
	here := &gateway.Point{Lat: h.site.Geofence.Center.Lat, Lon: h.site.Geofence.Center.Lon}

	d := h.authorize(gateway.AccessRequest{Text: text, Resource: "gate:out-1", Action: gateway.ActionExit, Channel: gateway.ChannelRemote, Position: far})
	wantDecision(t, "remote, far away", d, false, gateway.ReasonOutsideGeofence)
	d = h.authorize(gateway.AccessRequest{Text: text, Resource: "gate:out-1", Action: gateway.ActionExit, Position: far})
	wantDecision(t, "no channel: treated as remote", d, false, gateway.ReasonOutsideGeofence)
	h.wantBarrier("refused", "out-1-barrier", false)

	d = h.authorize(gateway.AccessRequest{Text: text, Resource: "gate:out-1", Action: gateway.ActionExit, Channel: gateway.ChannelRemote, Position: here})
	wantDecision(t, "remote, on site", d, true, gateway.ReasonOK)
	h.wantBarrier("opened remotely", "out-1-barrier", true)

	d = h.authorize(gateway.AccessRequest{Text: text, Resource: "gate:out-2", Action: gateway.ActionEnter, Channel: gateway.ChannelRemote, Position: here})
	wantDecision(t, "enter at an exit lane", d, false, gateway.ReasonActionNotAllowed)
	h.wantBarrier("wrong action", "out-2-barrier", false)
}

// TestTicketAtEntry: a ticket is printed at the entry, never read there.
func TestTicketAtEntry(t *testing.T) {
	h := newHarness(t)
	ticket := h.ticket()
	h.sensor("in-1-loop", false)
	h.sensor("in-1-loop", true)
	wantDecision(t, "ticket scanned at the entry", h.present("in-1", ticket), false, gateway.ReasonWrongLane)
}

// restart builds a second gateway on the same store with fresh simulated
// devices, as after a power cut: flaps start down, sensors report their
// state at start.
func (h *harness) restart(t *testing.T) (*gateway.Gateway, *sim.Site) {
	t.Helper()
	devs, err := sim.New(h.site, nil)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Options{Site: h.site, Store: h.db, Actuators: devs.Actuators(), Clock: h.clock})
	if err != nil {
		t.Fatal(err)
	}
	devs.Attach(gw)
	if err := gw.Open(h.ctx); err != nil {
		t.Fatal(err)
	}
	return gw, devs
}

// TestSpaceAfterRestart: an unpaid space session survives a restart. If the
// car is still there its flap rises again; if it left while the gateway was
// down, the session closes as left unpaid and is listed as overridden.
func TestSpaceAfterRestart(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"P01", "P02", "P03"} {
		h.sensor(id+"-sensor", true)
	}
	h.advance(h.site.Spaces[0].RaiseAfter)
	h.clock.Advance(time.Hour)
	h.pay(gateway.PaymentIn{ID: "p03", Ref: "space:P03", Method: gateway.PayEPayment, Amount: 10000})
	h.pay(gateway.PaymentIn{ID: "p02-part", Ref: "space:P02", Method: gateway.PayEPayment, Amount: 100})

	gw, devs := h.restart(t)
	up := func(id string) bool {
		v, err := devs.FlapUp(id)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// At start the drivers report: P01's car is still there, P02's and
	// P03's left while the gateway was down.
	gw.SensorChanged(h.ctx, "P01-sensor", true)
	gw.SensorChanged(h.ctx, "P02-sensor", false)
	gw.SensorChanged(h.ctx, "P03-sensor", false)
	now := h.clock.Advance(h.site.Spaces[0].RaiseAfter)
	gw.Tick(h.ctx, now)
	if !up("P01-flap") {
		t.Errorf("P01: car still there after restart, flap down; want up")
	}
	if up("P02-flap") || up("P03-flap") {
		t.Errorf("P02/P03 flaps up on empty spaces")
	}
	err := h.db.View(h.ctx, func(tx gateway.Tx) error {
		open, err := tx.OpenSessions()
		for _, o := range open {
			if o.Space == "P02" || o.Space == "P03" {
				t.Errorf("%s: session still open after the car left", o.Space)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var unpaid int
	for _, e := range h.eventsOf(gateway.EvAlarm, 0) {
		if d := eventData(t, e); d["alarm"] == "left_unpaid" {
			unpaid++
			if d["space"] != "P02" {
				t.Errorf("left_unpaid alarm for %v; want P02 only", d["space"])
			}
		}
	}
	if unpaid != 1 {
		t.Errorf("left_unpaid alarms: %d; want 1 (P02, partly paid)", unpaid)
	}
	closed := 0
	for _, e := range h.eventsOf(gateway.EvSessionClosed, 0) {
		d := eventData(t, e)
		switch d["how"] {
		case "left_unpaid":
			closed++
			if d["overridden"] != true {
				t.Errorf("left_unpaid session not marked overridden: %v", d)
			}
		case "space_empty":
			closed++
			if d["overridden"] != false {
				t.Errorf("paid space session marked overridden: %v", d)
			}
		}
	}
	if closed != 2 {
		t.Errorf("closed space sessions: %d; want 2 (P02 unpaid, P03 paid)", closed)
	}
}

// TestFireAlarmSpaceUnpaid: the fire alarm lowers a flap on an unpaid
// space; the car that leaves is listed as left unpaid, and a car that stays
// is locked in again after the alarm.
func TestFireAlarmSpaceUnpaid(t *testing.T) {
	h := newHarness(t)
	h.sensor("P01-sensor", true)
	h.sensor("P02-sensor", true)
	h.advance(h.site.Spaces[0].RaiseAfter)
	h.clock.Advance(time.Hour)
	h.sensor("fire-panel", true)
	h.wantFlap("fire", "P01-flap", false)
	h.wantFlap("fire", "P02-flap", false)
	h.sensor("P01-sensor", false) // flees
	h.advance(h.site.Spaces[0].EmptyFor)
	h.sensor("fire-panel", false)
	h.advance(h.site.Spaces[1].RaiseAfter)
	h.wantFlap("after the alarm, car still there", "P02-flap", true)
	found := false
	for _, e := range h.eventsOf(gateway.EvSessionClosed, 0) {
		if d := eventData(t, e); d["how"] == "left_unpaid" && d["overridden"] == true {
			found = true
		}
	}
	if !found {
		t.Errorf("the car that left during the alarm was not closed as left_unpaid")
	}
}

// TestPrepaidReservation: a prepaid reservation covers its window; overstay
// is charged from its end. Another reservation of the same holder does not
// confuse which one the session matched.
func TestPrepaidReservation(t *testing.T) {
	h := newHarness(t)
	text, keyID := h.mustKey(parkKey())
	now := h.now() // Wednesday 10:00
	for _, r := range []gateway.Reservation{
		{ID: "res-today", Credential: "key:" + keyID, From: now.Add(-5 * time.Minute), Until: now.Add(2 * time.Hour), Prepaid: true},
		{ID: "res-tomorrow", Credential: "key:" + keyID, From: now.Add(24 * time.Hour), Until: now.Add(26 * time.Hour)},
	} {
		if err := h.gw.PutReservation(h.ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	h.sensor("in-1-loop", true)
	d := h.present("in-1", text)
	wantDecision(t, "entry", d, true, gateway.ReasonOK)
	h.sensor("in-1-loop", false)
	if v := h.session(d.SessionID); v.Session.ReservationID != "res-today" {
		t.Fatalf("session matched reservation %q; want res-today", v.Session.ReservationID)
	}
	// 12:20 is within the late allowance (30 min) after 12:00: nothing due.
	h.clock.Set(now.Add(2*time.Hour + 20*time.Minute))
	if v := h.session(d.SessionID); v.Due.Amount != 0 {
		t.Errorf("due within the late allowance: %d; want 0", v.Due.Amount)
	}
	// 12:40: overstay from 12:00, units 12:00 and 12:30: 300.
	h.clock.Set(now.Add(2*time.Hour + 40*time.Minute))
	if v := h.session(d.SessionID); v.Due.Amount != 300 {
		t.Errorf("due for overstay: %d; want 300", v.Due.Amount)
	}
	wantDecision(t, "exit with overstay unpaid", h.present("out-1", text), false, gateway.ReasonPaymentDue)
}

// TestBadScannerText: text that is neither a key, a ticket nor a sane
// credential is refused as malformed and recorded; nothing opens.
func TestBadScannerText(t *testing.T) {
	h := newHarness(t)
	h.sensor("out-1-loop", true)
	for _, text := range []string{strings.Repeat("X", 5000), "LG1:not-base45!", "LGD1:", "LGT1:"} {
		d := h.present("out-1", text)
		if d.Allowed || d.Seq == 0 {
			t.Errorf("text %.20q…: %v (seq %d); want a recorded denial", text, d, d.Seq)
		}
	}
	wantDecision(t, "5000 X", h.present("out-1", strings.Repeat("X", 5000)), false, gateway.ReasonMalformed)
	h.wantBarrier("after bad texts", "out-1-barrier", false)
}

// TestExitNotPassed: an allowed exit whose car never passes is undone when
// the barrier times out: the session reopens and the ticket works again.
func TestExitNotPassed(t *testing.T) {
	h := newHarness(t)
	ticket := h.ticket()
	h.sensor("in-1-loop", false)
	h.clock.Advance(10 * time.Minute) // free
	// The ticket is shown with no car on the loop (held up at the window
	// from the car behind, say), and no car drives through.
	d := h.present("out-1", ticket)
	wantDecision(t, "exit", d, true, gateway.ReasonOK)
	h.advance(h.site.Policy.BarrierOpenTimeout)
	h.wantBarrier("timed out", "out-1-barrier", false)
	if v := h.session(d.SessionID); v.Session.State != gateway.SessionOpen {
		t.Fatalf("session after an exit nobody used: %s; want open again", v.Session.State)
	}
	if n := len(h.eventsOf(gateway.EvSessionReopened, 0)); n != 1 {
		t.Errorf("session.reopened events: %d; want 1", n)
	}
	h.sensor("out-2-loop", true)
	wantDecision(t, "second try", h.present("out-2", ticket), true, gateway.ReasonOK)
	h.sensor("out-2-loop", false)
	h.advance(time.Second)
	if v := h.session(d.SessionID); v.Session.State != gateway.SessionClosed {
		t.Errorf("session after the car passed: %s; want closed", v.Session.State)
	}
}

// TestExitOnlyKeyNotPassed: a single-use key that may only exit (no
// session behind it) is allowed out, no car passes, the barrier times out:
// its use is given back and it lets the car out on the second try, once.
func TestExitOnlyKeyNotPassed(t *testing.T) {
	h := newHarness(t)
	c := exitKey(1)
	text, _ := h.mustKey(c)
	wantDecision(t, "exit", h.present("out-1", text), true, gateway.ReasonOK)
	h.advance(h.site.Policy.BarrierOpenTimeout)
	h.wantBarrier("timed out", "out-1-barrier", false)
	evs := h.eventsOf(gateway.EvExitUndone, 0)
	if len(evs) != 1 || eventData(t, evs[0])["lane"] != "out-1" {
		t.Fatalf("exit.undone events: %v; want one at out-1", evs)
	}
	h.sensor("out-2-loop", true)
	wantDecision(t, "second try", h.present("out-2", text), true, gateway.ReasonOK)
	h.sensor("out-2-loop", false)
	h.advance(time.Second)
	h.sensor("out-1-loop", true)
	wantDecision(t, "third try after the car left", h.present("out-1", text), false, gateway.ReasonUsedUp)
	if n := len(h.eventsOf(gateway.EvExitUndone, 0)); n != 1 {
		t.Errorf("exit.undone events after the car passed: %d; want still 1", n)
	}
}

// TestSingleUseKeyExitNotPassed: a single-use key that entered, allowed
// out but not passing, may try again.
func TestSingleUseKeyExitNotPassed(t *testing.T) {
	h := newHarness(t)
	c := parkKey()
	c.Uses = 1
	text, _ := h.mustKey(c)
	h.sensor("in-1-loop", true)
	wantDecision(t, "entry", h.present("in-1", text), true, gateway.ReasonOK)
	h.sensor("in-1-loop", false)
	h.clock.Advance(5 * time.Minute)
	wantDecision(t, "exit", h.present("out-1", text), true, gateway.ReasonOK)
	h.advance(h.site.Policy.BarrierOpenTimeout)
	wantDecision(t, "exit again", h.present("out-1", text), true, gateway.ReasonOK)
}

// TestFlapUpOnEmptySpace: a flap up over a space that reads empty is
// lowered after EmptyFor, and the session closes as left unpaid.
func TestFlapUpOnEmptySpace(t *testing.T) {
	h := newHarness(t)
	h.sensor("P04-sensor", true)
	h.advance(h.site.Spaces[3].RaiseAfter)
	h.wantFlap("parked", "P04-flap", true)
	h.clock.Advance(time.Hour)
	h.sensor("P04-sensor", false) // forced over the flap
	h.advance(h.site.Spaces[3].EmptyFor)
	h.wantFlap("empty", "P04-flap", false)
	var alarms []string
	for _, e := range h.eventsOf(gateway.EvAlarm, 0) {
		alarms = append(alarms, eventData(t, e)["alarm"].(string))
	}
	if strings.Join(alarms, ",") != "flap_up_on_empty_space,left_unpaid" {
		t.Errorf("alarms: %v; want flap_up_on_empty_space, left_unpaid", alarms)
	}
}

// TestBarrierAfterRestart: a barrier whose position is unknown after a
// restart is lowered when its loop first reports clear, never onto a car.
func TestBarrierAfterRestart(t *testing.T) {
	h := newHarness(t)
	gw, devs := h.restart(t)
	gw.SensorChanged(h.ctx, "out-1-loop", true)
	gw.SensorChanged(h.ctx, "out-2-loop", false)
	if got := devs.History("out-2-barrier"); strings.Join(got, ",") != "lower" {
		t.Errorf("out-2 (loop clear): history %v; want [lower]", got)
	}
	if got := devs.History("out-1-barrier"); len(got) != 0 {
		t.Errorf("out-1 (car on the loop): history %v; want nothing", got)
	}
	gw.SensorChanged(h.ctx, "out-1-loop", false)
	if got := devs.History("out-1-barrier"); strings.Join(got, ",") != "lower" {
		t.Errorf("out-1 after the car left: history %v; want [lower]", got)
	}
}

// TestTicketPrinterOffline: no ticket, no entry.
func TestTicketPrinterOffline(t *testing.T) {
	h := newHarness(t)
	if err := h.sim.SetOffline("in-1-ticket", true); err != nil {
		t.Fatal(err)
	}
	h.sensor("in-1-loop", true)
	d, text, err := h.gw.IssueTicket(h.ctx, "in-1")
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, "printer offline", d, false, gateway.ReasonDeviceOffline)
	if text != "" || d.Seq == 0 {
		t.Errorf("ticket %q, seq %d; want no ticket and a recorded denial", text, d.Seq)
	}
	h.wantBarrier("printer offline", "in-1-barrier", false)
	if _, n, err := h.gw.Occupancy(h.ctx); err != nil || n != 0 {
		t.Errorf("occupancy %d (%v); want 0", n, err)
	}
}

// TestFeeWithClockBehind: a clock behind the latest trusted time does not
// shorten a stay.
func TestFeeWithClockBehind(t *testing.T) {
	h := newHarness(t)
	ticket := h.ticket()
	h.sensor("in-1-loop", false)
	if _, err := h.gw.AdvanceTrustedTime(h.ctx, h.now().Add(3*time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
	// 10:00 → trusted 13:00: 6 day units.
	if v := h.session(ticket); v.Due.Amount != 900 {
		t.Errorf("due with the clock 3 h behind: %d; want 900", v.Due.Amount)
	}
}

// TestFireExitsDoNotWaitForFlaps: a jammed flap (its command hangs until
// the actuator timeout) does not hold the fire exits shut meanwhile.
func TestFireExitsDoNotWaitForFlaps(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"P01", "P02"} {
		h.sensor(id+"-sensor", true)
	}
	h.advance(h.site.Spaces[0].RaiseAfter)
	h.wantFlap("parked", "P01-flap", true)
	for _, id := range []string{"P01-flap", "P02-flap"} {
		if err := h.sim.SetDelay(id, time.Minute); err != nil { // far beyond the actuator timeout
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.gw.SensorChanged(h.ctx, "fire-panel", true)
	}()
	// The exits rise while the flap commands still hang (they give up
	// only at the 3 s actuator timeout).
	ctx, cancel := context.WithTimeout(h.ctx, 2*time.Second)
	defer cancel()
	err := h.sim.Wait(ctx, func() bool {
		up1, _ := h.sim.BarrierUp("out-1-barrier")
		up2, _ := h.sim.BarrierUp("out-2-barrier")
		unlocked, _ := h.sim.Locked("lobby-lock")
		return up1 && up2 && !unlocked
	})
	if err != nil {
		t.Errorf("fire exits not open while the flaps hang: %v (out-1 %v, out-2 %v)", err,
			h.sim.History("out-1-barrier"), h.sim.History("out-2-barrier"))
	}
	<-done
}

// TestStrictExitForEnteringKeys: a key that enters this site must have
// come in to let a car out; an exit-only key (a visitor's exit pass) need
// not have.
func TestStrictExitForEnteringKeys(t *testing.T) {
	h := newHarness(t)
	park, parkID := h.mustKey(parkKey())
	wantDecision(t, "park key, never entered", h.present("out-1", park), false, gateway.ReasonPassback)
	h.sensor("in-1-loop", true)
	wantDecision(t, "entry", h.present("in-1", park), true, gateway.ReasonOK)
	h.sensor("in-1-loop", false)
	h.clock.Advance(5 * time.Minute)
	wantDecision(t, "exit", h.present("out-1", park), true, gateway.ReasonOK)
	wantDecision(t, "second exit scan", h.present("out-2", park), false, gateway.ReasonPassback)
	if st := h.keyState(parkID); st.Uses != 1 {
		t.Errorf("uses after entry, exit and a repeated exit scan: %d; want 1", st.Uses)
	}
	pass, _ := h.mustKey(exitKey(0))
	wantDecision(t, "exit-only key", h.present("out-1", pass), true, gateway.ReasonOK)
}
