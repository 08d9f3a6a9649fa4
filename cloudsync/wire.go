package cloudsync

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// TopicVersion is the first level of every topic.
const TopicVersion = "lotgate/v1"

// Topics are the MQTT topics of one site, all under lotgate/v1/{site}/.
type Topics struct {
	Events string // up/events: events in seq order, one or more per message, QoS 1, JSON (Batch)
	State  string // up/state: retained, JSON (State)
	Ack    string // down/ack: the cloud acknowledges events up to a seq (Ack)
	Replay string // down/replay: the cloud asks for events again from a seq (Replay)
	Msg    string // down/msg: signed operator messages (COSE_Sign1 bytes)
	Down   string // down/#: the subscription
}

// TopicsFor returns the topics of site.
func TopicsFor(site string) Topics {
	p := TopicVersion + "/" + site + "/"
	return Topics{Events: p + "up/events", State: p + "up/state", Ack: p + "down/ack", Replay: p + "down/replay",
		Msg: p + "down/msg", Down: p + "down/#"}
}

// Event is one event of a Batch on up/events. Hashes are lowercase hex; data is the
// event's JSON as stored. The cloud deduplicates on seq and can verify
// the chain with gateway.ChainHash (Event.Gateway, then HashValid). A
// redacted event (the disk cap removed its data: gateway.EventType.Routine)
// has data null, redacted true and data_sha256, the digest the chain
// covers.
type Event struct {
	Site       string          `json:"site"`
	Seq        uint64          `json:"seq"`
	Time       time.Time       `json:"time"`
	Type       string          `json:"type"`
	Data       json.RawMessage `json:"data"`
	PrevHash   string          `json:"prev_hash"`
	Hash       string          `json:"hash"`
	Redacted   bool            `json:"redacted,omitempty"`
	DataSHA256 string          `json:"data_sha256,omitempty"`
}

// EventFrom maps a gateway event to the wire.
func EventFrom(site string, e gateway.Event) Event {
	w := Event{Site: site, Seq: e.Seq, Time: e.Time, Type: string(e.Type), Data: e.Data,
		PrevHash: hex.EncodeToString(e.PrevHash), Hash: hex.EncodeToString(e.Hash)}
	if e.Redacted {
		w.Redacted, w.DataSHA256 = true, hex.EncodeToString(e.DataHash)
	}
	return w
}

// Gateway maps a wire event back to a gateway event.
func (e Event) Gateway() (gateway.Event, error) {
	prev, err := hex.DecodeString(e.PrevHash)
	if err != nil {
		return gateway.Event{}, fmt.Errorf("event %d prev_hash: %w", e.Seq, err)
	}
	h, err := hex.DecodeString(e.Hash)
	if err != nil {
		return gateway.Event{}, fmt.Errorf("event %d hash: %w", e.Seq, err)
	}
	ge := gateway.Event{Seq: e.Seq, Time: e.Time, Type: gateway.EventType(e.Type), Data: e.Data, PrevHash: prev, Hash: h}
	if e.Redacted {
		if ge.DataHash, err = hex.DecodeString(e.DataSHA256); err != nil {
			return gateway.Event{}, fmt.Errorf("event %d data_sha256: %w", e.Seq, err)
		}
		ge.Redacted = true
	}
	return ge, nil
}

// Batch is a message on up/events: one or more events with consecutive
// seqs, in seq order, each exactly as Event. A single event is a batch of
// one, so a consumer has one code path. The gateway only puts in a batch
// what is already queued when it sends: a live event is never held back
// to wait for company.
type Batch struct {
	Events []Event `json:"events"`
}

// DecodeBatch decodes a message on up/events and checks its shape: at
// least one event, seqs consecutive and ascending.
func DecodeBatch(payload []byte) ([]Event, error) {
	var b Batch
	if err := json.Unmarshal(payload, &b); err != nil {
		return nil, fmt.Errorf("decode events: %w", err)
	}
	if err := checkSeqs(len(b.Events), func(i int) uint64 { return b.Events[i].Seq }); err != nil {
		return nil, err
	}
	return b.Events, nil
}

// BatchSeqs is a batch read for its seqs only (a consumer that only
// counts and acknowledges).
type BatchSeqs struct {
	Events []struct {
		Seq uint64 `json:"seq"`
	} `json:"events"`
}

// DecodeBatchSeqs decodes only the seqs of a message on up/events, with
// the checks of DecodeBatch, and returns the first and the last.
func DecodeBatchSeqs(payload []byte) (first, last uint64, err error) {
	var b BatchSeqs
	if err := json.Unmarshal(payload, &b); err != nil {
		return 0, 0, fmt.Errorf("decode events: %w", err)
	}
	if err := checkSeqs(len(b.Events), func(i int) uint64 { return b.Events[i].Seq }); err != nil {
		return 0, 0, err
	}
	return b.Events[0].Seq, b.Events[len(b.Events)-1].Seq, nil
}

func checkSeqs(n int, seq func(int) uint64) error {
	if n == 0 {
		return errors.New("decode events: no events in the message")
	}
	if seq(0) == 0 {
		return errors.New("decode events: seq 0")
	}
	for i := 1; i < n; i++ {
		if seq(i) != seq(i-1)+1 {
			return fmt.Errorf("decode events: seq %d follows %d; want consecutive seqs", seq(i), seq(i-1))
		}
	}
	return nil
}

// Ack is the cloud's acknowledgement on down/ack: every event up to and
// including Seq has reached the cloud.
type Ack struct {
	Seq uint64 `json:"seq"`
}

// Replay is the cloud's request on down/replay to send events again from
// From on.
type Replay struct {
	From uint64 `json:"from"`
}

// Degraded modes, as named in up/state, metrics and logs.
const (
	DegradedBrokerUnreachable = "broker_unreachable"    // no connection to the broker
	DegradedCloudSilent       = "cloud_silent"          // connected, but the cloud acknowledges nothing
	DegradedPaymentProvider   = "payment_provider_down" // the cloud says its payment provider is down
)

// State is the retained message on up/state.
type State struct {
	Site          string    `json:"site"`
	State         string    `json:"state"` // "online" or "offline"
	At            time.Time `json:"at"`
	Version       string    `json:"version,omitempty"`
	ListVersion   int64     `json:"list_version"`
	TariffVersion string    `json:"tariff_version,omitempty"`
	LastSeq       uint64    `json:"last_seq"`
	AckedSeq      uint64    `json:"acked_seq"`
	OutboxDepth   uint64    `json:"outbox_depth"`
	Degraded      []string  `json:"degraded"`
	// PaymentProvider is false when the cloud said its provider is down.
	PaymentProvider bool           `json:"payment_provider"`
	Devices         []DeviceHealth `json:"devices,omitempty"`
}

// DeviceHealth is a device's health in up/state.
type DeviceHealth struct {
	Device    string    `json:"device"`
	Online    bool      `json:"online"`
	LastError string    `json:"last_error,omitempty"`
	Since     time.Time `json:"since"`
}
