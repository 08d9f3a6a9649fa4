package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/lotgate/lotgate/config"
	"github.com/lotgate/lotgate/gateway"
)

// cmdDevices is the installer's device tool:
//
//	lotgate devices --config F            list the devices and their health
//	lotgate devices test --config F ID    exercise one device
func cmdDevices(ctx context.Context, e *env, args []string) error {
	return devices(ctx, e, args, driverOptions{})
}

func devices(ctx context.Context, e *env, args []string, opts driverOptions) error {
	if len(args) > 0 && args[0] == "test" {
		return devicesTest(ctx, e, args[1:], opts)
	}
	return devicesList(ctx, e, args, opts)
}

// devicesList prints every device with where it is and whether it
// answers. It exits 1 when a device does not.
func devicesList(ctx context.Context, e *env, args []string, opts driverOptions) error {
	fs := newFlags(e, "devices", "devices --config FILE [--timeout D]\n       lotgate devices test --config FILE [--hold D] [--wait D] ID")
	cfg := fs.String("config", "", "site file")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for each Modbus unit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usageErr("devices takes no arguments; did you mean \"devices test --config %s %s\"?", *cfg, fs.Arg(0))
	}
	f, err := loadConfig(*cfg)
	if err != nil {
		return err
	}
	opts.gpioErrOK = true
	opts.noScanners = true
	d, err := startDrivers(ctx, f, nil, nil, quietLogger(e), opts)
	if err != nil {
		return err
	}
	defer d.close(context.WithoutCancel(ctx))

	// One read per Modbus unit tells the health of every device it serves.
	if d.modbus != nil {
		probed := make(map[string]bool)
		for _, dev := range f.Site.Devices {
			mc := f.Devices[dev.ID].Modbus
			if mc == nil {
				continue
			}
			key := mc.Bus + "/" + strconv.Itoa(mc.Unit)
			if probed[key] {
				continue
			}
			probed[key] = true
			pctx, cancel := context.WithTimeout(ctx, *timeout)
			_, _ = d.modbus.Read(pctx, dev.ID)
			cancel()
		}
	}
	health := make(map[string]gateway.DeviceHealth)
	if d.modbus != nil {
		for _, h := range d.modbus.Health() {
			health[h.Device] = h
		}
	}
	if d.gpio != nil {
		for _, h := range d.gpio.Health() {
			health[h.Device] = h
		}
	}

	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tDRIVER\tWHERE\tSTATE")
	bad := 0
	for _, dev := range f.Site.Devices {
		state, ok := d.state(ctx, dev, health)
		if !ok {
			bad++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", dev.ID, dev.Kind, dev.Driver, where(f, dev), state)
	}
	tw.Flush()
	for id, s := range d.sims {
		fmt.Fprintf(e.stdout, "bus %s is simulated: lotgate's Modbus simulator answers on %s\n", id, s.Addr())
	}
	if bad > 0 {
		return &exitError{code: ExitError, err: fmt.Errorf("%d of %d devices are not reachable", bad, len(f.Site.Devices))}
	}
	return nil
}

// where says where a device is wired.
func where(f *config.File, dev gateway.Device) string {
	dc := f.Devices[dev.ID]
	switch {
	case dc.GPIO != nil:
		g := dc.GPIO
		s := g.Pin
		if g.ActiveLow {
			s += " (active low)"
		}
		if g.LowerPin != "" {
			s += ", close " + g.LowerPin
		}
		if g.PositionPin != "" {
			s += ", position " + g.PositionPin
		}
		return s
	case dc.Modbus != nil:
		m := dc.Modbus
		s := fmt.Sprintf("%s unit %d", m.Bus, m.Unit)
		if m.Channel > 0 {
			s += fmt.Sprintf(" ch %d", m.Channel)
		}
		return s + " (" + m.Profile + ")"
	case dc.Scanner != nil:
		switch s := dc.Scanner; {
		case s.Serial != nil:
			return fmt.Sprintf("%s %d %d%s%d", s.Serial.Device, s.Serial.Baud, s.Serial.DataBits, s.Serial.Parity, s.Serial.StopBits)
		case s.Input != "":
			return s.Input
		default:
			return "standard input"
		}
	}
	return "simulated"
}

// state describes a device's health for the listing, and whether it is
// fine.
func (d *realDrivers) state(ctx context.Context, dev gateway.Device, health map[string]gateway.DeviceHealth) (string, bool) {
	dc := d.file.Devices[dev.ID]
	switch {
	case dc.GPIO != nil && d.gpio == nil:
		return "unavailable: " + d.gpioErr.Error(), false
	case dc.Scanner != nil:
		path := dc.Scanner.Input
		if dc.Scanner.Serial != nil {
			path = dc.Scanner.Serial.Device
		}
		if path == "" {
			return "reads standard input", true
		}
		if _, err := os.Stat(path); err != nil {
			return "missing: " + err.Error(), false
		}
		return "present", true
	case dc.Sim != nil:
		return "simulated", true
	}
	h, ok := health[dev.ID]
	if !ok {
		return "unknown", false
	}
	if !h.Online {
		return fmt.Sprintf("OFFLINE: %s (failed %d, ok %d)", h.LastError, h.Failures, h.Successes), false
	}
	s := "online"
	if h.Successes > 0 || h.Failures > 0 {
		s += fmt.Sprintf(" (ok %d, failed %d)", h.Successes, h.Failures)
	}
	if v, err := d.sensor(ctx, dev.ID); err == nil {
		s += ", " + sensorWord(dev.Kind, v)
	} else if !errors.Is(err, errNotSensor) {
		return "OFFLINE: " + err.Error(), false
	}
	return s, true
}

var errNotSensor = errors.New("not a sensor")

// sensor reads sensor id now, through whichever driver drives it.
func (d *realDrivers) sensor(ctx context.Context, id string) (bool, error) {
	dc := d.file.Devices[id]
	switch {
	case dc.GPIO != nil && d.gpio != nil:
		v, err := d.gpio.Sensor(id)
		if gateway.KindOf(err) == gateway.Invalid {
			return false, errNotSensor
		}
		return v, err
	case dc.Modbus != nil && d.modbus != nil:
		v, err := d.modbus.Sensor(ctx, id)
		if gateway.KindOf(err) == gateway.Invalid {
			return false, errNotSensor
		}
		return v, err
	}
	return false, errNotSensor
}

func sensorWord(k gateway.DeviceKind, active bool) string {
	words := map[gateway.DeviceKind][2]string{
		gateway.KindLoop:       {"no vehicle", "vehicle present"},
		gateway.KindOccupancy:  {"space empty", "vehicle present"},
		gateway.KindDoorSensor: {"door closed", "door open"},
		gateway.KindFireAlarm:  {"no alarm", "ALARM"},
	}
	w, ok := words[k]
	if !ok {
		w = [2]string{"inactive", "active"}
	}
	if active {
		return w[1]
	}
	return w[0]
}

// devicesTest exercises one device and prints what happened and what the
// sensors said: a barrier raised and lowered, a lock unlocked and locked,
// a flap raised and lowered (each held open for --hold), a pay station's
// registers read, a sensor read, a scanner's next line awaited. The device
// is left closed (lowered, locked) whatever happens. It exits 1 when a
// step fails.
func devicesTest(ctx context.Context, e *env, args []string, opts driverOptions) error {
	fs := newFlags(e, "devices test", "devices test --config FILE [--hold D] [--wait D] ID")
	cfg := fs.String("config", "", "site file")
	hold := fs.Duration("hold", 3*time.Second, "how long an actuator stays open before it is closed again")
	wait := fs.Duration("wait", 15*time.Second, "how long to wait for a scan")
	step := fs.Duration("timeout", 5*time.Second, "how long each command may take")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usageErr("devices test needs one device ID")
	}
	id := fs.Arg(0)
	f, err := loadConfig(*cfg)
	if err != nil {
		return err
	}
	dev, ok := findDevice(f, id)
	if !ok {
		return usageErr("no device %q in %s", id, *cfg)
	}
	dc := f.Devices[id]
	fmt.Fprintf(e.stdout, "%s: %s on %s, %s\n", id, dev.Kind, dev.Driver, where(f, dev))
	if dc.Sim != nil {
		fmt.Fprintf(e.stdout, "%s is simulated (driver: sim): nothing to test on hardware\n", id)
		return nil
	}

	scans := &scanRecorder{id: id, got: make(chan string, 1)}
	opts.noScanners = dev.Kind != gateway.KindScanner
	d, err := startDrivers(ctx, onlyDevice(f, dev), scans, nil, quietLogger(e), opts)
	if err != nil {
		return err
	}
	defer d.close(context.WithoutCancel(ctx))
	t := &tester{e: e, d: d, f: f, start: time.Now(), step: *step}
	a := d.actuators()
	switch dev.Kind {
	case gateway.KindBarrier:
		b := a.Barriers[id]
		t.pair(ctx, b.Raise, b.Lower, "raise", "lower", *hold, laneLoop(f, id))
	case gateway.KindLock:
		l := a.Locks[id]
		t.pair(ctx, l.Unlock, l.Lock, "unlock", "lock", *hold, doorSensor(f, id))
	case gateway.KindFlap:
		fl := a.Flaps[id]
		t.pair(ctx, fl.Raise, fl.Lower, "raise", "lower", *hold, spaceSensor(f, id))
	case gateway.KindPayStation:
		t.registers(ctx, id)
	case gateway.KindScanner:
		t.say("waiting %v for a scan…", *wait)
		select {
		case line := <-scans.got:
			t.say("scanned %q", line)
		case <-time.After(*wait):
			t.fail("no scan within %v", *wait)
		case <-ctx.Done():
			t.fail("interrupted")
		}
		if st, ok := d.scanner.Stats(id); ok && len(st.Rejected) > 0 {
			t.say("rejected lines: %v", st.Rejected)
		}
	default:
		t.sensorNow(ctx, id)
	}
	if t.failed > 0 {
		return &exitError{code: ExitError, err: fmt.Errorf("device %s: %d of the steps failed", id, t.failed)}
	}
	fmt.Fprintln(e.stdout, "ok")
	return nil
}

// tester prints the steps of a device test.
type tester struct {
	e      *env
	d      *realDrivers
	f      *config.File
	start  time.Time
	step   time.Duration
	failed int
}

func (t *tester) say(format string, args ...any) {
	fmt.Fprintf(t.e.stdout, "  %6dms  %s\n", time.Since(t.start).Milliseconds(), fmt.Sprintf(format, args...))
}

func (t *tester) fail(format string, args ...any) {
	t.failed++
	t.say("FAILED: "+format, args...)
}

func (t *tester) do(ctx context.Context, name string, cmd func(context.Context) error) bool {
	cctx, cancel := context.WithTimeout(ctx, t.step)
	defer cancel()
	begin := time.Now()
	if err := cmd(cctx); err != nil {
		t.fail("%s: %v", name, err)
		return false
	}
	t.say("%s: ok (%dms)", name, time.Since(begin).Milliseconds())
	return true
}

// pair opens, holds, closes, reading sensor after each.
func (t *tester) pair(ctx context.Context, open, closeCmd func(context.Context) error, openName, closeName string, hold time.Duration, sensor string) {
	if open == nil {
		t.fail("the driver gave no actuator for this device")
		return
	}
	t.sensorNow(ctx, sensor)
	opened := t.do(ctx, openName, open)
	t.sensorNow(ctx, sensor)
	if opened {
		select {
		case <-time.After(hold):
		case <-ctx.Done():
		}
	}
	// Close whatever happened, even after a failed open or an interrupt.
	t.do(context.WithoutCancel(ctx), closeName, closeCmd)
	t.sensorNow(context.WithoutCancel(ctx), sensor)
}

// sensorNow reads and prints a sensor, if there is one.
func (t *tester) sensorNow(ctx context.Context, id string) {
	if id == "" {
		return
	}
	dev, _ := findDevice(t.f, id)
	if t.f.Devices[id].Sim != nil {
		t.say("%s %s: simulated", dev.Kind, id)
		return
	}
	if t.d.modbus == nil && t.d.gpio == nil {
		return
	}
	v, err := t.d.sensor(ctx, id)
	switch {
	case errors.Is(err, errNotSensor):
		t.say("%s %s: not read (driver %s)", dev.Kind, id, dev.Driver)
	case err != nil:
		t.fail("read %s: %v", id, err)
	default:
		t.say("%s %s: %s", dev.Kind, id, sensorWord(dev.Kind, v))
	}
}

// registers reads and prints every point of a Modbus device.
func (t *tester) registers(ctx context.Context, id string) {
	if t.d.modbus == nil {
		t.fail("not a Modbus device")
		return
	}
	cctx, cancel := context.WithTimeout(ctx, t.step)
	defer cancel()
	rs, err := t.d.modbus.Read(cctx, id)
	if err != nil {
		t.fail("%v", err)
		return
	}
	for _, r := range rs {
		if r.Err != nil {
			t.fail("%s (%s %d): %v", r.Point, r.Table, r.Address, r.Err)
			continue
		}
		t.say("%-12s %-14s %5d  %s", r.Point, r.Table, r.Address, r.Value)
	}
}

// onlyDevice returns f narrowed to dev and the sensors its test reads, so
// that testing one device opens only what it needs (and a scanner's port
// is not taken from a running gateway for nothing).
func onlyDevice(f *config.File, dev gateway.Device) *config.File {
	keep := []string{dev.ID, laneLoop(f, dev.ID), doorSensor(f, dev.ID), spaceSensor(f, dev.ID)}
	g := *f
	site := *f.Site
	site.Devices = nil
	for _, d := range f.Site.Devices {
		if slices.Contains(keep, d.ID) {
			site.Devices = append(site.Devices, d)
		}
	}
	g.Site = &site
	return &g
}

func findDevice(f *config.File, id string) (gateway.Device, bool) {
	for _, d := range f.Site.Devices {
		if d.ID == id {
			return d, true
		}
	}
	return gateway.Device{}, false
}

// laneLoop is the loop under barrier id's arm.
func laneLoop(f *config.File, barrier string) string {
	for _, l := range f.Site.Lanes {
		if l.Barrier == barrier {
			return l.Loop
		}
	}
	return ""
}

// doorSensor is the door sensor of lock id's compartment or door.
func doorSensor(f *config.File, lock string) string {
	for _, l := range f.Site.Lockers {
		for _, c := range l.Compartments {
			if c.Lock == lock {
				return c.DoorSensor
			}
		}
	}
	for _, d := range f.Site.Doors {
		if d.Lock == lock {
			return d.DoorSensor
		}
	}
	return ""
}

// spaceSensor is the occupancy sensor of flap id's space.
func spaceSensor(f *config.File, flap string) string {
	for _, s := range f.Site.Spaces {
		if s.Flap == flap {
			return s.Sensor
		}
	}
	return ""
}

// quietLogger logs the drivers' warnings to stderr.
func quietLogger(e *env) *slog.Logger {
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// scanRecorder takes the first line scanned by its scanner.
type scanRecorder struct {
	id   string
	once sync.Once
	got  chan string
}

func (s *scanRecorder) SensorChanged(context.Context, string, bool) {}
func (s *scanRecorder) Scanned(_ context.Context, id, text string) {
	if id == s.id {
		s.once.Do(func() { s.got <- text })
	}
}
func (s *scanRecorder) TicketRequested(context.Context, string)       {}
func (s *scanRecorder) CashPaid(context.Context, gateway.CashPayment) {}
