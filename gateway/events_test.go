package gateway_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// recordingObserver collects the events the gateway reports as committed.
type recordingObserver struct {
	mu     sync.Mutex
	events []gateway.Event
}

func (o *recordingObserver) EventCommitted(e gateway.Event) {
	o.mu.Lock()
	o.events = append(o.events, e)
	o.mu.Unlock()
}

// TestEventLog runs a ticket stay and a locker visit and reads the log back
// through the store: every step is there, in order, gap-free from 1, and
// the hash chain verifies (the harness checks the chain at the end of
// every test too).
func TestEventLog(t *testing.T) {
	h := newHarness(t)
	text := h.ticket()
	h.clock.Advance(50 * time.Minute)
	if _, err := h.sim.PayCash(h.ctx, text, 300); err != nil {
		t.Fatal(err)
	}
	h.sensor("out-1-loop", true)
	exit := h.present("out-1", text)
	h.sensor("out-1-loop", false)
	k, _ := h.mustKey(lockerKey())
	denied := h.authorize(atLocker(k, "A-04"))
	allowed := h.authorize(atLocker(k, "A-03"))

	evs := h.events()
	var got []gateway.EventType
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d; want %d", i, e.Seq, i+1)
		}
		if i > 0 && e.Time.Before(evs[i-1].Time) {
			t.Errorf("event %d at %v is before event %d at %v", e.Seq, e.Time, e.Seq-1, evs[i-1].Time)
		}
		got = append(got, e.Type)
	}
	want := []gateway.EventType{
		gateway.EvGatewayStarted,
		gateway.EvDevice,        // car on in-1's loop
		gateway.EvSessionOpened, // ticket button
		gateway.EvEntry,
		gateway.EvActuation, // print
		gateway.EvActuation, // raise in-1
		gateway.EvDevice,    // loop clear
		gateway.EvActuation, // lower in-1
		gateway.EvPayment,   // cash at the pay station
		gateway.EvDevice,    // car on out-1's loop
		gateway.EvSessionClosed,
		gateway.EvExit,
		gateway.EvActuation, // raise out-1
		gateway.EvDevice,    // loop clear
		gateway.EvActuation, // lower out-1
		gateway.EvAccess,    // A-04 refused
		gateway.EvAccess,    // A-03 allowed
		gateway.EvActuation, // unlock A-03
	}
	if !slices.Equal(got, want) {
		t.Errorf("event types:\n got %v\nwant %v", got, want)
	}
	for _, c := range []struct {
		what string
		d    gateway.Decision
		typ  gateway.EventType
	}{{"exit", exit, gateway.EvExit}, {"A-04", denied, gateway.EvAccess}, {"A-03", allowed, gateway.EvAccess}} {
		h.wantRecorded(c.what, c.d, c.typ)
	}
	checked, bad, err := h.db.VerifyChain(h.ctx)
	if err != nil || bad != 0 || checked != uint64(len(evs)) {
		t.Errorf("VerifyChain: checked %d, bad %d, err %v; want %d, 0, nil", checked, bad, err, len(evs))
	}
	for i := 1; i < len(evs); i++ {
		if !slices.Equal(evs[i].PrevHash, evs[i-1].Hash) {
			t.Errorf("event %d's prev hash is not event %d's hash", evs[i].Seq, evs[i-1].Seq)
		}
	}
}

// TestObserversSeeCommittedEvents checks that observers are told every
// event, in log order, with the store's sequence numbers.
func TestObserversSeeCommittedEvents(t *testing.T) {
	h := newHarness(t)
	obs := &recordingObserver{}
	gw, err := gateway.New(gateway.Options{Site: h.site, Store: h.db, Actuators: h.sim.Actuators(), Clock: h.clock,
		Observers: []gateway.Observer{obs}})
	if err != nil {
		t.Fatal(err)
	}
	h.sim.Attach(gw)
	h.gw = gw
	if err := gw.Open(h.ctx); err != nil {
		t.Fatal(err)
	}
	k, _ := h.mustKey(lockerKey())
	h.authorize(atLocker(k, "A-03"))
	h.authorize(atLocker(k, "A-05"))
	all := h.events()
	// The first gateway's start event was before the observer existed.
	if want := all[1:]; len(obs.events) != len(want) {
		t.Fatalf("observer saw %d events; want %d", len(obs.events), len(want))
	}
	for i, e := range obs.events {
		if w := all[i+1]; e.Seq != w.Seq || e.Type != w.Type || !slices.Equal(e.Hash, w.Hash) {
			t.Errorf("observed event %d: seq %d %s; want seq %d %s", i, e.Seq, e.Type, w.Seq, w.Type)
		}
	}
}

// TestTrustedTime feeds trusted times: the stored time never goes back,
// and the clock is trusted only when it is not behind it (beyond the
// skew).
func TestTrustedTime(t *testing.T) {
	h := newHarness(t)
	if ok, tt := h.gw.ClockTrusted(h.ctx); !ok || !tt.IsZero() {
		t.Errorf("ClockTrusted with no trusted time: %v, %v; want true, zero", ok, tt)
	}
	now := h.now()
	steps := []struct {
		t     time.Time
		moved bool
	}{
		{now.Add(-time.Hour), true},
		{now.Add(-2 * time.Hour), false}, // earlier: ignored
		{now.Add(-time.Hour), false},     // equal: ignored
		{now.Add(-time.Minute), true},
	}
	before := h.lastSeq()
	for _, s := range steps {
		moved, err := h.gw.AdvanceTrustedTime(h.ctx, s.t, "test")
		if err != nil {
			t.Fatalf("AdvanceTrustedTime(%v): %v", s.t, err)
		}
		if moved != s.moved {
			t.Errorf("AdvanceTrustedTime(%v): moved %v; want %v", s.t, moved, s.moved)
		}
	}
	if n := len(h.eventsOf(gateway.EvTrustedTime, before)); n != 2 {
		t.Errorf("time.trusted events: %d; want 2 (one per move)", n)
	}
	var stored time.Time
	if err := h.db.View(h.ctx, func(tx gateway.Tx) error {
		var err error
		stored, err = tx.LatestTrustedTime()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !stored.Equal(now.Add(-time.Minute)) {
		t.Errorf("stored trusted time %v; want %v", stored, now.Add(-time.Minute))
	}
	if ok, tt := h.gw.ClockTrusted(h.ctx); !ok || !tt.Equal(stored) {
		t.Errorf("ClockTrusted: %v, %v; want true, %v", ok, tt, stored)
	}

	// The trusted time runs ahead of the wall clock: within the skew the
	// clock is still trusted, beyond it not.
	skew := h.site.Policy.ClockSkew
	if _, err := h.gw.AdvanceTrustedTime(h.ctx, now.Add(skew), "test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := h.gw.ClockTrusted(h.ctx); !ok {
		t.Errorf("ClockTrusted with the trusted time one skew ahead: false; want true")
	}
	if _, err := h.gw.AdvanceTrustedTime(h.ctx, now.Add(skew+time.Second), "test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := h.gw.ClockTrusted(h.ctx); ok {
		t.Errorf("ClockTrusted with the trusted time beyond the skew ahead: true; want false")
	}
	// The wall clock catches up.
	h.clock.Advance(time.Second)
	if ok, _ := h.gw.ClockTrusted(h.ctx); !ok {
		t.Errorf("ClockTrusted after the clock caught up: false; want true")
	}

	// A new gateway on the same store starts from the stored time.
	gw2, err := gateway.New(gateway.Options{Site: h.site, Store: h.db, Clock: &fakeClock{t: now.Add(-24 * time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	if ok, tt := gw2.ClockTrusted(h.ctx); ok || !tt.Equal(now.Add(skew+time.Second)) {
		t.Errorf("restarted gateway a day behind: ClockTrusted %v, %v; want false, %v", ok, tt, now.Add(skew+time.Second))
	}
}

// TestResetTrustedTime: a trusted time that ran ahead (a cloud with a wrong
// clock) refuses time-limited keys; an attendant's reset takes it back,
// audited with the value it replaced, and the keys work again. A reset
// without an operator or a reason, or without a time, changes nothing.
func TestResetTrustedTime(t *testing.T) {
	h := newHarness(t)
	now := h.now()
	wrong := now.Add(90 * 24 * time.Hour)
	if _, err := h.gw.AdvanceTrustedTime(h.ctx, wrong, "cloud:bad-clock"); err != nil {
		t.Fatal(err)
	}
	claims := exitKey(0)
	claims.NotBefore, claims.Expires = now.Add(-time.Hour), now.Add(time.Hour)
	text, _ := h.mustKey(claims)
	wantDecision(t, "key with the trusted time ahead", h.present("out-1", text), false, gateway.ReasonClockUntrusted)

	for _, c := range []struct {
		name string
		t    time.Time
		o    gateway.Override
	}{
		{"no operator", now, gateway.Override{Reason: "cloud clock was wrong"}},
		{"no reason", now, gateway.Override{Operator: "anna"}},
		{"no time", time.Time{}, attendant},
	} {
		if _, err := h.gw.ResetTrustedTime(h.ctx, c.t, c.o); gateway.KindOf(err) != gateway.Invalid {
			t.Errorf("reset with %s: %v; want an Invalid error", c.name, err)
		}
	}
	if ok, tt := h.gw.ClockTrusted(h.ctx); ok || !tt.Equal(wrong) {
		t.Fatalf("after refused resets: trusted %v at %v; want untrusted at %v", ok, tt, wrong)
	}

	before := h.lastSeq()
	prev, err := h.gw.ResetTrustedTime(h.ctx, now.Add(-time.Minute), attendant)
	if err != nil || !prev.Equal(wrong) {
		t.Fatalf("ResetTrustedTime: previous %v, %v; want %v", prev, err, wrong)
	}
	evs := h.eventsOf(gateway.EvTrustedTime, before)
	if len(evs) != 1 {
		t.Fatalf("time.trusted events after the reset: %d; want 1", len(evs))
	}
	d := eventData(t, evs[0])
	if d["reset"] != true || d["operator"] != attendant.Operator || d["reason"] != attendant.Reason || d["previous"] != wrong.UTC().Format(time.RFC3339Nano) {
		t.Errorf("reset event data %v; want reset, operator, reason and previous %v", d, wrong.UTC())
	}
	if ok, _ := h.gw.ClockTrusted(h.ctx); !ok {
		t.Errorf("ClockTrusted after the reset: false; want true")
	}
	wantDecision(t, "key after the reset", h.present("out-1", text), true, gateway.ReasonOK)
	// It still never goes backwards by itself.
	if moved, err := h.gw.AdvanceTrustedTime(h.ctx, now.Add(-time.Hour), "test"); err != nil || moved {
		t.Errorf("AdvanceTrustedTime to before the reset value: moved %v, %v; want false", moved, err)
	}
}
