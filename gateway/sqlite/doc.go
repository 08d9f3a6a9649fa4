// Package sqlite is the durable store of the gateway: it implements
// gateway.Store and gateway.Tx on SQLite (github.com/mattn/go-sqlite3, cgo).
//
// The database runs in WAL mode with one writer connection (BEGIN IMMEDIATE,
// synchronous=FULL by default) and a separate pool of read-only connections
// for View. Updates are serialised; with Options.GroupCommit a single writer
// goroutine runs queued Updates in one shared transaction, each in its own
// SAVEPOINT, and commits the batch with one fsync. The schema is created and
// upgraded by migrations embedded in the binary (migrations/*.sql).
//
// DB.KeyStatus answers a key's state and revocation from memory while a
// generation counter kept by triggers says the memory is current
// (keycache.go, README.md).
//
// Times are stored as Unix nanoseconds (INTEGER), the zero time as NULL, and
// read back in UTC. Money is integer minor units.
//
// This package imports the gateway core and the SQLite driver only; it must
// not import MQTT, HTTP, drivers, cloudsync or web packages.
package sqlite
