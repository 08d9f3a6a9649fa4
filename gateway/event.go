package gateway

import (
	"bytes"
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
	EvExitUnverified  EventType = "exit.unverified"  // a vehicle left through an exit held open by the fire alarm, with no decision
	EvSessionOpened   EventType = "session.opened"   //
	EvSessionClosed   EventType = "session.closed"   //
	EvSessionReopened EventType = "session.reopened" // an allowed exit whose car never passed
	EvExitUndone      EventType = "exit.undone"      // an exit-only key's exit whose car never passed: its use given back
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
	// Redacted is set when the disk cap took the event's data away (see
	// EventType.Routine): Data is then JSON null and DataHash keeps the
	// SHA-256 of the data that was removed, so the chain still verifies.
	Redacted bool   `json:"redacted,omitempty"`
	DataHash []byte `json:"data_hash,omitempty"`
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
// SHA-256 over "lotgate-event-v2", prev, seq (8 bytes big-endian), time
// (Unix nanoseconds, 8 bytes big-endian), len(type) (8 bytes big-endian)
// and type, and SHA-256(data). Chaining over the data's digest rather
// than the data lets the disk cap remove a routine event's data and keep
// the chain verifiable (ChainHashDigest). The first event's prev is 32
// zero bytes.
func ChainHash(prev []byte, seq uint64, t time.Time, typ EventType, data []byte) []byte {
	return ChainHashDigest(prev, seq, t, typ, DataDigest(data))
}

// ChainHashDigest is ChainHash given SHA-256(data) instead of the data:
// how a redacted event is checked.
func ChainHashDigest(prev []byte, seq uint64, t time.Time, typ EventType, digest []byte) []byte {
	return chainHash("lotgate-event-v2", prev, seq, t, typ, digest)
}

// ChainHashV1 is the hash of events written before the chain went over
// the data's digest: the same with "lotgate-event-v1" and the data itself.
// Such events still verify (Event.HashValid); they are never redacted.
func ChainHashV1(prev []byte, seq uint64, t time.Time, typ EventType, data []byte) []byte {
	return chainHash("lotgate-event-v1", prev, seq, t, typ, data)
}

// DataDigest is SHA-256(data), what ChainHash chains over.
func DataDigest(data []byte) []byte {
	d := sha256.Sum256(data)
	return d[:]
}

func chainHash(domain string, prev []byte, seq uint64, t time.Time, typ EventType, tail []byte) []byte {
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write(prev)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(t.UnixNano()))
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(len(typ)))
	h.Write(b[:])
	h.Write([]byte(typ))
	h.Write(tail)
	return h.Sum(nil)
}

// HashValid reports whether e.Hash is the hash of e's content chained to
// e.PrevHash: over DataHash for a redacted event, else over Data (or, for
// an event written before the digest chain, ChainHashV1). It does not
// check that PrevHash is the previous event's hash.
func (e *Event) HashValid() bool {
	if e.Redacted {
		return len(e.DataHash) == sha256.Size &&
			bytes.Equal(ChainHashDigest(e.PrevHash, e.Seq, e.Time, e.Type, e.DataHash), e.Hash)
	}
	return bytes.Equal(ChainHash(e.PrevHash, e.Seq, e.Time, e.Type, e.Data), e.Hash) ||
		bytes.Equal(ChainHashV1(e.PrevHash, e.Seq, e.Time, e.Type, e.Data), e.Hash)
}

// GenesisHash is the PrevHash of the first event.
var GenesisHash = make([]byte, sha256.Size)
