// Package health keeps the communication health of a driver's devices and
// tells the core about every online/offline transition. The GPIO and
// Modbus drivers share it: they must not import each other, and this is
// the one piece of them that is the same.
//
// It imports only the standard library and github.com/lotgate/lotgate/gateway;
// never a driver, config, web, cloudsync or gateway/sqlite (the import
// table in cmd/lotgate enforces this).
package health

import (
	"context"
	"sync"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// Book keeps the health of the links a driver talks over, keyed by K: a
// GPIO device's pins, a Modbus unit on a bus. Every device served by a
// link shares its health. A link starts online, goes offline after a run
// of failed exchanges and comes back online at the first success.
//
// Book tells the sink about each transition of each device, in order, from
// its own goroutine, so that a slow sink never holds up the hardware. Its
// methods are safe for concurrent use.
type Book[K comparable] struct {
	now  func() time.Time
	sink gateway.HealthSink

	mu      sync.Mutex
	links   map[K]*link
	devices []deviceLink // in the order they were added
	notes   []gateway.DeviceHealth

	wake      chan struct{} // a note is queued
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type link struct {
	offlineAfter int
	online       bool
	since        time.Time
	lastErr      string
	failures     uint64
	successes    uint64
	consecutive  int // failures since the last success
	devices      []string
}

type deviceLink struct {
	id   string
	link *link
}

// New returns a Book that tells sink (nil: nobody) about transitions,
// stamped with now. Call Close when done with it.
func New[K comparable](sink gateway.HealthSink, now func() time.Time) *Book[K] {
	b := &Book[K]{
		now:   now,
		sink:  sink,
		links: make(map[K]*link),
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go b.run()
	return b
}

// Add registers device as served by the link key, which goes offline after
// offlineAfter consecutive failed exchanges (1 or less: the first). The
// first Add of a link sets its threshold; a new link starts online, now.
func (b *Book[K]) Add(key K, offlineAfter int, device string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.links[key]
	if l == nil {
		l = &link{offlineAfter: offlineAfter, online: true, since: b.now()}
		b.links[key] = l
	}
	l.devices = append(l.devices, device)
	b.devices = append(b.devices, deviceLink{device, l})
}

// Online reports whether the link key is online. A link no device was
// added for is.
func (b *Book[K]) Online(key K) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.links[key]
	return l == nil || l.online
}

// Record records the outcome of one exchange over the link key: err nil
// means the far end answered. A link no device was added for (an
// installer's test of a bare address) is not tracked.
func (b *Book[K]) Record(key K, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.links[key]
	if l == nil {
		return
	}
	if err == nil {
		l.successes++
		l.consecutive = 0
		l.lastErr = ""
		if !l.online {
			l.online = true
			l.since = b.now()
			b.noteLocked(l)
		}
		return
	}
	l.failures++
	l.consecutive++
	l.lastErr = err.Error()
	if l.online && l.consecutive >= l.offlineAfter {
		l.online = false
		l.since = b.now()
		b.noteLocked(l)
	}
}

// noteLocked queues a transition of l for each of its devices.
func (b *Book[K]) noteLocked(l *link) {
	for _, id := range l.devices {
		b.notes = append(b.notes, l.report(id))
	}
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (l *link) report(device string) gateway.DeviceHealth {
	return gateway.DeviceHealth{Device: device, Online: l.online, LastError: l.lastErr, Since: l.since,
		Failures: l.failures, Successes: l.successes}
}

// All returns the health of every device, in the order they were added.
func (b *Book[K]) All() []gateway.DeviceHealth {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]gateway.DeviceHealth, 0, len(b.devices))
	for _, d := range b.devices {
		out = append(out, d.link.report(d.id))
	}
	return out
}

// Close delivers the transitions still queued, then stops the Book's
// goroutine. It is idempotent; Record after Close is still recorded, but
// nobody is told.
func (b *Book[K]) Close() {
	b.closeOnce.Do(func() { close(b.stop) })
	<-b.done
}

// run delivers notes to the sink in order until Close; notes still queued
// at Close are delivered first.
func (b *Book[K]) run() {
	defer close(b.done)
	for {
		b.deliver()
		select {
		case <-b.wake:
		case <-b.stop:
			b.deliver()
			return
		}
	}
}

// deliver tells the sink about the queued notes, outside the lock.
func (b *Book[K]) deliver() {
	b.mu.Lock()
	notes := b.notes
	b.notes = nil
	b.mu.Unlock()
	if b.sink == nil {
		return
	}
	for _, n := range notes {
		b.sink.DeviceHealthChanged(context.Background(), n)
	}
}
