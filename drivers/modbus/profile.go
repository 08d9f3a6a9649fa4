package modbus

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// Table is one of the four Modbus data tables.
type Table int

const (
	Coil            Table = iota + 1 // read/write bits (FC 1, 5, 15)
	DiscreteInput                    // read-only bits (FC 2)
	HoldingRegister                  // read/write 16-bit registers (FC 3, 6, 16)
	InputRegister                    // read-only 16-bit registers (FC 4)
)

func (t Table) String() string {
	switch t {
	case Coil:
		return "coil"
	case DiscreteInput:
		return "discrete_input"
	case HoldingRegister:
		return "holding"
	case InputRegister:
		return "input"
	}
	return fmt.Sprintf("table(%d)", int(t))
}

// bits reports whether the table holds bits rather than registers.
func (t Table) bits() bool { return t == Coil || t == DiscreteInput }

// writable reports whether a client may write the table.
func (t Table) writable() bool { return t == Coil || t == HoldingRegister }

// Type is how a point's bits or registers are read as a value.
type Type int

const (
	Bool   Type = iota + 1 // a bit, or a register that is non-zero (or one bit of it)
	Uint16                 // one register
	Int16                  // one register, two's complement
	Uint32                 // two registers, in the point's word order
	Int32                  // two registers, two's complement
	String                 // Length registers of ASCII, two characters each, high byte first, NUL padded
)

func (t Type) String() string {
	switch t {
	case Bool:
		return "bool"
	case Uint16:
		return "uint16"
	case Int16:
		return "int16"
	case Uint32:
		return "uint32"
	case Int32:
		return "int32"
	case String:
		return "string"
	}
	return fmt.Sprintf("type(%d)", int(t))
}

// WordOrder is the order of the two registers of a 32-bit value. Within a
// register, bytes are always big-endian, as the Modbus specification says.
type WordOrder int

const (
	HighFirst WordOrder = iota // high word at the lower address ("ABCD"), the default
	LowFirst                   // low word at the lower address ("CDAB")
)

// Point is one named value in a device's register map.
type Point struct {
	Name    string
	Table   Table
	Address uint16 // protocol address (0-based) of channel 1, or of the point when it has no channel
	// Stride is the address step from one channel to the next; 0 when the
	// point is shared by every channel (or the profile has no channels).
	Stride    int
	Type      Type
	Length    int       // registers, for String
	Scale     float64   // value in gateway units = raw × Scale; 0 means 1
	Mask      uint16    // for a Bool in a register: the bits that make it true; 0 means any non-zero value
	WordOrder WordOrder // for 32-bit values
}

// width is how many bits or registers the point takes.
func (p *Point) width() int {
	switch p.Type {
	case Uint32, Int32:
		return 2
	case String:
		return p.Length
	}
	return 1
}

// address returns the point's address for channel (1-based; 0 when the
// device has no channel).
func (p *Point) address(channel int) uint16 {
	if channel <= 1 || p.Stride == 0 {
		return p.Address
	}
	return p.Address + uint16((channel-1)*p.Stride)
}

func (p *Point) scale() float64 {
	if p.Scale == 0 {
		return 1
	}
	return p.Scale
}

// Step is one write of an action: a literal value or one of the command's
// arguments written to a point.
type Step struct {
	Point string
	Value int64  // written when Arg is empty; a Bool point takes 0 or 1
	Arg   string // "ref" or "amount" for the pay station's commands
}

// Confirm is the read-back of an action: the point must read Value within
// Within after the last write, or the action is unconfirmed.
type Confirm struct {
	Point  string
	Value  int64
	Within time.Duration
}

// Action is what a gateway command writes, in order, and how it is
// confirmed.
type Action struct {
	Steps   []Step
	Confirm *Confirm // nil when the profile has no read-back for it
}

// Payment says how the pay station reports a cash payment: Flag is
// non-zero while a payment waits, Amount, Ref and ID describe it, and the
// action named Ack is run once the gateway has taken it (which clears the
// flag).
type Payment struct {
	Flag, Amount, Ref, ID string
	Ack                   string
}

// FailState is the device's own communication watchdog: the gateway writes
// Seconds to Timeout and the state for its on_comm_loss policy to State
// each time the device comes online, so that the device itself goes to
// that state when the gateway falls silent.
type FailState struct {
	Timeout string           // point, seconds
	Seconds int64            // written to Timeout
	State   string           // point, per channel when the profile has channels
	Values  map[Policy]int64 // what State takes for each policy
}

// ProfileKind says what a profile describes, and so which device kinds it
// serves and which actions and inputs it must have.
type ProfileKind string

const (
	PayStationProfile     ProfileKind = "pay_station"     // serves pay_station
	LockerBoardProfile    ProfileKind = "locker_board"    // serves lock (unlock, lock) and door_sensor (door_open)
	FlapControllerProfile ProfileKind = "flap_controller" // serves flap (raise, lower) and occupancy (vehicle_present)
)

// Input roles: the names profiles give their sensor inputs.
const (
	InputDoorOpen       = "door_open"       // a compartment's door is open
	InputVehiclePresent = "vehicle_present" // a car stands on the space
)

// Action names, by the gateway command they carry out.
const (
	ActUnlock  = "unlock"
	ActLock    = "lock"
	ActRaise   = "raise"
	ActLower   = "lower"
	ActShowFee = "show_fee"
	ActSettled = "settled"
)

// Arguments of the pay station's actions.
const (
	ArgRef    = "ref"
	ArgAmount = "amount"
)

// Profile is the register map of one device model and what its points mean.
// Profiles are written in YAML under configs/devices/ (see docs/devices.md)
// and converted to this form by cmd/lotgate; tests build them in Go.
type Profile struct {
	Name      string
	Kind      ProfileKind
	Channels  int // compartments or spaces the device serves; 0 when it serves one
	Points    map[string]*Point
	Actions   map[string]*Action
	Inputs    map[string]string // input role → point
	Payment   *Payment          // pay stations
	FailState *FailState        // nil when the device has no watchdog
}

// ServesKind reports whether a device of kind k can be driven by the
// profile.
func (p *Profile) ServesKind(k gateway.DeviceKind) bool {
	return slices.Contains(ProfileKinds[p.Kind], k)
}

// ProfileKinds lists the device kinds each profile kind serves.
var ProfileKinds = map[ProfileKind][]gateway.DeviceKind{
	PayStationProfile:     {gateway.KindPayStation},
	LockerBoardProfile:    {gateway.KindLock, gateway.KindDoorSensor},
	FlapControllerProfile: {gateway.KindFlap, gateway.KindOccupancy},
}

// requiredActions are the actions each profile kind must define.
var requiredActions = map[ProfileKind][]string{
	PayStationProfile:     {ActShowFee, ActSettled},
	LockerBoardProfile:    {ActUnlock, ActLock},
	FlapControllerProfile: {ActRaise, ActLower},
}

// knownInputs are the input roles each profile kind may define.
var knownInputs = map[ProfileKind][]string{
	PayStationProfile:     nil,
	LockerBoardProfile:    {InputDoorOpen},
	FlapControllerProfile: {InputVehiclePresent},
}

// inputFor is the input role a sensor kind reads.
func inputFor(k gateway.DeviceKind) string {
	switch k {
	case gateway.KindDoorSensor:
		return InputDoorOpen
	case gateway.KindOccupancy:
		return InputVehiclePresent
	}
	return ""
}

// Validate checks that the profile is consistent: points fit the address
// space and have a type their table can hold, actions write writable
// points, confirmations and inputs read existing points, and the kind's
// required actions are there. The config loader reports the same problems
// with line numbers; Validate guards profiles built in Go.
func (p *Profile) Validate() error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if _, ok := ProfileKinds[p.Kind]; !ok {
		bad("unknown kind %q", p.Kind)
	}
	if p.Channels < 0 {
		bad("channels %d: must not be negative", p.Channels)
	}
	for name, pt := range p.Points {
		if pt.Name != name {
			bad("point %q is named %q", name, pt.Name)
		}
		if err := pt.check(p.Channels); err != nil {
			bad("point %s: %v", name, err)
		}
	}
	point := func(what, name string) *Point {
		pt, ok := p.Points[name]
		if !ok {
			bad("%s: no point %q", what, name)
		}
		return pt
	}
	for name, a := range p.Actions {
		if len(a.Steps) == 0 {
			bad("action %s: no steps", name)
		}
		for i, s := range a.Steps {
			pt := point(fmt.Sprintf("action %s step %d", name, i+1), s.Point)
			if pt == nil {
				continue
			}
			if !pt.Table.writable() {
				bad("action %s step %d: point %s is in the %s table, which cannot be written", name, i+1, s.Point, pt.Table)
			}
			if pt.Mask != 0 {
				bad("action %s step %d: point %s is one bit of a register, which cannot be written on its own", name, i+1, s.Point)
			}
			switch s.Arg {
			case "":
				if err := pt.checkValue(s.Value); err != nil {
					bad("action %s step %d: %v", name, i+1, err)
				}
			case ArgRef:
				if pt.Type != String {
					bad("action %s step %d: the ref goes in a string point; %s is %s", name, i+1, s.Point, pt.Type)
				}
			case ArgAmount:
				if pt.Type == String || pt.Type == Bool {
					bad("action %s step %d: the amount goes in a number point; %s is %s", name, i+1, s.Point, pt.Type)
				}
			default:
				bad("action %s step %d: unknown argument %q", name, i+1, s.Arg)
			}
		}
		if c := a.Confirm; c != nil {
			if pt := point("confirm of "+name, c.Point); pt != nil {
				if err := pt.checkValue(c.Value); err != nil {
					bad("confirm of %s: %v", name, err)
				}
			}
			if c.Within <= 0 {
				bad("confirm of %s: within must be positive", name)
			}
		}
	}
	for _, name := range requiredActions[p.Kind] {
		if p.Actions[name] == nil {
			bad("a %s needs the action %s", p.Kind, name)
		}
	}
	for role, name := range p.Inputs {
		if !slices.Contains(knownInputs[p.Kind], role) {
			bad("input %s: a %s has no such input", role, p.Kind)
		}
		if pt := point("input "+role, name); pt != nil && pt.Type != Bool {
			bad("input %s: point %s is %s; an input is a bool", role, name, pt.Type)
		}
	}
	if p.Kind == PayStationProfile {
		if p.Payment == nil {
			bad("a pay_station needs a payment section")
		}
	}
	if pay := p.Payment; pay != nil {
		if pt := point("payment flag", pay.Flag); pt != nil && pt.Type == String {
			bad("payment flag: point %s is a string", pay.Flag)
		}
		if pt := point("payment amount", pay.Amount); pt != nil && (pt.Type == String || pt.Type == Bool) {
			bad("payment amount: point %s is %s; want a number", pay.Amount, pt.Type)
		}
		if pt := point("payment ref", pay.Ref); pt != nil && pt.Type != String {
			bad("payment ref: point %s is %s; want a string", pay.Ref, pt.Type)
		}
		if pt := point("payment id", pay.ID); pt != nil && (pt.Type == String || pt.Type == Bool) {
			bad("payment id: point %s is %s; want a number", pay.ID, pt.Type)
		}
		if p.Actions[pay.Ack] == nil {
			bad("payment ack: no action %q", pay.Ack)
		}
	}
	if fs := p.FailState; fs != nil {
		if pt := point("fail_state timeout", fs.Timeout); pt != nil && !pt.Table.writable() {
			bad("fail_state timeout: point %s cannot be written", fs.Timeout)
		}
		if pt := point("fail_state state", fs.State); pt != nil {
			if !pt.Table.writable() {
				bad("fail_state state: point %s cannot be written", fs.State)
			}
			for pol, v := range fs.Values {
				if err := pt.checkValue(v); err != nil {
					bad("fail_state %s: %v", pol, err)
				}
			}
		}
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return fmt.Errorf("modbus profile %s: %s", p.Name, strings.Join(errs, "; "))
	}
	return nil
}

// check validates a point on its own.
func (pt *Point) check(channels int) error {
	switch pt.Table {
	case Coil, DiscreteInput:
		if pt.Type != Bool {
			return fmt.Errorf("a %s holds a bool, not %s", pt.Table, pt.Type)
		}
	case HoldingRegister, InputRegister:
	default:
		return fmt.Errorf("unknown table %d", int(pt.Table))
	}
	if pt.Type < Bool || pt.Type > String {
		return fmt.Errorf("unknown type %d", int(pt.Type))
	}
	if pt.Type == String && (pt.Length < 1 || pt.Length > 123) {
		return fmt.Errorf("a string takes 1 to 123 registers, got %d", pt.Length)
	}
	if pt.Mask != 0 && (pt.Type != Bool || pt.Table.bits()) {
		return fmt.Errorf("mask %#04x: only a bool in a register has a bit mask", pt.Mask)
	}
	if pt.Stride < 0 {
		return fmt.Errorf("stride %d: must not be negative", pt.Stride)
	}
	if pt.Stride > 0 && pt.Stride < pt.width() {
		return fmt.Errorf("stride %d is less than the point's width %d: channels would overlap", pt.Stride, pt.width())
	}
	last := int(pt.Address) + pt.width() - 1
	if channels > 1 {
		last += (channels - 1) * pt.Stride
	}
	if last > math.MaxUint16 {
		return fmt.Errorf("ends at address %d, past 65535", last)
	}
	if pt.Scale < 0 || math.IsNaN(pt.Scale) || math.IsInf(pt.Scale, 0) {
		return fmt.Errorf("scale %v: must be positive", pt.Scale)
	}
	return nil
}

// checkValue checks that a raw literal fits the point.
func (pt *Point) checkValue(v int64) error {
	lo, hi := int64(0), int64(0)
	switch pt.Type {
	case Bool:
		hi = 1
	case Uint16:
		hi = math.MaxUint16
	case Int16:
		lo, hi = math.MinInt16, math.MaxInt16
	case Uint32:
		hi = math.MaxUint32
	case Int32:
		lo, hi = math.MinInt32, math.MaxInt32
	case String:
		return fmt.Errorf("point %s is a string; a literal value cannot be written to it", pt.Name)
	}
	if v < lo || v > hi {
		return fmt.Errorf("value %d does not fit point %s (%s, %d to %d)", v, pt.Name, pt.Type, lo, hi)
	}
	return nil
}

// Policy is what a device does on communication loss or at shutdown.
type Policy string

const (
	// FailSecure: barriers lowered, locks locked, flaps raised.
	FailSecure Policy = "secure"
	// Open: barriers raised, locks unlocked, flaps lowered.
	FailOpen Policy = "open"
	// FailHold: leave the device as it is.
	FailHold Policy = "hold"
	// Active and Inactive are what a sensor reports on communication loss.
	FailActive   Policy = "active"
	FailInactive Policy = "inactive"
)

// FailPolicy is a device's fail-safe policy.
type FailPolicy struct {
	// OnCommLoss: for an actuator, the state its watchdog (FailState) is
	// programmed with; for a sensor, what is reported while the device is
	// offline (FailActive, Inactive or FailHold). Empty means FailHold.
	OnCommLoss Policy
	// OnShutdown: the state Halt puts an actuator in. Empty means the
	// kind's default (DefaultShutdown).
	OnShutdown Policy
}

// DefaultShutdown is the state Halt puts an actuator of kind k in when its
// policy does not say: locks locked, flaps lowered (a gateway that is down
// must never trap a car), barriers held where they are (dropping an arm on
// a car is worse than a lane left open).
func DefaultShutdown(k gateway.DeviceKind) Policy {
	switch k {
	case gateway.KindLock:
		return FailSecure
	case gateway.KindFlap:
		return FailOpen
	}
	return FailHold
}
