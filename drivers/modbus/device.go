package modbus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	goburrow "github.com/goburrow/modbus"

	"github.com/lotgate/lotgate/gateway"
)

// Interface guards.
var (
	_ gateway.Lock           = (*Lock)(nil)
	_ gateway.Flap           = (*Flap)(nil)
	_ gateway.PayStationLink = (*PayStation)(nil)
)

// confirmPoll is how often a read-back point is read while waiting.
const confirmPoll = 20 * time.Millisecond

// readRaw reads a number or bool point for the device's channel.
func (dev *device) readRaw(ctx context.Context, pt *Point, probe bool) (int64, error) {
	addr := pt.address(dev.Channel)
	data, err := dev.bus.do(ctx, dev.Unit, readOp(pt.Table, addr, uint16(pt.width())), probe)
	if err != nil {
		return 0, err
	}
	if pt.Table.bits() {
		if len(data) < 1 {
			return 0, fmt.Errorf("read %s at %d: empty response", pt.Name, addr)
		}
		if bitAt(data, 0) {
			return 1, nil
		}
		return 0, nil
	}
	if len(data) != 2*pt.width() {
		return 0, fmt.Errorf("read %s at %d: %d bytes; want %d", pt.Name, addr, len(data), 2*pt.width())
	}
	return rawInt(pt, registers(data)), nil
}

// readString reads a String point.
func (dev *device) readString(ctx context.Context, pt *Point) (string, error) {
	addr := pt.address(dev.Channel)
	data, err := dev.bus.do(ctx, dev.Unit, readOp(pt.Table, addr, uint16(pt.Length)), false)
	if err != nil {
		return "", err
	}
	if len(data) != 2*pt.Length {
		return "", fmt.Errorf("read %s at %d: %d bytes; want %d", pt.Name, addr, len(data), 2*pt.Length)
	}
	return rawString(registers(data)), nil
}

// writeRaw writes a number or bool point.
func (dev *device) writeRaw(ctx context.Context, pt *Point, raw int64) error {
	addr := pt.address(dev.Channel)
	var o op
	switch {
	case pt.Table == Coil:
		o = op{fn: goburrow.FuncCodeWriteSingleCoil, addr: addr, value: 0}
		if raw != 0 {
			o.value = 0xFF00
		}
	case pt.width() == 1:
		o = op{fn: goburrow.FuncCodeWriteSingleRegister, addr: addr, value: uint16(raw)}
	default:
		o = op{fn: goburrow.FuncCodeWriteMultipleRegisters, addr: addr, qty: uint16(pt.width()), data: registerBytes(intRegisters(pt, raw))}
	}
	_, err := dev.bus.do(ctx, dev.Unit, o, false)
	return err
}

// writeString writes a String point.
func (dev *device) writeString(ctx context.Context, pt *Point, s string) error {
	regs, err := stringRegisters(pt, s)
	if err != nil {
		return gateway.Errorf(gateway.Invalid, "modbus %s: %v", dev.ID, err)
	}
	addr := pt.address(dev.Channel)
	_, err = dev.bus.do(ctx, dev.Unit, op{fn: goburrow.FuncCodeWriteMultipleRegisters, addr: addr, qty: uint16(pt.Length), data: registerBytes(regs)}, false)
	return err
}

// args are the arguments of a pay station command.
type args struct {
	ref    string
	amount int64
}

// run carries out action name: its writes in order, then, when confirm is
// set and the profile has one, its read-back. Errors are *gateway.Error.
func (dev *device) run(ctx context.Context, name string, a args, confirm bool) error {
	p := dev.Profile
	act := p.Actions[name]
	what := fmt.Sprintf("modbus %s %s: %s", dev.Kind, dev.ID, name)
	if act == nil {
		return gateway.Errorf(gateway.Internal, "%s: profile %s has no such action", what, p.Name)
	}
	for _, st := range act.Steps {
		pt := p.Points[st.Point]
		var err error
		switch st.Arg {
		case ArgRef:
			err = dev.writeString(ctx, pt, a.ref)
		case ArgAmount:
			raw, cerr := toRaw(pt, a.amount)
			if cerr != nil {
				return gateway.Errorf(gateway.Invalid, "%s: %v", what, cerr)
			}
			err = dev.writeRaw(ctx, pt, raw)
		default:
			err = dev.writeRaw(ctx, pt, st.Value)
		}
		if err != nil {
			var ge *gateway.Error
			if errors.As(err, &ge) {
				return err
			}
			return unavailable(err, "%s: write %s", what, st.Point)
		}
	}
	if confirm && act.Confirm != nil {
		return dev.confirm(ctx, what, act.Confirm)
	}
	return nil
}

// confirm reads c.Point until it shows c.Value, for at most c.Within. A
// read is never cut short by the confirm window (that would cost the
// connection): the window is checked between reads, each bounded by ctx
// and the bus timeout.
func (dev *device) confirm(ctx context.Context, what string, c *Confirm) error {
	pt := dev.Profile.Points[c.Point]
	end := time.Now().Add(c.Within)
	var lastRead string
	var lastErr error
	for {
		v, err := dev.readRaw(ctx, pt, false)
		switch {
		case err == nil && v == c.Value:
			return nil
		case err == nil:
			lastRead = pt.Name + " reads " + strconv.FormatInt(v, 10)
		case errors.Is(err, ErrOffline), errors.Is(err, ErrClosed):
			return unavailable(err, "%s", what)
		default:
			lastErr = err
		}
		wait := min(confirmPoll, time.Until(end))
		if ctx.Err() == nil && wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		if ctx.Err() != nil || !time.Now().Before(end) {
			last := lastRead
			if last == "" {
				last = "no reading"
				if lastErr != nil {
					last = lastErr.Error()
				}
			}
			return &gateway.Error{Kind: gateway.Unavailable,
				Message: fmt.Sprintf("%s: %s did not read %d within %v (%s)", what, pt.Name, c.Value, c.Within, last),
				Err:     gateway.ErrUnconfirmed}
		}
	}
}

// halt puts an actuator in its shutdown state: secure and open map to the
// given actions, hold does nothing. No read-back: Halt must be quick.
func (dev *device) halt(ctx context.Context, secure, open string) error {
	pol := dev.Fail.OnShutdown
	if pol == "" {
		pol = DefaultShutdown(dev.Kind)
	}
	switch pol {
	case FailSecure:
		return dev.run(ctx, secure, args{}, false)
	case FailOpen:
		return dev.run(ctx, open, args{}, false)
	}
	return nil
}

// Lock is a compartment (or door) lock on a locker controller board.
type Lock struct{ dev *device }

// Unlock releases the lock and waits for the profile's read-back (the
// door opening, on a board with spring-loaded doors).
func (l *Lock) Unlock(ctx context.Context) error { return l.dev.run(ctx, ActUnlock, args{}, true) }

// Lock engages the lock.
func (l *Lock) Lock(ctx context.Context) error { return l.dev.run(ctx, ActLock, args{}, true) }

// Halt applies the on_shutdown policy (locked by default).
func (l *Lock) Halt(ctx context.Context) error { return l.dev.halt(ctx, ActLock, ActUnlock) }

// Flap is a flap lock on a flap-lock controller.
type Flap struct{ dev *device }

// Raise locks the car in and waits for the read-back.
func (f *Flap) Raise(ctx context.Context) error { return f.dev.run(ctx, ActRaise, args{}, true) }

// Lower releases the car and waits for the read-back (the flap's down
// position).
func (f *Flap) Lower(ctx context.Context) error { return f.dev.run(ctx, ActLower, args{}, true) }

// Halt applies the on_shutdown policy (lowered by default).
func (f *Flap) Halt(ctx context.Context) error { return f.dev.halt(ctx, ActRaise, ActLower) }

// PayStation is the core's link to a cash pay station.
type PayStation struct{ dev *device }

// ShowFee writes the ref and the amount and strobes the show command.
func (p *PayStation) ShowFee(ctx context.Context, ref string, amount int64) error {
	if ref == "" || amount < 0 {
		return gateway.Errorf(gateway.Invalid, "modbus pay station %s: show fee %d for %q: empty ref or negative amount", p.dev.ID, amount, ref)
	}
	return p.dev.run(ctx, ActShowFee, args{ref: ref, amount: amount}, true)
}

// Settled tells the pay station that ref was paid elsewhere.
func (p *PayStation) Settled(ctx context.Context, ref string) error {
	if ref == "" {
		return gateway.Errorf(gateway.Invalid, "modbus pay station %s: settled: empty ref", p.dev.ID)
	}
	return p.dev.run(ctx, ActSettled, args{ref: ref}, true)
}

// Reading is one point's value, for the installer.
type Reading struct {
	Point   string
	Table   Table
	Address uint16
	Value   string // the value in gateway units, or the error reading it
	Err     error
}

// Read reads every point of device id's profile, for its channel, in name
// order. It fails only for an unknown device; a point that cannot be read
// has its error in its Reading.
func (d *Driver) Read(ctx context.Context, id string) ([]Reading, error) {
	dev, err := d.lookup(id)
	if err != nil {
		return nil, err
	}
	var out []Reading
	for _, name := range slices.Sorted(maps.Keys(dev.Profile.Points)) {
		pt := dev.Profile.Points[name]
		r := Reading{Point: name, Table: pt.Table, Address: pt.address(dev.Channel)}
		if pt.Type == String {
			s, err := dev.readString(ctx, pt)
			r.Value, r.Err = strconv.Quote(s), err
		} else {
			v, err := dev.readRaw(ctx, pt, true)
			r.Value, r.Err = strconv.FormatInt(fromRaw(pt, v), 10), err
		}
		if r.Err != nil {
			r.Value = ""
		}
		out = append(out, r)
	}
	return out, nil
}

// Sensor reads sensor id (a door sensor or occupancy sensor) now.
func (d *Driver) Sensor(ctx context.Context, id string) (bool, error) {
	dev, err := d.lookup(id)
	if err != nil {
		return false, err
	}
	role := inputFor(dev.Kind)
	if role == "" {
		return false, gateway.Errorf(gateway.Invalid, "modbus: device %q is a %s, not a sensor", id, dev.Kind)
	}
	v, err := dev.readRaw(ctx, dev.Profile.Points[dev.Profile.Inputs[role]], true)
	if err != nil {
		return false, unavailable(err, "modbus %s %s: read", dev.Kind, id)
	}
	return v != 0, nil
}
