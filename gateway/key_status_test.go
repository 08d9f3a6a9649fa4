package gateway_test

import (
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/sqlite"
)

// The store answers CheckKey's key state and revocation from memory
// (sqlite.DB.KeyStatus, gateway.KeyStatusReader). These tests change a
// key through every path that can, then present it: the very next
// decision must see the change.

// TestRevocationReachesTheNextDecision revokes a key through every path
// that revokes (grep Revoke: gateway.Revoke, which the console and the
// cloud downlink call; the downlink's Receive, Take and Accept +
// ApplyPending; another process on the same database file) and then
// presents it: CheckKey and Authorize refuse it as revoked.
func TestRevocationReachesTheNextDecision(t *testing.T) {
	revoke := func(h *syncHarness, kid string) []byte {
		return h.msg(gateway.MsgRevocation, 0, map[string]any{"key_id": kid, "reason": "lost phone"})
	}
	for _, tc := range []struct {
		name      string
		revoke    func(t *testing.T, h *syncHarness, kid string)
		fromCache bool // the in-process paths: the decision after is answered from memory
	}{
		{"gateway.Revoke", func(t *testing.T, h *syncHarness, kid string) {
			if err := h.gw.Revoke(h.ctx, gateway.Revocation{KeyID: kid, Reason: "console"}); err != nil {
				t.Fatalf("Revoke: %v", err)
			}
		}, true},
		{"cloud downlink: Sync.Receive", func(t *testing.T, h *syncHarness, kid string) {
			wantOutcome(t, "revocation", h.receive(revoke(h, kid)), gateway.InboxApplied, gateway.ReasonOK)
		}, true},
		{"cloud downlink: Sync.Take and its act", func(t *testing.T, h *syncHarness, kid string) {
			out, act, _ := h.take(revoke(h, kid))
			if act == nil {
				t.Fatalf("Take: got %+v and nothing to do; want the revocation to apply", out)
			}
			if err := act(); err != nil {
				t.Fatalf("act: %v", err)
			}
		}, true},
		{"cloud downlink: Sync.Accept then ApplyPending", func(t *testing.T, h *syncHarness, kid string) {
			out, err := h.s.Accept(h.ctx, revoke(h, kid), "receipt")
			if err != nil || !out.Stored {
				t.Fatalf("Accept: got %+v, %v; want stored", out, err)
			}
			if n, err := h.s.ApplyPending(h.ctx); err != nil || n != 1 {
				t.Fatalf("ApplyPending: got %d, %v; want 1 applied", n, err)
			}
		}, true},
		{"another process on the same database", func(t *testing.T, h *syncHarness, kid string) {
			db2, err := sqlite.Open(h.ctx, h.db.Path(), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db2.Close()
			gw2, err := gateway.New(gateway.Options{Site: h.site, Store: db2, Clock: h.clock})
			if err != nil {
				t.Fatal(err)
			}
			if err := gw2.Revoke(h.ctx, gateway.Revocation{KeyID: kid, Reason: "cli"}); err != nil {
				t.Fatalf("Revoke in the other process: %v", err)
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newSyncHarness(t)
			text, kid := h.mustKey(lockerKey())
			req := atLocker(text, "A-03")
			wantDecision(t, "check before", h.checkKey(req), true, gateway.ReasonOK)
			wantDecision(t, "authorize before", h.authorize(req), true, gateway.ReasonOK)

			tc.revoke(t, h, kid)
			before := h.db.KeyCacheStats()
			wantDecision(t, "check after the revocation", h.checkKey(req), false, gateway.ReasonRevoked)
			if tc.fromCache {
				if got := h.db.KeyCacheStats(); got.Hits != before.Hits+1 || got.Misses != before.Misses {
					t.Errorf("key cache: got %+v after %+v; want the check answered from memory", got, before)
				}
			}
			wantDecision(t, "authorize after the revocation", h.authorize(req), false, gateway.ReasonRevoked)
			wantDecision(t, "check again", h.checkKey(req), false, gateway.ReasonRevoked)
		})
	}
}

// TestKeyStateReachesTheNextCheck changes a key's stored state through
// each writer (a decision that takes the last use, an entry, an attendant's
// and the cloud's passback reset, an exit undone because no car passed)
// and checks that CheckKey, answered from memory, sees it at once.
func TestKeyStateReachesTheNextCheck(t *testing.T) {
	h := newSyncHarness(t)
	check := func(what string, req gateway.AccessRequest, allowed bool, reason gateway.Reason) {
		t.Helper()
		before := h.db.KeyCacheStats()
		wantDecision(t, what, h.checkKey(req), allowed, reason)
		if got := h.db.KeyCacheStats(); got.Hits != before.Hits+1 {
			t.Errorf("%s: key cache %+v after %+v; want the check answered from memory", what, got, before)
		}
	}

	// The last use taken by a decision.
	text, _ := h.mustKey(exitKey(1))
	out1 := gateway.AccessRequest{Text: text, Resource: "gate:out-1", Action: gateway.ActionExit, Channel: gateway.ChannelScanner}
	check("single-use, unused", out1, true, gateway.ReasonOK)
	wantDecision(t, "use it", h.present("out-1", text), true, gateway.ReasonOK)
	check("single-use, used", out1, false, gateway.ReasonUsedUp)

	// Entry, then the attendant's reset.
	ptext, pkid := h.mustKey(parkKey())
	in1 := gateway.AccessRequest{Text: ptext, Resource: "gate:in-1", Action: gateway.ActionEnter, Channel: gateway.ChannelScanner}
	check("outside", in1, true, gateway.ReasonOK)
	wantDecision(t, "enter", h.present("in-1", ptext), true, gateway.ReasonOK)
	check("inside", in1, false, gateway.ReasonPassback)
	if err := h.gw.ResetPassback(h.ctx, pkid, gateway.Override{Operator: "anna", Reason: "left on foot"}); err != nil {
		t.Fatalf("ResetPassback: %v", err)
	}
	check("after the attendant's reset", in1, true, gateway.ReasonOK)

	// Entry again, then the cloud's reset.
	wantDecision(t, "enter again", h.present("in-1", ptext), true, gateway.ReasonOK)
	check("inside again", in1, false, gateway.ReasonPassback)
	wantOutcome(t, "cloud reset", h.receive(h.msg(gateway.MsgCommand, 30*time.Second, map[string]any{"command": "reset_passback",
		"key_id": pkid, "operator": "op", "reason": "left behind a truck"})), gateway.InboxApplied, gateway.ReasonOK)
	check("after the cloud's reset", in1, true, gateway.ReasonOK)

	// An exit undone: the barrier timed out and no car passed, so the key
	// is inside again.
	h.sensor("in-1-loop", true)
	wantDecision(t, "enter a third time", h.present("in-1", ptext), true, gateway.ReasonOK)
	h.sensor("in-1-loop", false)
	h.clock.Advance(5 * time.Minute)
	wantDecision(t, "exit", h.present("out-1", ptext), true, gateway.ReasonOK)
	check("left", in1, true, gateway.ReasonOK)
	h.advance(h.site.Policy.BarrierOpenTimeout)
	check("exit undone: inside again", in1, false, gateway.ReasonPassback)
}
