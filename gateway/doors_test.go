package gateway_test

import (
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// doorAlarms returns the door_open alarm events after seq, split into
// raised and cleared.
func (h *harness) doorAlarms(after uint64) (raised, cleared int) {
	h.t.Helper()
	for _, e := range h.eventsOf(gateway.EvAlarm, after) {
		m := eventData(h.t, e)
		if m["alarm"] != "door_open" {
			continue
		}
		if m["cleared"] == true {
			cleared++
		} else {
			raised++
		}
	}
	return raised, cleared
}

// TestCompartmentLeftOpen opens A-03 and leaves its door open: one alarm,
// and closing the door re-locks it and clears the alarm.
func TestCompartmentLeftOpen(t *testing.T) {
	h := newHarness(t)
	text, _ := h.mustKey(lockerKey())
	before := h.lastSeq()
	wantDecision(t, "open A-03", h.authorize(atLocker(text, "A-03")), true, gateway.ReasonOK)
	h.wantLocked("opened", "A-03-lock", false)
	h.sensor("A-03-door", true)
	alarm := h.site.Policy.DoorOpenAlarm

	h.advance(alarm - time.Second)
	if r, _ := h.doorAlarms(before); r != 0 {
		t.Errorf("alarms just before DoorOpenAlarm: %d; want 0", r)
	}
	h.wantLocked("door open past UnlockFor", "A-03-lock", false)
	h.advance(time.Second)
	if r, _ := h.doorAlarms(before); r != 1 {
		t.Errorf("alarms at DoorOpenAlarm: %d; want 1", r)
	}
	h.advance(alarm)
	h.advance(10 * alarm)
	if r, _ := h.doorAlarms(before); r != 1 {
		t.Errorf("alarms long after DoorOpenAlarm: %d; want still 1", r)
	}
	evs := h.eventsOf(gateway.EvAlarm, before)
	if m := eventData(t, evs[0]); m["resource"] != "locker:A-03" {
		t.Errorf("alarm event %s; want resource locker:A-03", evs[0].Data)
	}

	h.sensor("A-03-door", false)
	h.wantLocked("door closed", "A-03-lock", true)
	if r, c := h.doorAlarms(before); r != 1 || c != 1 {
		t.Errorf("after closing: %d alarms raised, %d cleared; want 1, 1", r, c)
	}

	// Opened and closed in time: locked at once, no alarm.
	before = h.lastSeq()
	wantDecision(t, "open A-03 again", h.authorize(atLocker(text, "A-03")), true, gateway.ReasonOK)
	h.sensor("A-03-door", true)
	h.advance(alarm / 2)
	h.sensor("A-03-door", false)
	h.wantLocked("closed in time", "A-03-lock", true)
	h.advance(alarm)
	if r, c := h.doorAlarms(before); r != 0 || c != 0 {
		t.Errorf("door closed in time: %d alarms, %d cleared; want none", r, c)
	}
}

// TestUnlockWithoutOpening re-locks a compartment nobody opened after
// UnlockFor.
func TestUnlockWithoutOpening(t *testing.T) {
	h := newHarness(t)
	text, _ := h.mustKey(lockerKey())
	wantDecision(t, "open A-03", h.authorize(atLocker(text, "A-03")), true, gateway.ReasonOK)
	unlockFor := h.site.Policy.UnlockFor
	h.advance(unlockFor - time.Second)
	h.wantLocked("just before UnlockFor", "A-03-lock", false)
	h.advance(time.Second)
	h.wantLocked("at UnlockFor", "A-03-lock", true)
	if got := h.sim.History("A-03-lock"); len(got) != 2 || got[0] != "unlock" || got[1] != "lock" {
		t.Errorf("A-03-lock history: %v; want [unlock lock]", got)
	}
	// Another tick does not lock again.
	h.advance(unlockFor)
	if got := h.sim.History("A-03-lock"); len(got) != 2 {
		t.Errorf("A-03-lock history after another tick: %v; want [unlock lock]", got)
	}
}
