package gateway_test

import (
	"errors"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

func (h *harness) listVersion() int64 {
	h.t.Helper()
	var v int64
	if err := h.db.View(h.ctx, func(tx gateway.Tx) error {
		var err error
		v, err = tx.ListVersion()
		return err
	}); err != nil {
		h.t.Fatalf("ListVersion: %v", err)
	}
	return v
}

// TestLocalList replaces the list, patches it, refuses a patch for the
// wrong version, and decides each kind of entry at the lanes.
func TestLocalList(t *testing.T) {
	h := newHarness(t)
	now := h.now()
	full := gateway.ListUpdate{Full: true, Version: 1, Upsert: []gateway.ListEntry{
		{ID: "CARD-OK", Kind: "rfid", Status: gateway.ListAccepted, Holder: "anna"},
		{ID: "CARD-BLK", Kind: "rfid", Status: gateway.ListBlocked},
		{ID: "CARD-EXP", Kind: "rfid", Status: gateway.ListExpired},
		{ID: "B-LG 123", Kind: "plate", Status: gateway.ListAccepted, ValidUntil: now.Add(-time.Hour)},
		{ID: "PASS-SOON", Kind: "pass", Status: gateway.ListAccepted, ValidFrom: now.Add(24 * time.Hour)},
		{ID: "PASS-NOW", Kind: "pass", Status: gateway.ListAccepted, ValidFrom: now.Add(-24 * time.Hour), ValidUntil: now.Add(24 * time.Hour), FeeExempt: true},
	}}
	if err := h.gw.UpdateList(h.ctx, full); err != nil {
		t.Fatalf("full update: %v", err)
	}
	if v := h.listVersion(); v != 1 {
		t.Errorf("after the full update: version %d; want 1", v)
	}

	h.sensor("in-1-loop", true)
	for _, c := range []struct {
		id     string
		want   gateway.Reason
		opened bool
	}{
		{"CARD-BLK", gateway.ReasonBlocked, false},
		{"CARD-EXP", gateway.ReasonExpired, false},
		{"B-LG 123", gateway.ReasonExpired, false},
		{"PASS-SOON", gateway.ReasonNotYetValid, false},
		{"NOBODY", gateway.ReasonUnknownCredential, false},
		{"CARD-OK", gateway.ReasonOK, true},
	} {
		d := h.present("in-1", c.id)
		wantDecision(t, "entry with "+c.id, d, c.opened, c.want)
		h.wantRecorded("entry with "+c.id, d, gateway.EvEntry)
		h.wantBarrier("entry with "+c.id, "in-1-barrier", c.opened)
	}
	h.sensor("in-1-loop", false)
	h.wantBarrier("car drove in", "in-1-barrier", false)
	v := h.session("list:CARD-OK")
	if v.Session.State != gateway.SessionOpen || !v.Session.EntryAt.Equal(now) {
		t.Errorf("CARD-OK session: got %+v; want open, entered at %v", v.Session, now)
	}

	// Leaving within the free minutes costs nothing.
	h.clock.Advance(10 * time.Minute)
	d := h.present("out-1", "CARD-OK")
	wantDecision(t, "exit with CARD-OK", d, true, gateway.ReasonOK)
	h.wantRecorded("exit with CARD-OK", d, gateway.EvExit)
	h.wantBarrier("exit with CARD-OK", "out-1-barrier", true)
	if s := h.session(d.SessionID).Session; s.State != gateway.SessionClosed {
		t.Errorf("CARD-OK session after the exit: state %s; want closed", s.State)
	}

	// A differential update from version 1.
	patch := gateway.ListUpdate{From: 1, Version: 2,
		Upsert: []gateway.ListEntry{{ID: "CARD-NEW", Kind: "rfid", Status: gateway.ListAccepted}, {ID: "CARD-BLK", Kind: "rfid", Status: gateway.ListAccepted}},
		Remove: []string{"CARD-OK"}}
	if err := h.gw.UpdateList(h.ctx, patch); err != nil {
		t.Fatalf("differential update: %v", err)
	}
	if v := h.listVersion(); v != 2 {
		t.Errorf("after the differential update: version %d; want 2", v)
	}
	wantDecision(t, "removed CARD-OK", h.present("out-2", "CARD-OK"), false, gateway.ReasonUnknownCredential)
	wantDecision(t, "unblocked CARD-BLK", h.present("out-2", "CARD-BLK"), true, gateway.ReasonOK)
	wantDecision(t, "kept PASS-NOW", h.present("out-2", "PASS-NOW"), true, gateway.ReasonOK)
	h.sensor("in-1-loop", true)
	wantDecision(t, "added CARD-NEW at the entry", h.present("in-1", "CARD-NEW"), true, gateway.ReasonOK)
	h.sensor("in-1-loop", false)

	// A patch made for version 1 no longer applies.
	stale := gateway.ListUpdate{From: 1, Version: 3, Remove: []string{"CARD-NEW"}}
	err := h.gw.UpdateList(h.ctx, stale)
	var vm *gateway.VersionMismatchError
	if !errors.As(err, &vm) {
		t.Fatalf("stale differential update: got %v; want a *VersionMismatchError", err)
	}
	if vm.Have != 2 || vm.Want != 1 {
		t.Errorf("version mismatch: got have=%d want=%d; want have=2 want=1", vm.Have, vm.Want)
	}
	if k := gateway.KindOf(err); k != gateway.Conflict {
		t.Errorf("stale differential update: kind %s; want %s", k, gateway.Conflict)
	}
	if v := h.listVersion(); v != 2 {
		t.Errorf("after the refused update: version %d; want 2", v)
	}
	// A full list that is not newer is refused too.
	err = h.gw.UpdateList(h.ctx, gateway.ListUpdate{Full: true, Version: 2})
	if k := gateway.KindOf(err); k != gateway.Conflict {
		t.Errorf("full update to the same version: got %v (kind %s); want a Conflict", err, k)
	}
	// A bad entry is refused before anything is written.
	err = h.gw.UpdateList(h.ctx, gateway.ListUpdate{From: 2, Version: 3, Upsert: []gateway.ListEntry{{ID: "X", Status: "maybe"}}})
	if k := gateway.KindOf(err); k != gateway.Invalid {
		t.Errorf("entry with an unknown status: got %v (kind %s); want Invalid", err, k)
	}

	// A full replace drops everything not in it.
	if err := h.gw.UpdateList(h.ctx, gateway.ListUpdate{Full: true, Version: 7,
		Upsert: []gateway.ListEntry{{ID: "CARD-X", Kind: "rfid", Status: gateway.ListAccepted}}}); err != nil {
		t.Fatalf("second full update: %v", err)
	}
	if v := h.listVersion(); v != 7 {
		t.Errorf("after the second full update: version %d; want 7", v)
	}
	wantDecision(t, "PASS-NOW after the replace", h.present("out-2", "PASS-NOW"), false, gateway.ReasonUnknownCredential)
	wantDecision(t, "CARD-X after the replace", h.present("out-2", "CARD-X"), true, gateway.ReasonOK)

	if n := len(h.eventsOf(gateway.EvListUpdated, 0)); n != 3 {
		t.Errorf("list.updated events: got %d; want 3 (one per applied update)", n)
	}
}

// TestLocalListFeeExempt lets a fee-exempt pass leave after hours without
// paying, while an ordinary card owes the fee.
func TestLocalListFeeExempt(t *testing.T) {
	h := newHarness(t)
	if err := h.gw.UpdateList(h.ctx, gateway.ListUpdate{Full: true, Version: 1, Upsert: []gateway.ListEntry{
		{ID: "PASS", Kind: "pass", Status: gateway.ListAccepted, FeeExempt: true},
		{ID: "CARD", Kind: "rfid", Status: gateway.ListAccepted},
	}}); err != nil {
		t.Fatal(err)
	}
	h.sensor("in-1-loop", true)
	for _, id := range []string{"PASS", "CARD"} {
		wantDecision(t, "entry "+id, h.present("in-1", id), true, gateway.ReasonOK)
	}
	h.sensor("in-1-loop", false)
	h.clock.Advance(2 * time.Hour) // 10:00–12:00, 4 day units
	wantDecision(t, "exit PASS", h.present("out-1", "PASS"), true, gateway.ReasonOK)
	d := h.present("out-2", "CARD")
	wantDecision(t, "exit CARD", d, false, gateway.ReasonPaymentDue)
	if d.Due != 600 {
		t.Errorf("exit CARD: due %d; want 600", d.Due)
	}
	h.wantBarrier("exit CARD", "out-2-barrier", false)
}

// TestLocalListClockUntrusted refuses a list entry with a validity period
// while the clock is behind the trusted time; one without is unaffected.
func TestLocalListClockUntrusted(t *testing.T) {
	h := newHarness(t)
	now := h.now()
	if err := h.gw.UpdateList(h.ctx, gateway.ListUpdate{Full: true, Version: 1, Upsert: []gateway.ListEntry{
		{ID: "PASS", Kind: "pass", Status: gateway.ListAccepted, ValidFrom: now.Add(-time.Hour), ValidUntil: now.Add(24 * time.Hour)},
		{ID: "CARD", Kind: "rfid", Status: gateway.ListAccepted},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.gw.AdvanceTrustedTime(h.ctx, now.Add(time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
	d := h.present("out-1", "PASS")
	wantDecision(t, "pass with the clock behind", d, false, gateway.ReasonClockUntrusted)
	h.wantRecorded("pass with the clock behind", d, gateway.EvExit)
	wantDecision(t, "card with the clock behind", h.present("out-1", "CARD"), true, gateway.ReasonOK)
	h.clock.Advance(time.Hour)
	wantDecision(t, "pass after the clock caught up", h.present("out-2", "PASS"), true, gateway.ReasonOK)
}
