package sim

import (
	"context"
	"strconv"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// Interface guards.
var (
	_ gateway.Barrier        = (*Barrier)(nil)
	_ gateway.Lock           = (*Lock)(nil)
	_ gateway.Flap           = (*Flap)(nil)
	_ gateway.TicketPrinter  = (*Printer)(nil)
	_ gateway.PayStationLink = (*PayStation)(nil)
)

// Barrier is a simulated barrier arm. Halt leaves the arm where it is.
type Barrier struct {
	s  *Site
	id string
}

// Raise opens the barrier.
func (b *Barrier) Raise(ctx context.Context) error {
	return b.s.command(ctx, b.id, "raise", func(d *device) { d.up = true })
}

// Lower closes the barrier.
func (b *Barrier) Lower(ctx context.Context) error {
	return b.s.command(ctx, b.id, "lower", func(d *device) { d.up = false })
}

// Halt records the halt and leaves the arm where it is (see the package doc).
func (b *Barrier) Halt(ctx context.Context) error {
	return b.s.command(ctx, b.id, "halt", func(*device) {})
}

// Lock is a simulated door or compartment lock. Halt engages it
// (fail-secure).
type Lock struct {
	s  *Site
	id string
}

// Unlock releases the lock.
func (l *Lock) Unlock(ctx context.Context) error {
	return l.s.command(ctx, l.id, "unlock", func(d *device) { d.locked = false })
}

// Lock engages the lock.
func (l *Lock) Lock(ctx context.Context) error {
	return l.s.command(ctx, l.id, "lock", func(d *device) { d.locked = true })
}

// Halt engages the lock.
func (l *Lock) Halt(ctx context.Context) error {
	return l.s.command(ctx, l.id, "halt", func(d *device) { d.locked = true })
}

// Flap is a simulated flap lock on a parking space. Halt lowers it, so a
// gateway that is down never traps a car.
type Flap struct {
	s  *Site
	id string
}

// Raise locks the car in.
func (f *Flap) Raise(ctx context.Context) error {
	return f.s.command(ctx, f.id, "raise", func(d *device) { d.up = true })
}

// Lower releases the car.
func (f *Flap) Lower(ctx context.Context) error {
	return f.s.command(ctx, f.id, "lower", func(d *device) { d.up = false })
}

// Halt lowers the flap.
func (f *Flap) Halt(ctx context.Context) error {
	return f.s.command(ctx, f.id, "halt", func(d *device) { d.up = false })
}

// Printer is the printer of a simulated ticket dispenser.
type Printer struct {
	s  *Site
	id string
}

// Print records text as the last ticket printed.
func (p *Printer) Print(ctx context.Context, text string) error {
	return p.s.command(ctx, p.id, "print "+text, func(d *device) {
		d.lastTicket = text
		d.printed++
	})
}

// PayStation is the core's link to the simulated cash pay station.
type PayStation struct {
	s  *Site
	id string
}

// ShowFee records amount as the fee shown for ref.
func (p *PayStation) ShowFee(ctx context.Context, ref string, amount int64) error {
	if ref == "" || amount < 0 {
		return gateway.Errorf(gateway.Invalid, "sim pay station %s: show fee %d for %q: empty ref or negative amount", p.id, amount, ref)
	}
	return p.s.command(ctx, p.id, "show_fee "+ref+" "+strconv.FormatInt(amount, 10), func(d *device) {
		d.fees[ref] = amount
	})
}

// Settled records that ref was paid elsewhere.
func (p *PayStation) Settled(ctx context.Context, ref string) error {
	if ref == "" {
		return gateway.Errorf(gateway.Invalid, "sim pay station %s: settled: empty ref", p.id)
	}
	return p.s.command(ctx, p.id, "settled "+ref, func(d *device) {
		d.settled[ref] = true
	})
}

// command carries out an actuator command: wait the device's delay (giving
// up when ctx ends), then, unless the device is offline, apply the change,
// record entry in the history and wake waiters. The site lock is never held
// while waiting.
func (s *Site) command(ctx context.Context, id, entry string, apply func(*device)) error {
	s.mu.Lock()
	d := s.devices[id]
	delay := d.delay
	s.mu.Unlock()

	if err := ctx.Err(); err != nil {
		return &gateway.Error{Kind: gateway.Unavailable, Message: "sim " + string(d.kind) + " " + id + ": " + verb(entry), Err: err}
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return &gateway.Error{Kind: gateway.Unavailable, Message: "sim " + string(d.kind) + " " + id + ": " + verb(entry), Err: ctx.Err()}
		}
	}

	s.mu.Lock()
	if d.offline {
		s.mu.Unlock()
		return gateway.Errorf(gateway.Unavailable, "sim %s %s: %s: device offline", d.kind, id, verb(entry))
	}
	apply(d)
	d.history = append(d.history, entry)
	s.notifyLocked()
	s.mu.Unlock()
	s.logger.Debug("actuator command", "device", id, "kind", d.kind, "command", entry)
	return nil
}

// verb is the first word of a history entry.
func verb(entry string) string {
	for i := range len(entry) {
		if entry[i] == ' ' {
			return entry[:i]
		}
	}
	return entry
}
