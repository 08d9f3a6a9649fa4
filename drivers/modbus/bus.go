package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	goburrow "github.com/goburrow/modbus"

	"github.com/lotgate/lotgate/gateway"
)

// BusConfig describes one Modbus line: a TCP connection or an RTU serial
// line, and its timing. Zero values take the defaults listed.
type BusConfig struct {
	ID  string
	TCP string     // host:port of a Modbus TCP server or gateway; exactly one of TCP and RTU
	RTU *RTUConfig // an RS-485 line

	// Timeout bounds one transaction (request and response); a call's
	// context deadline shortens it. Default 500ms.
	Timeout time.Duration
	// FrameGap is the silence kept between the end of one transaction and
	// the next request. Default: for RTU the 3.5 character times of the
	// Modbus specification (1.75ms above 19200 baud); for TCP none.
	FrameGap time.Duration
	// Retries is how many times a transaction that failed for a reason
	// other than a Modbus exception is tried again (on a new connection),
	// within the call's deadline. Default 1; -1 for none.
	Retries int
	// OfflineAfter is the number of consecutive failed exchanges after
	// which a device is marked offline. Default 3.
	OfflineAfter int
	// ProbeInterval is how often an offline device is tried again.
	// Default 5s.
	ProbeInterval time.Duration
	// PollInterval is how often sensors and the pay station's payment flag
	// are read. Default 250ms.
	PollInterval time.Duration
	// QueueSize bounds the requests waiting for the line; a call finding
	// the queue full fails at once. Default 32.
	QueueSize int
	// BackoffMin and BackoffMax bound the wait between failed attempts to
	// connect (TCP) or open the port (RTU); it doubles after each failure
	// and resets after a successful transaction. Defaults 100ms and 5s.
	BackoffMin, BackoffMax time.Duration

	// dial replaces the real transport in tests.
	dial dialFunc
}

// RTUConfig is a serial line's settings.
type RTUConfig struct {
	Device   string // /dev/ttyUSB0, /dev/serial/by-id/…, /dev/ttyAMA0
	Baud     int    // default 19200
	DataBits int    // default 8
	Parity   string // "E" (default), "O" or "N"
	StopBits int    // default 1
}

// charTime is the time one character takes on the line: start bit, data
// bits, parity and stop bits.
func (c *RTUConfig) charTime() time.Duration {
	bits := 1 + c.DataBits + c.StopBits
	if c.Parity != "N" {
		bits++
	}
	return time.Duration(bits) * time.Second / time.Duration(c.Baud)
}

// silence is the 3.5 character times that end an RTU frame; fixed at
// 1.75ms above 19200 baud, as the specification recommends.
func (c *RTUConfig) silence() time.Duration {
	if c.Baud > 19200 {
		return 1750 * time.Microsecond
	}
	return c.charTime() * 7 / 2
}

func (c BusConfig) withDefaults() BusConfig {
	if c.Timeout <= 0 {
		c.Timeout = 500 * time.Millisecond
	}
	if c.RTU != nil {
		r := *c.RTU
		if r.Baud == 0 {
			r.Baud = 19200
		}
		if r.DataBits == 0 {
			r.DataBits = 8
		}
		if r.Parity == "" {
			r.Parity = "E"
		}
		if r.StopBits == 0 {
			r.StopBits = 1
		}
		c.RTU = &r
		if c.FrameGap <= 0 {
			c.FrameGap = r.silence()
		}
	}
	if c.Retries == 0 {
		c.Retries = 1
	} else if c.Retries < 0 {
		c.Retries = 0
	}
	if c.OfflineAfter <= 0 {
		c.OfflineAfter = 3
	}
	if c.ProbeInterval <= 0 {
		c.ProbeInterval = 5 * time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 250 * time.Millisecond
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 32
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = 100 * time.Millisecond
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = max(5*time.Second, c.BackoffMin)
	}
	return c
}

func (c BusConfig) check() error {
	switch {
	case c.ID == "":
		return errors.New("modbus: bus without an ID")
	case (c.TCP == "") == (c.RTU == nil) && c.dial == nil:
		return fmt.Errorf("modbus bus %s: give exactly one of a TCP address and an RTU line", c.ID)
	case c.RTU != nil && c.RTU.Device == "":
		return fmt.Errorf("modbus bus %s: RTU line without a device", c.ID)
	case c.RTU != nil && c.RTU.Parity != "" && c.RTU.Parity != "E" && c.RTU.Parity != "O" && c.RTU.Parity != "N":
		return fmt.Errorf("modbus bus %s: parity %q: want E, O or N", c.ID, c.RTU.Parity)
	}
	return nil
}

// link is one open connection to a bus: goburrow's client over a packager
// and a transporter, with the knobs the owner turns before each call.
type link struct {
	client     goburrow.Client
	setUnit    func(uint8)
	setTimeout func(time.Duration)
	close      func() error
}

// dialFunc opens a link within timeout.
type dialFunc func(timeout time.Duration) (*link, error)

// op is one Modbus transaction.
type op struct {
	fn    byte // goburrow's function code
	addr  uint16
	qty   uint16
	value uint16 // single writes
	data  []byte // multiple writes
}

func (o op) String() string {
	return fmt.Sprintf("fc %d addr %d qty %d", o.fn, o.addr, o.qty)
}

func readOp(t Table, addr, qty uint16) op {
	switch t {
	case Coil:
		return op{fn: goburrow.FuncCodeReadCoils, addr: addr, qty: qty}
	case DiscreteInput:
		return op{fn: goburrow.FuncCodeReadDiscreteInputs, addr: addr, qty: qty}
	case HoldingRegister:
		return op{fn: goburrow.FuncCodeReadHoldingRegisters, addr: addr, qty: qty}
	}
	return op{fn: goburrow.FuncCodeReadInputRegisters, addr: addr, qty: qty}
}

// run carries out the transaction on a goburrow client.
func (o op) run(c goburrow.Client) ([]byte, error) {
	switch o.fn {
	case goburrow.FuncCodeReadCoils:
		return c.ReadCoils(o.addr, o.qty)
	case goburrow.FuncCodeReadDiscreteInputs:
		return c.ReadDiscreteInputs(o.addr, o.qty)
	case goburrow.FuncCodeReadHoldingRegisters:
		return c.ReadHoldingRegisters(o.addr, o.qty)
	case goburrow.FuncCodeReadInputRegisters:
		return c.ReadInputRegisters(o.addr, o.qty)
	case goburrow.FuncCodeWriteSingleCoil:
		return c.WriteSingleCoil(o.addr, o.value)
	case goburrow.FuncCodeWriteSingleRegister:
		return c.WriteSingleRegister(o.addr, o.value)
	case goburrow.FuncCodeWriteMultipleRegisters:
		return c.WriteMultipleRegisters(o.addr, o.qty, o.data)
	}
	return nil, fmt.Errorf("modbus: function code %d not supported", o.fn)
}

// call is a request waiting for the bus.
type call struct {
	ctx   context.Context
	unit  uint8
	op    op
	probe bool
	done  chan result // buffered: the owner never blocks on it
}

type result struct {
	data []byte
	err  error
}

// Bus owns one Modbus line. Every request goes through its bounded queue
// and is carried out by one goroutine, one at a time, with FrameGap of
// silence between frames, so requests to several unit IDs on one line
// never interleave. After any error other than a Modbus exception the
// connection is closed and opened again (goburrow's TCP client otherwise
// keeps failing after a timeout or a server restart), with backoff when
// opening fails.
type Bus struct {
	cfg  BusConfig
	log  *slog.Logger
	dial dialFunc

	queue chan *call
	stop  chan struct{}
	done  chan struct{}

	// Owner state: touched only by the owner goroutine.
	link    *link
	lastEnd time.Time
	backoff time.Duration
	retryAt time.Time
	dialErr error // why the last connect failed

	closeOnce sync.Once
	closed    atomic.Bool

	// inflight counts transactions on the wire; maxInflight is the most
	// seen at once (1 unless the single-owner rule is broken). Tests read
	// both.
	inflight, maxInflight atomic.Int32
	// dials counts links opened, for tests.
	dials atomic.Int32

	health *healthBook
}

// newBus starts the owner goroutine of a bus.
func newBus(cfg BusConfig, log *slog.Logger, health *healthBook) (*Bus, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	b := &Bus{
		cfg:    cfg,
		log:    log.With("bus", cfg.ID),
		queue:  make(chan *call, cfg.QueueSize),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		health: health,
	}
	b.backoff = cfg.BackoffMin
	switch {
	case cfg.dial != nil:
		b.dial = cfg.dial
	case cfg.TCP != "":
		b.dial = tcpDialer(cfg.TCP)
	default:
		b.dial = rtuDialer(*cfg.RTU)
	}
	go b.own()
	return b, nil
}

// ErrQueueFull is returned when a bus has QueueSize requests waiting.
var ErrQueueFull = errors.New("bus queue full")

// ErrClosed is returned by calls on a closed bus.
var ErrClosed = errors.New("bus closed")

// ErrOffline is returned at once by calls to a device marked offline,
// until a probe finds it again.
var ErrOffline = errors.New("device offline")

// do queues one transaction for unit and waits for its result or for ctx.
// A probe is sent even when the unit is offline.
func (b *Bus) do(ctx context.Context, unit uint8, o op, probe bool) ([]byte, error) {
	if b.closed.Load() {
		return nil, ErrClosed
	}
	if !probe && !b.health.Online(unitKey{b.cfg.ID, unit}) {
		return nil, ErrOffline
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := &call{ctx: ctx, unit: unit, op: o, probe: probe, done: make(chan result, 1)}
	select {
	case b.queue <- c:
	default:
		return nil, ErrQueueFull
	}
	select {
	case r := <-c.done:
		return r.data, r.err
	case <-b.done:
		// Closed after the call was queued: the owner may have answered
		// it on its way out, or never seen it.
		select {
		case r := <-c.done:
			return r.data, r.err
		default:
			return nil, ErrClosed
		}
	case <-ctx.Done():
		// The owner skips the call if it has not started it; if it has,
		// the transaction completes within its own deadline and the
		// result is dropped.
		return nil, ctx.Err()
	}
}

// close stops the owner, failing queued calls, and closes the link. It
// waits for a transaction in progress, which its deadline bounds.
func (b *Bus) close() {
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		close(b.stop)
	})
	<-b.done
}

// own is the owner goroutine.
func (b *Bus) own() {
	defer close(b.done)
	defer b.closeLink()
	for {
		select {
		case <-b.stop:
			for {
				select {
				case c := <-b.queue:
					c.done <- result{err: ErrClosed}
				default:
					return
				}
			}
		case c := <-b.queue:
			data, err := b.serve(c)
			c.done <- result{data: data, err: err}
		}
	}
}

// serve carries out one call, with retries on a fresh link.
func (b *Bus) serve(c *call) ([]byte, error) {
	if err := c.ctx.Err(); err != nil {
		return nil, err // the caller gave up while queued: send nothing
	}
	deadline := time.Now().Add(b.cfg.Timeout)
	if d, ok := c.ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var lastErr error
	for attempt := 0; attempt <= b.cfg.Retries; attempt++ {
		data, err, retry := b.attempt(c, deadline)
		if err == nil {
			b.health.Record(unitKey{b.cfg.ID, c.unit}, nil)
			return data, nil
		}
		lastErr = err
		if !retry {
			break
		}
	}
	if isException(lastErr) && !isGatewayException(lastErr) {
		b.health.Record(unitKey{b.cfg.ID, c.unit}, nil) // the device answered
	} else {
		b.health.Record(unitKey{b.cfg.ID, c.unit}, lastErr)
	}
	return nil, lastErr
}

// attempt makes one try at a call. retry says whether another try may
// help (the error was not an exception and time remains).
func (b *Bus) attempt(c *call, deadline time.Time) (data []byte, err error, retry bool) {
	if b.link == nil {
		if wait := time.Until(b.retryAt); wait > 0 {
			if time.Until(deadline) < wait {
				return nil, fmt.Errorf("connect: %v; next try in %v: %w", b.dialErr, wait.Round(time.Millisecond), context.DeadlineExceeded), false
			}
			if !b.sleep(wait) {
				return nil, ErrClosed, false
			}
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return nil, fmt.Errorf("connect: %w", context.DeadlineExceeded), false
		}
		l, err := b.dial(remaining)
		if err != nil {
			b.dialErr = err
			b.retryAt = time.Now().Add(b.backoff)
			b.log.Debug("connect failed", "err", err, "backoff", b.backoff)
			b.backoff = min(2*b.backoff, b.cfg.BackoffMax)
			return nil, fmt.Errorf("connect: %w", err), time.Until(deadline) > 0
		}
		b.dials.Add(1)
		b.link = l
	}
	if gap := time.Until(b.lastEnd.Add(b.cfg.FrameGap)); gap > 0 {
		if !b.sleep(gap) {
			return nil, ErrClosed, false
		}
	}
	remaining := time.Until(deadline)
	if remaining <= 0 {
		return nil, fmt.Errorf("%v: %w", c.op, context.DeadlineExceeded), false
	}
	b.link.setUnit(c.unit)
	b.link.setTimeout(remaining)
	if n := b.inflight.Add(1); n > b.maxInflight.Load() {
		b.maxInflight.Store(n)
	}
	data, err = c.op.run(b.link.client)
	b.inflight.Add(-1)
	b.lastEnd = time.Now()
	if err == nil {
		b.backoff = b.cfg.BackoffMin
		return data, nil, false
	}
	if isException(err) {
		return nil, err, false
	}
	// Anything else leaves the connection in an unknown state (a late
	// reply would answer the next request): start again on a new one.
	b.log.Debug("transaction failed; reconnecting", "unit", c.unit, "op", c.op.String(), "err", err)
	b.closeLink()
	return nil, err, time.Until(deadline) > 0
}

// sleep waits d unless the bus is stopping.
func (b *Bus) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.stop:
		return false
	}
}

func (b *Bus) closeLink() {
	if b.link != nil {
		if err := b.link.close(); err != nil {
			b.log.Debug("close link", "err", err)
		}
		b.link = nil
	}
}

// isException reports whether err is a Modbus exception: the device
// answered, so the connection is fine.
func isException(err error) bool {
	var me *goburrow.ModbusError
	return errors.As(err, &me)
}

// isGatewayException reports whether err is the exception a Modbus TCP
// gateway answers for a device behind it that does not respond (10, 11):
// the link is fine but the device is not.
func isGatewayException(err error) bool {
	var me *goburrow.ModbusError
	return errors.As(err, &me) && (me.ExceptionCode == goburrow.ExceptionCodeGatewayPathUnavailable ||
		me.ExceptionCode == goburrow.ExceptionCodeGatewayTargetDeviceFailedToRespond)
}

// unavailable wraps a bus error as a gateway.Unavailable error.
func unavailable(err error, format string, args ...any) error {
	return &gateway.Error{Kind: gateway.Unavailable, Message: fmt.Sprintf(format, args...), Err: err}
}
