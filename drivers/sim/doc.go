// Package sim simulates every kind of lotgate device in memory: barriers,
// loop detectors, scanners, flap locks, occupancy sensors, locks, door
// sensors, ticket dispensers, the cash pay station and the fire-alarm
// input. It is the default driver of `make run` and of the tests.
//
// It imports only the standard library and
// github.com/lotgate/lotgate/gateway; it must never import web, cloudsync,
// gateway/sqlite or another driver (a test enforces this).
//
// # Wiring
//
//	s, err := sim.New(site, logger)     // devices whose Driver is "sim" (or empty)
//	acts := s.Actuators()               // hand to the core
//	s.Attach(core)                      // the core's gateway.Inputs
//
// New simulates the devices of site.Devices that its selector accepts; by
// default those whose Driver is "sim" or empty, so a site can mix real and
// simulated devices. Use All to simulate every device. The rest of the site
// model (lanes, spaces, lockers, doors, fire alarm) is only used by the
// console to turn "car entry-1" into the loop device of lane entry-1.
//
// # Driving and observing
//
// Tests and the console play the world: SetSensor, Scan, PressTicket,
// PayCash and RedeliverCash deliver to the attached gateway.Inputs, on the
// caller's goroutine, never while holding a lock an actuator call needs, so
// the core may command actuators from inside its Inputs callbacks. Driving
// calls for the same device are serialised (state change and delivery
// together) so the core sees changes in the order they happened; an Inputs
// callback must therefore not drive the device whose change it is handling.
// Driving calls fail with a gateway.Unavailable error when nothing is
// attached or the device is offline, and change nothing then.
//
// BarrierUp, FlapUp, Locked, Sensor, LastTicket, PayStationFee,
// PayStationSettled and History observe the devices. History lists, per
// device, what happened to it in order: the commands it carried out
// ("raise", "lower", "lock", "unlock", "halt", "print <text>",
// "show_fee <ref> <amount>", "settled <ref>") and the driving actions
// ("on", "off", "scan <text>", "press", "cash <ref> <amount> <tx>",
// "redeliver <tx>"). A command that failed (offline, cancelled) is not
// recorded. Wait blocks until a condition over these holds, waking on every
// change, so tests never sleep-poll.
//
// # Faults
//
// SetOffline makes every call on a device fail with a gateway.Unavailable
// error. SetDelay makes actuator calls take a while before acting; a context
// cancelled or past its deadline during the delay makes the call fail
// (errors.Is(err, context.DeadlineExceeded) holds) without acting.
//
// # Safe states (Halt)
//
// These are the simulator's choices until per-device fail-open/fail-secure
// policy is configurable:
//
//   - Barrier.Halt leaves the arm where it is: the sim does not know whether
//     a car stands under it, and dropping an arm on a car is worse than a
//     lane left open. Fire-alarm exits are the core's business.
//   - Lock.Halt engages the lock (fail-secure).
//   - Flap.Halt lowers the flap: a gateway that is down must never trap a
//     car on its space.
//
// Halt is recorded as "halt" in the history and is idempotent. The initial
// state is: barriers down, flaps down, locks locked, sensors off.
//
// # Console
//
// RunConsole reads commands line by line (help, status, car, gone, scan,
// ticket, pay, fire, park, leave, door, sensor, offline, delay, redeliver,
// history) and answers each with a line; see the help command.
package sim
