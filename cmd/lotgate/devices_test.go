package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lotgate/lotgate/config"
	"github.com/lotgate/lotgate/drivers/conformance"
	"github.com/lotgate/lotgate/drivers/modbus"
	simdrv "github.com/lotgate/lotgate/drivers/sim"
	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/sqlite"
)

// modbusSite copies configs/site.modbus.yaml and its profiles to a temp
// dir, the simulated bus on a free loopback port, with edits applied.
func modbusSite(tb testing.TB, edits ...[2]string) string {
	tb.Helper()
	dir := tb.TempDir()
	src, err := os.ReadFile("../../configs/site.modbus.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	text := strings.ReplaceAll(string(src), "127.0.0.1:1502", addr)
	for _, e := range edits {
		if !strings.Contains(text, e[0]) {
			tb.Fatalf("site.modbus.yaml has no %q to replace", e[0])
		}
		text = strings.Replace(text, e[0], e[1], 1)
	}
	if err := os.WriteFile(filepath.Join(dir, "site.yaml"), []byte(text), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "devices"), 0o755); err != nil {
		tb.Fatal(err)
	}
	profiles, _ := filepath.Glob("../../configs/devices/*.yaml")
	for _, p := range profiles {
		data, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "devices", filepath.Base(p)), data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return filepath.Join(dir, "site.yaml")
}

// runDevices runs the devices command as main would, returning stdout,
// stderr and the exit code.
func runDevices(tb testing.TB, opts driverOptions, args ...string) (string, string, int) {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	e := &env{getenv: func(string) string { return "" }, stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, now: time.Now}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := devices(ctx, e, args, opts)
	code := exitCode(err, &stderr)
	return stdout.String(), stderr.String(), code
}

// row returns the listing's row for a device, columns collapsed.
func row(out, id string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, id+" ") {
			return strings.Join(strings.Fields(l), " ")
		}
	}
	return ""
}

func TestDevicesList(t *testing.T) {
	path := modbusSite(t)
	out, errOut, code := runDevices(t, driverOptions{}, "--config", path)
	if code != ExitOK {
		t.Fatalf("exit %d; stderr %s\n%s", code, errOut, out)
	}
	for id, want := range map[string]string{
		"paystation":   "paystation pay_station modbus lot-bus unit 1 (ref-paystation) online",
		"A-03-lock":    "A-03-lock lock modbus lot-bus unit 3 ch 3 (ref-locker16) online",
		"A-03-door":    "A-03-door door_sensor modbus lot-bus unit 3 ch 3 (ref-locker16) online (",
		"P01-sensor":   "P01-sensor occupancy modbus lot-bus unit 4 ch 1 (ref-flap8) online",
		"in-1-barrier": "in-1-barrier barrier sim simulated simulated",
	} {
		if got := row(out, id); !strings.HasPrefix(got, want) {
			t.Errorf("row %s: %q; want it to start %q", id, got, want)
		}
	}
	if got := row(out, "A-03-door"); !strings.HasSuffix(got, "door closed") {
		t.Errorf("row A-03-door: %q; want the door's state", got)
	}
	if !regexp.MustCompile(`bus lot-bus is simulated: lotgate's Modbus simulator answers on 127\.0\.0\.1:\d+`).MatchString(out) {
		t.Errorf("no line about the simulated bus in:\n%s", out)
	}
}

// A bus nobody answers on: every Modbus device is offline, and the exit
// code says so.
func TestDevicesListOffline(t *testing.T) {
	path := modbusSite(t, [2]string{"    simulate: true ", "    # simulate: true "}, [2]string{"    timeout: 300ms ", "    timeout: 50ms "})
	out, _, code := runDevices(t, driverOptions{}, "--config", path, "--timeout", "500ms")
	if code != ExitError {
		t.Errorf("exit %d; want %d", code, ExitError)
	}
	if got := row(out, "A-03-lock"); !strings.Contains(got, "OFFLINE: connect:") {
		t.Errorf("row A-03-lock: %q; want OFFLINE with the connect error", got)
	}
	if !strings.Contains(out, "in-1-barrier") || strings.Contains(row(out, "in-1-barrier"), "OFFLINE") {
		t.Errorf("simulated devices: %q", row(out, "in-1-barrier"))
	}
}

// A GPIO device on a host without GPIO (this one, CI) is listed as
// unavailable, with the reason.
func TestDevicesListGPIOOffPi(t *testing.T) {
	if chips, _ := filepath.Glob("/dev/gpiochip*"); len(chips) > 0 {
		t.Skip("this host has GPIO chips")
	}
	path := modbusSite(t, [2]string{"  - {id: in-1-loop, kind: loop, driver: sim}", "  - {id: in-1-loop, kind: loop, driver: gpio, gpio: {pin: GPIO5}}"})
	out, _, code := runDevices(t, driverOptions{}, "--config", path)
	if code != ExitError {
		t.Errorf("exit %d; want %d", code, ExitError)
	}
	if got := row(out, "in-1-loop"); !strings.Contains(got, `unavailable: gpio: cannot use pins: GPIO5`) {
		t.Errorf("row in-1-loop: %q", got)
	}
}

func TestDevicesTest(t *testing.T) {
	path := modbusSite(t)
	tests := []struct {
		id    string
		wants []string // in order
	}{
		{"A-03-lock", []string{"A-03-lock: lock on modbus, lot-bus unit 3 ch 3 (ref-locker16)",
			"door_sensor A-03-door: door closed", "unlock: ok", "door_sensor A-03-door: door open", "lock: ok", "ok"}},
		{"P02-flap", []string{"occupancy P02-sensor: space empty", "raise: ok", "lower: ok", "ok"}},
		{"paystation", []string{"command", "holding", "fee", "paid_flag", "coil", "paid_ref", `""`, "ok"}},
		{"A-05-door", []string{"door_sensor A-05-door: door closed", "ok"}},
		{"in-1-barrier", []string{"in-1-barrier is simulated (driver: sim): nothing to test on hardware"}},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			out, errOut, code := runDevices(t, driverOptions{}, "test", "--config", path, "--hold", "10ms", tt.id)
			if code != ExitOK {
				t.Fatalf("exit %d; stderr %s\n%s", code, errOut, out)
			}
			rest := out
			for _, w := range tt.wants {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order):\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

// An actuation that is not confirmed fails the test with the reason, and
// the device is closed again anyway.
func TestDevicesTestUnconfirmed(t *testing.T) {
	path := modbusSite(t, [2]string{"    simulate: true ", "    # simulate: true "})
	f, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := modbusConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	// Our own simulator on the bus's address, with the board's latch jammed.
	sim, err := modbus.NewSimulator(modbus.SimUnits(mc, "lot-bus"), modbus.SimOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(f.Buses[0].TCP); err != nil {
		t.Fatal(err)
	}
	defer sim.Stop()
	sim.SetJammed(3, true)
	out, _, code := runDevices(t, driverOptions{}, "test", "--config", path, "--hold", "10ms", "--timeout", "3s", "A-02-lock")
	if code != ExitError {
		t.Errorf("exit %d; want %d", code, ExitError)
	}
	for _, w := range []string{"FAILED: unlock: modbus lock A-02-lock: unlock: door did not read 1 within 2s", "lock: ok"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if v, _ := sim.Value(3, "release", 2); v != 0 {
		t.Errorf("release coil after the test: %d; want 0 (locked again)", v)
	}
}

func TestDevicesUsage(t *testing.T) {
	path := modbusSite(t)
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"test", "--config", path, "nope"}, ExitUsage, `no device "nope"`},
		{[]string{"test", "--config", path}, ExitUsage, "devices test needs one device ID"},
		{[]string{}, ExitUsage, "--config is required"},
		{[]string{"--config", path, "A-01-lock"}, ExitUsage, `did you mean "devices test`},
		{[]string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, ExitConfig, "load config"},
	} {
		_, errOut, code := runDevices(t, driverOptions{}, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("devices %q: exit %d, stderr %q; want %d and %q", tt.args, code, errOut, tt.code, tt.want)
		}
	}
}

// recorder is the core's side for the wiring tests.
type wiringRecorder struct {
	mu      sync.Mutex
	sensors []string
	health  []gateway.DeviceHealth
	changed chan struct{}
}

func (r *wiringRecorder) SensorChanged(_ context.Context, id string, active bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sensors = append(r.sensors, id+" "+sensorWord(gateway.KindDoorSensor, active))
	close(r.changed)
	r.changed = make(chan struct{})
}
func (r *wiringRecorder) Scanned(context.Context, string, string)       {}
func (r *wiringRecorder) TicketRequested(context.Context, string)       {}
func (r *wiringRecorder) CashPaid(context.Context, gateway.CashPayment) {}
func (r *wiringRecorder) DeviceHealthChanged(_ context.Context, h gateway.DeviceHealth) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.health = append(r.health, h)
}

// openDrivers on the Modbus example through an inputsRelay: what a driver
// reports before the core is attached waits for it; the actuators drive
// the simulated devices; close ends it all.
func TestOpenDrivers(t *testing.T) {
	path := modbusSite(t)
	f, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	relay := newInputsRelay()
	d, err := startDrivers(context.Background(), f, relay, relay, nil, driverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sim := d.sims["lot-bus"]
	if err := sim.SetInput(3, modbus.InputDoorOpen, 5, true); err != nil { // a door open before the core is there
		t.Fatal(err)
	}
	acts := mergeActuators(gateway.Actuators{Barriers: map[string]gateway.Barrier{"x": nil}}, d.actuators())
	if len(acts.Locks) != 8 || len(acts.Flaps) != 6 || acts.PayStation == nil || len(acts.Barriers) != 1 {
		t.Fatalf("actuators: %d locks, %d flaps, pay station %v, %d barriers; want 8, 6, set, 1", len(acts.Locks), len(acts.Flaps), acts.PayStation != nil, len(acts.Barriers))
	}
	rec := &wiringRecorder{changed: make(chan struct{})}
	relay.Attach(context.Background(), rec, rec)
	deadline := time.After(5 * time.Second)
	for {
		rec.mu.Lock()
		got, ch := strings.Join(rec.sensors, ","), rec.changed
		rec.mu.Unlock()
		if got == "A-05-door door open" {
			break
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("sensor changes %q; want A-05-door door open", got)
		}
	}
	ctx := context.Background()
	if err := acts.PayStation.ShowFee(ctx, "space:P03", 700); err != nil {
		t.Fatal(err)
	}
	if ref, amount, _ := sim.Shown(1); ref != "space:P03" || amount != 700 {
		t.Errorf("pay station shows %q %d", ref, amount)
	}
	if err := acts.Flaps["P03-flap"].Raise(ctx); err != nil {
		t.Fatal(err)
	}
	// The console's commands for the simulated bus.
	cmds := d.simCommands()
	if len(cmds) != 1 {
		t.Fatalf("sim commands: %d; want 1", len(cmds))
	}
	for _, c := range []struct{ args, want string }{
		{"park P04-sensor", "P04-sensor: park"},
		{"close A-05-door", "A-05-door: close"},
		{"pay space:P04 250", "paid 2.50 for space:P04 at paystation"},
	} {
		got, err := cmds[0].Run(ctx, c.args)
		if err != nil || !strings.HasPrefix(got, c.want) {
			t.Errorf("modbus %s: %q, %v; want %q", c.args, got, err, c.want)
		}
	}
	if _, err := cmds[0].Run(ctx, "park in-1-loop"); err == nil {
		t.Error("modbus park on a sim device: nil error")
	}
	if on, _ := sim.Input(4, modbus.InputVehiclePresent, 4); !on {
		t.Error("P04 has no car after modbus park")
	}
	if err := d.close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
}

// The shipped profiles, converted, are what drivers/modbus accepts, and
// the config's table of profile kinds matches the driver's.
func TestProfilesConvert(t *testing.T) {
	path := modbusSite(t)
	f, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range f.Profiles {
		mp := modbusProfile(p)
		if err := mp.Validate(); err != nil {
			t.Errorf("profile %s: %v", name, err)
		}
		want := modbus.ProfileKinds[mp.Kind]
		got := config.ProfileServes(p.Kind)
		if len(got) != len(want) {
			t.Errorf("profile kind %s serves %v in config, %v in drivers/modbus", p.Kind, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("profile kind %s serves %v in config, %v in drivers/modbus", p.Kind, got, want)
			}
		}
	}
	pay := modbusProfile(f.Profiles["ref-paystation"])
	if pt := pay.Points["paid_amount"]; pt.WordOrder != modbus.LowFirst || pt.Type != modbus.Uint32 || pt.Address != 101 {
		t.Errorf("paid_amount converted to %+v", pt)
	}
}

// hwConfig, when set, runs the conformance suites against the real devices
// of a site file: go test ./cmd/lotgate -run TestHardware -lotgate.hw=FILE.
// docs/devices.md lists the wiring each check assumes.
var hwConfig = flag.String("lotgate.hw", "", "site file whose real devices the hardware conformance run exercises")

func TestHardware(t *testing.T) {
	if *hwConfig == "" {
		t.Skip("no -lotgate.hw=FILE: the hardware conformance run needs real devices")
	}
	f, err := config.Load(*hwConfig)
	if err != nil {
		t.Fatal(err)
	}
	d, err := startDrivers(context.Background(), f, nil, nil, nil, driverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.close(context.Background())
	acts := d.actuators()
	for _, dev := range f.Site.Devices {
		dc := f.Devices[dev.ID]
		if dc.Sim != nil || dc.Scanner != nil {
			continue
		}
		t.Run(dev.ID, func(t *testing.T) {
			switch dev.Kind {
			case gateway.KindBarrier:
				rig := conformance.BarrierRig{Barrier: acts.Barriers[dev.ID]}
				// Observed through its up switch, when it has one and lotgate
				// closes it (a pulse barrier without a close contact closes
				// on its own, when it pleases).
				if g := dc.GPIO; d.gpio != nil && g != nil && g.PositionPin != "" && (g.Mode == config.ModeLevel || g.LowerPin != "") {
					rig.Up = func() (bool, error) { v, _, err := d.gpio.Position(dev.ID); return v, err }
				}
				conformance.Barrier(t, rig)
			case gateway.KindLock:
				conformance.Lock(t, conformance.LockRig{Lock: acts.Locks[dev.ID], AfterHalt: halted(dc.Fail.OnShutdown, false)})
			case gateway.KindFlap:
				rig := conformance.FlapRig{Flap: acts.Flaps[dev.ID], AfterHalt: halted(dc.Fail.OnShutdown, true)}
				if d.gpio != nil && dc.GPIO != nil && dc.GPIO.PositionPin != "" {
					rig.Up = func() (bool, error) { v, _, err := d.gpio.Position(dev.ID); return !v, err } // the down switch
				}
				conformance.Flap(t, rig)
			case gateway.KindPayStation:
				// Every point of its profile reads.
				rs, err := d.modbus.Read(context.Background(), dev.ID)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rs {
					if r.Err != nil {
						t.Errorf("read %s: %v", r.Point, r.Err)
					}
				}
			default:
				if _, err := d.sensor(context.Background(), dev.ID); err != nil && err != errNotSensor {
					t.Errorf("read %s: %v", dev.ID, err)
				}
			}
		})
	}
}

// halted is the position an actuator takes at Halt under policy; secure
// closes a lock but raises a flap (upSecure).
func halted(policy string, upSecure bool) *bool {
	switch policy {
	case config.FailSecure:
		return conformance.Bool(upSecure)
	case config.FailOpen:
		return conformance.Bool(!upSecure)
	}
	return nil
}

// eventTap is an Observer that keeps the committed events.
type eventTap struct {
	mu      sync.Mutex
	events  []gateway.Event
	changed chan struct{}
}

func newEventTap() *eventTap { return &eventTap{changed: make(chan struct{})} }

func (e *eventTap) EventCommitted(ev gateway.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, ev)
	close(e.changed)
	e.changed = make(chan struct{})
}

// waitFor returns the first event whose type is typ and whose data has
// every field of want, waiting up to 10s for it.
func (e *eventTap) waitFor(tb testing.TB, typ gateway.EventType, want map[string]any) map[string]any {
	tb.Helper()
	deadline := time.After(10 * time.Second)
	for {
		e.mu.Lock()
		evs, ch := e.events, e.changed
		e.mu.Unlock()
	next:
		for _, ev := range evs {
			if ev.Type != typ {
				continue
			}
			var data map[string]any
			if err := json.Unmarshal(ev.Data, &data); err != nil {
				tb.Fatalf("event #%d: %v", ev.Seq, err)
			}
			for k, v := range want {
				if data[k] != v {
					continue next
				}
			}
			return data
		}
		select {
		case <-ch:
		case <-deadline:
			var b strings.Builder
			for _, ev := range evs {
				fmt.Fprintf(&b, "\n#%d %s %s", ev.Seq, ev.Type, ev.Data)
			}
			tb.Fatalf("no %s event with %v in:%s", typ, want, b.String())
		}
	}
}

// The core and a flap on the Modbus simulator: a car stands on P02 long
// enough, its flap rises (confirmed); the flap then jams and the release
// lowers it in vain: the actuation event carries the driver's error and
// the reason "unconfirmed".
func TestUnconfirmedActuationEvent(t *testing.T) {
	ctx := context.Background()
	f, err := config.Load(modbusSite(t))
	if err != nil {
		t.Fatal(err)
	}
	f.Profiles["ref-flap8"].Actions["lower"].Confirm.Within = 300 * time.Millisecond // quick to fail

	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lotgate.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	relay := newInputsRelay()
	d, err := startDrivers(ctx, f, relay, relay, nil, driverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.close(ctx) })
	sims, err := simdrv.New(f.Site, nil)
	if err != nil {
		t.Fatal(err)
	}
	var clockMu sync.Mutex
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	clock := funcClock(func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now })
	tap := newEventTap()
	gw, err := gateway.New(gateway.Options{Site: f.Site, Store: db, Actuators: mergeActuators(sims.Actuators(), d.actuators()),
		Clock: clock, Observers: []gateway.Observer{tap}, ActuatorTimeout: f.Site.Policy.ActuatorTimeout})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Open(ctx); err != nil {
		t.Fatal(err)
	}
	relay.Attach(ctx, gw, gw)

	// A car on P02, seen by the flap controller's poll.
	sim := d.sims["lot-bus"]
	if err := sim.SetInput(4, modbus.InputVehiclePresent, 2, true); err != nil {
		t.Fatal(err)
	}
	tap.waitFor(t, gateway.EvDevice, map[string]any{"device": "P02-sensor", "active": true})
	clockMu.Lock()
	now = now.Add(f.Site.Spaces[1].RaiseAfter + time.Second)
	clockMu.Unlock()
	gw.Tick(ctx, clock.Now())
	raised := tap.waitFor(t, gateway.EvActuation, map[string]any{"device": "P02-flap", "command": "raise"})
	if raised["error"] != nil || raised["reason"] != nil {
		t.Fatalf("raise: %v; want no error and no reason", raised)
	}

	// The flap jams up; the stay was free, so the release lowers it.
	if err := sim.SetJammed(4, true); err != nil {
		t.Fatal(err)
	}
	dec, err := gw.ReleaseSpace(ctx, "P02")
	if err != nil || !dec.Allowed {
		t.Fatalf("ReleaseSpace: %+v, %v; want allowed", dec, err)
	}
	lowered := tap.waitFor(t, gateway.EvActuation, map[string]any{"device": "P02-flap", "command": "lower"})
	if lowered["reason"] != "unconfirmed" {
		t.Errorf("lower of a jammed flap: reason %v; want unconfirmed (event %v)", lowered["reason"], lowered)
	}
	if e, _ := lowered["error"].(string); !strings.Contains(e, "down did not read 1 within 300ms (down reads 0)") || !strings.Contains(e, gateway.ErrUnconfirmed.Error()) {
		t.Errorf("lower of a jammed flap: error %q; want what the sensor read and %q", e, gateway.ErrUnconfirmed)
	}
}

// countObserver counts the events it is given.
type countObserver struct{ n atomic.Int64 }

func (c *countObserver) EventCommitted(gateway.Event) { c.n.Add(1) }

// TestObserverRelay: an observer added after the gateway was made gets
// every event committed from then on, and none before.
func TestObserverRelay(t *testing.T) {
	r := &observerRelay{}
	r.EventCommitted(gateway.Event{Seq: 1}) // nobody yet: dropped, no panic
	a, b := &countObserver{}, &countObserver{}
	r.Add(a)
	r.EventCommitted(gateway.Event{Seq: 2})
	r.Add(b)
	r.EventCommitted(gateway.Event{Seq: 3})
	if a.n.Load() != 2 || b.n.Load() != 1 {
		t.Errorf("events seen: a %d, b %d; want 2 and 1", a.n.Load(), b.n.Load())
	}
}
