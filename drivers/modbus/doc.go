// Package modbus drives the site's Modbus devices — the cash pay station,
// locker controller boards and flap-lock controllers — over Modbus TCP and
// Modbus RTU (RS-485), with github.com/goburrow/modbus. Register maps come
// from device profiles (configs/devices/*.yaml, see docs/devices.md), so a
// new model is a new profile, not new code.
//
// It is the only package that imports github.com/goburrow/modbus and
// github.com/goburrow/serial for Modbus, and it imports
// github.com/simonvetter/modbus for its simulator. Otherwise it imports the
// standard library, github.com/lotgate/lotgate/gateway and drivers/health
// (the health tracking it shares with the GPIO driver); it must never
// import config, web, cloudsync, gateway/sqlite or another driver (a test
// in cmd/lotgate enforces this). cmd/lotgate converts the config into Config.
//
// # Wiring
//
//	d, err := modbus.Open(modbus.Config{Buses: ..., Devices: ...},
//		modbus.Options{Inputs: core, Health: core, Logger: log})
//	acts := d.Actuators() // locks, flaps, the pay station link
//	...
//	// shutdown: the core Halts the actuators, then
//	d.Close(ctx)
//
// # One owner per bus
//
// A Bus is one TCP connection or one serial line. Every request — from the
// core's actuator calls, the poller, the installer's tests — goes through
// its bounded queue and is carried out by one goroutine, one at a time,
// with the configured silence between frames (3.5 character times on RTU),
// so requests to the several unit IDs of one RS-485 line never interleave.
// A full queue fails the call at once; every call has a deadline (its
// context's, capped by the bus timeout).
//
// goburrow's TCP client fails forever after one timeout (the late reply
// answers the next request: "transaction id mismatch") or a server restart
// (EOF, broken pipe) unless its handler is closed and opened again. The bus
// closes its connection after every error that is not a Modbus exception
// and opens a new one for the next try, with exponential backoff when
// opening fails, so a link always recovers, without leaking a socket, a
// file descriptor or a goroutine (goburrow's idle timer is off: the bus
// owns the connection's lifetime). On RTU the port is read by this
// package's transporter rather than goburrow's, which sleeps a computed
// frame time before reading (10% of the line rate at 19200 baud) and races
// with its own idle timer.
//
// # Health
//
// Health is kept per unit and shared by the devices it serves. A unit is
// marked offline after OfflineAfter consecutive failed exchanges (an
// exception is an answer, except 10 and 11, which a TCP gateway gives for
// a device behind it that is silent); calls to an offline device fail at
// once with ErrOffline, so a dead device never holds the line for the
// others. The poller probes an offline unit every ProbeInterval and marks
// it online when it answers. Every transition is told to the HealthSink,
// from a goroutine of its own.
//
// # Inputs
//
// One poller per bus reads, every PollInterval, the sensors (door open,
// vehicle present: several channels of a unit in one request when they are
// close) and the pay station's payment flag. It delivers changes — a sensor
// found active at the first poll included, since the core assumes inactive
// at start — and cash payments to the Inputs from its own goroutine, never
// while holding the bus, so the core may command actuators from inside its
// callbacks. A payment is acknowledged (the profile's ack action) after the
// core took it; if the acknowledgement fails it is delivered again, and the
// core applies a payment ID once.
//
// # Read-back
//
// An actuation whose profile action has a confirm (the flap's down
// position, the compartment door opening, the pay station clearing its
// command register) reads that point until it shows the expected value; if
// it does not within the confirm's time, the call fails with an
// Unavailable error wrapping gateway.ErrUnconfirmed, which the core records
// as an actuation event with the reason "unconfirmed".
//
// # Fail-safe
//
// Halt puts a lock or a flap in its on_shutdown state (FailSecure,
// FailOpen, FailHold; by default locks locked, flaps lowered). A device
// cannot be commanded once communication is lost, so on_comm_loss for an
// actuator is programmed into the device's own watchdog (the profile's
// fail_state) each time the unit comes online; for a sensor it is what the
// driver reports while the unit is offline (FailActive, FailInactive or
// FailHold, the last known state).
//
// # Simulator
//
// Simulator is a Modbus TCP server (github.com/simonvetter/modbus) that
// answers as the devices of its profiles; the tests use it, and a bus with
// simulate: true in the site file runs one on loopback so `make run`
// exercises real Modbus.
package modbus
