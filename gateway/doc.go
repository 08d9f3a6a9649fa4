// Package gateway is the core of lotgate: the site model, the decisions
// (access, entry, exit, payment), sessions, events and the small interfaces
// the core needs from the outside (a store, actuators, a clock).
//
// It must not import MQTT, HTTP, SQL or hardware packages; a test enforces
// this. Adapters live in gateway/sqlite, drivers/*, cloudsync and web, and
// cmd/lotgate alone wires them together.
package gateway
