package gateway

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"time"
)

// EventType names an event. Types are part of the sync contract.
type EventType string

const (
	EvAccess          EventType = "access.decision"  // a key/credential decision (granted or denied, with reason)
	EvEntry           EventType = "entry.decision"   // an entry lane decision
	EvExit            EventType = "exit.decision"    // an exit lane decision
	EvSessionOpened   EventType = "session.opened"   //
	EvSessionClosed   EventType = "session.closed"   //
	EvSessionReopened EventType = "session.reopened" // an allowed exit whose car never passed
	EvQuote           EventType = "quote.issued"     //
	EvCheckout        EventType = "checkout.started" //
	EvPayment         EventType = "payment.applied"  //
	EvPaymentDup      EventType = "payment.duplicate"
	EvOverride        EventType = "override"         // attendant override, with reason
	EvPassbackReset   EventType = "passback.reset"   //
	EvDevice          EventType = "device.changed"   // a sensor or actuator changed state
	EvActuation       EventType = "device.actuation" // an actuator was commanded (or failed)
	EvAlarm           EventType = "alarm"            // door left open, fire alarm, …
	EvFireAlarm       EventType = "fire_alarm"       // fire alarm raised or cleared
	EvRevocation      EventType = "key.revoked"      //
	EvListUpdated     EventType = "list.updated"     // local list replaced or patched
	EvTrustedTime     EventType = "time.trusted"     // latest trusted time advanced
	EvPINLockout      EventType = "pin.lockout"      //
	EvCapacity        EventType = "capacity.changed" //
	EvGatewayStarted  EventType = "gateway.started"
	EvGatewayStopping EventType = "gateway.stopping"
)

// Event is one entry of the hash-chained, gap-free event log. The store
// assigns Seq, PrevHash and Hash when the event is appended inside a
// transaction.
type Event struct {
	Seq      uint64          `json:"seq"`
	Time     time.Time       `json:"time"`
	Type     EventType       `json:"type"`
	Data     json.RawMessage `json:"data"`
	PrevHash []byte          `json:"prev_hash"`
	Hash     []byte          `json:"hash"`
}

// NewEvent builds an event whose Data is the JSON form of data.
func NewEvent(t time.Time, typ EventType, data any) (Event, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return Event{}, Errorf(Internal, "encode %s event: %v", typ, err)
	}
	return Event{Time: t.UTC(), Type: typ, Data: b}, nil
}

// ChainHash is the hash of an event chained to the previous event's hash:
// SHA-256 over "lotgate-event-v1", prev, seq (8 bytes big-endian), time (Unix
// nanoseconds, 8 bytes big-endian), len(type) and type, data. The first
// event's prev is 32 zero bytes.
func ChainHash(prev []byte, seq uint64, t time.Time, typ EventType, data []byte) []byte {
	h := sha256.New()
	h.Write([]byte("lotgate-event-v1"))
	h.Write(prev)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(t.UnixNano()))
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(len(typ)))
	h.Write(b[:])
	h.Write([]byte(typ))
	h.Write(data)
	return h.Sum(nil)
}

// GenesisHash is the PrevHash of the first event.
var GenesisHash = make([]byte, sha256.Size)
