package config

import (
	"slices"
	"strings"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// DeviceConfig is a device's driver-specific settings: the sub-map named
// after its driver ("sim: {}", "gpio: {...}", "modbus: {...}",
// "scanner: {...}"), and its fail-safe policy. Exactly the field of the
// device's driver is non-nil.
type DeviceConfig struct {
	Driver  string         // same as the gateway.Device's Driver
	Sim     *SimConfig     // driver "sim"
	GPIO    *GPIOConfig    // driver "gpio"
	Modbus  *ModbusConfig  // driver "modbus"
	Scanner *ScannerConfig // driver "scanner"
	// Fail is the device's fail-safe policy, defaults filled in; the
	// fields that do not apply to its kind are empty.
	Fail FailPolicy
}

// Drivers known to this lotgate. A new driver adds its name here, a typed
// settings struct to DeviceConfig and a case to decoder.devices.
const (
	DriverSim     = "sim"
	DriverGPIO    = "gpio"
	DriverModbus  = "modbus"
	DriverScanner = "scanner"
)

var knownDrivers = []string{DriverSim, DriverGPIO, DriverModbus, DriverScanner}

// SimConfig holds the settings of a simulated device. It has none yet;
// "sim: {}" (or no sim key at all) is the whole configuration.
type SimConfig struct{}

// GPIO output modes.
const (
	ModePulse = "pulse" // a pulse of Pulse on the pin (a barrier's open contact)
	ModeLevel = "level" // the pin held active while open / unlocked / raised
)

// GPIO pulls.
const (
	PullNone = "none"
	PullUp   = "up"
	PullDown = "down"
)

// GPIOConfig is a device on a GPIO pin of the gateway (driver "gpio").
// Pin names are the GPIO character device's line names ("GPIO17").
type GPIOConfig struct {
	Pin       string // the output (actuators) or input (sensors) pin
	ActiveLow bool   // the pin is active when low
	// Pull is the input bias: PullNone (default), PullUp or PullDown.
	Pull string
	// Debounce: an input change counts once the level has been stable
	// this long (inputs; default 50ms).
	Debounce time.Duration
	// Mode is ModePulse (barriers' default) or ModeLevel (locks' and
	// flaps' default, the only mode they take).
	Mode string
	// Pulse is the pulse length in ModePulse (default 500ms).
	Pulse time.Duration
	// LowerPin is a barrier's close contact in ModePulse; without it the
	// barrier controller closes the arm on its own and Lower does nothing.
	LowerPin string
	// PositionPin reads the actuator's position for read-back: a
	// barrier's up switch, a flap's down switch.
	PositionPin       string
	PositionActiveLow bool
	// ConfirmWithin is how long the read-back waits (default 2s).
	ConfirmWithin time.Duration
}

// Defaults of the gpio settings.
const (
	DefaultDebounce      = 50 * time.Millisecond
	DefaultPulse         = 500 * time.Millisecond
	DefaultConfirmWithin = 2 * time.Second
)

// ModbusConfig is a device served by a Modbus unit (driver "modbus").
type ModbusConfig struct {
	Bus     string // a buses[].id
	Unit    int    // unit ID (slave address), 1-247
	Profile string // a profile name: <profiles_dir>/<name>.yaml
	// Channel is the compartment or space number on the unit, from 1;
	// required when the profile has channels, 0 otherwise.
	Channel int
}

// ScannerConfig is a QR or barcode scanner (driver "scanner"). Exactly
// one of Serial, Input and Stdin is set.
type ScannerConfig struct {
	Serial *SerialPort // a scanner on a serial port
	// Input is a keyboard-wedge scanner's input device
	// (/dev/input/by-id/...-event-kbd), read and grabbed exclusively.
	Input string
	// Stdin reads lines from standard input (bench setups).
	Stdin bool
	// MaxLine is the longest line accepted, in bytes (default 1024).
	MaxLine int
}

// DefaultMaxLine is the longest scanned line accepted by default.
const DefaultMaxLine = 1024

// SerialPort is a serial line's settings.
type SerialPort struct {
	Device   string // /dev/ttyUSB0, /dev/serial/by-id/...
	Baud     int
	DataBits int    // 7 or 8
	Parity   string // "N", "E" or "O"
	StopBits int    // 1 or 2
}

// Fail-safe policies.
const (
	FailSecure   = "secure"   // barriers lowered, locks locked, flaps raised
	FailOpen     = "open"     // barriers raised, locks unlocked, flaps lowered
	FailHold     = "hold"     // leave as is (actuators), report the last known state (sensors)
	FailActive   = "active"   // a sensor reports active while its device is unreachable
	FailInactive = "inactive" // … inactive
)

// FailPolicy is what a device does on communication loss and at shutdown
// (fail_policy:).
type FailPolicy struct {
	// OnCommLoss: for a Modbus actuator, the state its own watchdog is
	// programmed with (secure, open or hold); for a sensor, what the
	// driver reports while the device is unreachable (active, inactive or
	// hold). Empty for kinds and drivers it does not apply to.
	OnCommLoss string
	// OnShutdown: the state Halt puts an actuator in (secure, open or
	// hold). Empty for sensors and other kinds.
	OnShutdown string
}

var failPolicyKeys = []string{"on_comm_loss", "on_shutdown"}

func isActuator(k gateway.DeviceKind) bool {
	return k == gateway.KindBarrier || k == gateway.KindLock || k == gateway.KindFlap
}

func isSensor(k gateway.DeviceKind) bool {
	return k == gateway.KindLoop || k == gateway.KindOccupancy || k == gateway.KindDoorSensor || k == gateway.KindFireAlarm
}

// DefaultFailPolicy is the policy of a device of kind k driven by driver
// when its fail_policy leaves a field out: locks secure at shutdown, flaps
// open (a gateway that is down must never trap a car), barriers held
// where they are (dropping an arm on a car is worse than a lane left
// open); everything holds on communication loss.
func DefaultFailPolicy(k gateway.DeviceKind, driver string) FailPolicy {
	var p FailPolicy
	switch k {
	case gateway.KindLock:
		p.OnShutdown = FailSecure
	case gateway.KindFlap:
		p.OnShutdown = FailOpen
	case gateway.KindBarrier:
		p.OnShutdown = FailHold
	}
	if (isActuator(k) && driver == DriverModbus) || (isSensor(k) && driver != DriverSim) {
		p.OnCommLoss = FailHold
	}
	return p
}

// failPolicy decodes a device's fail_policy against its kind and driver.
func (d *decoder) failPolicy(m *mapping, p string, dev gateway.Device) FailPolicy {
	fp := DefaultFailPolicy(dev.Kind, dev.Driver)
	fm := m.sub("fail_policy", false, failPolicyKeys...)
	if fm == nil {
		return fp
	}
	fpath := join(p, "fail_policy")
	if !isActuator(dev.Kind) && !isSensor(dev.Kind) {
		d.errorf(fm.at(), fpath, "a %s has no fail-safe policy; only barriers, locks, flaps and sensors do", dev.Kind)
		return fp
	}
	if fm.has("on_shutdown") {
		kp := join(fpath, "on_shutdown")
		if isSensor(dev.Kind) {
			d.errorf(d.line(kp), kp, "a sensor has nothing to do at shutdown; on_shutdown is for barriers, locks and flaps")
		} else {
			fp.OnShutdown = fm.oneOf("on_shutdown", false, fp.OnShutdown, FailSecure, FailOpen, FailHold)
		}
	}
	if fm.has("on_comm_loss") {
		kp := join(fpath, "on_comm_loss")
		switch {
		case dev.Driver == DriverGPIO || dev.Driver == DriverSim:
			d.errorf(d.line(kp), kp, "a %s device cannot lose communication; on_comm_loss is for modbus devices (and sensors on them)", dev.Driver)
		case isSensor(dev.Kind):
			fp.OnCommLoss = fm.oneOf("on_comm_loss", false, fp.OnCommLoss, FailActive, FailInactive, FailHold)
		default:
			fp.OnCommLoss = fm.oneOf("on_comm_loss", false, fp.OnCommLoss, FailSecure, FailOpen, FailHold)
		}
	}
	return fp
}

var (
	gpioKeys    = []string{"pin", "active_low", "pull", "debounce", "mode", "pulse", "lower_pin", "position_pin", "position_active_low", "confirm_within"}
	modbusKeys  = []string{"bus", "unit", "profile", "channel"}
	scannerKeys = []string{"serial", "input", "stdin", "max_line"}
	serialKeys  = []string{"device", "baud", "data_bits", "parity", "stop_bits"}
)

// gpioKinds are the kinds the gpio driver drives.
var gpioKinds = []gateway.DeviceKind{gateway.KindBarrier, gateway.KindLock, gateway.KindFlap,
	gateway.KindLoop, gateway.KindOccupancy, gateway.KindDoorSensor, gateway.KindFireAlarm}

// modbusKinds are the kinds the modbus driver drives (its profiles say
// which each model serves).
var modbusKinds = []gateway.DeviceKind{gateway.KindPayStation, gateway.KindLock, gateway.KindDoorSensor,
	gateway.KindFlap, gateway.KindOccupancy}

func kindNames(kinds []gateway.DeviceKind) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

func (d *decoder) gpio(m *mapping, p string, kind gateway.DeviceKind) *GPIOConfig {
	g := &GPIOConfig{Pull: PullNone, Debounce: DefaultDebounce, Pulse: DefaultPulse, ConfirmWithin: DefaultConfirmWithin}
	if kind != "" && !slices.Contains(gpioKinds, kind) {
		d.errorf(m.at(), p, "the gpio driver cannot drive a %s; it drives %s", kind, kindNames(gpioKinds))
		return g
	}
	g.Pin, _ = m.str("pin", true)
	g.ActiveLow = m.boolean("active_low", false)
	output := isActuator(kind)
	only := func(key, what string) bool {
		if m.has(key) {
			d.errorf(d.line(join(p, key)), join(p, key), "%s; a %s does not take it", what, kind)
			return false
		}
		return true
	}
	if output {
		only("pull", "pull is for inputs")
		only("debounce", "debounce is for inputs")
		g.Mode = ModeLevel
		if kind == gateway.KindBarrier {
			g.Mode = m.oneOf("mode", false, ModePulse, ModePulse, ModeLevel)
		} else if m.has("mode") {
			g.Mode = m.oneOf("mode", false, ModeLevel, ModeLevel)
		}
		g.Pulse = m.duration("pulse", DefaultPulse)
		g.LowerPin = m.strOr("lower_pin", "")
		switch {
		case kind != gateway.KindBarrier:
			only("pulse", "pulse is for a barrier in mode: pulse")
			only("lower_pin", "lower_pin is a barrier's close contact")
		case g.Mode != ModePulse:
			only("pulse", "pulse is for mode: pulse")
			only("lower_pin", "lower_pin is for a barrier in mode: pulse")
		}
		g.PositionPin = m.strOr("position_pin", "")
		if kind == gateway.KindLock {
			only("position_pin", "a lock is confirmed by its door sensor, not a position pin")
		}
		g.PositionActiveLow = m.boolean("position_active_low", false)
		g.ConfirmWithin = m.duration("confirm_within", DefaultConfirmWithin)
		if g.PositionPin == "" {
			only("position_active_low", "position_active_low goes with position_pin")
			only("confirm_within", "confirm_within goes with position_pin")
		}
	} else {
		for _, k := range []string{"mode", "pulse", "lower_pin", "position_pin", "position_active_low", "confirm_within"} {
			only(k, k+" is for barriers, locks and flaps")
		}
		g.Pull = m.oneOf("pull", false, PullNone, PullNone, PullUp, PullDown)
		g.Debounce = m.duration("debounce", DefaultDebounce)
	}
	for _, k := range []string{"pin", "lower_pin", "position_pin"} {
		if v, ok := m.str(k, false); ok {
			if v == "" {
				d.errorf(d.line(join(p, k)), join(p, k), "must not be empty")
				continue
			}
			d.pins = append(d.pins, pinUse{name: v, path: join(p, k)})
		}
	}
	return g
}

func (d *decoder) modbusDevice(m *mapping, p string, kind gateway.DeviceKind) *ModbusConfig {
	mc := &ModbusConfig{}
	if kind != "" && !slices.Contains(modbusKinds, kind) {
		d.errorf(m.at(), p, "the modbus driver cannot drive a %s; it drives %s", kind, kindNames(modbusKinds))
		return mc
	}
	mc.Bus, _ = m.str("bus", true)
	mc.Unit = m.count("unit", true, 1, 0)
	if mc.Unit > 247 {
		d.errorf(d.line(join(p, "unit")), join(p, "unit"), "must be from 1 to 247 (a Modbus unit ID), got %d", mc.Unit)
	}
	mc.Profile, _ = m.str("profile", true)
	mc.Channel = m.count("channel", false, 1, 0)
	return mc
}

func (d *decoder) scanner(m *mapping, p string, kind gateway.DeviceKind) *ScannerConfig {
	sc := &ScannerConfig{MaxLine: DefaultMaxLine}
	if kind != "" && kind != gateway.KindScanner {
		d.errorf(m.at(), p, "the scanner driver drives scanners, not a %s", kind)
		return sc
	}
	n := 0
	if sm := m.sub("serial", false, serialKeys...); sm != nil {
		n++
		sc.Serial = d.serialPort(sm, 9600, "N")
	}
	if v, ok := m.str("input", false); ok {
		n++
		sc.Input = v
		if v == "" {
			d.errorf(d.line(join(p, "input")), join(p, "input"), "must not be empty")
		}
	}
	if m.boolean("stdin", false) {
		n++
		sc.Stdin = true
	}
	if n != 1 {
		d.errorf(m.at(), p, "give exactly one of serial (a serial port), input (a keyboard-wedge input device) and stdin: true")
	}
	sc.MaxLine = m.count("max_line", false, 16, DefaultMaxLine)
	if sc.MaxLine > 65536 {
		d.errorf(d.line(join(p, "max_line")), join(p, "max_line"), "must be at most 65536, got %d", sc.MaxLine)
	}
	if sc.Serial != nil && sc.Serial.Device != "" {
		d.ports = append(d.ports, pinUse{name: sc.Serial.Device, path: join(p, "serial.device")})
	}
	if sc.Input != "" {
		d.ports = append(d.ports, pinUse{name: sc.Input, path: join(p, "input")})
	}
	return sc
}

// baudRates are the rates goburrow/serial accepts, up to 115200.
var baudRates = []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200}

// serialPort decodes a serial port's settings with the given defaults.
func (d *decoder) serialPort(m *mapping, baud int, parity string) *SerialPort {
	sp := &SerialPort{DataBits: 8, StopBits: 1}
	sp.Device, _ = m.str("device", true)
	if sp.Device == "" && m.has("device") {
		d.errorf(d.line(join(m.path, "device")), join(m.path, "device"), "must not be empty")
	}
	sp.Baud = m.count("baud", false, 1, baud)
	if !slices.Contains(baudRates, sp.Baud) {
		d.errorf(d.line(join(m.path, "baud")), join(m.path, "baud"), "unsupported baud rate %d; want one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200", sp.Baud)
	}
	sp.DataBits = m.count("data_bits", false, 7, 8)
	if sp.DataBits > 8 {
		d.errorf(d.line(join(m.path, "data_bits")), join(m.path, "data_bits"), "must be 7 or 8, got %d", sp.DataBits)
	}
	sp.Parity = m.oneOf("parity", false, parity, "N", "E", "O")
	sp.StopBits = m.count("stop_bits", false, 1, 1)
	if sp.StopBits > 2 {
		d.errorf(d.line(join(m.path, "stop_bits")), join(m.path, "stop_bits"), "must be 1 or 2, got %d", sp.StopBits)
	}
	return sp
}

// pinUse is a GPIO pin or a device file named by a field, checked for
// double use once everything is decoded.
type pinUse struct {
	name string
	path string
}
