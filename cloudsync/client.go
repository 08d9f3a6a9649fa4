package cloudsync

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/lotgate/lotgate/gateway"
)

// Downlink takes the cloud's signed messages: *gateway.Sync implements it.
type Downlink interface {
	// Take verifies a message and durably stores it — applying it in the
	// same transaction when it can — before it returns nil; the MQTT
	// message is acknowledged only then. act, when not nil, is called
	// after the acknowledgement: it moves the device or applies what was
	// only stored.
	Take(ctx context.Context, raw []byte, source string) (out gateway.Outcome, act func(context.Context) error, err error)
	// ApplyPending applies what was stored and not yet applied.
	ApplyPending(ctx context.Context) (int, error)
}

// Info is what up/state says besides the outbox and the link.
type Info struct {
	ListVersion     int64
	TariffVersion   string
	PaymentProvider bool                   // false: the cloud said its payment provider is down
	ProviderReason  string                 // why
	Devices         []gateway.DeviceHealth // the latest health of each device (gateway.Gateway.DeviceHealth)
}

// Options configure a Client. Store, Downlink, Site, Broker and ClientID
// are required.
type Options struct {
	Site     string // the site ID: topics are lotgate/v1/{Site}/…
	Broker   string // tcp://host:port, ssl://host:port (TLS), ws://, wss://
	ClientID string // stable per site: the broker keeps the session by it
	TLS      *tls.Config
	Username string
	Password string

	Store    gateway.Store // the event log (outbox) and the ack cursor
	Downlink Downlink
	// Info, when set, is called at every step of the drain: up/state is
	// published again as soon as what it says changes.
	Info func(ctx context.Context) Info
	// Version is the gateway's version, shown in up/state.
	Version string

	// Window bounds the up/events messages sent and not yet acknowledged
	// by the cloud (default 256): a broker's per-client queue counts
	// messages. Keep it well under that queue (mosquitto's
	// max_queued_messages defaults to 1000): after days offline the
	// gateway then never floods the broker. A message holds up to
	// MessageEvents events and MessageBytes bytes, so the broker holds
	// about Window × MessageBytes bytes of this gateway's events at most.
	Window int
	// MessageEvents is the most events one up/events message carries
	// (default 64); MessageBytes the most bytes of its payload (default
	// 32 KiB, well under the limits brokers put on a message: AWS IoT
	// Core's is 128 KB). An event larger than MessageBytes goes alone.
	// Only what is already queued is batched: a live event is sent at
	// once, alone if nothing else is waiting.
	MessageEvents int
	MessageBytes  int
	// Batch is how many events are read from the store at a time
	// (default 256, and at least MessageEvents).
	Batch int
	// AckTimeout: when events are outstanding and the cloud acknowledges
	// nothing for this long, the cloud is "silent" and the unacknowledged
	// events are sent again (default 60s).
	AckTimeout time.Duration
	// MaxReconnectInterval caps the reconnect backoff (default 45s; a
	// random jitter of up to a tenth of it, at most 2s, is added).
	MaxReconnectInterval time.Duration
	// WriteTimeout bounds each write to the broker (default 10s);
	// ConnectTimeout each connection attempt (default 10s).
	WriteTimeout   time.Duration
	ConnectTimeout time.Duration
	KeepAlive      time.Duration // default 30s
	// Poll is how often the log is checked for new events when nothing
	// woke the drain (default 50ms). EventCommitted wakes it at once.
	Poll time.Duration
	// StateInterval is how often up/state is refreshed (default 30s).
	StateInterval time.Duration
	// AckStoreInterval is how often the cloud's latest ack is stored
	// (default 100ms). An ack moves the window at once; storing it costs an
	// fsync, and an ack lost in a crash only means its events are sent
	// again, which the cloud deduplicates on seq.
	AckStoreInterval time.Duration

	Logger *slog.Logger // discarded when nil
	// Now is the clock for the silence timer (time.Now when nil).
	Now func() time.Time
}

// Defaults of Options.MessageEvents and Options.MessageBytes.
const (
	DefaultMessageEvents = 64
	DefaultMessageBytes  = 32 << 10
)

// Client keeps one site in sync with the cloud. Open starts it, Close
// stops it. Its methods are safe for concurrent use.
type Client struct {
	o      Options
	log    *slog.Logger
	topics Topics
	cli    mqtt.Client
	m      *metrics

	wake  chan struct{} // wakes the drain
	inMsg queue         // down/msg
	inAck queue         // down/ack and down/replay

	mu        sync.Mutex // guards the mailbox below, written by handlers
	connected bool
	connEpoch uint64 // bumped on every (re)connect
	resetFrom uint64 // a replay request: go back to this seq
	ackedTo   uint64 // the highest ack of the latest batch of acks
	// sentTo is the highest seq this client has published (or the
	// stored ack cursor at Open): an ack above it names events the cloud
	// cannot have, and is cut down to it, so a wrong or forged ack never
	// makes the drain skip events it never sent.
	sentTo   atomic.Uint64
	ackGen   uint64 // bumped with every batch of acks
	degraded []string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
}

// queue is an unbounded FIFO of MQTT messages. Handlers push and never
// block; the broker bounds what is unacknowledged (its receive maximum),
// so the queue stays small.
type queue struct {
	mu   sync.Mutex
	q    []mqtt.Message
	wake chan struct{}
}

func (q *queue) push(m mqtt.Message) {
	q.mu.Lock()
	q.q = append(q.q, m)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *queue) take() []mqtt.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.q
	q.q = nil
	return out
}

// New checks the options and builds a client; Open connects.
func New(o Options) (*Client, error) {
	if o.Site == "" || o.Broker == "" || o.ClientID == "" || o.Store == nil || o.Downlink == nil {
		return nil, errors.New("cloudsync: site, broker, client ID, store and downlink are required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.Window <= 0 {
		o.Window = 256
	}
	if o.MessageEvents <= 0 {
		o.MessageEvents = DefaultMessageEvents
	}
	if o.MessageBytes <= 0 {
		o.MessageBytes = DefaultMessageBytes
	}
	if o.Batch <= 0 {
		o.Batch = 256
	}
	o.Batch = max(o.Batch, o.MessageEvents)
	def(&o.AckTimeout, 60*time.Second)
	def(&o.MaxReconnectInterval, 45*time.Second)
	def(&o.WriteTimeout, 10*time.Second)
	def(&o.ConnectTimeout, 10*time.Second)
	def(&o.KeepAlive, 30*time.Second)
	def(&o.Poll, 50*time.Millisecond)
	def(&o.StateInterval, 30*time.Second)
	def(&o.AckStoreInterval, 100*time.Millisecond)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := newMetrics()
	c := &Client{o: o, log: o.Logger.With("component", "cloudsync"), topics: TopicsFor(o.Site), m: m,
		wake: make(chan struct{}, 1), degraded: []string{DegradedBrokerUnreachable}}
	c.inMsg.wake = make(chan struct{}, 1)
	c.inAck.wake = make(chan struct{}, 1)
	m.setDegraded(c.degraded)

	mo := mqtt.NewClientOptions().
		AddBroker(o.Broker).
		SetClientID(o.ClientID).
		SetCleanSession(false). // the broker keeps our subscription and QoS 1 messages while we are away
		// Handlers run in paho's router goroutine, in arrival order: ours
		// only enqueue, and an ack sent before a replay request must be
		// handled before it (or it would move the window past the replay).
		SetOrderMatters(true).
		SetAutoAckDisabled(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(o.MaxReconnectInterval).
		SetConnectTimeout(o.ConnectTimeout).
		SetWriteTimeout(o.WriteTimeout).
		SetKeepAlive(o.KeepAlive).
		SetPingTimeout(10 * time.Second).
		SetResumeSubs(true).
		SetDefaultPublishHandler(c.onMessage).
		SetOnConnectHandler(c.onConnect).
		SetConnectionLostHandler(c.onLost).
		SetReconnectingHandler(c.onReconnecting)
	will, _ := json.Marshal(State{Site: o.Site, State: "offline", Version: o.Version, Degraded: []string{DegradedBrokerUnreachable}})
	mo.SetBinaryWill(c.topics.State, will, 1, true)
	if o.TLS != nil {
		mo.SetTLSConfig(o.TLS)
	}
	if o.Username != "" {
		mo.SetUsername(o.Username)
		mo.SetPassword(o.Password)
	}
	mo.SetStore(noStore{})
	c.cli = mqtt.NewClient(mo)
	return c, nil
}

// Open loads the ack cursor, applies messages stored before a restart and
// starts connecting; it returns without waiting for the broker (the site
// works offline).
func (c *Client) Open(ctx context.Context) error {
	var acked uint64
	if err := c.o.Store.View(ctx, func(tx gateway.Tx) error {
		var err error
		acked, err = tx.CloudAcked()
		return err
	}); err != nil {
		return fmt.Errorf("cloudsync: read ack cursor: %w", err)
	}
	c.m.acked.Store(acked)
	c.sentTo.Store(acked)
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if n, err := c.o.Downlink.ApplyPending(c.ctx); err != nil {
		c.log.Error("apply stored cloud messages", "err", err)
	} else if n > 0 {
		c.log.Info("applied cloud messages stored before a restart", "count", n)
	}
	c.wg.Add(3)
	go c.drainLoop(acked)
	go c.msgLoop()
	go c.ackLoop(acked)
	c.cli.Connect() // with ConnectRetry it retries in the background
	return nil
}

// Close stops the drain and the workers, publishes the retained offline
// state and disconnects. Events not yet acknowledged stay in the outbox.
func (c *Client) Close(ctx context.Context) error {
	c.closed.Do(func() {
		if c.cancel != nil {
			c.cancel()
		}
		c.wg.Wait()
		if c.cli.IsConnectionOpen() {
			b, _ := json.Marshal(c.state(ctx, "offline"))
			t := c.cli.Publish(c.topics.State, 1, true, b)
			select {
			case <-t.Done():
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
		c.cli.Disconnect(250)
	})
	return nil
}

// Connected reports whether the broker connection is up.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected
}

// Online reports whether the cloud can be asked now: connected and not
// silent. Delegation uses it.
func (c *Client) Online() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected && !slices.Contains(c.degraded, DegradedCloudSilent)
}

// Degraded returns the degraded modes in force.
func (c *Client) Degraded() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.degraded)
}

// EventCommitted implements gateway.Observer: a new event wakes the drain
// (without it the drain polls every Options.Poll).
func (c *Client) EventCommitted(gateway.Event) { c.poke() }

func (c *Client) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Client) onConnect(cl mqtt.Client) {
	c.mu.Lock()
	c.connected = true
	c.connEpoch++
	c.mu.Unlock()
	c.m.connected.Store(1)
	c.m.connects.Add(1)
	c.log.Info("connected to the broker", "broker", c.o.Broker)
	// Resubscribe on every connect: a broker that lost our session (a
	// restart without persistence) has forgotten the subscription.
	t := cl.Subscribe(c.topics.Down, 1, nil)
	if !t.WaitTimeout(c.o.WriteTimeout) || t.Error() != nil {
		c.log.Error("subscribe", "topic", c.topics.Down, "err", t.Error())
	}
	c.poke()
}

func (c *Client) onLost(_ mqtt.Client, err error) {
	c.mu.Lock()
	c.connected = false
	c.mu.Unlock()
	c.m.connected.Store(0)
	c.log.Warn("lost the broker", "err", err)
	c.poke()
}

// onReconnecting adds jitter to paho's exponential backoff, so that a
// fleet of gateways does not reconnect in step after a broker restart.
func (c *Client) onReconnecting(mqtt.Client, *mqtt.ClientOptions) {
	j := min(c.o.MaxReconnectInterval/10, 2*time.Second)
	if j > 0 {
		time.Sleep(rand.N(j))
	}
}

// onMessage is paho's handler for everything under down/. It never
// blocks: messages are queued for the workers.
func (c *Client) onMessage(_ mqtt.Client, m mqtt.Message) {
	switch m.Topic() {
	case c.topics.Msg:
		c.inMsg.push(m)
	case c.topics.Ack, c.topics.Replay:
		c.inAck.push(m)
	default:
		c.log.Warn("message on an unknown topic", "topic", m.Topic())
		m.Ack()
	}
}

// msgLoop stores (and where it can, applies) each signed message
// (Downlink.Take) before acknowledging it to the broker, then lets it act:
// one fsync between a payment completion or a remote open arriving and
// the device moving.
func (c *Client) msgLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.inMsg.wake:
		}
		retry := false
		for _, m := range c.inMsg.take() {
			for {
				out, act, err := c.o.Downlink.Take(c.ctx, m.Payload(), "mqtt")
				if err == nil {
					m.Ack()
					c.m.downlinkInc(outcomeLabel(out))
					if act != nil {
						if err := act(c.ctx); err != nil && c.ctx.Err() == nil {
							c.log.Error("apply cloud message", "id", out.MessageID, "err", err)
							retry = true // it stays pending
						}
					}
					break
				}
				// Not stored: not acknowledged. Try again; the broker
				// would redeliver after a reconnect anyway.
				c.m.downlinkInc("error")
				c.log.Error("store cloud message", "err", err)
				select {
				case <-c.ctx.Done():
					return
				case <-time.After(time.Second):
				}
			}
		}
		if retry {
			if _, err := c.o.Downlink.ApplyPending(c.ctx); err != nil && c.ctx.Err() == nil {
				c.log.Error("apply cloud messages", "err", err)
			}
		}
	}
}

func outcomeLabel(o gateway.Outcome) string {
	switch {
	case o.Duplicate:
		return "duplicate"
	case !o.Stored:
		return "refused"
	case o.State == gateway.InboxApplied:
		return "applied"
	}
	return "stored"
}

// ackLoop takes the cloud's acks (the highest of those queued) and replay
// requests, passes them to the drain, and stores the ack cursor at most
// every Options.AckStoreInterval, and once more when the client closes.
func (c *Client) ackLoop(acked uint64) {
	defer c.wg.Done()
	stored, unstored := acked, acked // the cursor as stored; the latest ack
	tick := time.NewTicker(c.o.AckStoreInterval)
	defer tick.Stop()
	persist := func(ctx context.Context) {
		if unstored <= stored {
			return
		}
		if err := c.persistAck(ctx, unstored); err != nil {
			if ctx.Err() == nil {
				c.log.Error("store cloud ack", "seq", unstored, "err", err)
			}
			return // tried again at the next tick
		}
		stored = unstored
	}
	for {
		select {
		case <-c.ctx.Done():
			ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), 2*time.Second)
			persist(ctx)
			cancel()
			return
		case <-tick.C:
			persist(c.ctx)
			continue
		case <-c.inAck.wake:
		}
		ms := c.inAck.take()
		var ack uint64
		var replay uint64
		for _, m := range ms {
			if m.Topic() == c.topics.Ack {
				var a Ack
				if err := json.Unmarshal(m.Payload(), &a); err != nil {
					c.log.Warn("malformed ack", "err", err)
					continue
				}
				ack = max(ack, a.Seq)
			} else {
				var r Replay
				if err := json.Unmarshal(m.Payload(), &r); err != nil || r.From == 0 {
					c.log.Warn("malformed replay request", "err", err)
					continue
				}
				if replay == 0 || r.From < replay {
					replay = r.From
				}
			}
		}
		if ack > 0 {
			last, err := c.lastSeq()
			if err != nil {
				if c.ctx.Err() == nil {
					c.log.Error("read the event log", "err", err)
				}
				continue // not acknowledged to the broker: it comes again
			}
			if ack > last {
				c.log.Warn("the cloud acknowledged events this gateway never wrote", "seq", ack, "last", last)
				ack = last
			}
			if sent := c.sentTo.Load(); ack > sent {
				c.log.Warn("the cloud acknowledged events this gateway has not sent yet; taken as an ack up to what was sent",
					"seq", ack, "sent", sent)
				c.m.ackBeyondSent.Add(1)
				ack = sent
			}
			unstored = max(unstored, ack)
			// Every ack goes to the drain, also one at or below the
			// cursor: during a replay the window moves with those.
			c.mu.Lock()
			c.ackedTo = ack
			c.ackGen++
			c.mu.Unlock()
		}
		if replay > 0 {
			c.m.replays.Add(1)
			c.log.Info("cloud asked for a replay", "from", replay)
			c.mu.Lock()
			if c.resetFrom == 0 || replay < c.resetFrom {
				c.resetFrom = replay
			}
			c.mu.Unlock()
		}
		for _, m := range ms {
			m.Ack()
		}
		c.poke()
	}
}

// lastSeq reads the last event's seq.
func (c *Client) lastSeq() (uint64, error) {
	var last uint64
	err := c.o.Store.View(c.ctx, func(tx gateway.Tx) error {
		var err error
		last, _, err = tx.LastEvent()
		return err
	})
	return last, err
}

// persistAck stores the ack cursor (it never moves back).
func (c *Client) persistAck(ctx context.Context, seq uint64) error {
	return c.o.Store.Update(ctx, func(tx gateway.Tx) error {
		_, err := tx.AckCloud(seq)
		return err
	})
}

// drainLoop sends events in sequence order through the window. All its
// state is its own; handlers talk to it through the mailbox under mu.
func (c *Client) drainLoop(acked uint64) {
	defer c.wg.Done()
	d := drain{c: c, base: acked, next: acked + 1, lastProgress: c.o.Now()}
	c.mu.Lock()
	c.ackedTo = acked
	c.mu.Unlock()
	poll := time.NewTicker(c.o.Poll)
	defer poll.Stop()
	stateTick := time.NewTicker(c.o.StateInterval)
	defer stateTick.Stop()
	for {
		forceState := false
		select {
		case <-c.ctx.Done():
			return
		case <-c.wake:
		case <-poll.C:
		case <-stateTick.C:
			forceState = true
		}
		d.step(forceState)
	}
}

type drain struct {
	c            *Client
	base         uint64 // window base: acked, or replay-from minus one
	next         uint64 // next seq to publish
	epoch        uint64 // the connection the events up to next went out on
	lastProgress time.Time
	silent       bool   // the ack timer ran out; cleared by the next ack
	ackGen       uint64 // the batch of acks last seen
	last         uint64 // last seq in the log, as last read
	stateEpoch   uint64
	stateDeg     []string
	stateInfo    Info // what the last up/state said besides the outbox
	// ends holds the last seq of each message in flight, ascending: the
	// window counts messages. A message leaves it when an ack covers its
	// last event; on a resend (reconnect, replay, silence) it empties, as
	// what was in flight is sent again from base+1, cut afresh.
	ends []uint64
	enc  [][]byte // the encoded events of the current read
}

func (d *drain) step(forceState bool) {
	c := d.c
	c.mu.Lock()
	connected, epoch, reset, acked, ackGen := c.connected, c.connEpoch, c.resetFrom, c.ackedTo, c.ackGen
	c.resetFrom = 0
	c.mu.Unlock()

	now := c.o.Now()
	// Only a new ack moves the window: during a replay the base sits below
	// the stored cursor until the cloud acknowledges the replayed events.
	if ackGen != d.ackGen && acked > d.base {
		d.base, d.lastProgress, d.silent = acked, now, false
		c.m.acked.Store(acked)
		if d.next <= d.base {
			d.next = d.base + 1
		}
		i := 0
		for i < len(d.ends) && d.ends[i] <= d.base {
			i++
		}
		d.ends = append(d.ends[:0], d.ends[i:]...)
	}
	d.ackGen = ackGen
	if reset > 0 {
		// A replay: send again from reset, counting the window from there.
		d.base = min(d.base, reset-1)
		d.next = reset
		d.ends = d.ends[:0]
		d.lastProgress = now
	}
	if connected && epoch != d.epoch {
		// A new connection: what was in flight may be lost (a broker
		// restarted without persistence, a full queue): go back to the
		// first unacknowledged event. The cloud deduplicates on seq.
		if d.next > d.base+1 {
			c.m.resent.Add(d.next - d.base - 1)
		}
		d.next, d.epoch, d.lastProgress = d.base+1, epoch, now
		d.ends = d.ends[:0]
	}
	if err := c.o.Store.View(c.ctx, func(tx gateway.Tx) error {
		var err error
		d.last, _, err = tx.LastEvent()
		return err
	}); err != nil {
		if c.ctx.Err() == nil {
			c.log.Error("read the event log", "err", err)
		}
		return
	}
	c.m.depth.Store(d.last - min(d.last, d.base))
	if connected {
		switch {
		case d.next-1 == d.base:
			d.lastProgress = now // nothing outstanding: no silence to blame on the cloud
		case now.Sub(d.lastProgress) >= c.o.AckTimeout:
			d.silent = true
			c.log.Warn("the cloud acknowledges nothing: sending the unacknowledged events again",
				"acked", d.base, "sent", d.next-1, "for", now.Sub(d.lastProgress).Round(time.Millisecond))
			c.m.resent.Add(d.next - d.base - 1)
			d.next, d.lastProgress = d.base+1, now
			d.ends = d.ends[:0]
		}
		d.publish()
	}
	d.updateState(connected, d.silent, epoch, forceState)
}

// publish sends events from next while the window has room, in messages
// (each a Batch) of up to MessageEvents events and MessageBytes bytes. It batches
// only what the log holds now: the last message of a read is short only
// when the log has nothing more (or the byte cap cut it), so a live event
// goes at once, alone.
func (d *drain) publish() {
	c := d.c
	for d.next <= d.last && len(d.ends) < c.o.Window {
		if !c.cli.IsConnectionOpen() {
			return
		}
		if d.next-1 == d.base {
			d.lastProgress = c.o.Now() // the silence timer starts with the first outstanding event
		}
		room := uint64(c.o.Window - len(d.ends))
		n := min(uint64(c.o.Batch), room*uint64(c.o.MessageEvents), d.last-d.next+1)
		var evs []gateway.Event
		if err := c.o.Store.View(c.ctx, func(tx gateway.Tx) error {
			var err error
			evs, err = tx.Events(d.next, int(n))
			return err
		}); err != nil {
			if c.ctx.Err() == nil {
				c.log.Error("read events", "from", d.next, "err", err)
			}
			return
		}
		if len(evs) == 0 {
			return
		}
		d.enc = d.enc[:0]
		for i, e := range evs {
			if e.Seq != d.next+uint64(i) {
				c.log.Error("the event log has a gap", "want", d.next+uint64(i), "got", e.Seq)
				if i == 0 {
					return
				}
				evs = evs[:i]
				break
			}
			b, err := json.Marshal(EventFrom(c.o.Site, e))
			if err != nil {
				c.log.Error("encode event", "seq", e.Seq, "err", err)
				if i == 0 {
					return
				}
				evs = evs[:i]
				break
			}
			d.enc = append(d.enc, b)
		}
		more := d.next+uint64(len(evs)) <= d.last // the log goes on past this read
		for i := 0; i < len(d.enc) && len(d.ends) < c.o.Window; {
			k, size := cutBatch(d.enc[i:], c.o.MessageEvents, c.o.MessageBytes)
			if i > 0 && i+k == len(d.enc) && more && k < c.o.MessageEvents {
				break // a short tail: read again with what follows it
			}
			if !d.send(d.enc[i:i+k], size) {
				return
			}
			i += k
		}
	}
}

// Bytes a batch adds around its events: {"events":[ and ]}.
const batchOverhead = len(`{"events":[]}`)

// cutBatch returns how many of the encoded events (at least one) make one
// message of at most maxEvents events and maxBytes bytes, and its size.
func cutBatch(enc [][]byte, maxEvents, maxBytes int) (k, size int) {
	size = batchOverhead + len(enc[0])
	k = 1
	for k < len(enc) && k < maxEvents && size+1+len(enc[k]) <= maxBytes {
		size += 1 + len(enc[k])
		k++
	}
	return k, size
}

// appendBatch appends the Batch of the encoded events to b.
func appendBatch(b []byte, enc [][]byte) []byte {
	b = append(b, `{"events":[`...)
	for i, e := range enc {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	return append(b, "]}"...)
}

// send publishes one message of consecutive events from next. It reports
// false when the client refused it at once (the connection is gone).
func (d *drain) send(enc [][]byte, size int) bool {
	c := d.c
	// Marked sent before it goes: the cloud's ack may come back before
	// Publish returns.
	if end := d.next + uint64(len(enc)) - 1; end > c.sentTo.Load() {
		c.sentTo.Store(end) // only the drain's goroutine writes it
	}
	// A new slice per message: paho writes it after Publish returns.
	t := c.cli.Publish(c.topics.Events, 1, false, appendBatch(make([]byte, 0, size), enc))
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			c.log.Warn("publish events", "from", d.next, "count", len(enc), "err", err)
			return false
		}
	default:
	}
	c.m.published.Add(uint64(len(enc)))
	c.m.messages.Add(1)
	d.next += uint64(len(enc))
	d.ends = append(d.ends, d.next-1)
	return true
}

// updateState recomputes the degraded modes and publishes up/state on a
// change, on a new connection and on the state timer.
func (d *drain) updateState(connected, silent bool, epoch uint64, force bool) {
	c := d.c
	var deg []string
	if !connected {
		deg = append(deg, DegradedBrokerUnreachable)
	} else if silent {
		deg = append(deg, DegradedCloudSilent)
	}
	var info Info
	if c.o.Info != nil {
		info = c.o.Info(c.ctx)
		if !info.PaymentProvider {
			deg = append(deg, DegradedPaymentProvider)
		}
	}
	c.mu.Lock()
	changed := !slices.Equal(deg, c.degraded)
	c.degraded = deg
	c.mu.Unlock()
	if changed {
		c.m.setDegraded(deg)
		if len(deg) > 0 {
			c.log.Warn("degraded", "modes", deg)
		} else {
			c.log.Info("cloud sync healthy")
		}
	}
	if !connected || !c.cli.IsConnectionOpen() {
		return
	}
	// Also on a change of what Info says (a device went offline, a new
	// tariff or list version), so the cloud sees it at once.
	if !changed && !force && epoch == d.stateEpoch && sameInfo(info, d.stateInfo) {
		return
	}
	d.stateEpoch, d.stateInfo = epoch, info
	b, err := json.Marshal(c.stateWith(info, "online", d.last, d.base))
	if err != nil {
		return
	}
	c.cli.Publish(c.topics.State, 1, true, b)
}

func sameInfo(a, b Info) bool {
	return a.ListVersion == b.ListVersion && a.TariffVersion == b.TariffVersion && a.PaymentProvider == b.PaymentProvider &&
		a.ProviderReason == b.ProviderReason && slices.EqualFunc(a.Devices, b.Devices, func(x, y gateway.DeviceHealth) bool {
		return x.Device == y.Device && x.Online == y.Online && x.LastError == y.LastError && x.Since.Equal(y.Since)
	})
}

// state builds up/state for Close.
func (c *Client) state(ctx context.Context, s string) State {
	var info Info
	if c.o.Info != nil {
		info = c.o.Info(ctx)
	}
	var last, acked uint64
	_ = c.o.Store.View(ctx, func(tx gateway.Tx) error {
		var err error
		if last, _, err = tx.LastEvent(); err != nil {
			return err
		}
		acked, err = tx.CloudAcked()
		return err
	})
	st := c.stateWith(info, s, last, acked)
	st.Degraded = append(st.Degraded, DegradedBrokerUnreachable)
	return st
}

func (c *Client) stateWith(info Info, s string, last, acked uint64) State {
	st := State{Site: c.o.Site, State: s, At: c.o.Now().UTC(), Version: c.o.Version, ListVersion: info.ListVersion,
		TariffVersion: info.TariffVersion, LastSeq: last, AckedSeq: acked, OutboxDepth: last - min(last, acked),
		Degraded: c.Degraded(), PaymentProvider: info.PaymentProvider || c.o.Info == nil}
	for _, h := range info.Devices {
		st.Devices = append(st.Devices, DeviceHealth{Device: h.Device, Online: h.Online, LastError: h.LastError, Since: h.Since})
	}
	if st.Degraded == nil {
		st.Degraded = []string{}
	}
	return st
}

// noStore is paho's message store doing nothing. The SQLite outbox is the
// durable copy: after a reconnect the drain sends again everything the
// cloud has not acknowledged, in order. paho's own store would resend its
// in-flight messages too, in random order (as duplicates), and costs a
// map entry per event.
type noStore struct{}

func (noStore) Open()                             {}
func (noStore) Put(string, packets.ControlPacket) {}
func (noStore) Get(string) packets.ControlPacket  { return nil }
func (noStore) All() []string                     { return nil }
func (noStore) Del(string)                        {}
func (noStore) Close()                            {}
func (noStore) Reset()                            {}
