package gpio

import (
	"context"
	"errors"
	"fmt"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/lotgate/lotgate/gateway"
)

// Interface guards.
var (
	_ gateway.Barrier = (*Barrier)(nil)
	_ gateway.Lock    = (*Lock)(nil)
	_ gateway.Flap    = (*Flap)(nil)
)

// Barrier is a barrier arm: an open contact pulsed (or held, in Level
// mode), an optional close contact, an optional up switch.
type Barrier struct {
	d   *Driver
	dev *device
}

// Raise opens the barrier and, with an up switch, waits for it.
func (b *Barrier) Raise(ctx context.Context) error {
	return b.d.command(ctx, b.dev, "raise", func() error {
		if b.dev.Mode == Pulse {
			return b.d.pulse(ctx, b.dev, b.dev.pin, b.dev.Pin)
		}
		return b.d.out(b.dev, b.dev.pin, b.dev.Pin, true)
	}, confirmActive)
}

// Lower closes the barrier: pulses the close contact (a barrier without
// one closes on its own, and Lower does nothing) or releases the held
// level; with an up switch, waits for it to clear.
func (b *Barrier) Lower(ctx context.Context) error {
	if b.dev.Mode == Pulse && b.dev.lower == nil {
		return nil
	}
	return b.d.command(ctx, b.dev, "lower", func() error {
		if b.dev.Mode == Pulse {
			return b.d.pulse(ctx, b.dev, b.dev.lower, b.dev.LowerPin)
		}
		return b.d.out(b.dev, b.dev.pin, b.dev.Pin, false)
	}, confirmInactive)
}

// Halt applies the shutdown policy without waiting for the read-back; in
// Pulse mode both contacts are released whatever the policy.
func (b *Barrier) Halt(ctx context.Context) error {
	switch b.dev.OnShutdown {
	case FailSecure:
		if b.dev.Mode == Pulse && b.dev.lower == nil {
			break
		}
		return b.d.command(ctx, b.dev, "halt", func() error {
			if b.dev.Mode == Pulse {
				return b.d.pulse(ctx, b.dev, b.dev.lower, b.dev.LowerPin)
			}
			return b.d.out(b.dev, b.dev.pin, b.dev.Pin, false)
		}, noConfirm)
	case FailOpen:
		return b.d.command(ctx, b.dev, "halt", func() error {
			if b.dev.Mode == Pulse {
				return b.d.pulse(ctx, b.dev, b.dev.pin, b.dev.Pin)
			}
			return b.d.out(b.dev, b.dev.pin, b.dev.Pin, true)
		}, noConfirm)
	}
	if b.dev.Mode != Pulse {
		return nil
	}
	b.dev.mu.Lock()
	defer b.dev.mu.Unlock()
	err := b.d.out(b.dev, b.dev.pin, b.dev.Pin, false)
	if b.dev.lower != nil {
		err = errors.Join(err, b.d.out(b.dev, b.dev.lower, b.dev.LowerPin, false))
	}
	return err
}

// Lock is a door or compartment lock on a held level (active: unlocked).
type Lock struct {
	d   *Driver
	dev *device
}

// Unlock releases the lock.
func (l *Lock) Unlock(ctx context.Context) error {
	return l.d.command(ctx, l.dev, "unlock", func() error { return l.d.out(l.dev, l.dev.pin, l.dev.Pin, true) }, noConfirm)
}

// Lock engages the lock.
func (l *Lock) Lock(ctx context.Context) error {
	return l.d.command(ctx, l.dev, "lock", func() error { return l.d.out(l.dev, l.dev.pin, l.dev.Pin, false) }, noConfirm)
}

// Halt applies the shutdown policy (locked by default).
func (l *Lock) Halt(ctx context.Context) error {
	switch l.dev.OnShutdown {
	case FailSecure:
		return l.Lock(ctx)
	case FailOpen:
		return l.Unlock(ctx)
	}
	return nil
}

// Flap is a flap lock on a held level (active: raised) with an optional
// down switch.
type Flap struct {
	d   *Driver
	dev *device
}

// Raise locks the car in and, with a down switch, waits for the flap to
// leave it.
func (f *Flap) Raise(ctx context.Context) error {
	return f.d.command(ctx, f.dev, "raise", func() error { return f.d.out(f.dev, f.dev.pin, f.dev.Pin, true) }, confirmInactive)
}

// Lower releases the car and, with a down switch, waits for the flap to
// reach it.
func (f *Flap) Lower(ctx context.Context) error {
	return f.d.command(ctx, f.dev, "lower", func() error { return f.d.out(f.dev, f.dev.pin, f.dev.Pin, false) }, confirmActive)
}

// Halt applies the shutdown policy (lowered by default) without waiting
// for the read-back.
func (f *Flap) Halt(ctx context.Context) error {
	switch f.dev.OnShutdown {
	case FailSecure:
		return f.d.command(ctx, f.dev, "halt", func() error { return f.d.out(f.dev, f.dev.pin, f.dev.Pin, true) }, noConfirm)
	case FailOpen:
		return f.d.command(ctx, f.dev, "halt", func() error { return f.d.out(f.dev, f.dev.pin, f.dev.Pin, false) }, noConfirm)
	}
	return nil
}

// confirmation is what a command's read-back waits for on the position
// pin: active, inactive, or nothing.
type confirmation int

const (
	noConfirm confirmation = iota
	confirmActive
	confirmInactive
)

// command runs act on dev, serialised with its other commands, then waits
// for the position pin to read want, unless want is noConfirm or the
// device has no position pin.
func (d *Driver) command(ctx context.Context, dev *device, what string, act func() error, want confirmation) error {
	dev.mu.Lock()
	defer dev.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return &gateway.Error{Kind: gateway.Unavailable, Message: fmt.Sprintf("gpio %s %s: %s", dev.Kind, dev.ID, what), Err: err}
	}
	if err := act(); err != nil {
		return err
	}
	if want == noConfirm || dev.position == nil {
		return nil
	}
	return d.confirm(ctx, dev, what, want == confirmActive)
}

// confirm reads the position pin until it shows active, for at most
// ConfirmWithin (and never past ctx).
func (d *Driver) confirm(ctx context.Context, dev *device, what string, active bool) error {
	want := gpio.Level(active != dev.PositionActiveLow)
	end := time.Now().Add(dev.ConfirmWithin)
	t := time.NewTicker(positionPoll)
	defer t.Stop()
	for {
		if dev.position.Read() == want {
			return nil
		}
		if !time.Now().Before(end) || ctx.Err() != nil {
			state := "inactive"
			if active {
				state = "active"
			}
			return &gateway.Error{Kind: gateway.Unavailable,
				Message: fmt.Sprintf("gpio %s %s: %s: position pin %s not %s within %v", dev.Kind, dev.ID, what, dev.PositionPin, state, dev.ConfirmWithin),
				Err:     gateway.ErrUnconfirmed}
		}
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}

// out sets pin (named name) of dev active or inactive.
func (d *Driver) out(dev *device, pin gpio.PinIO, name string, active bool) error {
	err := pin.Out(dev.level(active))
	d.health.Record(dev.ID, err)
	if err != nil {
		return &gateway.Error{Kind: gateway.Unavailable, Message: fmt.Sprintf("gpio %s %s: set pin %s", dev.Kind, dev.ID, name), Err: err}
	}
	return nil
}

// pulse holds pin active for dev.Pulse, then releases it. The release
// always happens: a ctx that ends during the pulse cuts it short rather
// than leaving the contact held.
func (d *Driver) pulse(ctx context.Context, dev *device, pin gpio.PinIO, name string) error {
	if err := d.out(dev, pin, name, true); err != nil {
		return err
	}
	t := time.NewTimer(dev.Pulse)
	var cut error
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
		cut = ctx.Err()
	}
	if err := d.out(dev, pin, name, false); err != nil {
		return err
	}
	if cut != nil {
		return &gateway.Error{Kind: gateway.Unavailable, Message: fmt.Sprintf("gpio %s %s: pulse on %s cut short", dev.Kind, dev.ID, name), Err: cut}
	}
	return nil
}
