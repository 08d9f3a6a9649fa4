package demo

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lotgate/lotgate/cloudsync"
	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/keys"
)

// OperatorOptions configure a simulated operator cloud.
type OperatorOptions struct {
	Broker   string // broker URL
	Site     string
	ClientID string // default "lotgate-cloud-{site}"
	Kid      string // the operator key that signs
	Priv     ed25519.PrivateKey
	// AckEvery acknowledges after this many new contiguous events (default
	// 64); AckInterval acknowledges what is pending at least this often
	// (default 100ms).
	AckEvery    int
	AckInterval time.Duration
	// OnEvent is called for every new event, in sequence order, from the
	// MQTT handler: it must not block.
	OnEvent func(cloudsync.Event)
	// Light reads only each event's seq: no chain check, nothing kept
	// (Events is empty, OnEvent not called). A consumer as cheap as a bare
	// subscriber, for throughput figures on a machine it shares with the
	// gateway.
	Light  bool
	Logger *slog.Logger
	Now    func() time.Time // time.Now when nil
}

// Operator is a simulated operator cloud: it consumes up/events with a
// persistent session (each message a cloudsync.Batch of one or more
// events), takes each event by its seq (a duplicate is counted and
// changes nothing), checks that the sequence is gap-free and the hash
// chain intact, acknowledges, and signs and sends messages. Tests use its
// counters to prove that nothing was lost.
type Operator struct {
	o      OperatorOptions
	log    *slog.Logger
	topics cloudsync.Topics
	cli    mqtt.Client

	mu         sync.Mutex
	contig     uint64 // every event up to contig was received
	lastHash   []byte
	pending    map[uint64]cloudsync.Event // received beyond contig
	events     []cloudsync.Event          // contiguous, in order
	messages   int                        // up/events messages received
	malformedN int                        // up/events messages that did not decode
	dups       int                        // events received again
	outOfOrd   int                        // events received before an earlier one
	chainErrs  []string
	acked      uint64
	acking     bool
	reack      bool // ack again even if contig did not move
	state      cloudsync.State
	sent       int

	stop chan struct{}
	wg   sync.WaitGroup
}

// StartOperator connects the operator to the broker and starts acking.
func StartOperator(o OperatorOptions) (*Operator, error) {
	if o.ClientID == "" {
		o.ClientID = "lotgate-cloud-" + o.Site
	}
	if o.AckEvery <= 0 {
		o.AckEvery = 64
	}
	if o.AckInterval <= 0 {
		o.AckInterval = 100 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	op := &Operator{o: o, log: o.Logger.With("component", "demo-cloud"), topics: cloudsync.TopicsFor(o.Site),
		pending: map[uint64]cloudsync.Event{}, acking: true, stop: make(chan struct{}), lastHash: gateway.GenesisHash}
	up := cloudsync.TopicVersion + "/" + o.Site + "/up/#"
	mo := mqtt.NewClientOptions().AddBroker(o.Broker).SetClientID(o.ClientID).SetCleanSession(false).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).
		SetMaxReconnectInterval(2 * time.Second).SetOrderMatters(true).SetWriteTimeout(5 * time.Second).
		// A persistent session delivers queued messages right after the
		// connect, before the subscription below is renewed.
		SetDefaultPublishHandler(op.onMessage).
		SetOnConnectHandler(func(c mqtt.Client) {
			if t := c.Subscribe(up, 1, op.onMessage); t.WaitTimeout(5*time.Second) && t.Error() != nil {
				op.log.Error("subscribe", "err", t.Error())
			}
		})
	op.cli = mqtt.NewClient(mo)
	t := op.cli.Connect()
	if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		op.cli.Disconnect(0)
		return nil, fmt.Errorf("demo cloud: connect to %s: %v", o.Broker, t.Error())
	}
	op.wg.Add(1)
	go op.ackLoop()
	return op, nil
}

// Close stops the operator.
func (op *Operator) Close() {
	select {
	case <-op.stop:
		return
	default:
	}
	close(op.stop)
	op.wg.Wait()
	op.cli.Disconnect(100)
}

func (op *Operator) onMessage(_ mqtt.Client, m mqtt.Message) {
	if m.Topic() == op.topics.State {
		var st cloudsync.State
		if json.Unmarshal(m.Payload(), &st) == nil {
			op.mu.Lock()
			op.state = st
			op.mu.Unlock()
		}
		return
	}
	if m.Topic() != op.topics.Events {
		return
	}
	// One message carries one or more events with consecutive seqs
	// (cloudsync.Batch); each is taken as if it came alone.
	var evs []cloudsync.Event
	if op.o.Light {
		first, last, err := cloudsync.DecodeBatchSeqs(m.Payload())
		if err != nil {
			op.malformed(err)
			return
		}
		evs = make([]cloudsync.Event, 0, last-first+1)
		for s := first; s <= last; s++ {
			evs = append(evs, cloudsync.Event{Seq: s})
		}
	} else {
		var err error
		if evs, err = cloudsync.DecodeBatch(m.Payload()); err != nil {
			op.malformed(err)
			return
		}
	}
	var fresh []cloudsync.Event
	op.mu.Lock()
	op.messages++
	for _, e := range evs {
		if _, seen := op.pending[e.Seq]; seen || e.Seq <= op.contig {
			// Answer a duplicate with an ack: the gateway resends when it
			// thinks events were lost, and an ack tells it they were not.
			op.dups++
			op.reack = true
			continue
		}
		if e.Seq != op.contig+1 {
			op.outOfOrd++
			op.pending[e.Seq] = e
			continue
		}
		op.pending[e.Seq] = e
		for {
			n, ok := op.pending[op.contig+1]
			if !ok {
				break
			}
			delete(op.pending, n.Seq)
			op.contig = n.Seq
			if op.o.Light {
				continue
			}
			op.checkChain(n)
			op.events = append(op.events, n)
			fresh = append(fresh, n)
		}
	}
	ackNow := op.acking && op.contig-op.acked >= uint64(op.o.AckEvery)
	op.mu.Unlock()
	if ackNow {
		op.ack()
	}
	if op.o.OnEvent != nil {
		for _, e := range fresh {
			op.o.OnEvent(e)
		}
	}
}

func (op *Operator) malformed(err error) {
	op.log.Warn("malformed up/events message", "err", err)
	op.mu.Lock()
	op.malformedN++
	op.mu.Unlock()
}

// checkChain verifies e against the previous event, as the cloud would.
func (op *Operator) checkChain(e cloudsync.Event) {
	ge, err := e.Gateway()
	if err != nil {
		op.chainErrs = append(op.chainErrs, err.Error())
		return
	}
	if !bytes.Equal(ge.PrevHash, op.lastHash) {
		op.chainErrs = append(op.chainErrs, fmt.Sprintf("seq %d: prev_hash does not match", e.Seq))
	}
	if !ge.HashValid() {
		op.chainErrs = append(op.chainErrs, fmt.Sprintf("seq %d: hash does not match", e.Seq))
	}
	op.lastHash = ge.Hash
}

func (op *Operator) ackLoop() {
	defer op.wg.Done()
	t := time.NewTicker(op.o.AckInterval)
	defer t.Stop()
	for {
		select {
		case <-op.stop:
			return
		case <-t.C:
			op.ack()
		}
	}
}

// ack publishes down/ack with the contiguous seq, if it moved.
func (op *Operator) ack() {
	op.mu.Lock()
	if !op.acking || op.contig == 0 || (op.contig <= op.acked && !op.reack) {
		op.mu.Unlock()
		return
	}
	seq := op.contig
	op.acked, op.reack = seq, false
	op.mu.Unlock()
	b, _ := json.Marshal(cloudsync.Ack{Seq: seq})
	op.cli.Publish(op.topics.Ack, 1, false, b)
}

// SetAcking turns acknowledgements off (a silent cloud) and on.
func (op *Operator) SetAcking(on bool) {
	op.mu.Lock()
	op.acking = on
	if on {
		op.acked = 0 // ack again what we have, at once
	}
	op.mu.Unlock()
	if on {
		op.ack()
	}
}

// Forget drops every event from seq from on, as a cloud that lost them
// (a restored database) would, and stops acknowledging until it has them
// again. Follow it with Replay(from).
func (op *Operator) Forget(from uint64) {
	op.mu.Lock()
	defer op.mu.Unlock()
	if from == 0 || from > op.contig {
		return
	}
	op.events = op.events[:from-1]
	op.contig = from - 1
	op.acked = op.contig
	op.pending = map[uint64]cloudsync.Event{}
	op.lastHash = gateway.GenesisHash
	if from > 1 {
		h, _ := hex.DecodeString(op.events[from-2].Hash)
		op.lastHash = h
	}
}

// Replay asks the gateway to send events again from seq from.
func (op *Operator) Replay(from uint64) error {
	b, _ := json.Marshal(cloudsync.Replay{From: from})
	return wait(op.cli.Publish(op.topics.Replay, 1, false, b))
}

// SendAck publishes an ack for seq as given (tests send acks out of order).
func (op *Operator) SendAck(seq uint64) error {
	b, _ := json.Marshal(cloudsync.Ack{Seq: seq})
	return wait(op.cli.Publish(op.topics.Ack, 1, false, b))
}

func wait(t mqtt.Token) error {
	if !t.WaitTimeout(10 * time.Second) {
		return errors.New("demo cloud: publish timed out")
	}
	return t.Error()
}

// Sign signs a message of type typ for the site with body; ttl 0 means
// no expiry. It returns the signed bytes and the message ID.
func (op *Operator) Sign(typ string, ttl time.Duration, body any) ([]byte, string, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, "", err
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	now := op.o.Now().Truncate(time.Second)
	m := keys.Message{ID: "demo-" + hex.EncodeToString(rnd[:]), Type: typ, Site: op.o.Site, IssuedAt: now, Body: b}
	if ttl > 0 {
		m.Expires = now.Add(ttl)
	}
	raw, err := keys.SignMessage(m, op.o.Kid, op.o.Priv)
	return raw, m.ID, err
}

// SendRaw publishes signed bytes on down/msg.
func (op *Operator) SendRaw(raw []byte) error {
	op.mu.Lock()
	op.sent++
	op.mu.Unlock()
	return wait(op.cli.Publish(op.topics.Msg, 1, false, raw))
}

// Send signs and publishes a message; it returns the message ID.
func (op *Operator) Send(typ string, ttl time.Duration, body any) (string, error) {
	raw, id, err := op.Sign(typ, ttl, body)
	if err != nil {
		return "", err
	}
	return id, op.SendRaw(raw)
}

// Stats are what the operator received.
type Stats struct {
	Contig     uint64   // every event up to Contig arrived
	Messages   int      // up/events messages received (each with one or more events)
	Malformed  int      // up/events messages that did not decode
	Pending    int      // events received beyond a gap
	Duplicates int      // events received more than once
	OutOfOrder int      // events received before an earlier one
	ChainErrs  []string // hash chain breaks
	Acked      uint64
	State      cloudsync.State // the last up/state
}

// Stats returns the counters so far.
func (op *Operator) Stats() Stats {
	op.mu.Lock()
	defer op.mu.Unlock()
	return Stats{Contig: op.contig, Messages: op.messages, Malformed: op.malformedN, Pending: len(op.pending), Duplicates: op.dups, OutOfOrder: op.outOfOrd,
		ChainErrs: append([]string(nil), op.chainErrs...), Acked: op.acked, State: op.state}
}

// Events returns the contiguous events received so far.
func (op *Operator) Events() []cloudsync.Event {
	op.mu.Lock()
	defer op.mu.Unlock()
	return append([]cloudsync.Event(nil), op.events...)
}

// WaitContig waits until every event up to seq arrived or ctx is done.
func (op *Operator) WaitContig(ctx context.Context, seq uint64) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if op.Stats().Contig >= seq {
			return nil
		}
		select {
		case <-ctx.Done():
			s := op.Stats()
			return fmt.Errorf("cloud received up to %d of %d (pending %d, duplicates %d): %w", s.Contig, seq, s.Pending, s.Duplicates, ctx.Err())
		case <-t.C:
		}
	}
}
