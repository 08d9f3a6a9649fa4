// Package gpio drives devices wired to the gateway's GPIO pins with
// periph.io: barriers (a pulse on the open contact, or a held level), locks
// and flaps (a held level), and binary inputs with debounce and edge
// detection (loop detectors, occupancy and door sensors, the fire alarm).
// On current Raspberry Pi OS (Pi 4 and Pi 5) the pins are the GPIO
// character device's lines (/dev/gpiochip*), named "GPIO17" and so on;
// sysfs GPIO is gone and this package does not use it.
//
// It is the only package that imports periph.io. Otherwise it imports the
// standard library, github.com/lotgate/lotgate/gateway and drivers/health
// (the health tracking it shares with the Modbus driver); it must never
// import config, web, cloudsync, gateway/sqlite or another driver (a test
// in cmd/lotgate enforces this). cmd/lotgate converts the config into Device values.
//
// # Wiring
//
//	d, err := gpio.Open(devices, gpio.Options{Inputs: core, Health: core, Logger: log})
//	acts := d.Actuators() // barriers, locks, flaps
//	...
//	d.Close(ctx)          // after the core has Halted the actuators
//
// Open resolves every pin name at start-up and fails, naming each pin it
// cannot find, when one is unknown (gpioreg.ByName returns nil on an
// unknown name or on a host that is not a Pi).
//
// # Outputs
//
// At Open every output goes to its inactive level: barriers' contacts
// released (or a level-mode barrier down), locks locked, flaps lowered.
// A pulse always ends: a context that ends during it does not leave the
// contact held. Active-low pins are inverted here, not by the caller.
//
// # Inputs
//
// One goroutine per input waits for edges with WaitForEdge and a positive
// timeout only. (On real hardware a timeout of -1 returns at once and 0
// waits forever; periph's gpiotest fake does the opposite. A positive
// timeout means the same to both, and lets the goroutine notice Close.)
// An edge starts the debounce: the level must stay still for Debounce
// before it counts. The level is also read at every timeout, so a lost
// edge costs at most the timeout. A change is delivered to the core's
// Inputs from that goroutine, holding no lock an actuator call needs. An
// input found active at Open is delivered at once: the core assumes every
// sensor inactive at start.
//
// # Read-back
//
// A barrier or flap with a position pin (a barrier's up switch, a flap's
// down switch) confirms Raise and Lower by reading it until it shows the
// commanded position; if it does not within ConfirmWithin the call fails
// with a gateway.Unavailable error wrapping gateway.ErrUnconfirmed, which
// the core records as an actuation event with the reason "unconfirmed".
//
// # Fail-safe
//
// Halt puts an actuator in its on_shutdown state: FailSecure (barrier
// lowered, lock locked, flap raised), FailOpen (barrier raised, lock
// unlocked, flap lowered) or FailHold (left as is; a pulse contact is
// always released). A pin cannot lose communication, so GPIO devices have
// no comm-loss policy; a pin that fails an operation marks its device
// offline until one succeeds.
package gpio
