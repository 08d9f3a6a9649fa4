package gpio

import (
	"context"
	"sync"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// healthBook keeps each device's health and tells the sink about every
// transition, in order, from its own goroutine.
type healthBook struct {
	now  func() time.Time
	sink gateway.HealthSink

	mu    sync.Mutex
	byID  map[string]*gateway.DeviceHealth
	order []string
	notes []gateway.DeviceHealth
	wake  chan struct{}
	stop  chan struct{}
	done  chan struct{}
}

func newHealthBook(sink gateway.HealthSink, now func() time.Time, ids []string) *healthBook {
	h := &healthBook{now: now, sink: sink, byID: make(map[string]*gateway.DeviceHealth), order: ids,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	for _, id := range ids {
		h.byID[id] = &gateway.DeviceHealth{Device: id, Online: true, Since: now()}
	}
	go h.run()
	return h
}

// result records the outcome of one pin operation of device id.
func (h *healthBook) result(id string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	dh := h.byID[id]
	if dh == nil {
		return
	}
	online := err == nil
	if online {
		dh.Successes++
		dh.LastError = ""
	} else {
		dh.Failures++
		dh.LastError = err.Error()
	}
	if online != dh.Online {
		dh.Online = online
		dh.Since = h.now()
		h.notes = append(h.notes, *dh)
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
}

func (h *healthBook) all() []gateway.DeviceHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]gateway.DeviceHealth, 0, len(h.order))
	for _, id := range h.order {
		out = append(out, *h.byID[id])
	}
	return out
}

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
