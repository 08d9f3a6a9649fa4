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
	"github.com/eclipse/paho.mqtt.golang/packets"

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
	// GapWait: when events arrive beyond one still missing and the gap
	// stays open this long, the operator asks for a replay from the first
	// missing seq (default 2s). The gateway mends most gaps itself
	// (it resends after a reconnect and when the cloud is silent).
	GapWait time.Duration
	// Keep bounds the events kept for Events: the latest Keep to 2×Keep
	// (0: all of them, for tests that check every event). The chain check
	// and the acks need none of them.
	Keep int
	// OnEvent is called for every new event, in sequence order, from the
	// MQTT handler: it must not block. history is true for an event the
	// gateway's cloud had acknowledged before this operator started (it
	// came in the replay the operator asked for to rebuild its state): a
	// cloud takes it as a fact and answers nothing it asks for again.
	OnEvent func(e cloudsync.Event, history bool)
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
//
// It keeps nothing on disk: a new Operator is a cloud that lost its state.
// When the first event it receives is not seq 1 (the gateway has a
// history the previous cloud acknowledged), it asks for a replay from seq
// 1 at once, and rebuilds from it what it follows; when a gap stays open
// for GapWait, it asks for a replay from the first seq it misses.
type Operator struct {
	o      OperatorOptions
	log    *slog.Logger
	topics cloudsync.Topics
	cli    mqtt.Client

	mu         sync.Mutex
	contig     uint64 // every event up to contig was received
	lastHash   []byte
	chainKnown bool                       // lastHash is the hash of event contig (false after Forget past what is kept)
	pending    map[uint64]cloudsync.Event // received beyond contig
	events     []cloudsync.Event          // contiguous, in order, the latest Keep to 2×Keep
	evFrom     uint64                     // the seq of events[0] (contig+1 when events is empty)
	started    bool                       // an event was received
	history    uint64                     // events up to it were acknowledged before this operator started
	gapSince   time.Time                  // a gap is open since then (zero: none)
	askedAt    time.Time                  // the last replay request
	replays    int                        // replay requests sent
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

// StartOperator connects the operator to the broker, subscribes and
// starts acking.
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
	if o.GapWait <= 0 {
		o.GapWait = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	op := &Operator{o: o, log: o.Logger.With("component", "demo-cloud"), topics: cloudsync.TopicsFor(o.Site),
		pending: map[uint64]cloudsync.Event{}, acking: true, stop: make(chan struct{}), lastHash: gateway.GenesisHash, chainKnown: true, evFrom: 1}
	up := cloudsync.TopicVersion + "/" + o.Site + "/up/#"
	var subscribed sync.Once
	subDone := make(chan struct{})
	mo := mqtt.NewClientOptions().AddBroker(o.Broker).SetClientID(o.ClientID).SetCleanSession(false).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).
		SetMaxReconnectInterval(2 * time.Second).SetOrderMatters(true).SetWriteTimeout(5 * time.Second).
		SetStore(&resumeStore{MemoryStore: mqtt.NewMemoryStore()}).
		// A persistent session delivers queued messages right after the
		// connect, before the subscription below is renewed.
		SetDefaultPublishHandler(op.onMessage).
		SetOnConnectHandler(func(c mqtt.Client) {
			if t := c.Subscribe(up, 1, op.onMessage); t.WaitTimeout(5*time.Second) && t.Error() != nil {
				op.log.Error("subscribe", "err", t.Error())
			}
			subscribed.Do(func() { close(subDone) })
		})
	op.cli = mqtt.NewClient(mo)
	t := op.cli.Connect()
	if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		op.cli.Disconnect(0)
		return nil, fmt.Errorf("demo cloud: connect to %s: %v", o.Broker, t.Error())
	}
	// Subscribed before it returns: a caller may publish at once.
	select {
	case <-subDone:
	case <-time.After(10 * time.Second):
		op.cli.Disconnect(0)
		return nil, fmt.Errorf("demo cloud: subscribe on %s: timed out", o.Broker)
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
	type taken struct {
		e       cloudsync.Event
		history bool
	}
	var fresh []taken
	replayFrom := uint64(0)
	op.mu.Lock()
	op.messages++
	for _, e := range evs {
		if !op.started {
			op.started = true
			if e.Seq > op.contig+1 {
				// A cloud that lost its state: what the gateway sends
				// continues a history acknowledged before. Rebuild it.
				op.history = e.Seq - 1
				replayFrom = op.contig + 1
			}
		}
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
			if op.gapSince.IsZero() {
				op.gapSince = op.o.Now()
			}
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
			op.keep(n)
			fresh = append(fresh, taken{n, n.Seq <= op.history})
		}
		// Progress: a gap still open is timed from now.
		op.gapSince = time.Time{}
		if len(op.pending) > 0 {
			op.gapSince = op.o.Now()
		}
	}
	if replayFrom > 0 {
		op.askedAt = op.o.Now()
		op.replays++
	}
	ackNow := op.acking && op.contig-op.acked >= uint64(op.o.AckEvery)
	op.mu.Unlock()
	if replayFrom > 0 {
		op.log.Info("the gateway's events continue a history this cloud does not hold: asking for a replay",
			"from", replayFrom, "received", evs[0].Seq)
		op.publishReplay(replayFrom)
	}
	if ackNow {
		op.ack()
	}
	if op.o.OnEvent != nil {
		for _, t := range fresh {
			op.o.OnEvent(t.e, t.history)
		}
	}
}

// maxChainErrs bounds the chain errors kept.
const maxChainErrs = 100

// keep adds a contiguous event to those kept, dropping the oldest past
// twice Keep (op.mu held).
func (op *Operator) keep(e cloudsync.Event) {
	op.events = append(op.events, e)
	if k := op.o.Keep; k > 0 && len(op.events) >= 2*k {
		drop := len(op.events) - k
		op.events = append([]cloudsync.Event(nil), op.events[drop:]...)
		op.evFrom += uint64(drop)
	}
}

func (op *Operator) malformed(err error) {
	op.log.Warn("malformed up/events message", "err", err)
	op.mu.Lock()
	op.malformedN++
	op.mu.Unlock()
}

// checkChain verifies e against the previous event, as the cloud would.
// The first event after a Forget past what is kept is taken on trust.
func (op *Operator) checkChain(e cloudsync.Event) {
	ge, err := e.Gateway()
	if err != nil {
		op.chainErr(err.Error())
		return
	}
	if op.chainKnown && !bytes.Equal(ge.PrevHash, op.lastHash) {
		op.chainErr(fmt.Sprintf("seq %d: prev_hash does not match", e.Seq))
	}
	if !ge.HashValid() {
		op.chainErr(fmt.Sprintf("seq %d: hash does not match", e.Seq))
	}
	op.lastHash, op.chainKnown = ge.Hash, true
}

func (op *Operator) chainErr(msg string) {
	if len(op.chainErrs) < maxChainErrs {
		op.chainErrs = append(op.chainErrs, msg)
	}
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
			op.mendGap()
		}
	}
}

// mendGap asks for a replay from the first missing seq when a gap has
// stayed open for GapWait (and no replay was asked for in that time).
func (op *Operator) mendGap() {
	op.mu.Lock()
	now := op.o.Now()
	if op.gapSince.IsZero() || now.Sub(op.gapSince) < op.o.GapWait || now.Sub(op.askedAt) < op.o.GapWait {
		op.mu.Unlock()
		return
	}
	from := op.contig + 1
	op.askedAt = now
	op.replays++
	missing := len(op.pending)
	op.mu.Unlock()
	op.log.Info("a gap in the gateway's events stays open: asking for a replay", "from", from, "held_beyond", missing)
	op.publishReplay(from)
}

// publishReplay publishes a replay request without waiting: it runs in
// the MQTT handler, which must not block.
func (op *Operator) publishReplay(from uint64) {
	b, _ := json.Marshal(cloudsync.Replay{From: from})
	op.cli.Publish(op.topics.Replay, 1, false, b)
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
	if from <= op.evFrom {
		op.events, op.evFrom = op.events[:0], from
	} else {
		op.events = op.events[:from-op.evFrom]
	}
	op.contig = from - 1
	op.acked = op.contig
	op.pending = map[uint64]cloudsync.Event{}
	op.gapSince = time.Time{}
	switch {
	case from == 1:
		op.lastHash, op.chainKnown = gateway.GenesisHash, true
	case len(op.events) > 0:
		h, _ := hex.DecodeString(op.events[len(op.events)-1].Hash)
		op.lastHash, op.chainKnown = h, true
	default: // event from-1 is no longer kept
		op.lastHash, op.chainKnown = nil, false
	}
}

// Replay asks the gateway to send events again from seq from.
func (op *Operator) Replay(from uint64) error {
	op.mu.Lock()
	op.replays++
	op.askedAt = op.o.Now()
	op.mu.Unlock()
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
	ChainErrs  []string // hash chain breaks (the first 100)
	Acked      uint64
	State      cloudsync.State // the last up/state
	// Replays counts the replay requests sent: at start for a history
	// this operator does not hold, for a gap that stayed open, and by
	// Replay.
	Replays int
	// History: events up to it were acknowledged before this operator
	// started (0: it started at seq 1).
	History uint64
}

// Stats returns the counters so far.
func (op *Operator) Stats() Stats {
	op.mu.Lock()
	defer op.mu.Unlock()
	return Stats{Contig: op.contig, Messages: op.messages, Malformed: op.malformedN, Pending: len(op.pending), Duplicates: op.dups, OutOfOrder: op.outOfOrd,
		ChainErrs: append([]string(nil), op.chainErrs...), Acked: op.acked, State: op.state, Replays: op.replays, History: op.history}
}

// Events returns the contiguous events received so far (the latest, with
// OperatorOptions.Keep).
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

// resumeStore is paho's memory store keeping its own copies of the
// PUBLISH packets and handing out copies. On a reconnect paho's resume sets
// the DUP flag on a stored packet while its writer may still be packing the
// same packet (which sets its length) from before the connection dropped:
// a data race in paho v1.5.1. With copies in and out, the stored packet is
// never the one on the wire. The message is still sent again, as QoS 1
// wants.
type resumeStore struct{ *mqtt.MemoryStore }

func (s *resumeStore) Put(key string, p packets.ControlPacket) {
	s.MemoryStore.Put(key, clonePublish(p))
}

func (s *resumeStore) Get(key string) packets.ControlPacket {
	return clonePublish(s.MemoryStore.Get(key))
}

// clonePublish copies a PUBLISH packet; other packets are returned as they
// are (resume does not change them).
func clonePublish(p packets.ControlPacket) packets.ControlPacket {
	pub, ok := p.(*packets.PublishPacket)
	if !ok {
		return p
	}
	cp := *pub
	cp.Payload = bytes.Clone(pub.Payload)
	return &cp
}
