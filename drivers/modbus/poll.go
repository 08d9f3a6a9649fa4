package modbus

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// poller reads the sensors and the pay station's payment flag of every
// unit on one bus, probes offline units, applies the sensors' comm-loss
// policy and programs the units' watchdogs. It delivers to the core from
// its own goroutine, after the bus has answered, so the core may command
// actuators on the same bus from inside its callbacks.
type poller struct {
	d     *Driver
	b     *Bus
	units []*unitPoll
}

type unitPoll struct {
	unit      uint8
	profile   *Profile
	groups    []*sensorGroup
	sensors   []*sensor
	pay       *device
	actuators []*device
	any       *device // a device of the unit, for probe reads

	online        bool
	nextProbe     time.Time
	lastRead      time.Time
	needFailState bool
}

// sensorGroup is the sensors of one unit that read the same point, read
// in one request when their channels' addresses fit in one.
type sensorGroup struct {
	pt      *Point
	sensors []*sensor
}

type sensor struct {
	dev       *device
	delivered bool // what the core was last told; it assumes inactive at start
}

func newPoller(d *Driver, b *Bus) *poller {
	p := &poller{d: d, b: b}
	byUnit := make(map[uint8]*unitPoll)
	for _, id := range d.order {
		dev := d.devices[id]
		if dev.bus != b {
			continue
		}
		u := byUnit[dev.Unit]
		if u == nil {
			u = &unitPoll{unit: dev.Unit, profile: dev.Profile, any: dev, online: true, needFailState: dev.Profile.FailState != nil}
			byUnit[dev.Unit] = u
			p.units = append(p.units, u)
		}
		switch dev.Kind {
		case gateway.KindPayStation:
			u.pay = dev
		case gateway.KindLock, gateway.KindFlap:
			u.actuators = append(u.actuators, dev)
		default:
			pt := u.profile.Points[u.profile.Inputs[inputFor(dev.Kind)]]
			s := &sensor{dev: dev}
			u.sensors = append(u.sensors, s)
			i := slices.IndexFunc(u.groups, func(g *sensorGroup) bool { return g.pt.Name == pt.Name })
			if i < 0 {
				u.groups = append(u.groups, &sensorGroup{pt: pt})
				i = len(u.groups) - 1
			}
			u.groups[i].sensors = append(u.groups[i].sensors, s)
		}
	}
	return p
}

func (p *poller) run(ctx context.Context) {
	t := time.NewTicker(p.b.cfg.PollInterval)
	defer t.Stop()
	for {
		for _, u := range p.units {
			if ctx.Err() != nil {
				return
			}
			p.poll(ctx, u)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll does one round on unit u.
func (p *poller) poll(ctx context.Context, u *unitPoll) {
	now := time.Now()
	p.transition(ctx, u)
	probe := false
	if !u.online {
		if now.Before(u.nextProbe) {
			return
		}
		u.nextProbe = now.Add(p.b.cfg.ProbeInterval)
		probe = true
	}
	if len(u.sensors) == 0 && u.pay == nil && !probe && !u.needFailState {
		// Nothing to read: just keep an eye on the unit's health.
		if now.Sub(u.lastRead) < p.b.cfg.ProbeInterval {
			return
		}
	}
	u.lastRead = now
	if !p.readSensors(ctx, u, probe) {
		p.transition(ctx, u)
		return
	}
	p.transition(ctx, u)
	if u.needFailState && p.writeFailState(ctx, u) {
		u.needFailState = false
	}
	if u.pay != nil {
		p.payment(ctx, u.pay)
	}
}

// transition notices a change of the unit's health: offline applies the
// sensors' comm-loss policy; back online reprograms the watchdog, and the
// next reads tell the core the sensors' real state.
func (p *poller) transition(ctx context.Context, u *unitPoll) {
	online := p.d.health.Online(unitKey{p.b.cfg.ID, u.unit})
	if online == u.online {
		return
	}
	u.online = online
	if online {
		p.b.log.Info("unit online", "unit", u.unit)
		u.needFailState = u.profile.FailState != nil
		return
	}
	p.b.log.Warn("unit offline", "unit", u.unit, "probe_every", p.b.cfg.ProbeInterval)
	u.nextProbe = time.Now().Add(p.b.cfg.ProbeInterval)
	for _, s := range u.sensors {
		switch s.dev.Fail.OnCommLoss {
		case FailActive:
			p.deliver(ctx, s, true)
		case FailInactive:
			p.deliver(ctx, s, false)
		}
	}
}

// readSensors reads every sensor of u (or, with none, one point as a probe)
// and delivers changes. It reports whether the unit answered.
func (p *poller) readSensors(ctx context.Context, u *unitPoll, probe bool) bool {
	if len(u.groups) == 0 && u.pay == nil {
		pt := u.any.Profile.Points[slices.Sorted(maps.Keys(u.any.Profile.Points))[0]]
		_, err := u.any.readRaw(ctx, pt, true)
		return err == nil
	}
	for _, g := range u.groups {
		vals, err := p.readGroup(ctx, u, g, probe)
		if err != nil {
			p.b.log.Debug("poll", "unit", u.unit, "point", g.pt.Name, "err", err)
			return false
		}
		probe = false // the unit answered: the rest goes as usual
		for i, s := range g.sensors {
			p.deliver(ctx, s, vals[i])
		}
	}
	if len(u.groups) == 0 && probe {
		pay := u.pay.Profile.Payment
		if _, err := u.pay.readRaw(ctx, u.pay.Profile.Points[pay.Flag], true); err != nil {
			return false
		}
	}
	return true
}

// readGroup reads the point of every sensor in g, in one request when the
// span of their addresses fits.
func (p *poller) readGroup(ctx context.Context, u *unitPoll, g *sensorGroup, probe bool) ([]bool, error) {
	pt := g.pt
	lo, hi := uint16(0xFFFF), uint16(0)
	for _, s := range g.sensors {
		a := pt.address(s.dev.Channel)
		lo, hi = min(lo, a), max(hi, a)
	}
	span := int(hi-lo) + pt.width()
	limit := 125
	if pt.Table.bits() {
		limit = 2000
	}
	vals := make([]bool, len(g.sensors))
	if len(g.sensors) == 1 || span > limit {
		for i, s := range g.sensors {
			v, err := s.dev.readRaw(ctx, pt, probe)
			if err != nil {
				return nil, err
			}
			probe = false
			vals[i] = v != 0
		}
		return vals, nil
	}
	data, err := p.b.do(ctx, u.unit, readOp(pt.Table, lo, uint16(span)), probe)
	if err != nil {
		return nil, err
	}
	for i, s := range g.sensors {
		off := int(pt.address(s.dev.Channel) - lo)
		if pt.Table.bits() {
			vals[i] = bitAt(data, off)
			continue
		}
		if len(data) < 2*(off+pt.width()) {
			return nil, errShort
		}
		vals[i] = rawInt(pt, registers(data[2*off:2*(off+pt.width())])) != 0
	}
	return vals, nil
}

var errShort = errors.New("modbus: response shorter than the request")

// deliver tells the core about a sensor whose state differs from what it
// was last told.
func (p *poller) deliver(ctx context.Context, s *sensor, active bool) {
	if s.delivered == active {
		return
	}
	s.delivered = active
	p.d.in.SensorChanged(ctx, s.dev.ID, active)
}

// payment checks the pay station's flag and, when a payment waits, reads
// it, hands it to the core and acknowledges it. A payment whose
// acknowledgement fails is read and delivered again at the next poll; the
// core applies a payment ID once.
func (p *poller) payment(ctx context.Context, dev *device) {
	pay := dev.Profile.Payment
	pts := dev.Profile.Points
	flag, err := dev.readRaw(ctx, pts[pay.Flag], false)
	if err != nil || flag == 0 {
		return
	}
	amountRaw, err := dev.readRaw(ctx, pts[pay.Amount], false)
	if err != nil {
		return
	}
	ref, err := dev.readString(ctx, pts[pay.Ref])
	if err != nil {
		return
	}
	id, err := dev.readRaw(ctx, pts[pay.ID], false)
	if err != nil {
		return
	}
	cp := gateway.CashPayment{ID: dev.ID + "-" + strconv.FormatInt(id, 10), Ref: ref, Amount: fromRaw(pts[pay.Amount], amountRaw)}
	p.b.log.Info("cash payment", "device", dev.ID, "tx", cp.ID, "ref", cp.Ref, "amount", cp.Amount)
	p.d.in.CashPaid(ctx, cp)
	if err := dev.run(ctx, pay.Ack, args{}, false); err != nil {
		p.b.log.Warn("acknowledge cash payment; it will be delivered again", "device", dev.ID, "tx", cp.ID, "err", err)
	}
}

// writeFailState programs the unit's watchdog: its timeout, and for each
// actuator the state its on_comm_loss policy asks for.
func (p *poller) writeFailState(ctx context.Context, u *unitPoll) bool {
	fs := u.profile.FailState
	if err := u.any.writeRaw(ctx, u.profile.Points[fs.Timeout], fs.Seconds); err != nil {
		p.b.log.Debug("program watchdog", "unit", u.unit, "err", err)
		return false
	}
	for _, dev := range u.actuators {
		pol := dev.Fail.OnCommLoss
		if pol == "" {
			pol = FailHold
		}
		v, ok := fs.Values[pol]
		if !ok {
			continue
		}
		if err := dev.writeRaw(ctx, u.profile.Points[fs.State], v); err != nil {
			p.b.log.Debug("program fail state", "device", dev.ID, "err", err)
			return false
		}
	}
	return true
}
