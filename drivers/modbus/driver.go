package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lotgate/lotgate/drivers/health"
	"github.com/lotgate/lotgate/gateway"
)

// Config is the Modbus part of a site: its lines and the devices on them.
type Config struct {
	Buses   []BusConfig
	Devices []Device
}

// Device is one gateway device served by a Modbus unit.
type Device struct {
	ID      string
	Kind    gateway.DeviceKind
	Bus     string // a BusConfig.ID
	Unit    uint8  // the unit ID (slave address) on the bus, 1-247
	Channel int    // compartment or space number on the unit, from 1; 0 when the profile has no channels
	Profile *Profile
	Fail    FailPolicy
}

// Options are the driver's collaborators. Nil Inputs and Health discard
// what they would be told; a nil Logger discards logs.
type Options struct {
	Inputs gateway.Inputs
	Health gateway.HealthSink
	Logger *slog.Logger
	// Now is the clock health transitions are stamped with (time.Now when
	// nil).
	Now func() time.Time

	// noPoll leaves the pollers out, for tests that drive poll rounds
	// themselves.
	noPoll bool
}

// Driver drives the Modbus devices of a site: one Bus per line, a poller
// per line that reads sensors and the pay station's payment flag and
// probes offline devices, and the actuators the core commands.
type Driver struct {
	log     *slog.Logger
	in      gateway.Inputs
	health  *healthBook
	buses   map[string]*Bus
	busIDs  []string
	devices map[string]*device
	order   []string // device IDs in config order

	ctx    context.Context // cancelled by Close: ends deliveries and polls
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// device is one gateway device on a unit.
type device struct {
	Device
	bus *Bus
	log *slog.Logger
}

// CheckConfig reports the first thing wrong with cfg: a duplicate bus or
// device ID, a bus without a transport, a device on an unknown bus, a
// profile that is invalid or does not serve the device's kind, a unit or
// channel out of range, two devices in one role on the same unit and
// channel, or one unit with two profiles.
func CheckConfig(cfg Config) error {
	buses := make(map[string]bool)
	for _, bc := range cfg.Buses {
		if buses[bc.ID] {
			return fmt.Errorf("modbus: bus %q: duplicate ID", bc.ID)
		}
		if err := bc.check(); err != nil {
			return err
		}
		buses[bc.ID] = true
	}
	ids := make(map[string]bool)
	roles := make(map[string]string)       // bus/unit/channel/kind → device ID
	profiles := make(map[unitKey]*Profile) // the profile of each unit
	for _, dc := range cfg.Devices {
		switch {
		case dc.ID == "":
			return errors.New("modbus: device without an ID")
		case ids[dc.ID]:
			return fmt.Errorf("modbus: device %q: duplicate ID", dc.ID)
		case dc.Profile == nil:
			return fmt.Errorf("modbus: device %q: no profile", dc.ID)
		case !buses[dc.Bus]:
			return fmt.Errorf("modbus: device %q: no bus %q", dc.ID, dc.Bus)
		case dc.Unit < 1 || dc.Unit > 247:
			return fmt.Errorf("modbus: device %q: unit %d: want 1 to 247", dc.ID, dc.Unit)
		}
		ids[dc.ID] = true
		p := dc.Profile
		if err := p.Validate(); err != nil {
			return fmt.Errorf("modbus: device %q: %w", dc.ID, err)
		}
		if !p.ServesKind(dc.Kind) {
			return fmt.Errorf("modbus: device %q: profile %s (a %s) cannot drive a %s", dc.ID, p.Name, p.Kind, dc.Kind)
		}
		switch {
		case p.Channels == 0 && dc.Channel != 0:
			return fmt.Errorf("modbus: device %q: profile %s has no channels; channel %d makes no sense", dc.ID, p.Name, dc.Channel)
		case p.Channels > 0 && (dc.Channel < 1 || dc.Channel > p.Channels):
			return fmt.Errorf("modbus: device %q: channel %d: profile %s has channels 1 to %d", dc.ID, dc.Channel, p.Name, p.Channels)
		}
		if s := inputFor(dc.Kind); s != "" && p.Inputs[s] == "" {
			return fmt.Errorf("modbus: device %q: profile %s has no %s input for a %s", dc.ID, p.Name, s, dc.Kind)
		}
		uk := unitKey{dc.Bus, dc.Unit}
		if other := profiles[uk]; other != nil && other.Name != p.Name {
			return fmt.Errorf("modbus: device %q: unit %d on bus %s already uses profile %s", dc.ID, dc.Unit, dc.Bus, other.Name)
		}
		profiles[uk] = p
		key := fmt.Sprintf("%s/%d/%d/%s", dc.Bus, dc.Unit, dc.Channel, dc.Kind)
		if other, dup := roles[key]; dup {
			return fmt.Errorf("modbus: device %q: %s unit %d channel %d already drives %s as a %s", dc.ID, dc.Bus, dc.Unit, dc.Channel, other, dc.Kind)
		}
		roles[key] = dc.ID
		if err := checkPolicy(dc); err != nil {
			return err
		}
	}
	return nil
}

func checkPolicy(dc Device) error {
	sensor := inputFor(dc.Kind) != ""
	switch dc.Fail.OnCommLoss {
	case "", FailHold:
	case FailActive, FailInactive:
		if !sensor {
			return fmt.Errorf("modbus: device %q: on_comm_loss %s is for sensors; a %s takes secure, open or hold", dc.ID, dc.Fail.OnCommLoss, dc.Kind)
		}
	case FailSecure, FailOpen:
		if sensor || dc.Kind == gateway.KindPayStation {
			return fmt.Errorf("modbus: device %q: on_comm_loss %s is for actuators", dc.ID, dc.Fail.OnCommLoss)
		}
		if dc.Profile.FailState == nil {
			return fmt.Errorf("modbus: device %q: on_comm_loss %s: profile %s has no fail_state watchdog, so the device cannot act on its own when the gateway is gone", dc.ID, dc.Fail.OnCommLoss, dc.Profile.Name)
		}
		if _, ok := dc.Profile.FailState.Values[dc.Fail.OnCommLoss]; !ok {
			return fmt.Errorf("modbus: device %q: profile %s's fail_state has no value for %s", dc.ID, dc.Profile.Name, dc.Fail.OnCommLoss)
		}
	default:
		return fmt.Errorf("modbus: device %q: unknown on_comm_loss %q", dc.ID, dc.Fail.OnCommLoss)
	}
	switch dc.Fail.OnShutdown {
	case "", FailHold:
	case FailSecure, FailOpen:
		if dc.Kind != gateway.KindLock && dc.Kind != gateway.KindFlap {
			return fmt.Errorf("modbus: device %q: on_shutdown %s is for locks and flaps", dc.ID, dc.Fail.OnShutdown)
		}
	default:
		return fmt.Errorf("modbus: device %q: unknown on_shutdown %q", dc.ID, dc.Fail.OnShutdown)
	}
	return nil
}

// Open checks cfg (see CheckConfig), then starts a bus owner and a poller
// per line. Devices start online and are marked offline after
// OfflineAfter failed exchanges; each transition is told to
// Options.Health. Sensor changes, including sensors found active at the
// first poll, and cash payments are delivered to Options.Inputs from the
// pollers' goroutines, never while a bus is held.
func Open(cfg Config, opts Options) (*Driver, error) {
	if err := CheckConfig(cfg); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "modbus")
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	in := opts.Inputs
	if in == nil {
		in = discardInputs{}
	}
	d := &Driver{
		log:     log,
		in:      in,
		health:  health.New[unitKey](opts.Health, now),
		buses:   make(map[string]*Bus),
		devices: make(map[string]*device),
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	offlineAfter := make(map[string]int)
	for _, bc := range cfg.Buses {
		offlineAfter[bc.ID] = bc.withDefaults().OfflineAfter
	}
	for _, dc := range cfg.Devices {
		d.health.Add(unitKey{dc.Bus, dc.Unit}, offlineAfter[dc.Bus], dc.ID)
	}
	for _, bc := range cfg.Buses {
		b, err := newBus(bc, log, d.health)
		if err != nil {
			d.shutdown()
			return nil, err
		}
		d.buses[bc.ID] = b
		d.busIDs = append(d.busIDs, bc.ID)
	}
	for _, dc := range cfg.Devices {
		d.devices[dc.ID] = &device{Device: dc, bus: d.buses[dc.Bus], log: log.With("device", dc.ID)}
		d.order = append(d.order, dc.ID)
	}
	for _, id := range d.busIDs {
		if opts.noPoll {
			break
		}
		p := newPoller(d, d.buses[id])
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			p.run(d.ctx)
		}()
	}
	return d, nil
}

// Close stops the pollers, fails calls still queued, closes every line
// and delivers the last health transitions. It does not Halt the
// actuators: the core does that first. Close is idempotent; ctx bounds
// nothing (a transaction in progress ends within its timeout).
func (d *Driver) Close(ctx context.Context) error {
	d.shutdown()
	return nil
}

func (d *Driver) shutdown() {
	d.once.Do(func() {
		d.cancel()
		d.wg.Wait()
		for _, id := range d.busIDs {
			d.buses[id].close()
		}
		d.health.Close()
	})
}

// Actuators returns the locks, flaps and the pay station link, by device
// ID. Each call returns new maps.
func (d *Driver) Actuators() gateway.Actuators {
	a := gateway.NewActuators()
	for _, id := range d.order {
		dev := d.devices[id]
		switch dev.Kind {
		case gateway.KindLock:
			a.Locks[id] = &Lock{dev: dev}
		case gateway.KindFlap:
			a.Flaps[id] = &Flap{dev: dev}
		case gateway.KindPayStation:
			a.PayStation = &PayStation{dev: dev}
		}
	}
	return a
}

// Health returns every device's health, sorted by device ID.
func (d *Driver) Health() []gateway.DeviceHealth { return sortedHealth(d.health) }

// Devices returns the device IDs in config order.
func (d *Driver) Devices() []string { return append([]string(nil), d.order...) }

func (d *Driver) lookup(id string) (*device, error) {
	dev, ok := d.devices[id]
	if !ok {
		return nil, gateway.Errorf(gateway.NotFound, "modbus: no device %q", id)
	}
	return dev, nil
}

// discardInputs is the Inputs of a driver opened without one.
type discardInputs struct{}

func (discardInputs) SensorChanged(context.Context, string, bool)   {}
func (discardInputs) Scanned(context.Context, string, string)       {}
func (discardInputs) TicketRequested(context.Context, string)       {}
func (discardInputs) CashPaid(context.Context, gateway.CashPayment) {}
