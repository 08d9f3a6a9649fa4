package gpio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/lotgate/lotgate/drivers/health"
	"github.com/lotgate/lotgate/gateway"
)

// Mode is how an output drives its device.
type Mode string

const (
	// Pulse: the pin is active for Pulse, then released (a barrier
	// controller's open and close contacts).
	Pulse Mode = "pulse"
	// Level: the pin is held active while the device is open, unlocked or
	// raised.
	Level Mode = "level"
)

// Pull is an input's bias.
type Pull string

const (
	PullNone Pull = "none"
	PullUp   Pull = "up"
	PullDown Pull = "down"
)

// Policy is the state Halt puts an actuator in.
type Policy string

const (
	FailSecure Policy = "secure" // barrier lowered, lock locked, flap raised
	FailOpen   Policy = "open"   // barrier raised, lock unlocked, flap lowered
	FailHold   Policy = "hold"   // left as it is
)

// Device is one gateway device on the gateway's pins.
type Device struct {
	ID        string
	Kind      gateway.DeviceKind // barrier, lock, flap, loop, occupancy, door_sensor or fire_alarm
	Pin       string             // output (actuators) or input (sensors)
	ActiveLow bool

	// Inputs.
	Pull     Pull          // default PullNone
	Debounce time.Duration // default 50ms

	// Outputs.
	Mode  Mode          // barriers: Pulse (default) or Level; locks and flaps: Level
	Pulse time.Duration // default 500ms
	// LowerPin is a barrier's close contact (Pulse mode); without it Lower
	// does nothing: the barrier controller closes on its own.
	LowerPin string
	// PositionPin is read to confirm Raise and Lower: a barrier's up
	// switch (active when up), a flap's down switch (active when down).
	PositionPin       string
	PositionActiveLow bool
	ConfirmWithin     time.Duration // default 2s
	// OnShutdown is the state Halt puts the actuator in (defaults: barrier
	// FailHold, lock FailSecure, flap FailOpen).
	OnShutdown Policy
}

// PinLookup resolves a pin name to a pin. It is a named type so that the
// wiring root can hold one without importing periph.io itself.
type PinLookup func(name string) (gpio.PinIO, error)

// Options are the driver's collaborators. Nil Inputs and Health discard
// what they would be told; a nil Logger discards logs.
type Options struct {
	Inputs gateway.Inputs
	Health gateway.HealthSink
	Logger *slog.Logger
	// Lookup resolves a pin name. Nil means the host's GPIO character
	// device (HostPins). Tests pass periph's gpiotest pins.
	Lookup PinLookup
	// Now stamps health transitions (time.Now when nil).
	Now func() time.Time
}

// Driver drives the GPIO devices of a site.
type Driver struct {
	log    *slog.Logger
	in     gateway.Inputs
	health *health.Book[string] // a link per device: any failed operation takes it offline

	devices map[string]*device
	order   []string

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// device is one device and its resolved pins.
type device struct {
	Device
	pin, lower, position gpio.PinIO
	mu                   sync.Mutex // serialises the actuator's commands (a pulse, Halt)
}

// Defaults.
const (
	DefaultDebounce      = 50 * time.Millisecond
	DefaultPulse         = 500 * time.Millisecond
	DefaultConfirmWithin = 2 * time.Second
	// watchTimeout bounds each wait for an edge: how soon an input
	// goroutine notices Close, and how often the level is read in case an
	// edge was lost.
	watchTimeout = 250 * time.Millisecond
	// positionPoll is how often a position pin is read during a read-back.
	positionPoll = 10 * time.Millisecond
)

func (d *Device) withDefaults() Device {
	c := *d
	if c.Pull == "" {
		c.Pull = PullNone
	}
	if c.Debounce <= 0 {
		c.Debounce = DefaultDebounce
	}
	if c.Pulse <= 0 {
		c.Pulse = DefaultPulse
	}
	if c.ConfirmWithin <= 0 {
		c.ConfirmWithin = DefaultConfirmWithin
	}
	if c.Mode == "" {
		c.Mode = Level
		if c.Kind == gateway.KindBarrier {
			c.Mode = Pulse
		}
	}
	if c.OnShutdown == "" {
		switch c.Kind {
		case gateway.KindLock:
			c.OnShutdown = FailSecure
		case gateway.KindFlap:
			c.OnShutdown = FailOpen
		default:
			c.OnShutdown = FailHold
		}
	}
	return c
}

func isOutput(k gateway.DeviceKind) bool {
	return k == gateway.KindBarrier || k == gateway.KindLock || k == gateway.KindFlap
}

func isInput(k gateway.DeviceKind) bool {
	return k == gateway.KindLoop || k == gateway.KindOccupancy || k == gateway.KindDoorSensor || k == gateway.KindFireAlarm
}

// check reports what is wrong with a device on its own.
func (d *Device) check() error {
	switch {
	case d.ID == "":
		return errors.New("gpio: device without an ID")
	case !isOutput(d.Kind) && !isInput(d.Kind):
		return fmt.Errorf("gpio: device %q: cannot drive a %s", d.ID, d.Kind)
	case d.Pin == "":
		return fmt.Errorf("gpio: device %q: no pin", d.ID)
	case d.Mode == Pulse && d.Kind != gateway.KindBarrier:
		return fmt.Errorf("gpio: device %q: only a barrier takes pulse mode", d.ID)
	case d.Mode != Pulse && d.Mode != Level:
		return fmt.Errorf("gpio: device %q: unknown mode %q", d.ID, d.Mode)
	case d.LowerPin != "" && (d.Kind != gateway.KindBarrier || d.Mode != Pulse):
		return fmt.Errorf("gpio: device %q: a lower pin is for a barrier in pulse mode", d.ID)
	case d.PositionPin != "" && d.Kind != gateway.KindBarrier && d.Kind != gateway.KindFlap:
		return fmt.Errorf("gpio: device %q: a position pin is for barriers and flaps", d.ID)
	case d.Pull != PullNone && d.Pull != PullUp && d.Pull != PullDown:
		return fmt.Errorf("gpio: device %q: unknown pull %q", d.ID, d.Pull)
	case d.OnShutdown != FailSecure && d.OnShutdown != FailOpen && d.OnShutdown != FailHold:
		return fmt.Errorf("gpio: device %q: unknown shutdown policy %q", d.ID, d.OnShutdown)
	}
	return nil
}

// Open resolves every pin, sets every output to its inactive level,
// configures the inputs for both edges and starts watching them. It fails
// without touching any pin when a device is invalid, a pin is unknown (all
// unknown pins are named) or used twice.
func Open(devs []Device, opts Options) (*Driver, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "gpio")
	lookup := opts.Lookup
	if lookup == nil {
		lookup = HostPins
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	in := opts.Inputs
	if in == nil {
		in = discardInputs{}
	}
	d := &Driver{log: log, in: in, devices: make(map[string]*device), stop: make(chan struct{})}

	used := make(map[string]string) // pin → device ID
	var unknown []string
	resolve := func(dev, name string) gpio.PinIO {
		if name == "" {
			return nil
		}
		if other, dup := used[name]; dup {
			unknown = append(unknown, fmt.Sprintf("%s (device %s: already used by %s)", name, dev, other))
			return nil
		}
		used[name] = dev
		p, err := lookup(name)
		if err != nil {
			unknown = append(unknown, fmt.Sprintf("%s (device %s: %v)", name, dev, err))
			return nil
		}
		return p
	}
	for _, dc := range devs {
		c := dc.withDefaults()
		if err := c.check(); err != nil {
			return nil, err
		}
		if _, dup := d.devices[c.ID]; dup {
			return nil, fmt.Errorf("gpio: device %q: duplicate ID", c.ID)
		}
		dev := &device{Device: c}
		dev.pin = resolve(c.ID, c.Pin)
		dev.lower = resolve(c.ID, c.LowerPin)
		dev.position = resolve(c.ID, c.PositionPin)
		d.devices[c.ID] = dev
		d.order = append(d.order, c.ID)
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("gpio: cannot use pins: %s", strings.Join(unknown, "; "))
	}

	d.health = health.New[string](opts.Health, now)
	for _, id := range d.order {
		d.health.Add(id, 1, id)
	}
	var inputs []*device
	for _, id := range d.order {
		dev := d.devices[id]
		var err error
		if isOutput(dev.Kind) {
			err = dev.setup()
		} else {
			err = dev.pin.In(pull(dev.Pull), gpio.BothEdges)
			inputs = append(inputs, dev)
		}
		if err != nil {
			d.health.Close()
			return nil, fmt.Errorf("gpio: device %s: set up pin %s: %w", id, dev.Pin, err)
		}
	}
	for _, dev := range inputs {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.watch(dev)
		}()
	}
	return d, nil
}

// setup sets an actuator's outputs inactive and its position pin as an
// input without edges (it is only read).
func (dev *device) setup() error {
	if err := dev.pin.Out(dev.level(false)); err != nil {
		return err
	}
	if dev.lower != nil {
		if err := dev.lower.Out(dev.level(false)); err != nil {
			return err
		}
	}
	if dev.position != nil {
		if err := dev.position.In(gpio.PullNoChange, gpio.NoEdge); err != nil {
			return err
		}
	}
	return nil
}

// level is the pin level for active or inactive.
func (dev *device) level(active bool) gpio.Level {
	return gpio.Level(active != dev.ActiveLow)
}

func pull(p Pull) gpio.Pull {
	switch p {
	case PullUp:
		return gpio.PullUp
	case PullDown:
		return gpio.PullDown
	}
	return gpio.Float
}

// Close stops the input goroutines and delivers the last health
// transitions. It does not Halt the actuators (the core does, first) nor
// release the pins, which keep their last level. Idempotent.
func (d *Driver) Close(ctx context.Context) error {
	d.once.Do(func() {
		close(d.stop)
		for _, id := range d.order {
			if dev := d.devices[id]; isInput(dev.Kind) {
				// Interrupts a WaitForEdge in progress on the character
				// device; the positive timeout bounds it anyway.
				_ = dev.pin.Halt()
			}
		}
		d.wg.Wait()
		d.health.Close()
	})
	return nil
}

// Actuators returns the barriers, locks and flaps by device ID.
func (d *Driver) Actuators() gateway.Actuators {
	a := gateway.NewActuators()
	for _, id := range d.order {
		dev := d.devices[id]
		switch dev.Kind {
		case gateway.KindBarrier:
			a.Barriers[id] = &Barrier{d: d, dev: dev}
		case gateway.KindLock:
			a.Locks[id] = &Lock{d: d, dev: dev}
		case gateway.KindFlap:
			a.Flaps[id] = &Flap{d: d, dev: dev}
		}
	}
	return a
}

// Health returns every device's health, in Open's order.
func (d *Driver) Health() []gateway.DeviceHealth { return d.health.All() }

// Devices returns the device IDs in Open's order.
func (d *Driver) Devices() []string { return append([]string(nil), d.order...) }

// Sensor reads input id now (debounce aside), for the installer.
func (d *Driver) Sensor(id string) (bool, error) {
	dev, ok := d.devices[id]
	if !ok {
		return false, gateway.Errorf(gateway.NotFound, "gpio: no device %q", id)
	}
	if !isInput(dev.Kind) {
		return false, gateway.Errorf(gateway.Invalid, "gpio: device %q is a %s, not a sensor", id, dev.Kind)
	}
	return dev.pin.Read() == dev.level(true), nil
}

// Position reads actuator id's position pin, for the installer: whether it
// is active (barrier up, flap down), and false with ok false when the
// device has no position pin.
func (d *Driver) Position(id string) (active, ok bool, err error) {
	dev, found := d.devices[id]
	if !found {
		return false, false, gateway.Errorf(gateway.NotFound, "gpio: no device %q", id)
	}
	if dev.position == nil {
		return false, false, nil
	}
	return dev.position.Read() == gpio.Level(!dev.PositionActiveLow), true, nil
}

type discardInputs struct{}

func (discardInputs) SensorChanged(context.Context, string, bool)   {}
func (discardInputs) Scanned(context.Context, string, string)       {}
func (discardInputs) TicketRequested(context.Context, string)       {}
func (discardInputs) CashPaid(context.Context, gateway.CashPayment) {}
