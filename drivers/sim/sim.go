package sim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// Site is a set of simulated devices. It is safe for concurrent use.
type Site struct {
	site       *gateway.Site
	logger     *slog.Logger
	keep       func(gateway.Device) bool
	ticketWait time.Duration
	txPrefix   string // makes pay station transaction IDs unique across runs

	order []string // device IDs in site.Devices order

	mu      sync.Mutex // guards everything below and every device's state
	devices map[string]*device
	pay     *device // the pay station, nil when none is simulated
	in      gateway.Inputs
	changed chan struct{} // closed and replaced on every change
	txSeq   int
}

// device is the state of one simulated device. Fields other than drive are
// guarded by Site.mu.
type device struct {
	id   string
	kind gateway.DeviceKind

	// drive serialises driving calls (state change and delivery) on this
	// device. Actuator calls never take it.
	drive sync.Mutex

	offline bool
	delay   time.Duration
	history []string

	up     bool // barrier, flap
	locked bool // lock
	active bool // loop, occupancy, door sensor, fire alarm

	lastTicket string // ticket
	printed    int    // ticket: number of tickets printed

	fees     map[string]int64               // pay station: last ShowFee by ref
	settled  map[string]bool                // pay station: Settled refs
	payments map[string]gateway.CashPayment // pay station: by transaction ID
}

// Option configures New.
type Option func(*Site) error

// Select simulates only the devices for which keep returns true, instead of
// those whose Driver is "sim" or empty.
func Select(keep func(gateway.Device) bool) Option {
	return func(s *Site) error {
		if keep == nil {
			return fmt.Errorf("sim: nil device selector")
		}
		s.keep = keep
		return nil
	}
}

// All simulates every device of the site, whatever its Driver.
func All() Option {
	return Select(func(gateway.Device) bool { return true })
}

// TicketWait sets how long the console's ticket command waits for the core
// to print after the button press (default 2s).
func TicketWait(d time.Duration) Option {
	return func(s *Site) error {
		if d <= 0 {
			return fmt.Errorf("sim: ticket wait %v: must be positive", d)
		}
		s.ticketWait = d
		return nil
	}
}

// IsSim reports whether a device is driven by the simulator by default: its
// Driver is "sim" or empty.
func IsSim(d gateway.Device) bool { return d.Driver == "" || d.Driver == "sim" }

// New simulates the devices of site that are selected (by default those for
// which IsSim holds). It fails on an unknown device kind, an empty or
// duplicate ID, or more than one pay station. A nil logger discards logs.
func New(site *gateway.Site, logger *slog.Logger, opts ...Option) (*Site, error) {
	if site == nil {
		return nil, fmt.Errorf("sim: nil site")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var nonce [4]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never fails
	s := &Site{
		site:       site,
		logger:     logger.With("component", "sim"),
		ticketWait: 2 * time.Second,
		txPrefix:   "sim-" + hex.EncodeToString(nonce[:]) + "-",
		devices:    make(map[string]*device),
		changed:    make(chan struct{}),
		keep:       IsSim,
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	for _, gd := range site.Devices {
		if !s.keep(gd) {
			continue
		}
		if gd.ID == "" {
			return nil, fmt.Errorf("sim: device of kind %q has no ID", gd.Kind)
		}
		if _, dup := s.devices[gd.ID]; dup {
			return nil, fmt.Errorf("sim: device %q: duplicate ID", gd.ID)
		}
		d := &device{id: gd.ID, kind: gd.Kind}
		switch gd.Kind {
		case gateway.KindLock:
			d.locked = true
		case gateway.KindPayStation:
			if s.pay != nil {
				return nil, fmt.Errorf("sim: device %q: a second pay station (already %q)", gd.ID, s.pay.id)
			}
			d.fees = make(map[string]int64)
			d.settled = make(map[string]bool)
			d.payments = make(map[string]gateway.CashPayment)
			s.pay = d
		case gateway.KindBarrier, gateway.KindFlap, gateway.KindLoop, gateway.KindOccupancy,
			gateway.KindDoorSensor, gateway.KindFireAlarm, gateway.KindScanner, gateway.KindTicket:
		default:
			return nil, fmt.Errorf("sim: device %q: unknown kind %q", gd.ID, gd.Kind)
		}
		s.devices[gd.ID] = d
		s.order = append(s.order, gd.ID)
	}
	return s, nil
}

// Attach sets where sensor changes, scans, ticket button presses and cash
// payments are delivered. It may be called again to replace the target.
func (s *Site) Attach(in gateway.Inputs) {
	s.mu.Lock()
	s.in = in
	s.mu.Unlock()
}

// Actuators returns the simulated barriers, locks, flaps, ticket printers and
// pay station link by device ID, for the core. Each call returns new maps.
func (s *Site) Actuators() gateway.Actuators {
	a := gateway.NewActuators()
	for _, id := range s.order {
		switch s.devices[id].kind {
		case gateway.KindBarrier:
			a.Barriers[id] = &Barrier{s: s, id: id}
		case gateway.KindLock:
			a.Locks[id] = &Lock{s: s, id: id}
		case gateway.KindFlap:
			a.Flaps[id] = &Flap{s: s, id: id}
		case gateway.KindTicket:
			a.Tickets[id] = &Printer{s: s, id: id}
		case gateway.KindPayStation:
			a.PayStation = &PayStation{s: s, id: id}
		}
	}
	return a
}

// Devices returns the IDs of the simulated devices, in site order.
func (s *Site) Devices() []string { return slices.Clone(s.order) }

// SetOffline takes a device offline (every call on it fails with a
// gateway.Unavailable error) or back online.
func (s *Site) SetOffline(id string, offline bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.lookupLocked(id)
	if err != nil {
		return err
	}
	if d.offline != offline {
		d.offline = offline
		s.notifyLocked()
	}
	return nil
}

// SetDelay makes the device's actuator calls take d before acting (0 for
// none). A call whose context ends during the delay fails without acting.
func (s *Site) SetDelay(id string, d time.Duration) error {
	if d < 0 {
		return gateway.Errorf(gateway.Invalid, "sim: delay %v for %q: must not be negative", d, id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dev, err := s.lookupLocked(id)
	if err != nil {
		return err
	}
	dev.delay = d
	return nil
}

// Wait blocks until cond returns true or ctx ends (returning ctx.Err()).
// cond is evaluated at once and again after every change to any simulated
// device; it must not block and may call the observation methods.
func (s *Site) Wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// notifyLocked wakes every Wait. s.mu must be held.
func (s *Site) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// lookupLocked returns the device id, which must be of one of kinds (any
// kind when none is given). s.mu must be held.
func (s *Site) lookupLocked(id string, kinds ...gateway.DeviceKind) (*device, error) {
	d, ok := s.devices[id]
	if !ok {
		return nil, gateway.Errorf(gateway.NotFound, "sim: no simulated device %q", id)
	}
	if len(kinds) > 0 && !slices.Contains(kinds, d.kind) {
		return nil, gateway.Errorf(gateway.Invalid, "sim: device %q is a %s, not a %s", id, d.kind, kindList(kinds))
	}
	return d, nil
}

func (s *Site) lookup(id string, kinds ...gateway.DeviceKind) (*device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookupLocked(id, kinds...)
}

func kindList(kinds []gateway.DeviceKind) string {
	out := ""
	for i, k := range kinds {
		switch {
		case i == 0:
		case i == len(kinds)-1:
			out += " or "
		default:
			out += ", "
		}
		out += string(k)
	}
	return out
}

var sensorKinds = []gateway.DeviceKind{gateway.KindLoop, gateway.KindOccupancy, gateway.KindDoorSensor, gateway.KindFireAlarm}

// BarrierUp reports whether barrier id is raised.
func (s *Site) BarrierUp(id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.lookupLocked(id, gateway.KindBarrier)
	if err != nil {
		return false, err
	}
	return d.up, nil
}

// FlapUp reports whether flap id is raised (locking the car in).
func (s *Site) FlapUp(id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.lookupLocked(id, gateway.KindFlap)
	if err != nil {
		return false, err
	}
	return d.up, nil
}

// Locked reports whether lock id is engaged.
func (s *Site) Locked(id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.lookupLocked(id, gateway.KindLock)
	if err != nil {
		return false, err
	}
	return d.locked, nil
}

// Sensor reports whether sensor id (loop, occupancy, door sensor, fire
// alarm) is active.
func (s *Site) Sensor(id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.lookupLocked(id, sensorKinds...)
	if err != nil {
		return false, err
	}
	return d.active, nil
}

// LastTicket returns the text last printed by ticket dispenser id, or "" if
// it printed nothing or is not a simulated ticket dispenser.
func (s *Site) LastTicket(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.lookupLocked(id, gateway.KindTicket)
	if err != nil {
		return ""
	}
	return d.lastTicket
}

// Printed returns how many tickets dispenser id printed (0 if it is not a
// simulated ticket dispenser).
func (s *Site) Printed(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.lookupLocked(id, gateway.KindTicket)
	if err != nil {
		return 0
	}
	return d.printed
}

// PayStationFee returns the amount last shown by the pay station for ref,
// and whether one was shown.
func (s *Site) PayStationFee(ref string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pay == nil {
		return 0, false
	}
	a, ok := s.pay.fees[ref]
	return a, ok
}

// PayStationSettled reports whether the core told the pay station that ref
// was settled.
func (s *Site) PayStationSettled(ref string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pay != nil && s.pay.settled[ref]
}

// History returns what happened to device id, oldest first (nil for an
// unknown device). See the package doc for the entries.
func (s *Site) History(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.devices[id]
	if !ok {
		return nil
	}
	return slices.Clone(d.history)
}

// state describes a device for the console's status command.
func (s *Site) state(id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.lookupLocked(id)
	if err != nil {
		return "", err
	}
	var st string
	switch d.kind {
	case gateway.KindBarrier, gateway.KindFlap:
		st = "down"
		if d.up {
			st = "up"
		}
	case gateway.KindLock:
		st = "unlocked"
		if d.locked {
			st = "locked"
		}
	case gateway.KindScanner:
		st = "ready"
	case gateway.KindTicket:
		st = "printed=" + strconv.Itoa(d.printed)
		if d.printed > 0 {
			st += " last=" + strconv.Quote(d.lastTicket)
		}
	case gateway.KindPayStation:
		st = fmt.Sprintf("fees=%d settled=%d payments=%d", len(d.fees), len(d.settled), len(d.payments))
	default:
		st = "off"
		if d.active {
			st = "on"
		}
	}
	line := d.id + " " + string(d.kind) + " " + st
	if d.offline {
		line += " offline"
	}
	if d.delay > 0 {
		line += " delay=" + d.delay.String()
	}
	return line, nil
}
