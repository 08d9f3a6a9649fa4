package gateway_test

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// strictStore enforces the Store contract that a transaction's fn must not
// call Update or View: it remembers which goroutines are inside an Update
// (the gateway runs independent Updates on several goroutines at once, the
// fire alarm's commands for one).
type strictStore struct {
	t      testing.TB
	inner  gateway.Store
	mu     sync.Mutex
	inside map[uint64]bool // goroutine IDs running an Update's fn
}

// goid is the calling goroutine's ID, read from its stack header
// ("goroutine 17 [running]:"). Test-only.
func goid() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	f := strings.Fields(string(buf[:n]))
	id, _ := strconv.ParseUint(f[1], 10, 64)
	return id
}

func (s *strictStore) enter() (uint64, bool) {
	id := goid()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inside == nil {
		s.inside = map[uint64]bool{}
	}
	return id, s.inside[id]
}

func (s *strictStore) Update(ctx context.Context, fn func(gateway.Tx) error) error {
	id, nested := s.enter()
	if nested {
		s.t.Errorf("Update called inside an Update")
		return gateway.Errorf(gateway.Internal, "nested update")
	}
	return s.inner.Update(ctx, func(tx gateway.Tx) error {
		// With group commit fn may run on the store's writer goroutine:
		// mark the caller's goroutine, which is where fn's code came from.
		s.mu.Lock()
		s.inside[id] = true
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			delete(s.inside, id)
			s.mu.Unlock()
		}()
		return fn(tx)
	})
}

func (s *strictStore) View(ctx context.Context, fn func(gateway.Tx) error) error {
	if _, nested := s.enter(); nested {
		s.t.Errorf("View called inside an Update")
	}
	return s.inner.View(ctx, fn)
}

// strictHarness replaces the harness's gateway with a fresh one on the
// same store, seen through strictStore.
func strictHarness(t *testing.T) *harness {
	h := newHarness(t)
	gw, err := gateway.New(gateway.Options{Site: h.site, Store: &strictStore{t: t, inner: h.db},
		Actuators: h.sim.Actuators(), Clock: h.clock})
	if err != nil {
		t.Fatal(err)
	}
	h.sim.Attach(gw)
	h.gw = gw
	if err := gw.Open(h.ctx); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestStoreContract runs the main flows through a store that fails the
// test when the gateway nests a transaction.
func TestStoreContract(t *testing.T) {
	h := strictHarness(t)
	// A local-list entry with a validity period, first thing after the
	// start (the gateway has not read its trusted time yet).
	if err := h.gw.UpdateList(h.ctx, gateway.ListUpdate{Full: true, Version: 1, Upsert: []gateway.ListEntry{
		{ID: "PASS", Kind: "pass", Status: gateway.ListAccepted, ValidUntil: h.now().Add(24 * time.Hour)},
	}}); err != nil {
		t.Fatal(err)
	}
	h.sensor("in-1-loop", true)
	wantDecision(t, "pass at the entry", h.present("in-1", "PASS"), true, gateway.ReasonOK)
	h.sensor("in-1-loop", false)

	text := h.ticket()
	h.clock.Advance(40 * time.Minute)
	c, q, err := h.gw.BeginCheckout(h.ctx, text)
	if err != nil {
		t.Fatal(err)
	}
	h.pay(gateway.PaymentIn{ID: "ep-1", Ref: text, Method: gateway.PayEPayment, Amount: q.Amount, QuoteID: q.ID, CheckoutID: c.ID})
	wantDecision(t, "ticket at the exit", h.present("out-1", text), true, gateway.ReasonOK)

	key, id := h.mustKey(parkKey())
	h.sensor("in-1-loop", true)
	wantDecision(t, "key at the entry", h.present("in-1", key), true, gateway.ReasonOK)
	h.sensor("in-1-loop", false)
	if err := h.gw.ResetPassback(h.ctx, id, attendant); err != nil {
		t.Fatal(err)
	}
	h.sensor("P01-sensor", true)
	h.advance(h.site.Spaces[0].RaiseAfter)
	h.pay(gateway.PaymentIn{ID: "ep-2", Ref: "space:P01", Method: gateway.PayEPayment, Amount: 150})
	lk, _ := h.mustKey(lockerKey())
	h.authorize(atLocker(lk, "A-03"))
	h.sensor("fire-panel", true)
	h.sensor("fire-panel", false)
}
