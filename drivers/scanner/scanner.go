// Package scanner reads QR and barcode scanners: scanners on a serial port
// (USB CDC or RS-232, line-terminated, through github.com/goburrow/serial),
// keyboard-wedge scanners through their Linux input device, and any reader
// (standard input) for bench setups. Each line read is delivered to the
// core's Inputs.Scanned.
//
// A serial scanner survives being unplugged and plugged back: its reader
// closes the port when it hangs up and opens it again with backoff (name
// the port by its /dev/serial/by-id/ path, which stays the same across
// replugs). A keyboard-wedge device is reopened the same way.
//
// A line longer than MaxLine, or with a byte outside printable ASCII (what
// keys, ticket texts and placard URLs are made of; a control byte or a
// stray 8-bit byte is line noise or an attack), is rejected: counted by
// reason (see Stats) and logged, at most once per reason every LogEvery.
// Empty lines (the second half of a CR LF) are ignored.
//
// It imports the standard library, github.com/lotgate/lotgate/gateway and
// github.com/goburrow/serial; it must never import config, web, cloudsync,
// gateway/sqlite or another driver (a test enforces this).
package scanner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/goburrow/serial"

	"github.com/lotgate/lotgate/gateway"
)

// Scanner is one scanner device. Exactly one of Serial, Input and Reader
// is set.
type Scanner struct {
	ID     string
	Serial *SerialPort
	// Input is a keyboard-wedge scanner's input device
	// (/dev/input/by-id/...-event-kbd). It is grabbed, so its keystrokes
	// do not also reach a console. US keyboard layout.
	Input string
	// Reader is read line by line (os.Stdin on a bench). If it is an
	// io.Closer, Close closes it to stop the reader.
	Reader io.Reader
	// MaxLine is the longest line accepted, in bytes (default 1024).
	MaxLine int
}

// SerialPort is a serial scanner's line settings (default 9600 8N1).
type SerialPort struct {
	Device   string
	Baud     int
	DataBits int
	Parity   string // "N", "E" or "O"
	StopBits int
}

// Rejection reasons.
const (
	TooLong = "too_long" // longer than MaxLine
	BadByte = "bad_byte" // a byte outside printable ASCII
)

// Stats are a scanner's counters.
type Stats struct {
	Lines    uint64            // lines delivered
	Rejected map[string]uint64 // lines rejected, by reason
}

// Options are the driver's collaborators.
type Options struct {
	Inputs gateway.Inputs
	Health gateway.HealthSink
	Logger *slog.Logger
	// LogEvery bounds rejection logs: at most one per scanner and reason
	// in this time, with the count since the last (default 10s).
	LogEvery time.Duration
	// Backoff bounds the wait before reopening a port or device that is
	// gone: it doubles from BackoffMin to BackoffMax (defaults 100ms, 5s).
	BackoffMin, BackoffMax time.Duration

	// openInput replaces the input device opener in tests.
	openInput func(path string) (io.ReadCloser, error)
}

// Defaults.
const (
	DefaultMaxLine = 1024
	// readPoll is how long a serial read waits before the reader looks
	// at Close again.
	readPoll = 100 * time.Millisecond
)

// Driver reads a site's scanners.
type Driver struct {
	in       gateway.Inputs
	health   gateway.HealthSink
	log      *slog.Logger
	logEvery time.Duration
	bmin     time.Duration
	bmax     time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu      sync.Mutex
	stats   map[string]*Stats
	lastLog map[string]time.Time // scanner/reason → last log
	quiet   map[string]uint64    // scanner/reason → rejections not logged since
	closers []io.Closer
	order   []string
}

// Open starts a reader goroutine per scanner. Ports and devices that are
// not there yet are retried with backoff (their scanner reported offline),
// so Open fails only on an invalid configuration.
func Open(scanners []Scanner, opts Options) (*Driver, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Driver{
		in:       opts.Inputs,
		health:   opts.Health,
		log:      log.With("component", "scanner"),
		logEvery: opts.LogEvery,
		bmin:     opts.BackoffMin,
		bmax:     opts.BackoffMax,
		stats:    make(map[string]*Stats),
		lastLog:  make(map[string]time.Time),
		quiet:    make(map[string]uint64),
	}
	if d.in == nil {
		d.in = discardInputs{}
	}
	if d.logEvery <= 0 {
		d.logEvery = 10 * time.Second
	}
	if d.bmin <= 0 {
		d.bmin = 100 * time.Millisecond
	}
	if d.bmax < d.bmin {
		d.bmax = max(5*time.Second, d.bmin)
	}
	openInput := opts.openInput
	if openInput == nil {
		openInput = openEvdev
	}
	for i := range scanners {
		s := scanners[i]
		n := 0
		for _, set := range []bool{s.Serial != nil, s.Input != "", s.Reader != nil} {
			if set {
				n++
			}
		}
		switch {
		case s.ID == "":
			return nil, errors.New("scanner: a scanner without an ID")
		case d.stats[s.ID] != nil:
			return nil, fmt.Errorf("scanner %s: duplicate ID", s.ID)
		case n != 1:
			return nil, fmt.Errorf("scanner %s: give exactly one of a serial port, an input device and a reader", s.ID)
		case s.Serial != nil && s.Serial.Device == "":
			return nil, fmt.Errorf("scanner %s: serial port without a device", s.ID)
		}
		if s.MaxLine <= 0 {
			s.MaxLine = DefaultMaxLine
		}
		d.stats[s.ID] = &Stats{Rejected: make(map[string]uint64)}
		d.order = append(d.order, s.ID)
		scanners[i] = s
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for _, s := range scanners {
		lines := newLines(s.MaxLine)
		var run func()
		switch {
		case s.Serial != nil:
			run = func() { d.readSerial(s, lines) }
		case s.Input != "":
			run = func() { d.readInput(s, lines, openInput) }
		default:
			if c, ok := s.Reader.(io.Closer); ok {
				d.closers = append(d.closers, c)
			}
			run = func() { d.readReader(s, lines) }
		}
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			run()
		}()
	}
	return d, nil
}

// Close stops every reader and waits for it, closing the ports, devices
// and closable readers. A Reader that is not an io.Closer (a bare
// os.Stdin wrapper) cannot be interrupted: its goroutine is not waited for.
func (d *Driver) Close(ctx context.Context) error {
	d.once.Do(func() {
		d.cancel()
		d.mu.Lock()
		closers := d.closers
		d.mu.Unlock()
		for _, c := range closers {
			_ = c.Close()
		}
		d.wg.Wait()
	})
	return nil
}

// Stats returns a copy of scanner id's counters.
func (d *Driver) Stats(id string) (Stats, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.stats[id]
	if !ok {
		return Stats{}, false
	}
	out := Stats{Lines: s.Lines, Rejected: make(map[string]uint64, len(s.Rejected))}
	for k, v := range s.Rejected {
		out.Rejected[k] = v
	}
	return out, true
}

// Devices returns the scanner IDs in Open's order.
func (d *Driver) Devices() []string { return append([]string(nil), d.order...) }

// feed passes bytes read from scanner id to its line assembler and
// delivers or rejects each complete line.
func (d *Driver) feed(id string, lines *lineAssembler, b []byte) {
	for _, l := range lines.feed(b) {
		if l.reject != "" {
			d.reject(id, l)
			continue
		}
		d.mu.Lock()
		d.stats[id].Lines++
		d.mu.Unlock()
		d.in.Scanned(d.ctx, id, l.text)
	}
}

// reject counts a rejected line and logs it, rate-limited per reason.
func (d *Driver) reject(id string, l line) {
	key := id + "/" + l.reject
	now := time.Now()
	d.mu.Lock()
	d.stats[id].Rejected[l.reject]++
	quiet := d.quiet[key]
	logIt := now.Sub(d.lastLog[key]) >= d.logEvery
	if logIt {
		d.lastLog[key] = now
		d.quiet[key] = 0
	} else {
		d.quiet[key]++
	}
	d.mu.Unlock()
	if logIt {
		d.log.Warn("scan rejected", "scanner", id, "reason", l.reject, "detail", l.detail, "rejected_unlogged", quiet)
	}
}

// setOnline tells the health sink about a transition.
func (d *Driver) setOnline(id string, online *bool, now bool, err error) {
	if *online == now {
		return
	}
	*online = now
	h := gateway.DeviceHealth{Device: id, Online: now, Since: time.Now()}
	if err != nil {
		h.LastError = err.Error()
		d.log.Warn("scanner offline", "scanner", id, "err", err)
	} else {
		d.log.Info("scanner online", "scanner", id)
	}
	if d.health != nil {
		d.health.DeviceHealthChanged(d.ctx, h)
	}
}

// wait sleeps d or until Close; it reports whether to go on.
func (d *Driver) wait(dur time.Duration) bool {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-d.ctx.Done():
		return false
	}
}

// readSerial owns one serial port: open (with backoff), read until it
// hangs up, close, and again.
func (d *Driver) readSerial(s Scanner, lines *lineAssembler) {
	cfg := serial.Config{Address: s.Serial.Device, BaudRate: s.Serial.Baud, DataBits: s.Serial.DataBits,
		Parity: s.Serial.Parity, StopBits: s.Serial.StopBits, Timeout: readPoll}
	if cfg.BaudRate == 0 {
		cfg.BaudRate = 9600
	}
	if cfg.Parity == "" {
		cfg.Parity = "N" // goburrow/serial's default is even parity, Modbus's
	}
	online := true // until the first failure says otherwise
	backoff := d.bmin
	buf := make([]byte, 256)
	for d.ctx.Err() == nil {
		port, err := serial.Open(&cfg)
		if err != nil {
			d.setOnline(s.ID, &online, false, fmt.Errorf("open %s: %w", cfg.Address, err))
			if !d.wait(backoff) {
				return
			}
			backoff = min(2*backoff, d.bmax)
			continue
		}
		d.setOnline(s.ID, &online, true, nil)
		lines.reset() // a line cut by the last hang-up is not a line
		for {
			if d.ctx.Err() != nil {
				port.Close()
				return
			}
			n, err := port.Read(buf)
			if errors.Is(err, serial.ErrTimeout) {
				continue
			}
			if err != nil || n == 0 { // n == 0 after a ready select: the port hung up
				if err == nil {
					err = io.EOF
				}
				port.Close()
				d.setOnline(s.ID, &online, false, fmt.Errorf("read %s: %w", cfg.Address, err))
				break
			}
			backoff = d.bmin
			d.feed(s.ID, lines, buf[:n])
		}
		if !d.wait(backoff) {
			return
		}
	}
}

// readReader reads a plain reader until it ends.
func (d *Driver) readReader(s Scanner, lines *lineAssembler) {
	buf := make([]byte, 256)
	for {
		n, err := s.Reader.Read(buf)
		if n > 0 && d.ctx.Err() == nil {
			d.feed(s.ID, lines, buf[:n])
		}
		if err != nil || d.ctx.Err() != nil {
			if err != nil && !errors.Is(err, io.EOF) && d.ctx.Err() == nil {
				d.log.Warn("scanner reader ended", "scanner", s.ID, "err", err)
			}
			return
		}
	}
}

type discardInputs struct{}

func (discardInputs) SensorChanged(context.Context, string, bool)   {}
func (discardInputs) Scanned(context.Context, string, string)       {}
func (discardInputs) TicketRequested(context.Context, string)       {}
func (discardInputs) CashPaid(context.Context, gateway.CashPayment) {}
