package gpio

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/lotgate/lotgate/gateway"
)

// recorder is the core's side: Inputs and HealthSink.
type recorder struct {
	mu       sync.Mutex
	sensors  []string
	health   []gateway.DeviceHealth
	changed  chan struct{}
	onSensor func(ctx context.Context, id string, active bool)
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) SensorChanged(ctx context.Context, id string, active bool) {
	if r.onSensor != nil {
		r.onSensor(ctx, id, active)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := id + " off"
	if active {
		s = id + " on"
	}
	r.sensors = append(r.sensors, s)
	close(r.changed)
	r.changed = make(chan struct{})
}
func (r *recorder) Scanned(context.Context, string, string)       {}
func (r *recorder) TicketRequested(context.Context, string)       {}
func (r *recorder) CashPaid(context.Context, gateway.CashPayment) {}
func (r *recorder) DeviceHealthChanged(_ context.Context, h gateway.DeviceHealth) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.health = append(r.health, h)
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *recorder) wait(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.NewTimer(2 * time.Second)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok, ch := cond(), r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			tb.Fatalf("timed out waiting for %s; sensors %v, health %v", what, r.sensors, r.health)
		}
	}
}

func (r *recorder) got() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.sensors, ",")
}

func open(tb testing.TB, b board, r *recorder, devs ...Device) *Driver {
	tb.Helper()
	d, err := Open(devs, Options{Inputs: r, Health: r, Lookup: b.lookup})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close(context.Background()) })
	return d
}

func ctxFor(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

const (
	H = gpio.High
	L = gpio.Low
)

func TestOpenResolvesEveryPin(t *testing.T) {
	b := newBoard(t, "GPIO17", "GPIO5")
	_, err := Open([]Device{
		{ID: "bar", Kind: gateway.KindBarrier, Pin: "GPIO17", LowerPin: "GPIO99", PositionPin: "GPIO98"},
		{ID: "loop", Kind: gateway.KindLoop, Pin: "GPIO5"},
		{ID: "loop2", Kind: gateway.KindLoop, Pin: "GPIO5"},
	}, Options{Lookup: b.lookup})
	if err == nil {
		t.Fatal("Open with unknown pins: nil error")
	}
	for _, want := range []string{"GPIO99 (device bar", "GPIO98 (device bar", "GPIO5 (device loop2: already used by loop)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if h := b["GPIO17"].history(); len(h) != 0 {
		t.Errorf("pins touched before every pin was resolved: %v", h)
	}
}

// On a host without the GPIO character device (this test machine, CI),
// pin names fail with a message that says why.
func TestHostPinsOffPi(t *testing.T) {
	if chips, _ := filepath.Glob("/dev/gpiochip*"); len(chips) > 0 {
		t.Skip("this host has GPIO chips; the message for a host without them cannot be checked here")
	}
	_, err := HostPins("GPIO17")
	if err == nil || !strings.Contains(err.Error(), `no GPIO pin "GPIO17"`) {
		t.Errorf("HostPins on a host without GPIO: %v; want a clear error", err)
	}
	if _, err := Open([]Device{{ID: "bar", Kind: gateway.KindBarrier, Pin: "GPIO17"}}, Options{}); err == nil {
		t.Error("Open with the host's pins off a Pi: nil error")
	}
}

func TestOutputsInactiveAtOpen(t *testing.T) {
	b := newBoard(t, "A", "B", "C", "D")
	open(t, b, newRecorder(),
		Device{ID: "bar", Kind: gateway.KindBarrier, Pin: "A", ActiveLow: true, LowerPin: "B"},
		Device{ID: "lock", Kind: gateway.KindLock, Pin: "C"},
		Device{ID: "flap", Kind: gateway.KindFlap, Pin: "D", ActiveLow: true})
	for name, want := range map[string]gpio.Level{"A": H, "B": H, "C": L, "D": H} {
		if h := b[name].history(); !slices.Equal(h, []gpio.Level{want}) {
			t.Errorf("pin %s at Open: %v; want [%v] (inactive)", name, h, want)
		}
	}
}

func TestBarrierPulse(t *testing.T) {
	b := newBoard(t, "OPEN", "CLOSE", "UP")
	up := b["UP"]
	// The world: the arm reaches its up switch a little after the open
	// contact closes, and leaves it after the close contact.
	b["OPEN"].onOut = func(l gpio.Level) {
		if l == L { // active low
			time.AfterFunc(5*time.Millisecond, func() { up.set(H) })
		}
	}
	b["CLOSE"].onOut = func(l gpio.Level) {
		if l == L {
			time.AfterFunc(5*time.Millisecond, func() { up.set(L) })
		}
	}
	d := open(t, b, newRecorder(), Device{ID: "bar", Kind: gateway.KindBarrier, Pin: "OPEN", ActiveLow: true,
		Pulse: 30 * time.Millisecond, LowerPin: "CLOSE", PositionPin: "UP", ConfirmWithin: time.Second})
	bar := d.Actuators().Barriers["bar"]
	start := time.Now()
	if err := bar.Raise(ctxFor(t, time.Second)); err != nil {
		t.Fatalf("Raise: %v", err)
	}
	if took := time.Since(start); took < 30*time.Millisecond {
		t.Errorf("Raise took %v; want at least the 30ms pulse", took)
	}
	if h := b["OPEN"].history(); !slices.Equal(h, []gpio.Level{H, L, H}) {
		t.Errorf("open contact: %v; want [High Low High]: released, pulsed, released", h)
	}
	if err := bar.Lower(ctxFor(t, time.Second)); err != nil {
		t.Fatalf("Lower: %v", err)
	}
	if h := b["CLOSE"].history(); !slices.Equal(h, []gpio.Level{H, L, H}) {
		t.Errorf("close contact: %v; want [High Low High]", h)
	}

	// A jammed arm: the switch never moves.
	b["OPEN"].onOut = nil
	d2 := open(t, newBoard(t, "O2", "U2"), newRecorder(), Device{ID: "bar2", Kind: gateway.KindBarrier, Pin: "O2",
		Pulse: time.Millisecond, PositionPin: "U2", ConfirmWithin: 40 * time.Millisecond})
	err := d2.Actuators().Barriers["bar2"].Raise(ctxFor(t, time.Second))
	if !errors.Is(err, gateway.ErrUnconfirmed) || gateway.KindOf(err) != gateway.Unavailable {
		t.Errorf("Raise of a jammed arm: %v; want an unavailable error wrapping gateway.ErrUnconfirmed", err)
	}
	if err != nil && !strings.Contains(err.Error(), "position pin U2 not active within 40ms") {
		t.Errorf("error %q does not say which pin and what it waited for", err)
	}
}

func TestBarrierWithoutCloseContact(t *testing.T) {
	b := newBoard(t, "OPEN")
	d := open(t, b, newRecorder(), Device{ID: "bar", Kind: gateway.KindBarrier, Pin: "OPEN", Pulse: time.Millisecond})
	if err := d.Actuators().Barriers["bar"].Lower(ctxFor(t, time.Second)); err != nil {
		t.Fatal(err)
	}
	if h := b["OPEN"].history(); len(h) != 1 {
		t.Errorf("Lower without a close contact touched the open contact: %v", h)
	}
}

// A context that ends during a pulse cuts it short: the contact is never
// left held.
func TestPulseAlwaysEnds(t *testing.T) {
	b := newBoard(t, "OPEN")
	d := open(t, b, newRecorder(), Device{ID: "bar", Kind: gateway.KindBarrier, Pin: "OPEN", Pulse: time.Hour})
	err := d.Actuators().Barriers["bar"].Raise(ctxFor(t, 20*time.Millisecond))
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Raise with a deadline inside the pulse: %v; want the deadline", err)
	}
	if h := b["OPEN"].history(); !slices.Equal(h, []gpio.Level{L, H, L}) {
		t.Errorf("open contact: %v; want [Low High Low]: released at the end", h)
	}
}

func TestLevelOutputs(t *testing.T) {
	b := newBoard(t, "BAR", "LOCK", "FLAP", "DOWN")
	down := b["DOWN"]
	down.set(H) // the flap starts down
	b["FLAP"].onOut = func(l gpio.Level) { down.set(!l) }
	d := open(t, b, newRecorder(),
		Device{ID: "bar", Kind: gateway.KindBarrier, Pin: "BAR", Mode: Level},
		Device{ID: "lock", Kind: gateway.KindLock, Pin: "LOCK", ActiveLow: true},
		Device{ID: "flap", Kind: gateway.KindFlap, Pin: "FLAP", PositionPin: "DOWN", ConfirmWithin: time.Second})
	a := d.Actuators()
	ctx := ctxFor(t, 5*time.Second)
	steps := []struct {
		name string
		do   func(context.Context) error
		pin  string
		want gpio.Level
	}{
		{"barrier raise", a.Barriers["bar"].Raise, "BAR", H},
		{"barrier raise again", a.Barriers["bar"].Raise, "BAR", H},
		{"barrier lower", a.Barriers["bar"].Lower, "BAR", L},
		{"unlock", a.Locks["lock"].Unlock, "LOCK", L},
		{"lock", a.Locks["lock"].Lock, "LOCK", H},
		{"flap raise", a.Flaps["flap"].Raise, "FLAP", H},
		{"flap lower", a.Flaps["flap"].Lower, "FLAP", L},
	}
	for _, s := range steps {
		if err := s.do(ctx); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := b[s.pin].Read(); got != s.want {
			t.Errorf("%s: pin %s %v; want %v", s.name, s.pin, got, s.want)
		}
	}
}

func TestHaltPolicies(t *testing.T) {
	tests := []struct {
		dev  Device
		want []gpio.Level // the output's history: Open, then Halt twice (idempotent)
	}{
		{Device{Kind: gateway.KindLock}, []gpio.Level{L, L, L}},                                                         // default: secure (locked)
		{Device{Kind: gateway.KindLock, OnShutdown: FailOpen}, []gpio.Level{L, H, H}},                                   // unlocked
		{Device{Kind: gateway.KindLock, OnShutdown: FailHold}, []gpio.Level{L}},                                         // untouched
		{Device{Kind: gateway.KindFlap}, []gpio.Level{L, L, L}},                                                         // default: open (lowered)
		{Device{Kind: gateway.KindFlap, OnShutdown: FailSecure}, []gpio.Level{L, H, H}},                                 // raised
		{Device{Kind: gateway.KindBarrier, Mode: Level}, []gpio.Level{L}},                                               // default: hold
		{Device{Kind: gateway.KindBarrier, Mode: Level, OnShutdown: FailOpen}, []gpio.Level{L, H, H}},                   // raised and held
		{Device{Kind: gateway.KindBarrier, Pulse: time.Millisecond}, []gpio.Level{L, L, L}},                             // hold: the contact released
		{Device{Kind: gateway.KindBarrier, Pulse: time.Millisecond, OnShutdown: FailOpen}, []gpio.Level{L, H, L, H, L}}, // an open pulse each time
	}
	for _, tt := range tests {
		name := string(tt.dev.Kind) + "/" + string(tt.dev.Mode) + "/" + string(tt.dev.OnShutdown)
		t.Run(name, func(t *testing.T) {
			b := newBoard(t, "P")
			tt.dev.ID, tt.dev.Pin = "dev", "P"
			d := open(t, b, newRecorder(), tt.dev)
			a := d.Actuators()
			var halt func(context.Context) error
			switch tt.dev.Kind {
			case gateway.KindLock:
				halt = a.Locks["dev"].Halt
			case gateway.KindFlap:
				halt = a.Flaps["dev"].Halt
			default:
				halt = a.Barriers["dev"].Halt
			}
			for range 2 { // idempotent
				if err := halt(ctxFor(t, time.Second)); err != nil {
					t.Fatal(err)
				}
			}
			if got := b["P"].history(); !slices.Equal(got, tt.want) {
				t.Errorf("pin history: %v; want %v", got, tt.want)
			}
		})
	}
}

func TestInputsDebounce(t *testing.T) {
	b := newBoard(t, "LOOP", "FIRE")
	r := newRecorder()
	open(t, b, r,
		Device{ID: "loop", Kind: gateway.KindLoop, Pin: "LOOP", Debounce: 20 * time.Millisecond},
		Device{ID: "fire", Kind: gateway.KindFireAlarm, Pin: "FIRE", ActiveLow: true, Pull: PullUp})
	// The fire input idles high (pulled up, active low): nothing to tell.
	// A car: the contact bounces, then settles closed.
	loop := b["LOOP"].EdgesChan
	loop <- H
	loop <- L
	loop <- H
	r.wait(t, "loop on", func() bool { return len(r.sensors) == 1 })
	if got := r.got(); got != "loop on" {
		t.Fatalf("after a bouncing edge: %q; want one loop on", got)
	}
	loop <- L
	r.wait(t, "loop off", func() bool { return len(r.sensors) == 2 })
	// A bounce that ends where it started changes nothing.
	loop <- H
	loop <- L
	b["FIRE"].EdgesChan <- L
	r.wait(t, "fire on", func() bool { return strings.Contains(strings.Join(r.sensors, ","), "fire on") })
	if got := r.got(); got != "loop on,loop off,fire on" {
		t.Errorf("sensor changes: %q; want loop on, loop off, fire on", got)
	}
	if p := b["FIRE"].Pull(); p != gpio.PullUp {
		t.Errorf("fire pin pull: %v; want up", p)
	}
}

// An input active at Open is told at once (the core assumes inactive); an
// edge lost by the hardware is caught by the periodic read.
func TestInputActiveAtOpenAndLostEdge(t *testing.T) {
	b := newBoard(t, "DOOR", "OCC")
	b["DOOR"].set(H)
	r := newRecorder()
	open(t, b, r,
		Device{ID: "door", Kind: gateway.KindDoorSensor, Pin: "DOOR"},
		Device{ID: "occ", Kind: gateway.KindOccupancy, Pin: "OCC", Debounce: time.Millisecond})
	r.wait(t, "door on", func() bool { return len(r.sensors) == 1 })
	b["OCC"].set(H) // no edge
	r.wait(t, "occ on without an edge", func() bool { return len(r.sensors) == 2 })
	if got := r.got(); got != "door on,occ on" {
		t.Errorf("sensor changes: %q", got)
	}
}

// Deliveries hold nothing an actuator needs: the core may command from
// inside SensorChanged.
func TestDeliveryWithoutLocks(t *testing.T) {
	b := newBoard(t, "LOOP", "BAR")
	r := newRecorder()
	var d *Driver
	done := make(chan error, 1)
	r.onSensor = func(ctx context.Context, id string, active bool) {
		done <- d.Actuators().Barriers["bar"].Raise(ctx)
	}
	d = open(t, b, r,
		Device{ID: "bar", Kind: gateway.KindBarrier, Pin: "BAR", Mode: Level},
		Device{ID: "loop", Kind: gateway.KindLoop, Pin: "LOOP", Debounce: time.Millisecond})
	b["LOOP"].EdgesChan <- H
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("an actuator command from inside SensorChanged did not complete")
	}
}

func TestHealthOnPinErrors(t *testing.T) {
	b := newBoard(t, "LOCK")
	r := newRecorder()
	d := open(t, b, r, Device{ID: "lock", Kind: gateway.KindLock, Pin: "LOCK"})
	lock := d.Actuators().Locks["lock"]
	b["LOCK"].failOut = errors.New("line busy")
	err := lock.Unlock(ctxFor(t, time.Second))
	if gateway.KindOf(err) != gateway.Unavailable || !strings.Contains(err.Error(), "line busy") {
		t.Errorf("Unlock on a failing pin: %v; want unavailable with the cause", err)
	}
	b["LOCK"].failOut = nil
	if err := lock.Unlock(ctxFor(t, time.Second)); err != nil {
		t.Fatal(err)
	}
	r.wait(t, "offline then online", func() bool { return len(r.health) == 2 })
	if r.health[0].Online || !r.health[1].Online || r.health[0].LastError != "line busy" {
		t.Errorf("health transitions: %+v; want offline (line busy), then online", r.health)
	}
	if h := d.Health()[0]; h.Failures != 1 || h.Successes < 1 {
		t.Errorf("counters: %+v", h)
	}
}

// Close ends every input goroutine. gpiotest's Halt does not interrupt a
// wait (the character device's does), so here the positive timeout of
// each wait is what bounds Close: a driver that waited without one would
// hang.
func TestCloseEndsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	b := newBoard(t, "A", "B")
	d, err := Open([]Device{{ID: "a", Kind: gateway.KindLoop, Pin: "A"}, {ID: "b", Kind: gateway.KindDoorSensor, Pin: "B"}}, Options{Lookup: b.lookup})
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		d.Close(context.Background())
		d.Close(context.Background())
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * watchTimeout):
		t.Fatalf("Close still waiting after %v; each edge wait is bounded by %v", 10*watchTimeout, watchTimeout)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("goroutines after Close: %d; want %d", n, before)
	}
}

// The driver gives WaitForEdge positive timeouts only, whatever the
// configured debounce: the idle wait is watchTimeout, the debounce wait
// the device's Debounce or, when that is zero or negative, the default.
// (testPin fails any test on a non-positive timeout; this one also checks
// which timeouts were used.)
func TestWaitForEdgeTimeoutsArePositive(t *testing.T) {
	tests := []struct {
		debounce time.Duration
		want     time.Duration // the debounce wait
	}{
		{-1, DefaultDebounce},
		{0, DefaultDebounce},
		{-time.Second, DefaultDebounce},
		{time.Nanosecond, time.Nanosecond},
		{15 * time.Millisecond, 15 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.debounce.String(), func(t *testing.T) {
			b := newBoard(t, "LOOP")
			r := newRecorder()
			d := open(t, b, r, Device{ID: "loop", Kind: gateway.KindLoop, Pin: "LOOP", Debounce: tt.debounce})
			b["LOOP"].EdgesChan <- H
			r.wait(t, "loop on", func() bool { return len(r.sensors) == 1 })
			b["LOOP"].EdgesChan <- L
			r.wait(t, "loop off", func() bool { return len(r.sensors) == 2 })
			d.Close(context.Background())
			got := b["LOOP"].timeouts()
			seen := map[time.Duration]bool{}
			for _, w := range got {
				if w <= 0 {
					t.Fatalf("WaitForEdge timeouts %v: %v is not positive", got, w)
				}
				if w != watchTimeout && w != tt.want {
					t.Errorf("WaitForEdge timeouts %v: %v is neither the idle wait %v nor the debounce %v", got, w, watchTimeout, tt.want)
				}
				seen[w] = true
			}
			if !seen[watchTimeout] || !seen[tt.want] {
				t.Errorf("WaitForEdge timeouts %v; want both the idle wait %v and the debounce %v", got, watchTimeout, tt.want)
			}
		})
	}
}
