// Package conformance is what every driver's devices must do, by device
// kind, as test suites: Barrier, Lock, Flap, PayStation and Sensor. A
// driver's tests call them with a rig: the device under test and the means
// to observe and disturb the world around it. They run against drivers/sim
// (this package's own tests), the Modbus simulator (drivers/modbus), fake
// GPIO pins (drivers/gpio), and real hardware behind a flag
// (cmd/lotgate's TestHardware; docs/devices.md lists the wiring it
// assumes).
//
// What every actuator must do: each command is idempotent; a context
// already done fails the call with an error and changes nothing; a call
// whose device is slow returns by its context's deadline with an error; a
// device that cannot be reached fails with a gateway.Unavailable error;
// Halt is safe to call twice and leaves the device in its safe state. A
// sensor reports each change once, in order, and never from under a lock
// that an actuator call needs.
//
// It imports the standard library, testing and
// github.com/lotgate/lotgate/gateway only; it is a test kit, not a driver.
package conformance

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// Faults are the disturbances a rig can make; nil fields are skipped (real
// hardware cannot be unplugged on demand).
type Faults struct {
	// Offline makes the device unreachable (true) or reachable again.
	Offline func(offline bool) error
	// Stall makes the device answer d late (0: on time again).
	Stall func(d time.Duration) error
}

// Open and Closed are the two positions of an actuator as a rig observes
// it: barrier and flap up / down, lock unlocked / locked.
const (
	Open   = true
	Closed = false
)

// BarrierRig is a barrier under test.
type BarrierRig struct {
	Barrier gateway.Barrier
	// Up observes whether the arm is up. Nil when the world cannot be
	// observed (Lower on a barrier that closes on its own).
	Up func() (bool, error)
	// AfterHalt is what Up shows after Halt; nil when Halt leaves the arm
	// where it is.
	AfterHalt *bool
	Faults
}

// LockRig is a lock under test.
type LockRig struct {
	Lock     gateway.Lock
	Unlocked func() (bool, error)
	// AfterHalt is what Unlocked shows after Halt; nil for "as it was".
	AfterHalt *bool
	Faults
}

// FlapRig is a flap under test.
type FlapRig struct {
	Flap      gateway.Flap
	Up        func() (bool, error)
	AfterHalt *bool
	Faults
}

// PayStationRig is a pay station link under test.
type PayStationRig struct {
	Link gateway.PayStationLink
	// Shown returns the amount the station shows for ref, if any.
	Shown func(ref string) (int64, bool)
	// Settled reports whether the station was told ref is settled.
	Settled func(ref string) bool
	Faults
}

// SensorRig is a sensor under test. The suite makes the rig with the
// Inputs the driver must deliver to.
type SensorRig struct {
	ID string
	// Set changes the world: the sensor becomes active or inactive.
	Set func(active bool) error
	// During, if set, is called from inside the SensorChanged callback: it
	// commands an actuator of the same driver, which must not deadlock.
	During func(ctx context.Context) error
	// Wait bounds each wait for a delivery (default 2s): a polling driver
	// delivers a poll interval late.
	Wait time.Duration
}

// Bool returns a pointer to b, for AfterHalt.
func Bool(b bool) *bool { return &b }

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func done(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func observe(t *testing.T, what string, f func() (bool, error), want bool) {
	t.Helper()
	if f == nil {
		return
	}
	got, err := f()
	if err != nil {
		t.Fatalf("%s: observing: %v", what, err)
	}
	if got != want {
		t.Errorf("%s: got %v; want %v", what, got, want)
	}
}

// twoWay is the suite of a two-position actuator (barrier, lock, flap).
type twoWay struct {
	open, close, halt func(context.Context) error
	openName          string
	closeName         string
	observe           func() (bool, error)
	afterHalt         *bool
	faults            Faults
}

func (a twoWay) run(t *testing.T) {
	t.Run("commands and idempotence", func(t *testing.T) {
		for _, step := range []struct {
			name string
			do   func(context.Context) error
			want bool
		}{
			{a.openName, a.open, Open}, {a.openName + " again", a.open, Open},
			{a.closeName, a.close, Closed}, {a.closeName + " again", a.close, Closed},
			{a.openName, a.open, Open},
		} {
			if err := step.do(ctxFor(t, 5*time.Second)); err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			observe(t, "after "+step.name, a.observe, step.want)
		}
		if err := a.close(ctxFor(t, 5*time.Second)); err != nil {
			t.Fatalf("%s: %v", a.closeName, err)
		}
	})
	t.Run("context already done", func(t *testing.T) {
		if err := a.open(done(t)); err == nil {
			t.Fatalf("%s with a cancelled context: nil error", a.openName)
		}
		observe(t, "after a cancelled "+a.openName, a.observe, Closed)
	})
	t.Run("halt", func(t *testing.T) {
		if err := a.open(ctxFor(t, 5*time.Second)); err != nil {
			t.Fatalf("%s: %v", a.openName, err)
		}
		for i := range 2 {
			if err := a.halt(ctxFor(t, 5*time.Second)); err != nil {
				t.Fatalf("halt %d: %v", i+1, err)
			}
		}
		want := Open
		if a.afterHalt != nil {
			want = *a.afterHalt
		}
		observe(t, "after halt", a.observe, want)
		if err := a.close(ctxFor(t, 5*time.Second)); err != nil {
			t.Fatalf("%s: %v", a.closeName, err)
		}
	})
	a.faultsSuite(t)
}

func (a twoWay) faultsSuite(t *testing.T) {
	if f := a.faults.Stall; f != nil {
		t.Run("slow device and a deadline", func(t *testing.T) {
			if err := f(time.Second); err != nil {
				t.Fatal(err)
			}
			defer f(0)
			start := time.Now()
			err := a.open(ctxFor(t, 100*time.Millisecond))
			if took := time.Since(start); took > 600*time.Millisecond {
				t.Errorf("%s with a 100ms deadline on a device 1s slow took %v", a.openName, took)
			}
			if err == nil {
				t.Errorf("%s on a device 1s slow with a 100ms deadline: nil error", a.openName)
			}
		})
	}
	if f := a.faults.Offline; f != nil {
		t.Run("unreachable", func(t *testing.T) {
			if err := f(true); err != nil {
				t.Fatal(err)
			}
			err := a.open(ctxFor(t, 2*time.Second))
			if err == nil || gateway.KindOf(err) != gateway.Unavailable {
				t.Errorf("%s on an unreachable device: %v (kind %s); want an unavailable error", a.openName, err, gateway.KindOf(err))
			}
			if err := f(false); err != nil {
				t.Fatal(err)
			}
			// Back: the device answers again (a driver may need a probe
			// interval to notice).
			deadline := time.Now().Add(5 * time.Second)
			for {
				err := a.close(ctxFor(t, 2*time.Second))
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s after the device came back: %v", a.closeName, err)
				}
				time.Sleep(20 * time.Millisecond) // the driver's probe runs on its own schedule
			}
			observe(t, "after it came back", a.observe, Closed)
		})
	}
}

// Barrier runs the barrier suite. Lower is the closing command.
func Barrier(t *testing.T, r BarrierRig) {
	twoWay{open: r.Barrier.Raise, close: r.Barrier.Lower, halt: r.Barrier.Halt, openName: "raise", closeName: "lower",
		observe: r.Up, afterHalt: r.AfterHalt, faults: r.Faults}.run(t)
}

// Lock runs the lock suite: Unlock opens, Lock closes.
func Lock(t *testing.T, r LockRig) {
	twoWay{open: r.Lock.Unlock, close: r.Lock.Lock, halt: r.Lock.Halt, openName: "unlock", closeName: "lock",
		observe: r.Unlocked, afterHalt: r.AfterHalt, faults: r.Faults}.run(t)
}

// Flap runs the flap suite: Raise locks the car in (Open here means up).
func Flap(t *testing.T, r FlapRig) {
	twoWay{open: r.Flap.Raise, close: r.Flap.Lower, halt: r.Flap.Halt, openName: "raise", closeName: "lower",
		observe: r.Up, afterHalt: r.AfterHalt, faults: r.Faults}.run(t)
}

// PayStation runs the pay station link suite.
func PayStation(t *testing.T, r PayStationRig) {
	t.Run("show fee and settled", func(t *testing.T) {
		for _, f := range []struct {
			ref    string
			amount int64
		}{{"space:P01", 350}, {"T-4FZ2K9QW", 0}, {"space:P01", 400}} {
			if err := r.Link.ShowFee(ctxFor(t, 5*time.Second), f.ref, f.amount); err != nil {
				t.Fatalf("ShowFee(%q, %d): %v", f.ref, f.amount, err)
			}
			if got, ok := r.Shown(f.ref); !ok || got != f.amount {
				t.Errorf("after ShowFee(%q, %d): shows %d (%v)", f.ref, f.amount, got, ok)
			}
		}
		for range 2 {
			if err := r.Link.Settled(ctxFor(t, 5*time.Second), "space:P01"); err != nil {
				t.Fatalf("Settled: %v", err)
			}
		}
		if !r.Settled("space:P01") {
			t.Error("after Settled(space:P01): the station was not told")
		}
	})
	t.Run("invalid arguments", func(t *testing.T) {
		for _, err := range []error{
			r.Link.ShowFee(ctxFor(t, time.Second), "", 100),
			r.Link.ShowFee(ctxFor(t, time.Second), "space:P01", -1),
			r.Link.Settled(ctxFor(t, time.Second), ""),
		} {
			if gateway.KindOf(err) != gateway.Invalid {
				t.Errorf("got %v (kind %s); want an invalid error", err, gateway.KindOf(err))
			}
		}
	})
	t.Run("context already done", func(t *testing.T) {
		if err := r.Link.ShowFee(done(t), "space:P09", 100); err == nil {
			t.Error("ShowFee with a cancelled context: nil error")
		}
		if _, ok := r.Shown("space:P09"); ok {
			t.Error("ShowFee with a cancelled context showed the fee")
		}
	})
	if f := r.Offline; f != nil {
		t.Run("unreachable", func(t *testing.T) {
			if err := f(true); err != nil {
				t.Fatal(err)
			}
			defer f(false)
			err := r.Link.ShowFee(ctxFor(t, 2*time.Second), "space:P02", 100)
			if gateway.KindOf(err) != gateway.Unavailable {
				t.Errorf("ShowFee on an unreachable station: %v (kind %s); want unavailable", err, gateway.KindOf(err))
			}
		})
	}
}

// Recorder is the core's side of a sensor suite: the Inputs a driver
// delivers to.
type Recorder struct {
	mu      sync.Mutex
	events  []string // "id on", "id off"
	changed chan struct{}
	during  func(ctx context.Context) error
	errs    []error
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{changed: make(chan struct{})} }

// SensorChanged implements gateway.Inputs.
func (r *Recorder) SensorChanged(ctx context.Context, id string, active bool) {
	r.mu.Lock()
	during := r.during
	r.mu.Unlock()
	var err error
	if during != nil {
		err = during(ctx)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := id + " off"
	if active {
		s = id + " on"
	}
	r.events = append(r.events, s)
	if err != nil {
		r.errs = append(r.errs, err)
	}
	close(r.changed)
	r.changed = make(chan struct{})
}

// Scanned, TicketRequested and CashPaid implement gateway.Inputs.
func (r *Recorder) Scanned(context.Context, string, string)       {}
func (r *Recorder) TicketRequested(context.Context, string)       {}
func (r *Recorder) CashPaid(context.Context, gateway.CashPayment) {}

// Events returns the deliveries so far.
func (r *Recorder) Events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

func (r *Recorder) waitFor(t *testing.T, d time.Duration, n int) []string {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		got, ch := append([]string(nil), r.events...), r.changed
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for delivery %d; got %q", d, n, got)
		}
	}
}

// Sensor runs the sensor suite. mk makes the rig for the sensor under
// test, delivering to in.
func Sensor(t *testing.T, mk func(t *testing.T, in gateway.Inputs) SensorRig) {
	rec := NewRecorder()
	r := mk(t, rec)
	wait := r.Wait
	if wait <= 0 {
		wait = 2 * time.Second
	}
	rec.mu.Lock()
	rec.during = r.During
	rec.mu.Unlock()
	var want []string
	for i, active := range []bool{true, false, true, false} {
		if err := r.Set(active); err != nil {
			t.Fatalf("set %v: %v", active, err)
		}
		s := r.ID + " off"
		if active {
			s = r.ID + " on"
		}
		want = append(want, s)
		got := rec.waitFor(t, wait, i+1)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("deliveries: %q; want %q (each change once, in order)", got, want)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if err := errors.Join(rec.errs...); err != nil {
		t.Errorf("actuator commands from inside SensorChanged: %v", err)
	}
}
