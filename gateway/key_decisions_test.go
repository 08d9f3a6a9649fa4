package gateway_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/keys"
)

// Positions relative to the example site's geofence (150 m around the
// centre).
var (
	inside  = gateway.Point{Lat: 52.52170, Lon: 13.41320}
	faraway = gateway.Point{Lat: 52.52170 + 0.045, Lon: 13.41320} // about 5 km north
)

// deviceKey is a holder's device key pair.
func deviceKey(tb testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatalf("generate device key: %v", err)
	}
	return pub, priv
}

// proofText is what the holder's device shows for a device-bound key at a
// time step.
func proofText(cose []byte, keyID string, step int64, dev ed25519.PrivateKey) string {
	return keys.EncodeProofText(cose, keys.Proof{Step: step, Sig: keys.SignProof(keyID, step, dev)})
}

// TestKeyReasons presents one key per reason code the key checks produce
// at compartment A-03, through CheckKey (no side effects) and then
// Authorize (recorded), and checks the reason, the event and that nothing
// was unlocked on a denial.
func TestKeyReasons(t *testing.T) {
	type tc struct {
		name string
		// text builds the presentation; setup (optional) prepares the
		// gateway's state before the presentation.
		text  func(h *harness) string
		setup func(h *harness, text string)
		req   func(text string) gateway.AccessRequest
		want  gateway.Reason
	}
	plain := func(c keys.Claims) func(h *harness) string {
		return func(h *harness) string { text, _ := h.mustKey(c); return text }
	}
	remote := func(pos *gateway.Point, pin string) func(string) gateway.AccessRequest {
		return func(text string) gateway.AccessRequest {
			r := atLocker(text, "A-03")
			r.Channel, r.Position, r.PIN = gateway.ChannelRemote, pos, pin
			return r
		}
	}
	withClaims := func(edit func(*keys.Claims)) keys.Claims {
		c := lockerKey()
		edit(&c)
		return c
	}
	cases := []tc{
		{name: "valid", text: plain(lockerKey()), want: gateway.ReasonOK},
		{name: "forged with the trusted kid", want: gateway.ReasonBadSignature,
			text: func(h *harness) string {
				_, _, attacker, err := keys.GenerateKey(rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				c := lockerKey()
				c.KeyID, c.Site = h.newKeyID(), h.site.ID
				b, err := keys.Sign(c, h.kid, attacker)
				if err != nil {
					t.Fatal(err)
				}
				return keys.EncodeText(b)
			}},
		{name: "tampered claim", want: gateway.ReasonBadSignature,
			// A key for A-04 rewritten to say A-03: same length, so the
			// structure still parses, and only the signature can tell.
			text: func(h *harness) string {
				c := lockerKey()
				c.Resources = []string{"locker:A-04"}
				b, _ := h.sign(c)
				tampered := bytes.Replace(b, []byte("locker:A-04"), []byte("locker:A-03"), 1)
				if bytes.Equal(tampered, b) {
					t.Fatal("tampering changed nothing")
				}
				return keys.EncodeText(tampered)
			}},
		{name: "device proof by another device", want: gateway.ReasonBadSignature,
			text: func(h *harness) string {
				pub, _ := deviceKey(t)
				_, thief := deviceKey(t)
				c := lockerKey()
				c.DeviceKey = pub
				b, c := h.sign(c)
				return proofText(b, c.KeyID, keys.Step(h.now(), h.site.Policy.ProofStep), thief)
			}},
		{name: "unknown kid", want: gateway.ReasonUnknownKID,
			text: func(h *harness) string {
				kid, _, priv, err := keys.GenerateKey(rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				c := lockerKey()
				c.KeyID, c.Site = h.newKeyID(), h.site.ID
				b, err := keys.Sign(c, kid, priv)
				if err != nil {
					t.Fatal(err)
				}
				return keys.EncodeText(b)
			}},
		{name: "garbage", want: gateway.ReasonMalformed, text: func(*harness) string { return "hello, gate" }},
		{name: "garbage after the prefix", want: gateway.ReasonMalformed, text: func(*harness) string { return keys.Prefix + "%%%%NOT BASE45::" }},
		{name: "truncated", want: gateway.ReasonMalformed,
			text: func(h *harness) string {
				text, _ := h.mustKey(lockerKey())
				return text[:len(text)*2/3]
			}},
		{name: "wrong site", want: gateway.ReasonWrongSite, text: plain(withClaims(func(c *keys.Claims) { c.Site = "other-lot" }))},
		{name: "resource not allowed", want: gateway.ReasonResourceNotAllowed, text: plain(withClaims(func(c *keys.Claims) { c.Resources = []string{"locker:A-04"} }))},
		{name: "action not allowed", want: gateway.ReasonActionNotAllowed, text: plain(withClaims(func(c *keys.Claims) { c.Actions = []string{keys.ActionLock} }))},
		{name: "not yet valid", want: gateway.ReasonNotYetValid,
			text: func(h *harness) string {
				c := lockerKey()
				c.NotBefore = h.now().Add(time.Hour)
				text, _ := h.mustKey(c)
				return text
			}},
		{name: "not yet valid within the skew", want: gateway.ReasonOK,
			text: func(h *harness) string {
				c := lockerKey()
				c.NotBefore = h.now().Add(h.site.Policy.ClockSkew - time.Second)
				text, _ := h.mustKey(c)
				return text
			}},
		{name: "expired", want: gateway.ReasonExpired,
			text: func(h *harness) string {
				c := lockerKey()
				c.NotBefore, c.Expires = h.now().Add(-2*time.Hour), h.now().Add(-time.Hour)
				text, _ := h.mustKey(c)
				return text
			}},
		{name: "weekday outside the window", want: gateway.ReasonOutsideWindow,
			// The clock says Wednesday; the key works at weekends.
			text: plain(withClaims(func(c *keys.Claims) {
				c.Windows = []keys.Window{{Weekdays: []time.Weekday{time.Saturday, time.Sunday}, DayFrom: 8 * 60, DayTo: 18 * 60}}
			}))},
		{name: "time of day outside the window", want: gateway.ReasonOutsideWindow,
			text: plain(withClaims(func(c *keys.Claims) {
				c.Windows = []keys.Window{{Weekdays: []time.Weekday{time.Wednesday}, DayFrom: 12 * 60, DayTo: 14 * 60}}
			}))},
		{name: "window in site time", want: gateway.ReasonOK,
			// 10:00 in Berlin is 08:00 UTC: the window holds only if it is
			// read in the site's zone.
			text: plain(withClaims(func(c *keys.Claims) {
				c.Windows = []keys.Window{{Weekdays: []time.Weekday{time.Wednesday}, DayFrom: 9*60 + 30, DayTo: 10*60 + 30}}
			}))},
		{name: "window read in UTC would hold", want: gateway.ReasonOutsideWindow,
			text: plain(withClaims(func(c *keys.Claims) {
				c.Windows = []keys.Window{{DayFrom: 7*60 + 30, DayTo: 8*60 + 30}}
			}))},
		{name: "revoked", want: gateway.ReasonRevoked, text: plain(lockerKey()),
			setup: func(h *harness, text string) {
				_, id := mustParse(h, text)
				if err := h.gw.Revoke(h.ctx, gateway.Revocation{KeyID: id, Reason: "lost phone"}); err != nil {
					t.Fatalf("Revoke: %v", err)
				}
			}},
		{name: "used up", want: gateway.ReasonUsedUp, text: plain(withClaims(func(c *keys.Claims) { c.Uses = 1 })),
			setup: func(h *harness, text string) {
				wantDecision(t, "first use", h.authorize(atLocker(text, "A-03")), true, gateway.ReasonOK)
				h.advance(h.site.Policy.UnlockFor) // re-locks A-03
			}},
		{name: "device-bound without proof", want: gateway.ReasonProofRequired,
			text: func(h *harness) string {
				pub, _ := deviceKey(t)
				c := lockerKey()
				c.DeviceKey = pub
				text, _ := h.mustKey(c)
				return text
			}},
		{name: "stale proof", want: gateway.ReasonProofRequired,
			text: func(h *harness) string {
				pub, priv := deviceKey(t)
				c := lockerKey()
				c.DeviceKey = pub
				b, c := h.sign(c)
				return proofText(b, c.KeyID, keys.Step(h.now(), h.site.Policy.ProofStep)-2, priv)
			}},
		{name: "fresh proof", want: gateway.ReasonOK,
			text: func(h *harness) string {
				pub, priv := deviceKey(t)
				c := lockerKey()
				c.DeviceKey = pub
				b, c := h.sign(c)
				return proofText(b, c.KeyID, keys.Step(h.now(), h.site.Policy.ProofStep)-1, priv)
			}},
		{name: "remote outside the geofence", want: gateway.ReasonOutsideGeofence,
			text: plain(withClaims(func(c *keys.Claims) { c.Presence.Policy = keys.PresenceGeofence })),
			req:  remote(&faraway, "")},
		{name: "remote without a position", want: gateway.ReasonOutsideGeofence,
			text: plain(withClaims(func(c *keys.Claims) { c.Presence.Policy = keys.PresenceGeofence })),
			req:  remote(nil, "")},
		{name: "remote inside the geofence", want: gateway.ReasonOK,
			text: plain(withClaims(func(c *keys.Claims) { c.Presence.Policy = keys.PresenceGeofence })),
			req:  remote(&inside, "")},
		{name: "scanner ignores the geofence", want: gateway.ReasonOK,
			text: plain(withClaims(func(c *keys.Claims) { c.Presence.Policy = keys.PresenceGeofence }))},
		{name: "clock behind the trusted time", want: gateway.ReasonClockUntrusted,
			text: plain(withClaims(func(c *keys.Claims) { c.Expires = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) })),
			setup: func(h *harness, _ string) {
				if _, err := h.gw.AdvanceTrustedTime(h.ctx, h.now().Add(time.Hour), "test"); err != nil {
					t.Fatalf("AdvanceTrustedTime: %v", err)
				}
			}},
		{name: "clock behind the trusted time, key not time-limited", want: gateway.ReasonOK,
			text: plain(lockerKey()),
			setup: func(h *harness, _ string) {
				if _, err := h.gw.AdvanceTrustedTime(h.ctx, h.now().Add(time.Hour), "test"); err != nil {
					t.Fatalf("AdvanceTrustedTime: %v", err)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			text := c.text(h)
			if c.setup != nil {
				c.setup(h, text)
			}
			req := atLocker(text, "A-03")
			if c.req != nil {
				req = c.req(text)
			}
			allowed := c.want == gateway.ReasonOK
			before := h.lastSeq()
			d := h.checkKey(req)
			wantDecision(t, "CheckKey", d, allowed, c.want)
			if d.Seq != 0 || h.lastSeq() != before {
				t.Errorf("CheckKey recorded something: decision seq %d, log %d → %d", d.Seq, before, h.lastSeq())
			}
			d = h.authorize(req)
			wantDecision(t, "Authorize", d, allowed, c.want)
			h.wantRecorded("Authorize", d, gateway.EvAccess)
			h.wantLocked("after the decision", "A-03-lock", !allowed)
		})
	}
}

// mustParse returns a key's claims as the gateway would see them.
func mustParse(h *harness, text string) (keys.Claims, string) {
	h.t.Helper()
	p, err := keys.ParsePresentation(text)
	if err != nil {
		h.t.Fatalf("parse %q: %v", text, err)
	}
	c, err := keys.Verify(p.Key, func(kid string) (ed25519.PublicKey, bool) {
		k, ok := h.site.TrustedKeys[kid]
		return k, ok
	})
	if err != nil {
		h.t.Fatalf("verify: %v", err)
	}
	return c, c.KeyID
}

// TestCheckKeyConsumesNothing checks a single-use key three times; it
// still opens exactly once afterwards.
func TestCheckKeyConsumesNothing(t *testing.T) {
	h := newHarness(t)
	c := lockerKey()
	c.Uses = 1
	text, id := h.mustKey(c)
	before := h.lastSeq()
	for i := range 3 {
		wantDecision(t, "check "+string(rune('1'+i)), h.checkKey(atLocker(text, "A-03")), true, gateway.ReasonOK)
	}
	if got := h.lastSeq(); got != before {
		t.Errorf("CheckKey appended events: last seq %d → %d", before, got)
	}
	if st := h.keyState(id); st.Uses != 0 {
		t.Errorf("after 3 checks: uses = %d; want 0", st.Uses)
	}
	h.wantLocked("after checks", "A-03-lock", true)
	wantDecision(t, "first use", h.authorize(atLocker(text, "A-03")), true, gateway.ReasonOK)
	h.wantLocked("after the first use", "A-03-lock", false)
	d := h.authorize(atLocker(text, "A-03"))
	wantDecision(t, "second use", d, false, gateway.ReasonUsedUp)
	h.wantRecorded("second use", d, gateway.EvAccess)
	wantDecision(t, "check after use", h.checkKey(atLocker(text, "A-03")), false, gateway.ReasonUsedUp)

	// A resource the site does not have is refused as Authorize refuses
	// it, even for a key whose pattern would match it.
	all, _ := h.mustKey(keys.Claims{Resources: []string{"*"}, Actions: []string{keys.ActionExit, keys.ActionOpen}})
	for _, req := range []gateway.AccessRequest{
		{Text: all, Resource: "gate:out-99", Action: gateway.ActionExit, Channel: gateway.ChannelScanner},
		{Text: all, Resource: "locker:Z-99", Action: gateway.ActionOpen, Channel: gateway.ChannelScanner},
	} {
		wantDecision(t, "check "+req.Resource, h.checkKey(req), false, gateway.ReasonUnknownResource)
		wantDecision(t, "authorize "+req.Resource, h.authorize(req), false, gateway.ReasonUnknownResource)
	}
}

// TestProofReplayed shows the same device proof twice.
func TestProofReplayed(t *testing.T) {
	h := newHarness(t)
	pub, priv := deviceKey(t)
	c := lockerKey()
	c.DeviceKey = pub
	b, c := h.sign(c)
	step := keys.Step(h.now(), h.site.Policy.ProofStep)
	text := proofText(b, c.KeyID, step, priv)
	wantDecision(t, "check before use", h.checkKey(atLocker(text, "A-03")), true, gateway.ReasonOK)
	wantDecision(t, "first proof", h.authorize(atLocker(text, "A-03")), true, gateway.ReasonOK)
	// keys check says what the lane would: the proof was used.
	wantDecision(t, "check after use", h.checkKey(atLocker(text, "A-03")), false, gateway.ReasonProofReplayed)
	d := h.authorize(atLocker(text, "A-03"))
	wantDecision(t, "same proof again", d, false, gateway.ReasonProofReplayed)
	h.wantRecorded("same proof again", d, gateway.EvAccess)
	// The next step's proof is fresh.
	h.clock.Advance(h.site.Policy.ProofStep)
	next := proofText(b, c.KeyID, step+1, priv)
	wantDecision(t, "next step", h.authorize(atLocker(next, "A-03")), true, gateway.ReasonOK)
	// A replayed proof consumed no use: a two-use key still has one left
	// after a replay.
	c2 := lockerKey()
	c2.DeviceKey, c2.Uses = pub, 2
	b2, c2 := h.sign(c2)
	p1 := proofText(b2, c2.KeyID, step+1, priv)
	wantDecision(t, "two-use key, first", h.authorize(atLocker(p1, "A-03")), true, gateway.ReasonOK)
	wantDecision(t, "two-use key, replay", h.authorize(atLocker(p1, "A-03")), false, gateway.ReasonProofReplayed)
	p2 := proofText(b2, c2.KeyID, step, priv)
	wantDecision(t, "two-use key, second", h.authorize(atLocker(p2, "A-03")), true, gateway.ReasonOK)
}

// TestPIN runs a geofence_pin key through the PIN rules: inside no PIN is
// needed, outside a PIN is; wrong PINs count and lock the key's PIN out
// after PINMaxAttempts, with a pin.lockout event; the lockout ends.
func TestPIN(t *testing.T) {
	h := newHarness(t)
	salt, err := keys.NewPINSalt(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := lockerKey()
	c.Presence = keys.Presence{Policy: keys.PresenceGeofencePIN, PINHash: keys.HashPIN("4711", salt), PINSalt: salt}
	text, id := h.mustKey(c)
	req := func(pos gateway.Point, pin string) gateway.AccessRequest {
		r := atLocker(text, "A-03")
		r.Channel, r.Position, r.PIN = gateway.ChannelRemote, &pos, pin
		return r
	}
	wantDecision(t, "inside, no PIN", h.authorize(req(inside, "")), true, gateway.ReasonOK)
	d := h.authorize(req(faraway, ""))
	wantDecision(t, "outside, no PIN", d, false, gateway.ReasonPINRequired)
	h.wantRecorded("outside, no PIN", d, gateway.EvAccess)
	wantDecision(t, "outside, right PIN", h.authorize(req(faraway, "4711")), true, gateway.ReasonOK)
	// CheckKey with a wrong PIN says so but counts nothing.
	wantDecision(t, "check, wrong PIN", h.checkKey(req(faraway, "0000")), false, gateway.ReasonPINWrong)

	max := h.site.Policy.PINMaxAttempts
	after := h.lastSeq()
	for i := 1; i <= max; i++ {
		d := h.authorize(req(faraway, "0000"))
		wantDecision(t, "wrong PIN", d, false, gateway.ReasonPINWrong)
		h.wantRecorded("wrong PIN", d, gateway.EvAccess)
		if n := len(h.eventsOf(gateway.EvPINLockout, after)); i < max && n != 0 {
			t.Fatalf("after %d wrong PINs of %d: %d pin.lockout events; want 0", i, max, n)
		}
	}
	locks := h.eventsOf(gateway.EvPINLockout, after)
	if len(locks) != 1 {
		t.Fatalf("after %d wrong PINs: %d pin.lockout events; want 1", max, len(locks))
	}
	if m := eventData(t, locks[0]); m["key_id"] != id {
		t.Errorf("pin.lockout event names key %v; want %s", m["key_id"], id)
	}
	d = h.authorize(req(faraway, "4711"))
	wantDecision(t, "locked, right PIN", d, false, gateway.ReasonPINLocked)
	h.wantRecorded("locked, right PIN", d, gateway.EvAccess)
	wantDecision(t, "locked, check", h.checkKey(req(faraway, "4711")), false, gateway.ReasonPINLocked)
	h.clock.Advance(h.site.Policy.PINLockout - time.Second)
	wantDecision(t, "just before the lockout ends", h.authorize(req(faraway, "4711")), false, gateway.ReasonPINLocked)
	h.clock.Advance(time.Second)
	wantDecision(t, "lockout over, right PIN", h.authorize(req(faraway, "4711")), true, gateway.ReasonOK)
}

// TestPassback enters twice with the same key; an attendant's reset lets
// it enter again.
func TestPassback(t *testing.T) {
	h := newHarness(t)
	text, id := h.mustKey(parkKey())
	h.sensor("in-1-loop", true)
	d := h.present("in-1", text)
	wantDecision(t, "first entry", d, true, gateway.ReasonOK)
	h.wantRecorded("first entry", d, gateway.EvAccess)
	h.sensor("in-1-loop", false)
	h.wantBarrier("car drove in", "in-1-barrier", false)

	d = h.present("in-1", text)
	wantDecision(t, "second entry", d, false, gateway.ReasonPassback)
	h.wantRecorded("second entry", d, gateway.EvAccess)
	h.wantBarrier("second entry", "in-1-barrier", false)

	if err := h.gw.ResetPassback(h.ctx, id, attendant); err != nil {
		t.Fatalf("ResetPassback: %v", err)
	}
	if n := len(h.eventsOf(gateway.EvPassbackReset, 0)); n != 1 {
		t.Errorf("passback.reset events: got %d; want 1", n)
	}
	d = h.present("in-1", text)
	wantDecision(t, "entry after the reset", d, true, gateway.ReasonOK)
	h.wantBarrier("entry after the reset", "in-1-barrier", true)

	// Leaving clears the passback state: the key enters again.
	h.sensor("in-1-loop", true)
	h.sensor("in-1-loop", false)
	h.clock.Advance(5 * time.Minute) // within the free minutes
	wantDecision(t, "exit", h.present("out-1", text), true, gateway.ReasonOK)
	wantDecision(t, "entry after the exit", h.present("in-1", text), true, gateway.ReasonOK)
}

// TestLockerOpensOnlyItsCompartment opens A-03 with a key for A-03 and
// checks every other lock stayed engaged; the key is refused at A-04.
func TestLockerOpensOnlyItsCompartment(t *testing.T) {
	h := newHarness(t)
	text, _ := h.mustKey(lockerKey())
	d := h.authorize(atLocker(text, "A-03"))
	wantDecision(t, "A-03", d, true, gateway.ReasonOK)
	h.wantRecorded("A-03", d, gateway.EvAccess)
	for _, lk := range h.site.Lockers {
		for _, c := range lk.Compartments {
			h.wantLocked("after opening A-03", c.Lock, c.ID != "A-03")
		}
	}
	h.wantLocked("after opening A-03", "lobby-lock", true)
	if got := h.sim.History("A-03-lock"); len(got) != 1 || got[0] != "unlock" {
		t.Errorf("A-03-lock history: got %v; want [unlock]", got)
	}

	d = h.authorize(atLocker(text, "A-04"))
	wantDecision(t, "A-04", d, false, gateway.ReasonResourceNotAllowed)
	h.wantRecorded("A-04", d, gateway.EvAccess)
	h.wantLocked("after trying A-04", "A-04-lock", true)

	// A key for the lobby door does not open a compartment, and opens
	// the door.
	door, _ := h.mustKey(keys.Claims{Resources: []string{"door:lobby"}, Actions: []string{keys.ActionUnlock}})
	wantDecision(t, "door key at A-05", h.authorize(atLocker(door, "A-05")), false, gateway.ReasonResourceNotAllowed)
	d = h.authorize(gateway.AccessRequest{Text: door, Resource: "door:lobby", Action: gateway.ActionUnlock, Channel: gateway.ChannelScanner})
	wantDecision(t, "door key at the lobby", d, true, gateway.ReasonOK)
	h.wantLocked("door key at the lobby", "lobby-lock", false)
	h.wantLocked("door key at the lobby", "A-05-lock", true)
}

// TestWildcardExitKey opens both exits with "gate:out-*" and is refused
// at the entry.
func TestWildcardExitKey(t *testing.T) {
	h := newHarness(t)
	text, _ := h.mustKey(exitKey(0))
	for _, lane := range []string{"out-1", "out-2"} {
		d := h.present(lane, text)
		wantDecision(t, lane, d, true, gateway.ReasonOK)
		h.wantRecorded(lane, d, gateway.EvAccess)
		h.wantBarrier(lane, lane+"-barrier", true)
	}
	h.sensor("in-1-loop", true)
	d := h.present("in-1", text)
	wantDecision(t, "in-1", d, false, gateway.ReasonResourceNotAllowed)
	h.wantRecorded("in-1", d, gateway.EvAccess)
	h.wantBarrier("in-1", "in-1-barrier", false)

	// The same key through the scanner device.
	if err := h.sim.Scan(h.ctx, "in-1-scanner", text); err != nil {
		t.Fatal(err)
	}
	h.wantBarrier("scanned at in-1", "in-1-barrier", false)
}

// TestLaneKeyDenialsAtScanner checks that a denial at a lane leaves the
// barrier down and is recorded with its reason.
func TestLaneKeyDenialsAtScanner(t *testing.T) {
	h := newHarness(t)
	c := exitKey(0)
	c.Actions = []string{keys.ActionEnter}
	c.Resources = []string{"gate:*"}
	text, _ := h.mustKey(c)
	before := h.lastSeq()
	if err := h.sim.Scan(h.ctx, "out-2-scanner", text); err != nil {
		t.Fatal(err)
	}
	h.wantBarrier("enter-only key at out-2", "out-2-barrier", false)
	evs := h.eventsOf(gateway.EvAccess, before)
	if len(evs) != 1 {
		t.Fatalf("scan at out-2: %d access events; want 1", len(evs))
	}
	if m := eventData(t, evs[0]); m["reason"] != string(gateway.ReasonActionNotAllowed) || m["resource"] != "gate:out-2" {
		t.Errorf("scan at out-2: event %s; want reason action_not_allowed at gate:out-2", evs[0].Data)
	}
}
