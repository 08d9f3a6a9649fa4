package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lotgate/lotgate/gateway/tariff"
)

// Observer is told about every event after it was committed. It must not
// block: slow observers (a websocket hub, the outbox drain) queue or drop
// on their side.
type Observer interface {
	EventCommitted(e Event)
}

// Options configure a Gateway.
type Options struct {
	Site      *Site
	Store     Store
	Actuators Actuators
	Clock     Clock        // SystemClock when nil
	Logger    *slog.Logger // discarded when nil
	Observers []Observer
	// ActuatorTimeout bounds every actuator call (default 3s).
	ActuatorTimeout time.Duration
}

// Gateway is the core: it decides entries, exits, payments and key
// presentations, keeps the site's live state and commands the actuators.
// Its methods are safe for concurrent use.
type Gateway struct {
	site      *Site
	store     Store
	act       Actuators
	clock     Clock
	log       *slog.Logger
	observers []Observer
	actTO     time.Duration
	check     checker

	roles map[string]role // device ID → what it is at this site

	mu      sync.Mutex // guards the live state below
	tariffs map[string]*tariff.Tariff
	current *tariff.Tariff // the tariff new sessions start under
	lanes   map[string]*laneState
	spaces  map[string]*spaceState
	doors   map[string]*doorState // doors and compartments, by resource
	fire    bool
	closed  bool          // the site refuses entries
	pinSem  chan struct{} // one PIN hash at a time
	// trusted caches the stored latest trusted time.
	trusted       time.Time
	trustedLoaded bool

	devMu sync.Mutex
	devLk map[string]*sync.Mutex // one lock per actuator: commands to one device are serialised
	bg    sync.WaitGroup         // device follow-ups running in the background (inBackground)

	receipts atomic.Pointer[Sync] // set by NewSync: receipts (LGR1:) scanned at a lane
	health   healthBook           // the latest health of each device (health.go)
}

// role of a device at the site.
type role struct {
	kind  DeviceKind
	lane  *Lane
	space *Space
	door  string // resource of the door or compartment
}

// New builds a gateway. Call Open before use.
func New(o Options) (*Gateway, error) {
	if o.Site == nil || o.Store == nil {
		return nil, Errorf(Invalid, "gateway needs a site and a store")
	}
	if o.Site.Tariff == nil {
		return nil, Errorf(Invalid, "site %s has no tariff", o.Site.ID)
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.ActuatorTimeout <= 0 {
		o.ActuatorTimeout = 3 * time.Second
	}
	g := &Gateway{
		site:      o.Site,
		store:     o.Store,
		act:       o.Actuators,
		clock:     o.Clock,
		log:       o.Logger.With("component", "gateway"),
		observers: o.Observers,
		actTO:     o.ActuatorTimeout,
		check:     checker{site: o.Site},
		roles:     map[string]role{},
		tariffs:   map[string]*tariff.Tariff{o.Site.Tariff.Version: o.Site.Tariff},
		lanes:     map[string]*laneState{},
		spaces:    map[string]*spaceState{},
		doors:     map[string]*doorState{},
		devLk:     map[string]*sync.Mutex{},
		closed:    o.Site.Capacity.Closed,
		current:   o.Site.Tariff,
		pinSem:    make(chan struct{}, 1),
	}
	s := o.Site
	for i := range s.Lanes {
		l := &s.Lanes[i]
		g.lanes[l.ID] = &laneState{lane: l}
		for _, id := range []string{l.Barrier, l.Loop, l.Scanner, l.Ticket} {
			if id != "" {
				g.roles[id] = role{kind: g.kindOf(id), lane: l}
			}
		}
	}
	for i := range s.Spaces {
		sp := &s.Spaces[i]
		g.spaces[sp.ID] = &spaceState{space: sp}
		g.roles[sp.Flap] = role{kind: KindFlap, space: sp}
		g.roles[sp.Sensor] = role{kind: KindOccupancy, space: sp}
	}
	addDoor := func(res, lock, sensor string) {
		g.doors[res] = &doorState{resource: res, lock: lock}
		if lock != "" {
			g.roles[lock] = role{kind: KindLock, door: res}
		}
		if sensor != "" {
			g.roles[sensor] = role{kind: KindDoorSensor, door: res}
		}
	}
	for _, lk := range s.Lockers {
		for _, c := range lk.Compartments {
			addDoor(c.Resource(), c.Lock, c.DoorSensor)
		}
	}
	for _, d := range s.Doors {
		addDoor(d.Resource(), d.Lock, d.DoorSensor)
	}
	if s.FireAlarm != nil {
		g.roles[s.FireAlarm.Input] = role{kind: KindFireAlarm}
	}
	if s.PayStation != nil {
		g.roles[s.PayStation.Device] = role{kind: KindPayStation}
	}
	return g, nil
}

func (g *Gateway) kindOf(deviceID string) DeviceKind {
	for _, d := range g.site.Devices {
		if d.ID == deviceID {
			return d.Kind
		}
	}
	return ""
}

// Site returns the site the gateway runs.
func (g *Gateway) Site() *Site { return g.site }

// Open chooses the current tariff (the config's or the one the cloud set:
// see tariffs.go), restores the live state of flap-lock spaces from open
// sessions and records a start event.
func (g *Gateway) Open(ctx context.Context) error {
	now := g.clock.Now()
	settled := map[string]bool{} // open space sessions with nothing due
	var trusted time.Time
	var cur *tariff.Tariff
	err := g.update(ctx, func(tx Tx, rec *recorder) error {
		var err error
		if cur, err = g.openTariff(tx); err != nil {
			return err
		}
		open, err := tx.OpenSessions()
		if err != nil {
			return err
		}
		if trusted, err = tx.LatestTrustedTime(); err != nil {
			return err
		}
		for _, s := range open {
			if s.Space == "" {
				continue
			}
			d, err := g.due(tx, s, now)
			if err != nil {
				return err
			}
			settled[s.Space] = d.Amount == 0
		}
		return rec.add(tx, now, EvGatewayStarted, map[string]any{
			"site": g.site.ID, "tariff_version": cur.Version, "open_sessions": len(open),
		})
	})
	if err != nil {
		return fmt.Errorf("open gateway: %w", err)
	}
	// A restored space session starts with its flap believed down (Halt
	// lowered it) and its sensor unknown. A settled one is released; an
	// unsettled one has its flap raised again once the sensor reports the
	// car still there, or is closed as left unpaid once it reports the
	// space empty (see tickSpaces). Drivers report every sensor's state at
	// start (see Inputs).
	g.useTariff(cur)
	g.mu.Lock()
	if !g.trustedLoaded || trusted.After(g.trusted) {
		g.trusted, g.trustedLoaded = trusted, true
	}
	// After a restart a barrier may have been left up; the first report of
	// its lane's clear loop lowers it (see loopChanged).
	for _, ls := range g.lanes {
		ls.unknown = true
	}
	for id, ok := range settled {
		if sp, found := g.spaces[id]; found {
			sp.restored = true
			sp.released = ok
		}
	}
	g.mu.Unlock()
	return nil
}

// Halt puts every actuator in its safe state, except that exits and doors
// held open by an active fire alarm stay open. It records a stopping event.
func (g *Gateway) Halt(ctx context.Context) error {
	g.waitBackground(ctx)
	g.mu.Lock()
	fire := g.fire
	fireLocks := map[string]bool{}
	for _, ds := range g.doors {
		if ds.fireHeld && ds.lock != "" {
			fireLocks[ds.lock] = true
		}
	}
	g.mu.Unlock()
	var errs []error
	for id, b := range g.act.Barriers {
		if fire && g.fireHolds(id) {
			continue
		}
		if err := g.withDevice(ctx, id, b.Halt); err != nil {
			errs = append(errs, fmt.Errorf("halt barrier %s: %w", id, err))
		}
	}
	for id, l := range g.act.Locks {
		if fireLocks[id] {
			// A lock's safe state is engaged: never for a fire door.
			continue
		}
		if err := g.withDevice(ctx, id, l.Halt); err != nil {
			errs = append(errs, fmt.Errorf("halt lock %s: %w", id, err))
		}
	}
	for id, f := range g.act.Flaps {
		if err := g.withDevice(ctx, id, f.Halt); err != nil {
			errs = append(errs, fmt.Errorf("halt flap %s: %w", id, err))
		}
	}
	now := g.clock.Now()
	if err := g.update(ctx, func(tx Tx, rec *recorder) error {
		return rec.add(tx, now, EvGatewayStopping, map[string]any{"fire_alarm": fire})
	}); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("halt: %v", errs)
	}
	return nil
}

// fireHolds reports whether the fire alarm holds the barrier device open.
func (g *Gateway) fireHolds(barrierID string) bool {
	if g.site.FireAlarm == nil {
		return false
	}
	for _, laneID := range g.site.FireAlarm.Opens {
		if ls, ok := g.lanes[laneID]; ok && ls.lane.Barrier == barrierID {
			return true
		}
	}
	return false
}

// recorder collects the events appended in a transaction so observers are
// told after the commit, never before.
type recorder struct {
	events []Event
}

func (r *recorder) add(tx Tx, t time.Time, typ EventType, data any) error {
	e, err := NewEvent(t, typ, data)
	if err != nil {
		return err
	}
	if err := tx.AppendEvent(&e); err != nil {
		return fmt.Errorf("append %s event: %w", typ, err)
	}
	r.events = append(r.events, e)
	return nil
}

// last returns the sequence number of the last recorded event.
func (r *recorder) last() uint64 {
	if len(r.events) == 0 {
		return 0
	}
	return r.events[len(r.events)-1].Seq
}

// update runs fn in a durable store transaction and tells the observers
// about its events once committed.
func (g *Gateway) update(ctx context.Context, fn func(Tx, *recorder) error) error {
	var rec recorder
	err := g.store.Update(ctx, func(tx Tx) error {
		rec.events = rec.events[:0]
		return fn(tx, &rec)
	})
	if err != nil {
		return err
	}
	for _, e := range rec.events {
		for _, o := range g.observers {
			o.EventCommitted(e)
		}
	}
	return nil
}

// record appends one event in its own transaction.
func (g *Gateway) record(ctx context.Context, typ EventType, data any) {
	now := g.clock.Now()
	if err := g.update(ctx, func(tx Tx, rec *recorder) error {
		return rec.add(tx, now, typ, data)
	}); err != nil {
		g.log.Error("record event", "type", typ, "err", err)
	}
}

// withDevice runs a command on one actuator with the actuator timeout,
// serialised with other commands to the same device. A slow device only
// delays its own commands.
func (g *Gateway) withDevice(ctx context.Context, id string, cmd func(context.Context) error) error {
	g.devMu.Lock()
	lk, ok := g.devLk[id]
	if !ok {
		lk = &sync.Mutex{}
		g.devLk[id] = lk
	}
	g.devMu.Unlock()
	lk.Lock()
	defer lk.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.actTO)
	defer cancel()
	return cmd(ctx)
}

// inBackground runs a device follow-up of a committed decision (a flap
// lowered after a payment, the pay station told a session is settled, a
// remote open) without holding up its caller: the cloud's downlink loop,
// the pay station's poll, a console. The decision is already durable; a
// slow or jammed device must not delay the next message or the next
// payment. Commands to one device stay serialised (withDevice), and Halt
// waits for what is running.
func (g *Gateway) inBackground(ctx context.Context, f func(context.Context)) {
	g.bg.Add(1)
	go func() {
		defer g.bg.Done()
		f(context.WithoutCancel(ctx))
	}()
}

// WaitActuations waits until the device follow-ups of decisions already
// committed (flaps lowered and pay stations told after a payment, remote
// opens) have finished, or until ctx is done. Each ends within the
// actuator timeout. A console or a test uses it to report what the
// devices did; Halt calls it first.
func (g *Gateway) WaitActuations(ctx context.Context) { g.waitBackground(ctx) }

// waitBackground waits for the device follow-ups running in the
// background, or until ctx is done.
func (g *Gateway) waitBackground(ctx context.Context) {
	done := make(chan struct{})
	go func() { g.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// actuate commands a device and records the command as an event, with the
// error if it failed. An actuation failure is an event, not a silent success.
func (g *Gateway) actuate(ctx context.Context, id, command string, cmd func(context.Context) error) error {
	if cmd == nil {
		err := Errorf(Unavailable, "no driver for device %s", id)
		g.record(ctx, EvActuation, actuationData{Device: id, Command: command, Error: err.Error()})
		return err
	}
	err := g.withDevice(ctx, id, cmd)
	g.recordActuation(ctx, id, command, err)
	return err
}

// recordActuation records a command sent to a device and, if it failed,
// why: an actuation its sensor did not confirm is an event with the reason
// "unconfirmed", never a silent success.
func (g *Gateway) recordActuation(ctx context.Context, id, command string, err error) {
	data := actuationData{Device: id, Command: command}
	if err != nil {
		data.Error = err.Error()
		if errors.Is(err, ErrUnconfirmed) {
			data.Reason = "unconfirmed"
		}
		g.log.Warn("actuation failed", "device", id, "command", command, "err", err)
	}
	g.record(ctx, EvActuation, data)
}

type actuationData struct {
	Device  string `json:"device"`
	Command string `json:"command"`
	Error   string `json:"error,omitempty"`
	// Reason is "unconfirmed" when the command was sent but its sensor
	// did not confirm it (ErrUnconfirmed).
	Reason string `json:"reason,omitempty"`
}

// newID returns a random identifier of n base32 characters (A–Z, 2–7), fit
// for QR alphanumeric mode.
func newID(n int) string {
	b := make([]byte, (n*5+7)/8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)[:n]
}

// tariffFor returns the tariff version a session started under.
func (g *Gateway) tariffFor(tx Tx, version string) (*tariff.Tariff, error) {
	g.mu.Lock()
	t, ok := g.tariffs[version]
	g.mu.Unlock()
	if ok {
		return t, nil
	}
	doc, err := tx.Tariff(version)
	if err != nil {
		return nil, fmt.Errorf("load tariff version %q: %w", version, err)
	}
	t = &tariff.Tariff{}
	if err := json.Unmarshal(doc, t); err != nil {
		return nil, fmt.Errorf("decode tariff version %q: %w", version, err)
	}
	g.mu.Lock()
	g.tariffs[version] = t
	g.mu.Unlock()
	return t, nil
}

// CurrentTariff is the tariff new sessions start under.
func (g *Gateway) CurrentTariff() *tariff.Tariff {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.current
}
