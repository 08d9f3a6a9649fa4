package gateway

import (
	"context"
	"errors"
	"time"
)

// ErrUnconfirmed is wrapped by an actuator's error when the command was
// sent but the device's sensor (a barrier's up switch, a flap's down
// position, a locker door) did not show it carried out in time. The core
// records such an actuation with the reason "unconfirmed".
var ErrUnconfirmed = errors.New("actuation not confirmed by its sensor")

// The actuator interfaces are what the core commands. Each is implemented
// by drivers/sim, drivers/gpio and drivers/modbus. Every method must return
// within the context's deadline; implementations serialise access to their
// own hardware. Every actuator has a safe state that Halt puts it in; Halt
// is called on shutdown and must be safe to call more than once.

// Barrier is a lane's barrier arm.
type Barrier interface {
	// Raise opens the barrier. Idempotent.
	Raise(ctx context.Context) error
	// Lower closes the barrier. The core only calls it when the lane's loop
	// detector is clear and no fire alarm holds the lane open. Idempotent.
	Lower(ctx context.Context) error
	// Halt puts the barrier in its safe state for shutdown.
	Halt(ctx context.Context) error
}

// Lock is a door or compartment lock.
type Lock interface {
	// Unlock releases the lock; Lock engages it. Both idempotent.
	Unlock(ctx context.Context) error
	Lock(ctx context.Context) error
	Halt(ctx context.Context) error
}

// Flap is a flap lock on a parking space.
type Flap interface {
	// Raise locks the car in; Lower releases it. Both idempotent.
	Raise(ctx context.Context) error
	Lower(ctx context.Context) error
	Halt(ctx context.Context) error
}

// PayStationLink is how the core talks to the cash pay station.
type PayStationLink interface {
	// ShowFee tells the pay station the amount due (minor units) for a
	// ticket or space reference.
	ShowFee(ctx context.Context, ref string, amount int64) error
	// Settled tells the pay station the session was paid elsewhere, so it
	// does not ask for cash.
	Settled(ctx context.Context, ref string) error
}

// TicketPrinter is an entry lane's ticket dispenser.
type TicketPrinter interface {
	// Print issues a ticket carrying text (the QR text the exit scanner
	// and the pay station read back).
	Print(ctx context.Context, text string) error
}

// Actuators are the devices the core commands, by device ID.
type Actuators struct {
	Barriers   map[string]Barrier
	Locks      map[string]Lock
	Flaps      map[string]Flap
	Tickets    map[string]TicketPrinter
	PayStation PayStationLink // nil when the site has none
}

// NewActuators returns an empty bundle with its maps made, for drivers to
// fill.
func NewActuators() Actuators {
	return Actuators{
		Barriers: make(map[string]Barrier),
		Locks:    make(map[string]Lock),
		Flaps:    make(map[string]Flap),
		Tickets:  make(map[string]TicketPrinter),
	}
}

// Inputs is what drivers call when something happens at the site. The
// *Gateway implements it. Calls may come from any goroutine; they must not
// be made while holding a driver lock that an actuator call needs.
type Inputs interface {
	// SensorChanged reports a binary sensor (loop, occupancy, door sensor,
	// fire alarm) by device ID. active means vehicle present / door open /
	// alarm raised.
	SensorChanged(ctx context.Context, deviceID string, active bool)
	// Scanned reports a line read by a scanner.
	Scanned(ctx context.Context, scannerID, text string)
	// TicketRequested reports the ticket button of an entry lane's dispenser.
	TicketRequested(ctx context.Context, deviceID string)
	// CashPaid reports a payment made at the pay station.
	CashPaid(ctx context.Context, p CashPayment)
}

// CashPayment is what the pay station reports.
type CashPayment struct {
	ID     string    // pay station's transaction ID; payments are idempotent by it
	Ref    string    // ticket or space reference the payment was for
	Amount int64     // minor units
	At     time.Time // zero means now
}

// DeviceHealth is a device's communication health as its driver sees it.
type DeviceHealth struct {
	Device    string
	Online    bool
	LastError string    // empty when the last exchange succeeded
	Since     time.Time // when Online last changed
	Failures  uint64    // failed exchanges since start
	Successes uint64    // successful exchanges since start
}

// HealthSink is told every online/offline transition of a device. The
// *Gateway implements it and records each transition as an event. Calls
// must not block on the driver's own locks.
type HealthSink interface {
	DeviceHealthChanged(ctx context.Context, h DeviceHealth)
}
