package gateway_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/keys"
)

// openExit raises out-1 with an exit key and no car at the lane.
func openExit(h *harness, lane string) {
	h.t.Helper()
	text, _ := h.mustKey(exitKey(0))
	wantDecision(h.t, "exit key at "+lane, h.present(lane, text), true, gateway.ReasonOK)
	h.wantBarrier("exit key at "+lane, lane+"-barrier", true)
}

// TestBarrierNeverLowersOnACar holds a car on the loop past the open
// timeout.
func TestBarrierNeverLowersOnACar(t *testing.T) {
	h := newHarness(t)
	openExit(h, "out-1")
	h.sensor("out-1-loop", true)
	h.advance(h.site.Policy.BarrierOpenTimeout)
	h.wantBarrier("car on the loop at the timeout", "out-1-barrier", true)
	h.advance(10 * h.site.Policy.BarrierOpenTimeout)
	h.wantBarrier("car on the loop long after the timeout", "out-1-barrier", true)
	h.sensor("out-1-loop", false)
	h.wantBarrier("loop cleared", "out-1-barrier", false)
	if got := h.sim.History("out-1-barrier"); !slices.Equal(got, []string{"raise", "lower"}) {
		t.Errorf("out-1-barrier history: %v; want [raise lower]", got)
	}
}

// TestBarrierOpenTimeout lowers a barrier nobody drove through.
func TestBarrierOpenTimeout(t *testing.T) {
	h := newHarness(t)
	openExit(h, "out-2")
	h.advance(h.site.Policy.BarrierOpenTimeout - time.Second)
	h.wantBarrier("just before the timeout", "out-2-barrier", true)
	h.advance(time.Second)
	h.wantBarrier("at the timeout", "out-2-barrier", false)

	// A car that arrives after the raise and drives through lowers it at
	// once, before the timeout.
	openExit(h, "out-2")
	h.sensor("out-2-loop", true)
	h.wantBarrier("car arriving", "out-2-barrier", true)
	h.sensor("out-2-loop", false)
	h.wantBarrier("car passed", "out-2-barrier", false)
}

// TestFlapRisesOnlyAfterRaiseAfter parks and checks the flap waits.
func TestFlapRisesOnlyAfterRaiseAfter(t *testing.T) {
	h := newHarness(t)
	raiseAfter := h.site.Spaces[0].RaiseAfter
	h.sensor("P01-sensor", true)
	h.gw.Tick(h.ctx, h.now())
	h.wantFlap("car just parked", "P01-flap", false)
	h.advance(raiseAfter - time.Second)
	h.wantFlap("just before RaiseAfter", "P01-flap", false)
	if _, err := h.gw.LookupSession(h.ctx, "space:P01"); gateway.KindOf(err) != gateway.NotFound {
		t.Errorf("session before RaiseAfter: got %v; want NotFound", err)
	}
	h.advance(time.Second)
	h.wantFlap("at RaiseAfter", "P01-flap", true)

	// A car that only manoeuvres over a space never gets a flap.
	h.sensor("P02-sensor", true)
	h.advance(raiseAfter / 2)
	h.sensor("P02-sensor", false)
	h.advance(raiseAfter)
	h.wantFlap("car drove off", "P02-flap", false)
}

// TestFireAlarm raises the alarm with a car locked on P01, drives a car
// through out-1 and makes a decision during the alarm, then clears it.
func TestFireAlarm(t *testing.T) {
	h := newHarness(t)
	h.sensor("P01-sensor", true)
	h.advance(h.site.Spaces[0].RaiseAfter)
	h.wantFlap("parked", "P01-flap", true)
	h.sensor("P03-sensor", true) // not yet long enough for a flap

	before := h.lastSeq()
	h.sensor("fire-panel", true)
	if !h.gw.FireAlarmActive() {
		t.Fatalf("FireAlarmActive = false after the alarm input")
	}
	if n := len(h.eventsOf(gateway.EvFireAlarm, before)); n != 1 {
		t.Errorf("fire_alarm events: %d; want 1", n)
	}
	h.wantBarrier("alarm", "out-1-barrier", true)
	h.wantBarrier("alarm", "out-2-barrier", true)
	h.wantBarrier("alarm", "in-1-barrier", false)
	h.wantLocked("alarm", "lobby-lock", false)
	h.wantLocked("alarm", "A-01-lock", true)
	h.wantFlap("alarm", "P01-flap", false)
	for _, l := range h.gw.Lanes() {
		if want := l.ID != "in-1"; l.FireHeld != want || l.BarrierUp != want {
			t.Errorf("lane %s during the alarm: %+v; want fire_held=barrier_up=%v", l.ID, l, want)
		}
	}

	// A car passes out-1: the barrier stays up.
	h.sensor("out-1-loop", true)
	h.sensor("out-1-loop", false)
	h.wantBarrier("car passed out-1 during the alarm", "out-1-barrier", true)
	// Time passes: nothing lowers, nothing locks, no flap rises.
	h.advance(h.site.Policy.BarrierOpenTimeout + h.site.Spaces[2].RaiseAfter + h.site.Policy.UnlockFor)
	h.wantBarrier("timeout during the alarm", "out-1-barrier", true)
	h.wantBarrier("timeout during the alarm", "out-2-barrier", true)
	h.wantLocked("timeout during the alarm", "lobby-lock", false)
	h.wantFlap("car waiting on P03 during the alarm", "P03-flap", false)
	// An allowed decision lowers nothing.
	text, _ := h.mustKey(exitKey(0))
	wantDecision(t, "exit key during the alarm", h.present("out-2", text), true, gateway.ReasonOK)
	h.sensor("out-2-loop", true)
	h.sensor("out-2-loop", false)
	h.wantBarrier("after a decision at out-2", "out-2-barrier", true)
	h.wantBarrier("after a decision at out-2", "out-1-barrier", true)
	door, _ := h.mustKey(keyFor("door:lobby", "unlock"))
	wantDecision(t, "lobby key during the alarm", h.authorize(gateway.AccessRequest{Text: door, Resource: "door:lobby",
		Action: gateway.ActionUnlock, Channel: gateway.ChannelScanner}), true, gateway.ReasonOK)
	h.sensor("lobby-door", true)
	h.sensor("lobby-door", false)
	h.advance(h.site.Policy.UnlockFor)
	h.wantLocked("lobby door used during the alarm", "lobby-lock", false)
	h.advance(h.site.Policy.DoorOpenAlarm)

	// A car stands on out-2's loop when the alarm clears.
	h.sensor("out-2-loop", true)
	h.sensor("fire-panel", false)
	if h.gw.FireAlarmActive() {
		t.Errorf("FireAlarmActive = true after the alarm cleared")
	}
	h.wantBarrier("alarm cleared", "out-1-barrier", false)
	h.wantBarrier("alarm cleared, car on the loop", "out-2-barrier", true)
	h.wantLocked("alarm cleared", "lobby-lock", true)
	h.sensor("out-2-loop", false)
	h.wantBarrier("car left out-2", "out-2-barrier", false)
	if n := len(h.eventsOf(gateway.EvFireAlarm, before)); n != 2 {
		t.Errorf("fire_alarm events: %d; want 2 (raised, cleared)", n)
	}
	// Two cars left with no decision behind them (out-1 during the
	// alarm, out-2 as it cleared); the one with a key at out-2 did not
	// count. The operator's report lists both.
	var lanes []string
	for _, e := range h.eventsOf(gateway.EvExitUnverified, before) {
		lanes = append(lanes, eventData(t, e)["lane"].(string))
	}
	if strings.Join(lanes, ",") != "out-1,out-2" {
		t.Errorf("exit.unverified events at lanes %v; want [out-1 out-2]", lanes)
	}
	rep, err := h.gw.UnverifiedExits(h.ctx, time.Time{}, time.Time{})
	if err != nil || len(rep) != 2 || rep[0].Lane != "out-1" || rep[1].Lane != "out-2" || rep[0].Cause != "fire_alarm" {
		t.Errorf("UnverifiedExits: %+v, %v; want out-1 and out-2, cause fire_alarm", rep, err)
	}
	if rep, err := h.gw.UnverifiedExits(h.ctx, h.now().Add(time.Second), time.Time{}); err != nil || len(rep) != 0 {
		t.Errorf("UnverifiedExits from after the alarm: %+v, %v; want none", rep, err)
	}
	// Flaps work again.
	h.advance(h.site.Spaces[2].RaiseAfter)
	h.wantFlap("after the alarm", "P03-flap", true)
}

// keyFor is a multi-use key for one resource and action.
func keyFor(resource, action string) keys.Claims {
	return keys.Claims{Resources: []string{resource}, Actions: []string{action}}
}

// TestFireAlarmDoorOpenWhenCleared keeps the lobby unlocked while its door
// stands open as the alarm clears, and locks it once closed.
func TestFireAlarmDoorOpenWhenCleared(t *testing.T) {
	h := newHarness(t)
	h.sensor("fire-panel", true)
	h.sensor("lobby-door", true)
	h.sensor("fire-panel", false)
	h.wantLocked("alarm cleared with the door open", "lobby-lock", false)
	h.sensor("lobby-door", false)
	h.wantLocked("door closed", "lobby-lock", true)
}

// TestHaltDuringFireAlarm keeps the fire exits open through a halt.
func TestHaltDuringFireAlarm(t *testing.T) {
	h := newHarness(t)
	h.sensor("fire-panel", true)
	if err := h.gw.Halt(h.ctx); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	for _, id := range []string{"out-1-barrier", "out-2-barrier"} {
		h.wantBarrier("halt during the alarm", id, true)
		if slices.Contains(h.sim.History(id), "halt") {
			t.Errorf("%s was halted during the fire alarm (history %v)", id, h.sim.History(id))
		}
	}
	h.wantLocked("halt during the alarm", "lobby-lock", false)
	if slices.Contains(h.sim.History("lobby-lock"), "halt") {
		t.Errorf("lobby-lock was halted (engaged) during the fire alarm (history %v)", h.sim.History("lobby-lock"))
	}
	for _, id := range []string{"in-1-barrier", "A-03-lock", "P01-flap"} {
		if got := h.sim.History(id); len(got) == 0 || got[len(got)-1] != "halt" {
			t.Errorf("%s history %v; want it to end with halt", id, got)
		}
	}
	evs := h.eventsOf(gateway.EvGatewayStopping, 0)
	if len(evs) != 1 || eventData(t, evs[0])["fire_alarm"] != true {
		t.Errorf("gateway.stopping events: %v; want one with fire_alarm true", evs)
	}
}

// TestHalt puts every actuator in its safe state.
func TestHalt(t *testing.T) {
	h := newHarness(t)
	openExit(h, "out-1")
	if err := h.gw.Halt(h.ctx); err != nil {
		t.Fatalf("Halt: %v", err)
	}
	n := 0
	for _, d := range h.site.Devices {
		switch d.Kind {
		case gateway.KindBarrier, gateway.KindLock, gateway.KindFlap:
			n++
			if got := h.sim.History(d.ID); len(got) == 0 || got[len(got)-1] != "halt" {
				t.Errorf("%s history %v; want it to end with halt", d.ID, got)
			}
		}
	}
	if n != 3+9+6 {
		t.Errorf("halted %d actuators; want 18 (3 barriers, 9 locks, 6 flaps)", n)
	}
	if evs := h.eventsOf(gateway.EvGatewayStopping, 0); len(evs) != 1 {
		t.Errorf("gateway.stopping events: %d; want 1", len(evs))
	}
}
