package gateway_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/lotgate/lotgate/config"
	"github.com/lotgate/lotgate/drivers/sim"
	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/keys"
	"github.com/lotgate/lotgate/gateway/sqlite"
)

// exampleSite is the realistic example site every test runs against.
const exampleSite = "../configs/site.example.yaml"

// fakeClock is a gateway.Clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Advance moves the clock by d and returns the new time.
func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// harness is a gateway on the example site with the real SQLite store, the
// simulated devices and a fake clock.
type harness struct {
	t     testing.TB
	ctx   context.Context
	site  *gateway.Site
	clock *fakeClock
	db    *sqlite.DB
	sim   *sim.Site
	gw    *gateway.Gateway

	// The operator key the site trusts, generated for the test.
	kid  string
	priv ed25519.PrivateKey

	mu    sync.Mutex
	nkeys int
}

// start is Wednesday 11 June 2025, 10:00 in Berlin (08:00 UTC): the day
// band of the example tariff.
func start(tb testing.TB, loc *time.Location) time.Time {
	tb.Helper()
	return time.Date(2025, 6, 11, 10, 0, 0, 0, loc)
}

// newHarness builds and opens a gateway. edit, when given, changes the
// loaded site before anything is built from it.
func newHarness(tb testing.TB, edit ...func(*gateway.Site)) *harness {
	tb.Helper()
	f, err := config.Load(exampleSite)
	if err != nil {
		tb.Fatalf("load %s: %v", exampleSite, err)
	}
	site := *f.Site
	kid, pub, priv, err := keys.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatalf("generate operator key: %v", err)
	}
	site.TrustedKeys = maps.Clone(site.TrustedKeys)
	site.TrustedKeys[kid] = pub
	for _, e := range edit {
		e(&site)
	}

	ctx := context.Background()
	db, err := sqlite.Open(ctx, tb.TempDir()+"/lotgate.db", sqlite.Options{})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
	})
	clock := &fakeClock{t: start(tb, site.Location)}
	devs, err := sim.New(&site, nil)
	if err != nil {
		tb.Fatalf("sim.New: %v", err)
	}
	gw, err := gateway.New(gateway.Options{Site: &site, Store: db, Actuators: devs.Actuators(), Clock: clock})
	if err != nil {
		tb.Fatalf("gateway.New: %v", err)
	}
	devs.Attach(gw)
	if err := gw.Open(ctx); err != nil {
		tb.Fatalf("open gateway: %v", err)
	}
	h := &harness{t: tb, ctx: ctx, site: &site, clock: clock, db: db, sim: devs, gw: gw, kid: kid, priv: priv}
	// Registered after db.Close, so it runs before it: every test ends
	// with a gap-free, verifiable event log.
	tb.Cleanup(h.checkChain)
	return h
}

// now is the fake clock's time.
func (h *harness) now() time.Time { return h.clock.Now() }

// advance moves the clock by d and runs the gateway's timers at the new
// time.
func (h *harness) advance(d time.Duration) time.Time {
	h.t.Helper()
	t := h.clock.Advance(d)
	h.gw.Tick(h.ctx, t)
	return t
}

// newKeyID returns a key ID unique within the test.
func (h *harness) newKeyID() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nkeys++
	return fmt.Sprintf("k-%d", h.nkeys)
}

// sign signs c with the trusted operator key, filling in a fresh key ID
// and the site when they are empty, and returns the COSE bytes and the
// claims as signed.
func (h *harness) sign(c keys.Claims) ([]byte, keys.Claims) {
	h.t.Helper()
	if c.KeyID == "" {
		c.KeyID = h.newKeyID()
	}
	if c.Site == "" {
		c.Site = h.site.ID
	}
	b, err := keys.Sign(c, h.kid, h.priv)
	if err != nil {
		h.t.Fatalf("sign %+v: %v", c, err)
	}
	return b, c
}

// mustKey returns the QR text of a key signed by the trusted operator key,
// and its key ID.
func (h *harness) mustKey(c keys.Claims) (string, string) {
	h.t.Helper()
	b, c := h.sign(c)
	return keys.EncodeText(b), c.KeyID
}

// lockerKey is a multi-use key that opens compartment A-03.
func lockerKey() keys.Claims {
	return keys.Claims{Resources: []string{"locker:A-03"}, Actions: []string{keys.ActionOpen}}
}

// exitKey is a key for both exit lanes.
func exitKey(uses int) keys.Claims {
	return keys.Claims{Resources: []string{"gate:out-*"}, Actions: []string{keys.ActionExit}, Uses: uses}
}

// parkKey is a key that enters at in-1 and leaves by any exit.
func parkKey() keys.Claims {
	return keys.Claims{Resources: []string{"gate:*"}, Actions: []string{keys.ActionEnter, keys.ActionExit}}
}

// atLocker is a scanner-channel request for compartment id.
func atLocker(text, id string) gateway.AccessRequest {
	return gateway.AccessRequest{Text: text, Resource: "locker:" + id, Action: gateway.ActionOpen, Channel: gateway.ChannelScanner}
}

// authorize runs gw.Authorize and fails the test on an error.
func (h *harness) authorize(req gateway.AccessRequest) gateway.Decision {
	h.t.Helper()
	d, err := h.gw.Authorize(h.ctx, req)
	if err != nil {
		h.t.Fatalf("Authorize(%s %s): %v", req.Action, req.Resource, err)
	}
	return d
}

// checkKey runs gw.CheckKey and fails the test on an error.
func (h *harness) checkKey(req gateway.AccessRequest) gateway.Decision {
	h.t.Helper()
	d, err := h.gw.CheckKey(h.ctx, req)
	if err != nil {
		h.t.Fatalf("CheckKey(%s %s): %v", req.Action, req.Resource, err)
	}
	return d
}

// present runs gw.PresentAtLane and fails the test on an error.
func (h *harness) present(lane, text string) gateway.Decision {
	h.t.Helper()
	d, err := h.gw.PresentAtLane(h.ctx, lane, text)
	if err != nil {
		h.t.Fatalf("PresentAtLane(%s, %.20q…): %v", lane, text, err)
	}
	return d
}

// presentAtOnce shows text at every lane at the same instant and returns
// each lane's decision and error, in the order of lanes.
func (h *harness) presentAtOnce(text string, lanes ...string) ([]gateway.Decision, []error) {
	got := make([]gateway.Decision, len(lanes))
	errs := make([]error, len(lanes))
	var wg sync.WaitGroup
	begin := make(chan struct{})
	for i, lane := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-begin
			got[i], errs[i] = h.gw.PresentAtLane(h.ctx, lane, text)
		}()
	}
	close(begin)
	wg.Wait()
	return got, errs
}

// wantDecision checks a decision's outcome and reason.
func wantDecision(tb testing.TB, what string, d gateway.Decision, allowed bool, reason gateway.Reason) {
	tb.Helper()
	if d.Allowed != allowed || d.Reason != reason {
		tb.Errorf("%s: got allowed=%v reason=%s (%s); want allowed=%v reason=%s", what, d.Allowed, d.Reason, d.Message, allowed, reason)
	}
}

// events returns the whole event log.
func (h *harness) events() []gateway.Event {
	h.t.Helper()
	var evs []gateway.Event
	err := h.db.View(h.ctx, func(tx gateway.Tx) error {
		var err error
		evs, err = tx.Events(1, 1_000_000)
		return err
	})
	if err != nil {
		h.t.Fatalf("read events: %v", err)
	}
	return evs
}

// lastSeq is the sequence number of the last event.
func (h *harness) lastSeq() uint64 {
	h.t.Helper()
	n, err := h.db.LastSeq(h.ctx)
	if err != nil {
		h.t.Fatalf("last seq: %v", err)
	}
	return n
}

// eventsOf returns the events of type typ with Seq > after.
func (h *harness) eventsOf(typ gateway.EventType, after uint64) []gateway.Event {
	h.t.Helper()
	var out []gateway.Event
	for _, e := range h.events() {
		if e.Type == typ && e.Seq > after {
			out = append(out, e)
		}
	}
	return out
}

// eventData decodes an event's data.
func eventData(tb testing.TB, e gateway.Event) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Data, &m); err != nil {
		tb.Fatalf("decode event %d (%s) data %s: %v", e.Seq, e.Type, e.Data, err)
	}
	return m
}

// event returns the event with sequence number seq.
func (h *harness) event(seq uint64) gateway.Event {
	h.t.Helper()
	var evs []gateway.Event
	err := h.db.View(h.ctx, func(tx gateway.Tx) error {
		var err error
		evs, err = tx.Events(seq, 1)
		return err
	})
	if err != nil || len(evs) != 1 || evs[0].Seq != seq {
		h.t.Fatalf("read event %d: got %d events, err %v", seq, len(evs), err)
	}
	return evs[0]
}

// wantRecorded checks that a decision was recorded as an event of type
// typ saying the same outcome and reason.
func (h *harness) wantRecorded(what string, d gateway.Decision, typ gateway.EventType) {
	h.t.Helper()
	if d.Seq == 0 {
		h.t.Errorf("%s: decision %v has no event (Seq 0)", what, d)
		return
	}
	e := h.event(d.Seq)
	m := eventData(h.t, e)
	if e.Type != typ || m["allowed"] != d.Allowed || m["reason"] != string(d.Reason) {
		h.t.Errorf("%s: event %d is %s %s; want %s with allowed=%v reason=%s", what, d.Seq, e.Type, e.Data, typ, d.Allowed, d.Reason)
	}
}

// checkChain checks that the log's sequence numbers run 1, 2, 3… and that
// the store verifies the hash chain.
func (h *harness) checkChain() {
	h.t.Helper()
	h.gw.WaitActuations(h.ctx) // their events are the last ones
	evs := h.events()
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			h.t.Errorf("event %d has seq %d; want %d (gap-free from 1)", i, e.Seq, i+1)
			break
		}
	}
	checked, bad, err := h.db.VerifyChain(h.ctx)
	if err != nil || bad != 0 || checked != uint64(len(evs)) {
		h.t.Errorf("VerifyChain: got checked=%d bad=%d err=%v; want checked=%d bad=0 err=nil", checked, bad, err, len(evs))
	}
}

// barrierUp, flapUp and locked observe the simulated devices.
func (h *harness) barrierUp(id string) bool {
	h.t.Helper()
	up, err := h.sim.BarrierUp(id)
	if err != nil {
		h.t.Fatalf("BarrierUp(%s): %v", id, err)
	}
	return up
}

func (h *harness) flapUp(id string) bool {
	h.t.Helper()
	up, err := h.sim.FlapUp(id)
	if err != nil {
		h.t.Fatalf("FlapUp(%s): %v", id, err)
	}
	return up
}

func (h *harness) locked(id string) bool {
	h.t.Helper()
	l, err := h.sim.Locked(id)
	if err != nil {
		h.t.Fatalf("Locked(%s): %v", id, err)
	}
	return l
}

// wantBarrier, wantFlap and wantLocked check a device's state.
func (h *harness) wantBarrier(what, id string, up bool) {
	h.t.Helper()
	if got := h.barrierUp(id); got != up {
		h.t.Errorf("%s: barrier %s up = %v; want %v (history %v)", what, id, got, up, h.sim.History(id))
	}
}

func (h *harness) wantFlap(what, id string, up bool) {
	h.t.Helper()
	if got := h.flapUp(id); got != up {
		h.t.Errorf("%s: flap %s up = %v; want %v (history %v)", what, id, got, up, h.sim.History(id))
	}
}

func (h *harness) wantLocked(what, id string, locked bool) {
	h.t.Helper()
	if got := h.locked(id); got != locked {
		h.t.Errorf("%s: lock %s locked = %v; want %v (history %v)", what, id, got, locked, h.sim.History(id))
	}
}

// sensor sets a simulated sensor, which reports to the gateway.
func (h *harness) sensor(id string, active bool) {
	h.t.Helper()
	if err := h.sim.SetSensor(h.ctx, id, active); err != nil {
		h.t.Fatalf("SetSensor(%s, %v): %v", id, active, err)
	}
}

// ticket puts a car on in-1's loop, presses the ticket button and lets
// the car drive in. It returns the ticket's QR text.
func (h *harness) ticket() string {
	h.t.Helper()
	h.sensor("in-1-loop", true)
	n := h.sim.Printed("in-1-ticket")
	if err := h.sim.PressTicket(h.ctx, "in-1-ticket"); err != nil {
		h.t.Fatalf("PressTicket: %v", err)
	}
	if got := h.sim.Printed("in-1-ticket"); got != n+1 {
		h.t.Fatalf("ticket button: printed %d tickets; want %d", got, n+1)
	}
	h.wantBarrier("ticket issued", "in-1-barrier", true)
	h.sensor("in-1-loop", false)
	h.wantBarrier("car drove in", "in-1-barrier", false)
	return h.sim.LastTicket("in-1-ticket")
}

// session looks a session up by reference.
func (h *harness) session(ref string) gateway.SessionView {
	h.t.Helper()
	v, err := h.gw.LookupSession(h.ctx, ref)
	if err != nil {
		h.t.Fatalf("LookupSession(%s): %v", ref, err)
	}
	return v
}

// pay applies a payment and fails the test on an error.
func (h *harness) pay(in gateway.PaymentIn) gateway.PaymentResult {
	h.t.Helper()
	r, err := h.gw.ApplyPayment(h.ctx, in)
	if err != nil {
		h.t.Fatalf("ApplyPayment(%+v): %v", in, err)
	}
	h.gw.WaitActuations(h.ctx) // the flap and the pay station move in the background
	return r
}

// attendant is the override every admin call in the tests uses.
var attendant = gateway.Override{Operator: "test attendant", Reason: "test"}
