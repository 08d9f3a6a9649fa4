package gateway_test

import (
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// take hands a message over as the MQTT transport does and reports how
// many commits the store made before Take returned.
func (h *syncHarness) take(raw []byte) (gateway.Outcome, func() error, uint64) {
	h.t.Helper()
	before := h.db.Stats().Commits
	out, act, err := h.s.Take(h.ctx, raw, "mqtt")
	if err != nil {
		h.t.Fatalf("Take: %v", err)
	}
	commits := h.db.Stats().Commits - before
	if act == nil {
		return out, nil, commits
	}
	return out, func() error {
		err := act(h.ctx)
		h.gw.WaitActuations(h.ctx) // the device moves in the background
		return err
	}, commits
}

// typesAfter lists the types of the events after seq.
func (h *harness) typesAfter(seq uint64) []gateway.EventType {
	var out []gateway.EventType
	for _, e := range h.events() {
		if e.Seq > seq {
			out = append(out, e.Type)
		}
	}
	return out
}

// TestTakePaymentOneCommit: a payment completion is stored, applied and
// answered in one commit; the pay station is told only when act runs,
// after the transport's ack; a second delivery changes nothing.
func TestTakePaymentOneCommit(t *testing.T) {
	h := newSyncHarness(t)
	ticket := h.ticket()
	h.advance(time.Hour)
	v := h.session(ticket)
	raw := h.msg(gateway.MsgPayment, 0, map[string]any{"payment_id": "pay-take", "ref": v.Session.ID, "amount": v.Due.Amount, "currency": "EUR"})
	mark := h.lastSeq()

	out, act, commits := h.take(raw)
	wantOutcome(t, "take", out, gateway.InboxApplied, gateway.ReasonOK)
	if commits != 1 || out.Payment == nil || !out.Payment.Settled {
		t.Errorf("Take: got %d commits, payment %+v; want 1 commit and a settled payment", commits, out.Payment)
	}
	if h.sim.PayStationSettled(ticket) {
		t.Errorf("the pay station was told before act ran (before the transport's ack)")
	}
	if act == nil {
		t.Fatal("Take: no act for an applied payment")
	}
	if err := act(); err != nil {
		t.Fatalf("act: %v", err)
	}
	if !h.sim.PayStationSettled(ticket) {
		t.Errorf("the pay station was not told the session is settled")
	}
	if v := h.session(ticket); v.Due.Amount != 0 {
		t.Errorf("due after the payment: got %d; want 0", v.Due.Amount)
	}
	got := h.typesAfter(mark)
	want := []gateway.EventType{gateway.EvPayment, gateway.EvCloudApplied, gateway.EvActuation}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("events: got %v; want %v", got, want)
	}
	out2, act2, _ := h.take(raw)
	if !out2.Duplicate || act2 != nil || out2.State != gateway.InboxApplied {
		t.Errorf("second delivery: got %+v (act %v); want a duplicate of an applied message and nothing to do", out2, act2 != nil)
	}
	if n := len(h.eventsOf(gateway.EvPayment, 0)); n != 1 {
		t.Errorf("payment.applied events: got %d; want 1", n)
	}
}

// TestTakeRemoteOpenOneCommit: a remote open is committed with its
// override and outcome in one transaction; the barrier rises when act
// runs, once.
func TestTakeRemoteOpenOneCommit(t *testing.T) {
	h := newSyncHarness(t)
	raw := h.msg(gateway.MsgCommand, 30*time.Second, map[string]any{"command": "open_barrier", "lane": "out-1", "operator": "op", "reason": "driver called"})
	mark := h.lastSeq()
	out, act, commits := h.take(raw)
	wantOutcome(t, "take", out, gateway.InboxApplied, gateway.ReasonOK)
	if commits != 1 {
		t.Errorf("Take: got %d commits; want 1", commits)
	}
	h.wantBarrier("before act", "out-1-barrier", false)
	if err := act(); err != nil {
		t.Fatal(err)
	}
	h.wantBarrier("after act", "out-1-barrier", true)
	got := h.typesAfter(mark)
	want := []gateway.EventType{gateway.EvRemoteCommand, gateway.EvOverride, gateway.EvCloudApplied, gateway.EvActuation}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Errorf("events: got %v; want %v", got, want)
	}
	if out2, act2, _ := h.take(raw); !out2.Duplicate || act2 != nil {
		t.Errorf("replayed command: got %+v (act %v); want a duplicate and nothing to do", out2, act2 != nil)
	}
}

// TestTakeFallsBackToApply: what cannot be applied in the storing
// transaction (other types, refusals) is stored, acknowledged, then
// applied or refused by act exactly as Receive would.
func TestTakeFallsBackToApply(t *testing.T) {
	h := newSyncHarness(t)
	_, kid := h.mustKey(lockerKey())
	for _, tc := range []struct {
		name   string
		raw    []byte
		state  gateway.InboxState
		reason gateway.Reason
	}{
		{"a revocation", h.msg(gateway.MsgRevocation, 0, map[string]any{"key_id": kid}), gateway.InboxApplied, gateway.ReasonOK},
		{"a payment for no session", h.msg(gateway.MsgPayment, 0, map[string]any{"payment_id": "p-x", "ref": "s-NONE", "amount": 100}), gateway.InboxRefused, gateway.ReasonNoSession},
		{"a payment in another currency", h.msg(gateway.MsgPayment, 0, map[string]any{"payment_id": "p-y", "ref": "s-NONE", "amount": 100, "currency": "USD"}), gateway.InboxRefused, gateway.ReasonInvalid},
		{"a command for no lane", h.msg(gateway.MsgCommand, 30*time.Second, map[string]any{"command": "open_barrier", "lane": "nope", "operator": "op", "reason": "r"}), gateway.InboxRefused, gateway.ReasonInvalid},
		{"a command without an expiry", h.msg(gateway.MsgCommand, 0, map[string]any{"command": "open_barrier", "lane": "out-1", "operator": "op", "reason": "r"}), gateway.InboxRefused, gateway.ReasonNoExpiry},
	} {
		out, act, _ := h.take(tc.raw)
		if out.State != gateway.InboxPending || !out.Stored || act == nil {
			t.Errorf("%s: Take got %+v (act %v); want stored, pending, something to do", tc.name, out, act != nil)
			continue
		}
		if err := act(); err != nil {
			t.Errorf("%s: act: %v", tc.name, err)
		}
		m, _ := h.s.Apply(h.ctx, out.MessageID) // reports what became of it
		wantOutcome(t, tc.name, m, tc.state, tc.reason)
	}
	h.wantBarrier("refused commands", "out-1-barrier", false)
}
