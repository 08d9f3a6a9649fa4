package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lotgate/lotgate/config"
	"github.com/lotgate/lotgate/drivers/gpio"
	"github.com/lotgate/lotgate/drivers/modbus"
	"github.com/lotgate/lotgate/drivers/scanner"
	"github.com/lotgate/lotgate/drivers/sim"
	"github.com/lotgate/lotgate/gateway"
)

// openDrivers builds the real drivers — gpio, modbus (with the Modbus TCP
// simulator of every bus marked simulate: true) and scanner — for the
// devices of f that use them, delivering sensor changes, scans and cash
// payments to in and health transitions to health. The sim driver's
// devices are not included: merge its Actuators with mergeActuators.
//
// in and health may be called as soon as openDrivers returns (a sensor
// found active, a device offline); when the core does not exist yet, pass
// an inputsRelay and Attach the core to it later. close stops the drivers
// and the simulators; call it after the core's Halt and before the store
// closes.
func openDrivers(ctx context.Context, f *config.File, in gateway.Inputs, health gateway.HealthSink, log *slog.Logger) (gateway.Actuators, func(context.Context) error, error) {
	d, err := startDrivers(ctx, f, in, health, log, driverOptions{})
	if err != nil {
		return gateway.Actuators{}, nil, err
	}
	return d.actuators(), d.close, nil
}

// driverOptions are the seams tests use.
type driverOptions struct {
	pins  gpio.PinLookup // gpio.HostPins when nil
	stdin io.Reader      // os.Stdin when nil, for scanners with stdin: true
	// gpioErrOK keeps going when the gpio driver cannot open (not a Pi):
	// the installer's listing shows the error per device instead.
	gpioErrOK bool
	// noScanners leaves the scanners closed (the listing only checks that
	// their ports exist).
	noScanners bool
}

// realDrivers are the open real drivers of a site.
type realDrivers struct {
	file    *config.File
	gpio    *gpio.Driver
	gpioErr error // why gpio is nil although the site has gpio devices
	modbus  *modbus.Driver
	scanner *scanner.Driver
	sims    map[string]*modbus.Simulator // by bus ID
}

func startDrivers(ctx context.Context, f *config.File, in gateway.Inputs, health gateway.HealthSink, log *slog.Logger, opts driverOptions) (*realDrivers, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &realDrivers{file: f, sims: make(map[string]*modbus.Simulator)}
	fail := func(err error) (*realDrivers, error) {
		d.close(ctx)
		return nil, err
	}

	// Modbus, behind its simulators when asked.
	mc, err := modbusConfig(f)
	if err != nil {
		return fail(err)
	}
	for _, b := range f.Buses {
		if !b.Simulate {
			continue
		}
		sim, err := modbus.NewSimulator(modbus.SimUnits(mc, b.ID), modbus.SimOptions{Logger: log, Move: 200 * time.Millisecond})
		if err != nil {
			return fail(fmt.Errorf("modbus simulator for bus %s: %w", b.ID, err))
		}
		if err := sim.Start(b.TCP); err != nil {
			return fail(fmt.Errorf("modbus simulator for bus %s: %w", b.ID, err))
		}
		log.Info("modbus simulator", "bus", b.ID, "addr", sim.Addr())
		d.sims[b.ID] = sim
	}
	if len(mc.Devices) > 0 {
		if d.modbus, err = modbus.Open(mc, modbus.Options{Inputs: in, Health: health, Logger: log}); err != nil {
			return fail(err)
		}
	}

	// GPIO.
	if gd := gpioDevices(f); len(gd) > 0 {
		d.gpio, err = gpio.Open(gd, gpio.Options{Inputs: in, Health: health, Logger: log, Lookup: opts.pins})
		if err != nil {
			if !opts.gpioErrOK {
				return fail(err)
			}
			d.gpioErr = err
		}
	}

	// Scanners.
	stdin := opts.stdin
	if stdin == nil {
		stdin = os.Stdin
	}
	if sc := scanners(f, stdin); len(sc) > 0 && !opts.noScanners {
		if d.scanner, err = scanner.Open(sc, scanner.Options{Inputs: in, Health: health, Logger: log}); err != nil {
			return fail(err)
		}
	}
	return d, nil
}

// actuators returns the real drivers' actuators, merged.
func (d *realDrivers) actuators() gateway.Actuators {
	var a gateway.Actuators
	if d.gpio != nil {
		a = mergeActuators(a, d.gpio.Actuators())
	}
	if d.modbus != nil {
		a = mergeActuators(a, d.modbus.Actuators())
	}
	return a
}

// close stops the drivers, then the simulators.
func (d *realDrivers) close(ctx context.Context) error {
	var errs []error
	if d.scanner != nil {
		errs = append(errs, d.scanner.Close(ctx))
	}
	if d.gpio != nil {
		errs = append(errs, d.gpio.Close(ctx))
	}
	if d.modbus != nil {
		errs = append(errs, d.modbus.Close(ctx))
	}
	for _, s := range d.sims {
		errs = append(errs, s.Stop())
	}
	return errors.Join(errs...)
}

// mergeActuators returns the union of a and b: each device is driven by
// one driver, so their IDs never collide; the pay station is whichever
// is set.
func mergeActuators(a, b gateway.Actuators) gateway.Actuators {
	out := gateway.NewActuators()
	out.PayStation = a.PayStation
	for _, x := range []gateway.Actuators{a, b} {
		for id, v := range x.Barriers {
			out.Barriers[id] = v
		}
		for id, v := range x.Locks {
			out.Locks[id] = v
		}
		for id, v := range x.Flaps {
			out.Flaps[id] = v
		}
		for id, v := range x.Tickets {
			out.Tickets[id] = v
		}
	}
	if b.PayStation != nil {
		out.PayStation = b.PayStation
	}
	return out
}

// modbusConfig converts the Modbus buses and devices of f.
func modbusConfig(f *config.File) (modbus.Config, error) {
	var c modbus.Config
	for _, b := range f.Buses {
		bc := modbus.BusConfig{ID: b.ID, TCP: b.TCP, Timeout: b.Timeout, FrameGap: b.FrameGap, Retries: b.Retries,
			OfflineAfter: b.OfflineAfter, ProbeInterval: b.ProbeInterval, PollInterval: b.PollInterval, QueueSize: b.QueueSize}
		if b.Retries == 0 {
			bc.Retries = -1 // none; modbus reads 0 as its default
		}
		if r := b.RTU; r != nil {
			bc.RTU = &modbus.RTUConfig{Device: r.Device, Baud: r.Baud, DataBits: r.DataBits, Parity: r.Parity, StopBits: r.StopBits}
		}
		c.Buses = append(c.Buses, bc)
	}
	profiles := make(map[string]*modbus.Profile)
	for _, dev := range f.Site.Devices {
		dc := f.Devices[dev.ID]
		if dc.Modbus == nil {
			continue
		}
		p, ok := profiles[dc.Modbus.Profile]
		if !ok {
			cp := f.Profiles[dc.Modbus.Profile]
			if cp == nil {
				return c, fmt.Errorf("device %s: profile %q not loaded", dev.ID, dc.Modbus.Profile)
			}
			p = modbusProfile(cp)
			profiles[dc.Modbus.Profile] = p
		}
		c.Devices = append(c.Devices, modbus.Device{
			ID: dev.ID, Kind: dev.Kind, Bus: dc.Modbus.Bus, Unit: uint8(dc.Modbus.Unit), Channel: dc.Modbus.Channel,
			Profile: p, Fail: modbus.FailPolicy{OnCommLoss: modbus.Policy(dc.Fail.OnCommLoss), OnShutdown: modbus.Policy(dc.Fail.OnShutdown)},
		})
	}
	return c, modbus.CheckConfig(c)
}

// modbusProfile converts a loaded profile.
func modbusProfile(p *config.Profile) *modbus.Profile {
	tables := map[string]modbus.Table{"coil": modbus.Coil, "discrete_input": modbus.DiscreteInput, "holding": modbus.HoldingRegister, "input": modbus.InputRegister}
	types := map[string]modbus.Type{"bool": modbus.Bool, "uint16": modbus.Uint16, "int16": modbus.Int16, "uint32": modbus.Uint32, "int32": modbus.Int32, "string": modbus.String}
	mp := &modbus.Profile{Name: p.Name, Kind: modbus.ProfileKind(p.Kind), Channels: p.Channels,
		Points: make(map[string]*modbus.Point), Actions: make(map[string]*modbus.Action), Inputs: make(map[string]string)}
	for name, pt := range p.Points {
		q := &modbus.Point{Name: name, Table: tables[pt.Table], Address: uint16(pt.Address), Stride: pt.Stride,
			Type: types[pt.Type], Length: pt.Length, Scale: pt.Scale}
		if pt.Bit >= 0 {
			q.Mask = 1 << pt.Bit
		}
		if pt.WordOrder == "low_first" {
			q.WordOrder = modbus.LowFirst
		}
		mp.Points[name] = q
	}
	for name, a := range p.Actions {
		ma := &modbus.Action{}
		for _, w := range a.Writes {
			ma.Steps = append(ma.Steps, modbus.Step{Point: w.Point, Value: w.Value, Arg: w.Arg})
		}
		if c := a.Confirm; c != nil {
			ma.Confirm = &modbus.Confirm{Point: c.Point, Value: c.Value, Within: c.Within}
		}
		mp.Actions[name] = ma
	}
	for role, pt := range p.Inputs {
		mp.Inputs[role] = pt
	}
	if pay := p.Payment; pay != nil {
		mp.Payment = &modbus.Payment{Flag: pay.Flag, Amount: pay.Amount, Ref: pay.Ref, ID: pay.ID, Ack: pay.Ack}
	}
	if fs := p.FailState; fs != nil {
		mf := &modbus.FailState{Timeout: fs.Timeout, Seconds: fs.Seconds, State: fs.State, Values: make(map[modbus.Policy]int64)}
		for pol, v := range fs.Values {
			mf.Values[modbus.Policy(pol)] = v
		}
		mp.FailState = mf
	}
	return mp
}

// gpioDevices converts the gpio devices of f.
func gpioDevices(f *config.File) []gpio.Device {
	var out []gpio.Device
	for _, dev := range f.Site.Devices {
		g := f.Devices[dev.ID].GPIO
		if g == nil {
			continue
		}
		out = append(out, gpio.Device{ID: dev.ID, Kind: dev.Kind, Pin: g.Pin, ActiveLow: g.ActiveLow,
			Pull: gpio.Pull(g.Pull), Debounce: g.Debounce, Mode: gpio.Mode(g.Mode), Pulse: g.Pulse, LowerPin: g.LowerPin,
			PositionPin: g.PositionPin, PositionActiveLow: g.PositionActiveLow, ConfirmWithin: g.ConfirmWithin,
			OnShutdown: gpio.Policy(f.Devices[dev.ID].Fail.OnShutdown)})
	}
	return out
}

// scanners converts the scanner devices of f; stdin serves those that
// read standard input.
func scanners(f *config.File, stdin io.Reader) []scanner.Scanner {
	var out []scanner.Scanner
	for _, dev := range f.Site.Devices {
		s := f.Devices[dev.ID].Scanner
		if s == nil {
			continue
		}
		sc := scanner.Scanner{ID: dev.ID, Input: s.Input, MaxLine: s.MaxLine}
		if p := s.Serial; p != nil {
			sc.Serial = &scanner.SerialPort{Device: p.Device, Baud: p.Baud, DataBits: p.DataBits, Parity: p.Parity, StopBits: p.StopBits}
		}
		if s.Stdin {
			sc.Reader = stdin
		}
		out = append(out, sc)
	}
	return out
}

// inputsRelay is the Inputs and HealthSink real drivers deliver to before
// the core exists: an input waits until Attach (or its context ends), so
// nothing a driver reports at start is lost; a health transition before
// Attach is kept and delivered by Attach, so a driver's shutdown never
// waits on a core that never came.
type inputsRelay struct {
	ready chan struct{}

	mu     sync.Mutex
	in     gateway.Inputs
	health gateway.HealthSink
	early  []gateway.DeviceHealth
}

func newInputsRelay() *inputsRelay { return &inputsRelay{ready: make(chan struct{})} }

// Attach sets the core and delivers the health transitions kept so far.
// Call it once.
func (r *inputsRelay) Attach(ctx context.Context, in gateway.Inputs, health gateway.HealthSink) {
	r.mu.Lock()
	r.in, r.health = in, health
	early := r.early
	r.early = nil
	close(r.ready)
	r.mu.Unlock()
	for _, h := range early {
		if health != nil {
			health.DeviceHealthChanged(ctx, h)
		}
	}
}

func (r *inputsRelay) wait(ctx context.Context) bool {
	select {
	case <-r.ready:
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *inputsRelay) SensorChanged(ctx context.Context, id string, active bool) {
	if r.wait(ctx) {
		r.in.SensorChanged(ctx, id, active)
	}
}

func (r *inputsRelay) Scanned(ctx context.Context, id, text string) {
	if r.wait(ctx) {
		r.in.Scanned(ctx, id, text)
	}
}

func (r *inputsRelay) TicketRequested(ctx context.Context, id string) {
	if r.wait(ctx) {
		r.in.TicketRequested(ctx, id)
	}
}

func (r *inputsRelay) CashPaid(ctx context.Context, p gateway.CashPayment) {
	if r.wait(ctx) {
		r.in.CashPaid(ctx, p)
	}
}

func (r *inputsRelay) DeviceHealthChanged(ctx context.Context, h gateway.DeviceHealth) {
	r.mu.Lock()
	select {
	case <-r.ready:
	default:
		r.early = append(r.early, h)
		r.mu.Unlock()
		return
	}
	health := r.health
	r.mu.Unlock()
	if health != nil {
		health.DeviceHealthChanged(ctx, h)
	}
}

// simCommands are console commands that play the world around the devices
// of simulated Modbus buses (the sim console's own commands only reach
// driver: sim devices):
//
//	modbus park <occupancy-device>     a car stands on the space
//	modbus leave <occupancy-device>    the space empties
//	modbus open <door-sensor-device>   a compartment door opens
//	modbus close <door-sensor-device>  … closes
//	modbus pay <ref> <amount>          cash paid at the pay station (minor units)
//
// Pass them to the sim console's RunConsole with the others.
func (d *realDrivers) simCommands() []sim.Command {
	if len(d.sims) == 0 {
		return nil
	}
	return []sim.Command{{
		Name:  "modbus",
		Usage: "park|leave <sensor> | open|close <door> | pay <ref> <amount>",
		Help:  "play the world around the simulated Modbus devices",
		Run:   d.simCommand,
	}}
}

func (d *realDrivers) simCommand(_ context.Context, args string) (string, error) {
	f := strings.Fields(args)
	if len(f) == 0 {
		return "", errors.New("usage: modbus park|leave <sensor> | open|close <door> | pay <ref> <amount>")
	}
	switch f[0] {
	case "park", "leave", "open", "close":
		if len(f) != 2 {
			return "", fmt.Errorf("usage: modbus %s <device>", f[0])
		}
		sim, mc, err := d.simOf(f[1])
		if err != nil {
			return "", err
		}
		role := modbus.InputVehiclePresent
		if f[0] == "open" || f[0] == "close" {
			role = modbus.InputDoorOpen
		}
		active := f[0] == "park" || f[0] == "open"
		if err := sim.SetInput(uint8(mc.Unit), role, mc.Channel, active); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s: %s", f[1], f[0]), nil
	case "pay":
		if len(f) != 3 {
			return "", errors.New("usage: modbus pay <ref> <amount>")
		}
		amount, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || amount <= 0 {
			return "", fmt.Errorf("amount %q: want a positive number of minor units", f[2])
		}
		for _, dev := range d.file.Site.Devices {
			if dev.Kind != gateway.KindPayStation {
				continue
			}
			sim, mc, err := d.simOf(dev.ID)
			if err != nil {
				return "", err
			}
			tx, err := sim.Pay(uint8(mc.Unit), f[1], amount)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("paid %s for %s at %s (transaction %d)", money(amount), f[1], dev.ID, tx), nil
		}
		return "", errors.New("no pay station on a simulated Modbus bus")
	}
	return "", fmt.Errorf("unknown modbus command %q", f[0])
}

// simOf returns the simulator serving device id.
func (d *realDrivers) simOf(id string) (*modbus.Simulator, *config.ModbusConfig, error) {
	mc := d.file.Devices[id].Modbus
	if mc == nil {
		return nil, nil, fmt.Errorf("%s is not a Modbus device", id)
	}
	sim, ok := d.sims[mc.Bus]
	if !ok {
		return nil, nil, fmt.Errorf("%s is on bus %s, which is not simulated", id, mc.Bus)
	}
	return sim, mc, nil
}

// observerRelay passes the gateway's committed events to observers that
// can only be made after the gateway (cloud sync's client needs the
// gateway's Sync): a new event wakes the outbox drain at once instead of
// at its next poll.
type observerRelay struct {
	mu  sync.RWMutex
	obs []gateway.Observer
}

// Add makes o receive every event committed from now on.
func (r *observerRelay) Add(o gateway.Observer) {
	r.mu.Lock()
	r.obs = append(r.obs, o)
	r.mu.Unlock()
}

// EventCommitted implements gateway.Observer.
func (r *observerRelay) EventCommitted(e gateway.Event) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, o := range r.obs {
		o.EventCommitted(e)
	}
}
