package gpio

import (
	"context"
)

// maxBounces bounds one debounce: an input chattering without pause for
// this many edges is read as it is and watched again.
const maxBounces = 1000

// watch delivers dev's changes until Close. Every wait has a positive
// timeout: see the package doc.
func (d *Driver) watch(dev *device) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-d.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	delivered := false // the core assumes inactive at start
	active := d.read(dev)
	if active {
		delivered = true
		d.in.SensorChanged(ctx, dev.ID, true)
	}
	for {
		edge := dev.pin.WaitForEdge(watchTimeout)
		if d.stopped() {
			return
		}
		if !edge && d.read(dev) == delivered {
			continue // a quiet period; the read covers a lost edge
		}
		// The level must stay still for Debounce before it counts.
		for i := 0; i < maxBounces && dev.pin.WaitForEdge(dev.Debounce); i++ {
			if d.stopped() {
				return
			}
		}
		if now := d.read(dev); now != delivered {
			delivered = now
			d.log.Debug("input", "device", dev.ID, "active", now)
			d.in.SensorChanged(ctx, dev.ID, now)
		}
	}
}

func (d *Driver) read(dev *device) bool {
	return dev.pin.Read() == dev.level(true)
}

func (d *Driver) stopped() bool {
	select {
	case <-d.stop:
		return true
	default:
		return false
	}
}
