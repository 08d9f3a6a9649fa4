package gateway

import (
	"crypto/ed25519"
	"time"

	"github.com/lotgate/lotgate/gateway/tariff"
)

// Site is the validated, normalised description of one facility. It is
// produced by the config loader and never changed by the core.
type Site struct {
	ID       string
	Name     string
	TimeZone string         // IANA name, as written in the config
	Location *time.Location // loaded from TimeZone
	Geofence Geofence
	Capacity Capacity

	Devices    []Device // every physical device, by unique ID
	Lanes      []Lane
	Spaces     []Space
	Lockers    []Locker
	Doors      []Door
	PayStation *PayStation // nil when the site has none
	FireAlarm  *FireAlarm  // nil when the site has none

	Tariff *tariff.Tariff

	// TrustedKeys are the operator's public keys, by key ID (COSE kid).
	// The gateway verifies with them and can never sign a key.
	TrustedKeys map[string]ed25519.PublicKey

	Policy Policy
}

// DeviceKind names what a device is, independent of how it is driven.
type DeviceKind string

const (
	KindBarrier    DeviceKind = "barrier"     // actuator: raise/lower
	KindLoop       DeviceKind = "loop"        // sensor: vehicle over the loop
	KindScanner    DeviceKind = "scanner"     // reader: QR/barcode text
	KindFlap       DeviceKind = "flap"        // actuator: flap lock on a space
	KindOccupancy  DeviceKind = "occupancy"   // sensor: vehicle standing on a space
	KindLock       DeviceKind = "lock"        // actuator: door or compartment lock
	KindDoorSensor DeviceKind = "door_sensor" // sensor: door open
	KindPayStation DeviceKind = "pay_station" // cash pay station
	KindFireAlarm  DeviceKind = "fire_alarm"  // sensor: fire alarm input
	KindTicket     DeviceKind = "ticket"      // entry ticket dispenser (button + printer)
)

// Device is one physical device. Driver says which adapter drives it
// ("sim" by default); driver-specific settings live in the config and are
// read by cmd/lotgate when wiring, not by the core.
type Device struct {
	ID     string
	Kind   DeviceKind
	Driver string
}

// Direction of a lane.
type Direction string

const (
	Entry Direction = "entry"
	Exit  Direction = "exit"
)

// Lane is an entry or exit lane: a barrier, the loop detector under its arm
// and a scanner, optionally a ticket dispenser (entry lanes).
type Lane struct {
	ID        string
	Direction Direction
	Barrier   string // device ID
	Loop      string // device ID
	Scanner   string // device ID, may be empty
	Ticket    string // device ID, may be empty
}

// Resource is the resource name keys refer to: "gate:<lane>".
func (l Lane) Resource() string { return "gate:" + l.ID }

// Action a key must allow to pass this lane.
func (l Lane) Action() Action {
	if l.Direction == Entry {
		return ActionEnter
	}
	return ActionExit
}

// Space is a parking space with a flap lock and an occupancy sensor.
type Space struct {
	ID     string
	Flap   string // device ID
	Sensor string // device ID
	// RaiseAfter is how long a car must stand on the space before the flap
	// rises. EmptyFor is how long the space must be empty after a release
	// before the flap may rise again.
	RaiseAfter time.Duration
	EmptyFor   time.Duration
}

// Resource is "space:<id>".
func (s Space) Resource() string { return "space:" + s.ID }

// Locker is a bank of compartments (a car-sharing key box).
type Locker struct {
	ID           string
	Compartments []Compartment
}

// Compartment is one locker compartment with its lock and door sensor.
type Compartment struct {
	ID         string // unique across the site, e.g. "A-03"
	Lock       string // device ID
	DoorSensor string // device ID
}

// Resource is "locker:<id>".
func (c Compartment) Resource() string { return "locker:" + c.ID }

// Door is a door with a lock and a door sensor.
type Door struct {
	ID         string
	Lock       string // device ID
	DoorSensor string // device ID
}

// Resource is "door:<id>".
func (d Door) Resource() string { return "door:" + d.ID }

// PayStation is the legacy cash pay station.
type PayStation struct {
	Device string
}

// FireAlarm is the fire-alarm input and the exits it opens.
type FireAlarm struct {
	Input string   // device ID
	Opens []string // lane IDs held open while the alarm is active
	Doors []string // door IDs held unlocked while the alarm is active
}

// CapacityState is the site's entry state.
type CapacityState string

const (
	Open   CapacityState = "open"
	Full   CapacityState = "full"
	Closed CapacityState = "closed"
)

// Capacity describes how many cars the site takes.
type Capacity struct {
	Spaces int  // cars the site holds; entry refuses non-reserved cars at this count
	Closed bool // when true the site refuses every entry
}

// Policy holds the site's timing and security settings. Zero values are
// replaced by defaults in the config loader.
type Policy struct {
	ClockSkew          time.Duration // tolerance for key windows
	QuoteHold          time.Duration // how long a quoted amount holds
	CheckoutTimeout    time.Duration // how long a checkout locks a session
	ReservationEarly   time.Duration // a reservation matches this early
	ReservationLate    time.Duration // and this late
	BarrierOpenTimeout time.Duration // barrier lowers if no car passes in this time
	UnlockFor          time.Duration // how long a lock stays released
	DoorOpenAlarm      time.Duration // a door open longer than this raises an alarm
	ProofStep          time.Duration // device proof time step
	PINMaxAttempts     int
	PINLockout         time.Duration
	// ActuatorTimeout bounds each actuator command, its read-back
	// included (Options.ActuatorTimeout; cmd/lotgate passes this).
	ActuatorTimeout time.Duration
}

// Point is a WGS84 position.
type Point struct {
	Lat, Lon float64
}

// Geofence is a circle (Center, RadiusM > 0) or a polygon (≥ 3 points).
type Geofence struct {
	Center  Point
	RadiusM float64
	Polygon []Point
}

// Action a key may allow.
type Action string

const (
	ActionEnter  Action = "enter"
	ActionExit   Action = "exit"
	ActionOpen   Action = "open"
	ActionUnlock Action = "unlock"
	ActionLock   Action = "lock"
)
