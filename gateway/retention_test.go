package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

func TestRoutine(t *testing.T) {
	for _, tc := range []struct {
		typ  gateway.EventType
		want bool
	}{
		{gateway.EvDevice, true},
		{gateway.EvActuation, true},
		{gateway.EvCapacity, true},
		{gateway.EvPayment, false},
		{gateway.EvPaymentDup, false},
		{gateway.EvAccess, false},
		{gateway.EvEntry, false},
		{gateway.EvExit, false},
		{gateway.EvOverride, false},
		{gateway.EvSessionOpened, false},
		{gateway.EvSessionClosed, false},
		{gateway.EvAlarm, false},
		{gateway.EvFireAlarm, false},
		{gateway.EvCloudApplied, false},
		{gateway.EvRemoteCommand, false},
		{gateway.EvEventsRedacted, false},
		{"some.future_type", false},
	} {
		if got := tc.typ.Routine(); got != tc.want {
			t.Errorf("%s.Routine(): got %v; want %v", tc.typ, got, tc.want)
		}
	}
}

// busySite runs visits (ticket, cash payment, exit) with bursts of routine
// device reports between them, as a site with chatty sensors would, and
// returns the number of events.
func busySite(h *harness, visits, burst int) {
	h.t.Helper()
	pad := strings.Repeat("r", 300)
	for v := range visits {
		err := h.db.Update(h.ctx, func(tx gateway.Tx) error {
			for i := range burst {
				e := gateway.Event{Time: h.now(), Type: gateway.EvDevice,
					Data: json.RawMessage(fmt.Sprintf(`{"device":"in-1-loop","active":%v,"note":%q}`, i%2 == 0, pad))}
				if err := tx.AppendEvent(&e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			h.t.Fatalf("append routine events: %v", err)
		}
		text := h.ticket()
		h.clock.Advance(50 * time.Minute)
		h.pay(gateway.PaymentIn{ID: fmt.Sprintf("cash-%d", v), Ref: text, Method: gateway.PayCash, Amount: 300})
		h.sensor("out-1-loop", true)
		wantDecision(h.t, "exit", h.present("out-1", text), true, gateway.ReasonOK)
		h.sensor("out-1-loop", false)
	}
}

// neverRedacted are the types the policy promises never to redact,
// whatever Routine says.
var neverRedacted = map[gateway.EventType]bool{
	gateway.EvPayment: true, gateway.EvPaymentDup: true, gateway.EvQuote: true, gateway.EvCheckout: true,
	gateway.EvAccess: true, gateway.EvEntry: true, gateway.EvExit: true, gateway.EvOverride: true,
	gateway.EvPassbackReset: true, gateway.EvRemoteCommand: true, gateway.EvSessionOpened: true,
	gateway.EvSessionClosed: true, gateway.EvSessionReopened: true, gateway.EvExitUndone: true, gateway.EvExitUnverified: true, gateway.EvAlarm: true, gateway.EvFireAlarm: true,
	gateway.EvCloudApplied: true, gateway.EvEventsRedacted: true,
}

func (h *harness) storeBytes() int64 {
	h.t.Helper()
	var n int64
	if err := h.db.View(h.ctx, func(tx gateway.Tx) error { var err error; n, err = tx.StoreBytes(); return err }); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// TestDiskCap fills a store past a cap and checks the policy: only routine
// events lose their data, those the cloud acknowledged first, oldest first;
// every other event keeps its data; the chain still verifies; what was
// redacted is recorded.
func TestDiskCap(t *testing.T) {
	for _, tc := range []struct {
		name        string
		capShare    float64 // the cap as a share of the store's size
		wantUnacked bool    // unacknowledged routine events lose their data too
		wantOver    bool    // still over the cap: nothing routine left
	}{
		{"acknowledged routine events go first", 0.85, false, false},
		{"then unacknowledged routine events", 0.45, true, false},
		{"never anything else, even over the cap", 0.05, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			busySite(h, 6, 300)
			last := h.lastSeq()
			acked := last / 2
			if err := h.db.Update(h.ctx, func(tx gateway.Tx) error { _, err := tx.AckCloud(acked); return err }); err != nil {
				t.Fatal(err)
			}
			before := h.events()
			size := h.storeBytes()
			capBytes := int64(float64(size) * tc.capShare)

			res, err := h.gw.EnforceDiskCap(h.ctx, capBytes)
			if err != nil {
				t.Fatalf("EnforceDiskCap(%d) with %d bytes: %v", capBytes, size, err)
			}
			after := h.events()
			if res.OverCap != tc.wantOver {
				t.Errorf("got OverCap %v (%+v); want %v", res.OverCap, res, tc.wantOver)
			}
			if !tc.wantOver && res.After > capBytes {
				t.Errorf("store bytes after: got %d; want at most the cap %d (before %d)", res.After, capBytes, size)
			}
			if got := h.storeBytes(); got != res.After {
				t.Errorf("store bytes: got %d; the result says %d", got, res.After)
			}

			var redacted, routineKept []uint64
			for i, b := range before {
				a := after[i]
				if !bytes.Equal(a.Hash, b.Hash) || a.Seq != b.Seq || a.Type != b.Type {
					t.Fatalf("event %d changed: %s → %s", b.Seq, b.Type, a.Type)
				}
				switch {
				case a.Redacted && (neverRedacted[b.Type] || !b.Type.Routine()):
					t.Errorf("event %d (%s) is not routine but lost its data", a.Seq, a.Type)
				case a.Redacted:
					redacted = append(redacted, a.Seq)
					if !bytes.Equal(a.DataHash, gateway.DataDigest(b.Data)) {
						t.Errorf("event %d: the data hash is not the digest of the data it had", a.Seq)
					}
				case !bytes.Equal(a.Data, b.Data):
					t.Errorf("event %d (%s): data changed without being redacted", a.Seq, a.Type)
				case b.Type.Routine():
					routineKept = append(routineKept, a.Seq)
				}
			}
			if len(redacted) == 0 || len(redacted) != res.Redacted() {
				t.Fatalf("redacted %d events; the result says %d", len(redacted), res.Redacted())
			}
			// Oldest first: every routine event kept comes after every
			// redacted one.
			if len(routineKept) > 0 && routineKept[0] < redacted[len(redacted)-1] {
				t.Errorf("routine event %d kept its data but the later %d lost it", routineKept[0], redacted[len(redacted)-1])
			}
			unacked := slices.IndexFunc(redacted, func(s uint64) bool { return s > acked }) >= 0
			if unacked != tc.wantUnacked {
				t.Errorf("unacknowledged events redacted: got %v; want %v (acked %d, redacted %d…%d)", unacked, tc.wantUnacked, acked, redacted[0], redacted[len(redacted)-1])
			}
			if tc.wantUnacked && slices.ContainsFunc(routineKept, func(s uint64) bool { return s <= acked }) {
				t.Errorf("an acknowledged routine event kept its data while unacknowledged ones lost theirs")
			}

			// What was redacted is recorded, and the chain verifies.
			var counted int
			for _, e := range after[len(before):] {
				if e.Type != gateway.EvEventsRedacted {
					t.Errorf("event %d: got %s after the redaction; want only %s", e.Seq, e.Type, gateway.EvEventsRedacted)
					continue
				}
				counted += int(eventData(t, e)["count"].(float64))
			}
			if counted != len(redacted) {
				t.Errorf("events.redacted events count %d; want %d", counted, len(redacted))
			}
			a, err := h.db.Audit(h.ctx)
			if err != nil || a.BadSeq != 0 || a.Redacted != uint64(len(redacted)) {
				t.Errorf("Audit: got %+v, %v; want the chain whole with %d redacted", a, err, len(redacted))
			}

			// Under the cap now (or nothing left): a second run changes
			// nothing.
			again, err := h.gw.EnforceDiskCap(h.ctx, capBytes)
			if err != nil || again.Redacted() != 0 {
				t.Errorf("EnforceDiskCap again: got %+v, %v; want nothing redacted", again, err)
			}
		})
	}
}

func TestDiskCapOff(t *testing.T) {
	h := newHarness(t)
	busySite(h, 1, 50)
	res, err := h.gw.EnforceDiskCap(h.ctx, 0)
	if err != nil || res.Redacted() != 0 {
		t.Errorf("EnforceDiskCap(0): got %+v, %v; want nothing done", res, err)
	}
}
