package gateway_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/keys"
)

// syncHarness is a harness with the core's sync side and an online link.
type syncHarness struct {
	*harness
	s      *gateway.Sync
	online bool
	nmsg   int
}

func newSyncHarness(t *testing.T) *syncHarness {
	h := &syncHarness{harness: newHarness(t), online: true}
	h.s = gateway.NewSync(h.gw, gateway.SyncOptions{Countdown: time.Minute})
	h.s.SetOnline(func() bool { return h.online })
	return h
}

// msg signs a message for the site with the trusted operator key. ttl 0
// means no expiry.
func (h *syncHarness) msg(typ string, ttl time.Duration, body any) []byte {
	h.t.Helper()
	h.nmsg++
	return h.msgID(fmt.Sprintf("m-%d", h.nmsg), typ, ttl, body)
}

func (h *syncHarness) msgID(id, typ string, ttl time.Duration, body any) []byte {
	h.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		h.t.Fatal(err)
	}
	now := h.now().Truncate(time.Second)
	m := keys.Message{ID: id, Type: typ, Site: h.site.ID, IssuedAt: now, Body: b}
	if ttl > 0 {
		m.Expires = now.Add(ttl)
	}
	raw, err := keys.SignMessage(m, h.kid, h.priv)
	if err != nil {
		h.t.Fatal(err)
	}
	return raw
}

func (h *syncHarness) receive(raw []byte) gateway.Outcome {
	h.t.Helper()
	out, err := h.s.Receive(h.ctx, raw, "test")
	if err != nil {
		h.t.Fatalf("Receive: %v", err)
	}
	h.gw.WaitActuations(h.ctx) // a payment's pay station and flap move in the background
	return out
}

func wantOutcome(tb testing.TB, what string, out gateway.Outcome, state gateway.InboxState, reason gateway.Reason) {
	tb.Helper()
	if out.State != state || out.Reason != reason {
		tb.Errorf("%s: got %s/%s (%s); want %s/%s", what, out.State, out.Reason, out.Message, state, reason)
	}
}

func TestSyncPaymentCompletion(t *testing.T) {
	h := newSyncHarness(t)
	ticket := h.ticket()
	h.advance(2 * time.Hour)
	co, q, err := h.gw.BeginCheckout(h.ctx, ticket)
	if err != nil {
		t.Fatal(err)
	}
	raw := h.msg(gateway.MsgPayment, 0, map[string]any{"payment_id": "pay-1", "ref": q.SessionID, "amount": q.Amount,
		"currency": "EUR", "quote_id": q.ID, "checkout_id": co.ID})
	out := h.receive(raw)
	wantOutcome(t, "payment", out, gateway.InboxApplied, gateway.ReasonOK)
	if out.Payment == nil || !out.Payment.Settled || out.Payment.Duplicate {
		t.Fatalf("payment result: got %+v; want settled, not a duplicate", out.Payment)
	}
	if !h.sim.PayStationSettled(gateway.TicketPrefix + ticket[len(gateway.TicketPrefix):]) {
		t.Errorf("the pay station was not told the ticket is settled")
	}
	// The same message again (an MQTT redelivery): nothing changes.
	again := h.receive(raw)
	if !again.Duplicate || again.State != gateway.InboxApplied {
		t.Errorf("redelivery: got %+v; want a duplicate of an applied message", again)
	}
	// The same payment under another message ID: applied once.
	other := h.receive(h.msg(gateway.MsgPayment, 0, map[string]any{"payment_id": "pay-1", "ref": q.SessionID, "amount": q.Amount}))
	wantOutcome(t, "same payment, new message", other, gateway.InboxApplied, gateway.ReasonOK)
	if other.Payment == nil || !other.Payment.Duplicate {
		t.Errorf("same payment ID: got %+v; want Duplicate", other.Payment)
	}
	var ps []gateway.Payment
	_ = h.db.View(h.ctx, func(tx gateway.Tx) error { ps, err = tx.PaymentsForSession(q.SessionID); return err })
	if len(ps) != 1 {
		t.Errorf("payments: got %d; want 1", len(ps))
	}
	if n := len(h.eventsOf(gateway.EvPayment, 0)); n != 1 {
		t.Errorf("payment.applied events: got %d; want 1", n)
	}
	// The car leaves with its ticket.
	h.sensor("out-1-loop", true)
	wantDecision(t, "exit after e-payment", h.present("out-1", ticket), true, gateway.ReasonOK)
}

func TestSyncPartialAndLatePayments(t *testing.T) {
	h := newSyncHarness(t)
	ticket := h.ticket()
	h.advance(2 * time.Hour)
	q, d, err := h.gw.Quote(h.ctx, ticket)
	if err != nil || d.Amount <= 100 {
		t.Fatalf("quote: %v, due %d", err, d.Amount)
	}
	out := h.receive(h.msg(gateway.MsgPayment, 0, map[string]any{"payment_id": "part", "ref": q.SessionID, "amount": 100}))
	wantOutcome(t, "partial", out, gateway.InboxApplied, gateway.ReasonOK)
	if out.Payment.Settled || out.Payment.Due.Amount != d.Amount-100 {
		t.Errorf("partial payment: settled %v due %d; want unsettled, due %d", out.Payment.Settled, out.Payment.Due.Amount, d.Amount-100)
	}
	// Pay the rest against a quote, but after the quote expired: what
	// accrued since stays due.
	q2, d2, _ := h.gw.Quote(h.ctx, ticket)
	h.advance(h.site.Policy.QuoteHold + 2*time.Hour)
	out = h.receive(h.msg(gateway.MsgPayment, 0, map[string]any{"payment_id": "late", "ref": q2.SessionID, "amount": d2.Amount,
		"quote_id": q2.ID}))
	wantOutcome(t, "late", out, gateway.InboxApplied, gateway.ReasonOK)
	if out.Payment.Settled || out.Payment.Due.Amount <= 0 {
		t.Errorf("after the quote expired: settled %v due %d; want something still due", out.Payment.Settled, out.Payment.Due.Amount)
	}
	applied := h.eventsOf(gateway.EvCloudApplied, 0)
	if m := eventData(t, applied[len(applied)-1]); m["quote_expired"] != true {
		t.Errorf("outcome event %v; want quote_expired", m)
	}
	h.sensor("out-1-loop", true)
	wantDecision(t, "exit with a difference due", h.present("out-1", ticket), false, gateway.ReasonPaymentDue)
}

func TestSyncRefusals(t *testing.T) {
	h := newSyncHarness(t)
	_, _, otherPriv, _ := keys.GenerateKey(rand.Reader)
	signWith := func(kid string, priv []byte, m keys.Message) []byte {
		raw, err := keys.SignMessage(m, kid, priv)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	now := h.now().Truncate(time.Second)
	base := keys.Message{ID: "x-1", Type: gateway.MsgCommand, Site: h.site.ID, IssuedAt: now, Expires: now.Add(30 * time.Second),
		Body: []byte(`{"command":"open_barrier","lane":"out-1","operator":"op","reason":"help"}`)}
	wrongSite := base
	wrongSite.ID, wrongSite.Site = "x-2", "other-site"
	cmd := h.msg(gateway.MsgCommand, 30*time.Second, map[string]any{"command": "open_barrier", "lane": "out-2", "operator": "op", "reason": "r"})
	tests := []struct {
		name   string
		raw    []byte
		state  gateway.InboxState
		reason gateway.Reason
	}{
		{"garbage", []byte("not cose"), gateway.InboxRefused, gateway.ReasonMalformed},
		{"unknown kid", signWith("0000000000000000", otherPriv, base), gateway.InboxRefused, gateway.ReasonUnknownKID},
		{"bad signature", signWith(h.kid, otherPriv, base), gateway.InboxRefused, gateway.ReasonBadSignature},
		{"wrong site", signWith(h.kid, h.priv, wrongSite), gateway.InboxRefused, gateway.ReasonWrongSite},
		{"no expiry", h.msg(gateway.MsgCommand, 0, map[string]any{"command": "open_barrier", "lane": "out-1", "operator": "op", "reason": "r"}), gateway.InboxRefused, gateway.ReasonNoExpiry},
		{"expiry too long", h.msg(gateway.MsgCommand, time.Hour, map[string]any{"command": "open_barrier", "lane": "out-1", "operator": "op", "reason": "r"}), gateway.InboxRefused, gateway.ReasonNoExpiry},
		{"no reason", h.msg(gateway.MsgCommand, time.Minute, map[string]any{"command": "open_barrier", "lane": "out-1", "operator": "op", "reason": ""}), gateway.InboxRefused, gateway.ReasonInvalid},
		{"unknown field", h.msg(gateway.MsgCommand, time.Minute, map[string]any{"command": "open_barrier", "lane": "out-1", "operator": "op", "reason": "r", "force": true}), gateway.InboxRefused, gateway.ReasonInvalid},
		{"unknown type", h.msg("launch.rocket", time.Minute, map[string]any{}), gateway.InboxRefused, gateway.ReasonUnknownType},
		{"valid command", cmd, gateway.InboxApplied, gateway.ReasonOK},
	}
	for _, tt := range tests {
		wantOutcome(t, tt.name, h.receive(tt.raw), tt.state, tt.reason)
	}
	h.wantBarrier("remote open", "out-2-barrier", true)
	h.wantBarrier("refused commands", "out-1-barrier", false)
	// Expired by the time it arrives.
	late := h.msg(gateway.MsgCommand, 10*time.Second, map[string]any{"command": "open_barrier", "lane": "out-1", "operator": "op", "reason": "r"})
	h.advance(h.site.Policy.ClockSkew + 11*time.Second)
	wantOutcome(t, "expired", h.receive(late), gateway.InboxRefused, gateway.ReasonExpired)
	// A replayed command: the same message again does nothing.
	n := len(h.eventsOf(gateway.EvOverride, 0))
	out := h.receive(cmd)
	if !out.Duplicate {
		t.Errorf("replayed command: got %+v; want a duplicate", out)
	}
	if got := len(h.eventsOf(gateway.EvOverride, 0)); got != n {
		t.Errorf("replayed command: %d override events; want %d", got, n)
	}
	h.wantBarrier("after refusals", "out-1-barrier", false)
	// Every message was answered with an event.
	if got := len(h.eventsOf(gateway.EvCloudRefused, 0)); got != 10 {
		t.Errorf("cloud.refused events: got %d; want 10", got)
	}
}

func TestSyncDownlinkTypes(t *testing.T) {
	h := newSyncHarness(t)
	// Revocation.
	text, kid := h.mustKey(lockerKey())
	wantOutcome(t, "revoke", h.receive(h.msg(gateway.MsgRevocation, 0, map[string]any{"key_id": kid, "reason": "lost"})), gateway.InboxApplied, gateway.ReasonOK)
	wantDecision(t, "revoked key", h.authorize(atLocker(text, "A-03")), false, gateway.ReasonRevoked)

	// List: full, differential, mismatch.
	wantOutcome(t, "full list", h.receive(h.msg(gateway.MsgListUpdate, 0, map[string]any{"full": true, "version": 3,
		"upsert": []map[string]any{{"id": "CARD-1", "kind": "rfid", "status": "accepted"}}})), gateway.InboxApplied, gateway.ReasonOK)
	wantOutcome(t, "diff list", h.receive(h.msg(gateway.MsgListUpdate, 0, map[string]any{"from": 3, "version": 4,
		"upsert": []map[string]any{{"id": "CARD-2", "kind": "rfid", "status": "blocked"}}})), gateway.InboxApplied, gateway.ReasonOK)
	out := h.receive(h.msg(gateway.MsgListUpdate, 0, map[string]any{"from": 2, "version": 5, "remove": []string{"CARD-1"}}))
	wantOutcome(t, "mismatch", out, gateway.InboxRefused, gateway.ReasonVersionMismatch)
	if m := eventData(t, h.event(out.Seq)); m["have"] != 4.0 || m["want"] != 2.0 {
		t.Errorf("mismatch event: %v; want have 4, want 2", m)
	}
	h.sensor("in-1-loop", true)
	wantDecision(t, "card from the list", h.present("in-1", "CARD-1"), true, gateway.ReasonOK)

	// Reservation.
	from := h.now()
	wantOutcome(t, "reservation", h.receive(h.msg(gateway.MsgReservationPut, 0, map[string]any{"id": "r-1", "credential": "list:CARD-9",
		"from": from, "until": from.Add(2 * time.Hour)})), gateway.InboxApplied, gateway.ReasonOK)
	err := h.db.View(h.ctx, func(tx gateway.Tx) error {
		_, err := tx.ReservationFor("list:CARD-9", from, 0, 0)
		return err
	})
	if err != nil {
		t.Errorf("reservation not stored: %v", err)
	}
	wantOutcome(t, "reservation delete", h.receive(h.msg(gateway.MsgReservationDel, 0, map[string]any{"id": "r-1"})), gateway.InboxApplied, gateway.ReasonOK)

	// Remote unlock and passback reset.
	wantOutcome(t, "unlock", h.receive(h.msg(gateway.MsgCommand, 30*time.Second, map[string]any{"command": "unlock", "resource": "locker:A-02",
		"operator": "op", "reason": "customer call"})), gateway.InboxApplied, gateway.ReasonOK)
	h.wantLocked("remote unlock", "A-02-lock", false)
	ptext, pkid := h.mustKey(parkKey())
	wantDecision(t, "enter", h.present("in-1", ptext), true, gateway.ReasonOK)
	wantDecision(t, "enter twice", h.present("in-1", ptext), false, gateway.ReasonPassback)
	wantOutcome(t, "reset passback", h.receive(h.msg(gateway.MsgCommand, 30*time.Second, map[string]any{"command": "reset_passback",
		"key_id": pkid, "operator": "op", "reason": "left behind a truck"})), gateway.InboxApplied, gateway.ReasonOK)
	wantDecision(t, "enter after reset", h.present("in-1", ptext), true, gateway.ReasonOK)

	// Payment provider status.
	wantOutcome(t, "provider down", h.receive(h.msg(gateway.MsgPaymentProvider, 0, map[string]any{"available": false, "reason": "psp outage"})), gateway.InboxApplied, gateway.ReasonOK)
	if up, why := h.s.PaymentProvider(); up || why != "psp outage" {
		t.Errorf("PaymentProvider: got %v %q; want false, psp outage", up, why)
	}

	// Trusted time moves forward, never back; an hour ahead of the wall
	// clock, commands issued by the wall clock's "now" are expired.
	ahead := h.now().Add(time.Hour)
	wantOutcome(t, "time", h.receive(h.msg(gateway.MsgTrustedTime, 0, map[string]any{"time": ahead})), gateway.InboxApplied, gateway.ReasonOK)
	if ok, tt := h.gw.ClockTrusted(h.ctx); ok || !tt.Equal(ahead) {
		t.Errorf("ClockTrusted: got %v %v; want false %v (the clock is an hour behind)", ok, tt, ahead)
	}
	h.receive(h.msg(gateway.MsgTrustedTime, 0, map[string]any{"time": ahead.Add(-time.Minute)}))
	if _, tt := h.gw.ClockTrusted(h.ctx); !tt.Equal(ahead) {
		t.Errorf("trusted time went back to %v", tt)
	}
	wantOutcome(t, "command by a clock behind trusted time", h.receive(h.msg(gateway.MsgCommand, 30*time.Second, map[string]any{"command": "unlock",
		"resource": "locker:A-02", "operator": "op", "reason": "r"})), gateway.InboxRefused, gateway.ReasonExpired)
}

func TestSyncRecoversPendingMessages(t *testing.T) {
	h := newSyncHarness(t)
	ticket := h.ticket()
	h.advance(time.Hour)
	v := h.session(ticket)
	raw := h.msg(gateway.MsgPayment, 0, map[string]any{"payment_id": "p-crash", "ref": v.Session.ID, "amount": v.Due.Amount})
	// Stored (and acknowledged to the broker), then the process died.
	out, err := h.s.Accept(h.ctx, raw, "mqtt")
	if err != nil || !out.Stored || out.State != gateway.InboxPending {
		t.Fatalf("Accept: %+v %v; want stored, pending", out, err)
	}
	// A new process applies what is pending.
	s2 := gateway.NewSync(h.gw, gateway.SyncOptions{})
	n, err := s2.ApplyPending(h.ctx)
	h.gw.WaitActuations(h.ctx)
	if err != nil || n != 1 {
		t.Fatalf("ApplyPending: %d, %v; want 1", n, err)
	}
	if v := h.session(ticket); v.Due.Amount != 0 {
		t.Errorf("after recovery: due %d; want 0", v.Due.Amount)
	}
	if n, err := s2.ApplyPending(h.ctx); err != nil || n != 0 {
		t.Errorf("second ApplyPending: %d, %v; want 0", n, err)
	}
}

func TestDelegation(t *testing.T) {
	h := newSyncHarness(t)
	decide := func(id string, approved bool) gateway.Outcome {
		return h.receive(h.msg(gateway.MsgApproval, 30*time.Second, map[string]any{"request_id": id, "approved": approved, "operator": "owner"}))
	}
	req := gateway.ApprovalRequest{Nickname: "Anna", Requester: "assistant-7", RequesterKind: "ai_device", Action: gateway.ActionExit, Resource: "gate:out-1"}

	// Approved within the countdown: the barrier rises.
	a, err := h.s.RequestApproval(h.ctx, req)
	if err != nil || a.State != gateway.ApprovalPending || !a.Deadline.Equal(h.now().Add(time.Minute)) {
		t.Fatalf("request: %+v %v", a, err)
	}
	if evs := h.eventsOf(gateway.EvApprovalRequested, 0); len(evs) != 1 || eventData(t, evs[0])["nickname"] != "Anna" {
		t.Errorf("approval.requested events: %v", evs)
	}
	h.advance(20 * time.Second)
	wantOutcome(t, "approve", decide(a.ID, true), gateway.InboxApplied, gateway.ReasonOK)
	h.wantBarrier("approved", "out-1-barrier", true)
	if got, _ := h.s.WaitApproval(h.ctx, a.ID); got.State != gateway.ApprovalApproved {
		t.Errorf("WaitApproval: %s; want approved", got.State)
	}
	// A second decision for the same request is refused.
	wantOutcome(t, "decide twice", decide(a.ID, false), gateway.InboxRefused, gateway.ReasonConflict)

	// Refused by the owner.
	b, _ := h.s.RequestApproval(h.ctx, gateway.ApprovalRequest{Nickname: "Anna", Requester: "Ben", Action: gateway.ActionOpen, Resource: "locker:A-04"})
	wantOutcome(t, "refuse", decide(b.ID, false), gateway.InboxApplied, gateway.ReasonOK)
	if got, _ := h.s.WaitApproval(h.ctx, b.ID); got.State != gateway.ApprovalRefused {
		t.Errorf("refused: %s; want refused", got.State)
	}
	h.wantLocked("refused", "A-04-lock", true)

	// Late: the decision arrives after the countdown.
	c, _ := h.s.RequestApproval(h.ctx, gateway.ApprovalRequest{Nickname: "Anna", Requester: "Ben", Action: gateway.ActionOpen, Resource: "locker:A-05"})
	h.advance(61 * time.Second)
	wantOutcome(t, "late", decide(c.ID, true), gateway.InboxRefused, gateway.ReasonLate)
	h.wantLocked("late approval", "A-05-lock", true)
	if got, _ := h.s.WaitApproval(h.ctx, c.ID); got.State != gateway.ApprovalExpired {
		t.Errorf("late: %s; want expired", got.State)
	}

	// None: the countdown runs out.
	d, _ := h.s.RequestApproval(h.ctx, gateway.ApprovalRequest{Nickname: "Anna", Requester: "Ben", Action: gateway.ActionOpen, Resource: "locker:A-06"})
	done := make(chan gateway.Approval)
	go func() { got, _ := h.s.WaitApproval(h.ctx, d.ID); done <- got }()
	for {
		// Wait until the waiter registered, then expire by the fake clock.
		h.s.Tick(h.ctx, h.now().Add(2*time.Minute))
		select {
		case got := <-done:
			if got.State != gateway.ApprovalExpired {
				t.Errorf("no decision: %s; want expired", got.State)
			}
			goto pay
		case <-time.After(10 * time.Millisecond):
		}
	}
pay:
	// Pay on behalf: a single-use token.
	ticket := h.ticket()
	p, _ := h.s.RequestApproval(h.ctx, gateway.ApprovalRequest{Nickname: "Anna", Requester: "Ben", Action: gateway.ActionPay, Resource: ticket})
	wantOutcome(t, "approve pay", decide(p.ID, true), gateway.InboxApplied, gateway.ReasonOK)
	got, _ := h.s.WaitApproval(h.ctx, p.ID)
	if got.Token == "" {
		t.Fatalf("approved pay request has no token")
	}
	if a, err := h.s.UsePaymentToken(h.ctx, got.Token); err != nil || a.Resource != ticket {
		t.Errorf("UsePaymentToken: %+v %v", a, err)
	}
	if _, err := h.s.UsePaymentToken(h.ctx, got.Token); gateway.KindOf(err) != gateway.Conflict {
		t.Errorf("token used twice: got %v; want a Conflict", err)
	}

	// Offline: refused at once.
	h.online = false
	off, err := h.s.RequestApproval(h.ctx, req)
	if err != nil || off.State != gateway.ApprovalRefused || off.Reason == "" {
		t.Errorf("offline: %+v %v; want refused with a message", off, err)
	}
}

func TestPhoneRelayedReceipt(t *testing.T) {
	h := newSyncHarness(t)
	h.online = false
	ticket := h.ticket()
	h.advance(90 * time.Minute)
	v := h.session(ticket)
	raw := h.msg(gateway.MsgPayment, 0, map[string]any{"payment_id": "p-phone", "ref": v.Session.ID, "amount": v.Due.Amount})
	text := keys.EncodeReceiptText(raw)
	h.sensor("out-2-loop", true)
	d, out, err := h.s.PresentReceiptAtLane(h.ctx, "out-2", text)
	if err != nil {
		t.Fatal(err)
	}
	wantDecision(t, "receipt at the exit", d, true, gateway.ReasonOK)
	wantOutcome(t, "receipt", out, gateway.InboxApplied, gateway.ReasonOK)
	h.wantBarrier("receipt", "out-2-barrier", true)
	// The same completion later over MQTT: a duplicate, applied once.
	again := h.receive(raw)
	if !again.Duplicate {
		t.Errorf("MQTT after the phone: %+v; want a duplicate", again)
	}
	// A receipt that is not a payment is refused and not stored.
	cmd := h.msg(gateway.MsgCommand, 30*time.Second, map[string]any{"command": "open_barrier", "lane": "out-1", "operator": "op", "reason": "r"})
	d, out, err = h.s.PresentReceiptAtLane(h.ctx, "out-1", keys.EncodeReceiptText(cmd))
	if err != nil || d.Allowed || out.Reason != gateway.ReasonWrongType || out.Stored {
		t.Errorf("command as a receipt: %v %+v %v; want refused wrong_type, not stored", d, out, err)
	}
	d, _, _ = h.s.PresentReceiptAtLane(h.ctx, "out-1", "LGR1:NOT*VALID")
	if d.Allowed {
		t.Errorf("garbage receipt allowed")
	}
}

func TestUnpaidExitsReport(t *testing.T) {
	h := newSyncHarness(t)
	ticket := h.ticket()
	h.advance(3 * time.Hour)
	due := h.session(ticket).Due.Amount
	if _, err := h.gw.OverrideLane(h.ctx, "out-1", ticket, attendant); err != nil {
		t.Fatal(err)
	}
	rep, err := h.gw.UnpaidExits(h.ctx, time.Time{}, time.Time{})
	if err != nil || len(rep) != 1 || rep[0].Unpaid != due || rep[0].Paid != 0 {
		t.Errorf("report: %+v %v; want one exit, %d unpaid", rep, err, due)
	}
}

// TestReceiptAtTheScanner: a receipt shown to an exit lane's scanner (the
// simulated one, through gateway.Scanned) pays and opens, as a ticket
// would; without the sync side it is an unknown card.
func TestReceiptAtTheScanner(t *testing.T) {
	h := newSyncHarness(t)
	h.online = false
	ticket := h.ticket()
	h.advance(90 * time.Minute)
	v := h.session(ticket)
	raw := h.msg(gateway.MsgPayment, 0, map[string]any{"payment_id": "p-scan", "ref": v.Session.ID, "amount": v.Due.Amount})
	text := keys.EncodeReceiptText(raw)
	if len(text) > 1024 {
		t.Errorf("receipt text is %d characters; the scanner driver's default line limit is 1024", len(text))
	}
	h.sensor("out-1-loop", true)
	mark := h.lastSeq()
	if err := h.sim.Scan(h.ctx, "out-1-scanner", text); err != nil {
		t.Fatal(err)
	}
	h.wantBarrier("receipt scanned", "out-1-barrier", true)
	if v := h.session(v.Session.ID); v.Session.State != gateway.SessionClosed || v.Session.Paid != v.Due.Fee {
		t.Errorf("session after the receipt: %+v; want closed and paid", v.Session)
	}
	var paid, exited bool
	for _, e := range h.events()[mark:] {
		paid = paid || e.Type == gateway.EvPayment
		exited = exited || (e.Type == gateway.EvExit && eventData(t, e)["allowed"] == true)
	}
	if !paid || !exited {
		t.Errorf("events after the scan: payment %v, allowed exit %v; want both", paid, exited)
	}
	// Scanned again: the payment is not applied twice and the session is
	// gone, so the lane refuses.
	if err := h.sim.Scan(h.ctx, "out-1-scanner", text); err != nil {
		t.Fatal(err)
	}
	if n := len(h.eventsOf(gateway.EvPayment, 0)); n != 1 {
		t.Errorf("payment.applied events: got %d; want 1", n)
	}
}

func TestReceiptAtTheScannerWithoutSync(t *testing.T) {
	h := newHarness(t)
	d := h.present("out-1", "LGR1:6BFOXN*TS0BI$ZD.P9")
	if d.Allowed || d.Reason != gateway.ReasonUnknownCredential {
		t.Errorf("a receipt with no sync side: got %v %s; want denied %s", d.Allowed, d.Reason, gateway.ReasonUnknownCredential)
	}
}
