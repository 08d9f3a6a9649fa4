package modbus

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

type unitKey struct {
	bus  string
	unit uint8
}

// unitHealth is the communication health of one unit ID on a bus; every
// device served by the unit shares it.
type unitHealth struct {
	offlineAfter int
	online       bool
	since        time.Time
	lastErr      string
	failures     uint64
	successes    uint64
	consecutive  int // failures since the last success
	devices      []string
}

// healthBook keeps the health of every unit and tells the sink about each
// online/offline transition, in order, from its own goroutine so that a
// slow sink never holds up a bus.
type healthBook struct {
	now func() time.Time

	mu    sync.Mutex
	units map[unitKey]*unitHealth
	notes []gateway.DeviceHealth
	wake  chan struct{}

	sink gateway.HealthSink
	stop chan struct{}
	done chan struct{}
}

func newHealthBook(sink gateway.HealthSink, now func() time.Time) *healthBook {
	h := &healthBook{
		now:   now,
		units: make(map[unitKey]*unitHealth),
		wake:  make(chan struct{}, 1),
		sink:  sink,
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go h.run()
	return h
}

// add registers device id as served by unit on bus. Devices start online.
func (h *healthBook) add(bus string, unit uint8, offlineAfter int, id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := unitKey{bus, unit}
	u := h.units[k]
	if u == nil {
		u = &unitHealth{offlineAfter: offlineAfter, online: true, since: h.now()}
		h.units[k] = u
	}
	u.devices = append(u.devices, id)
}

func (h *healthBook) unitOnline(bus string, unit uint8) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.units[unitKey{bus, unit}]
	return u == nil || u.online
}

// exchange records the outcome of one exchange with unit: err nil means
// the device answered (possibly with an exception).
func (h *healthBook) exchange(bus string, unit uint8, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.units[unitKey{bus, unit}]
	if u == nil {
		return // a unit no device uses (an installer's test)
	}
	if err == nil {
		u.successes++
		u.consecutive = 0
		u.lastErr = ""
		if !u.online {
			u.online = true
			u.since = h.now()
			h.noteLocked(u)
		}
		return
	}
	u.failures++
	u.consecutive++
	u.lastErr = err.Error()
	if u.online && u.consecutive >= u.offlineAfter {
		u.online = false
		u.since = h.now()
		h.noteLocked(u)
	}
}

func (h *healthBook) noteLocked(u *unitHealth) {
	for _, id := range u.devices {
		h.notes = append(h.notes, u.report(id))
	}
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

func (u *unitHealth) report(id string) gateway.DeviceHealth {
	return gateway.DeviceHealth{Device: id, Online: u.online, LastError: u.lastErr, Since: u.since,
		Failures: u.failures, Successes: u.successes}
}

// all returns the health of every device, sorted by device ID.
func (h *healthBook) all() []gateway.DeviceHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []gateway.DeviceHealth
	for _, u := range h.units {
		for _, id := range u.devices {
			out = append(out, u.report(id))
		}
	}
	slices.SortFunc(out, func(a, b gateway.DeviceHealth) int {
		if a.Device < b.Device {
			return -1
		}
		if a.Device > b.Device {
			return 1
		}
		return 0
	})
	return out
}

// run delivers notes to the sink in order until close; notes still queued
// at close are delivered first.
func (h *healthBook) run() {
	defer close(h.done)
	for {
		h.mu.Lock()
		notes := h.notes
		h.notes = nil
		h.mu.Unlock()
		for _, n := range notes {
			if h.sink != nil {
				h.sink.DeviceHealthChanged(context.Background(), n)
			}
		}
		select {
		case <-h.wake:
		case <-h.stop:
			h.mu.Lock()
			notes := h.notes
			h.notes = nil
			h.mu.Unlock()
			for _, n := range notes {
				if h.sink != nil {
					h.sink.DeviceHealthChanged(context.Background(), n)
				}
			}
			return
		}
	}
}

func (h *healthBook) close() {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	<-h.done
}
