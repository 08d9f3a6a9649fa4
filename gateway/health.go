package gateway

import (
	"slices"
	"strings"
	"sync"
)

// healthBook keeps the latest health each device's driver reported
// (DeviceHealthChanged), for up/state and the installer's views.
type healthBook struct {
	mu sync.Mutex
	by map[string]DeviceHealth
}

func (b *healthBook) set(h DeviceHealth) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.by == nil {
		b.by = map[string]DeviceHealth{}
	}
	b.by[h.Device] = h
}

// DeviceHealth returns the latest health of every device whose driver
// reported one, by device ID. A device that never reported is not listed
// (the simulated devices never do).
func (g *Gateway) DeviceHealth() []DeviceHealth {
	b := &g.health
	b.mu.Lock()
	out := make([]DeviceHealth, 0, len(b.by))
	for _, h := range b.by {
		out = append(out, h)
	}
	b.mu.Unlock()
	slices.SortFunc(out, func(a, b DeviceHealth) int { return strings.Compare(a.Device, b.Device) })
	return out
}
