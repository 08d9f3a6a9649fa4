package gateway

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// spaceState is the live state of a flap-lock space. Guarded by Gateway.mu.
//
// The cycle: a car stands on the space for RaiseAfter → a session opens
// (entry time = when the car arrived) and the flap rises. When the session
// is settled (or an attendant releases it) the flap lowers and the space is
// "released": the flap stays down, whatever the sensor says, until the
// space has been empty for EmptyFor; then the session closes and the space
// is ready for the next car.
type spaceState struct {
	space        *Space
	known        bool // the sensor has reported since start
	present      bool
	presentSince time.Time
	emptySince   time.Time
	flapUp       bool
	released     bool
	// restored marks a session carried over a restart (or a fire alarm)
	// with its flap down: a car that leaves it is let go, and the session
	// closes with what it still owed listed as unpaid.
	restored bool
	// fireRetry: the fire alarm's lowering failed; Tick commands it again
	// while the alarm lasts.
	fireRetry bool
}

// doorState is the live state of a door or compartment. Guarded by
// Gateway.mu.
type doorState struct {
	resource      string
	lock          string
	open          bool
	openSince     time.Time
	alarmed       bool
	unlockedUntil time.Time // zero when locked
	fireHeld      bool
	fireRetry     bool // the fire alarm's unlock failed; Tick retries it while the alarm lasts
}

// SensorChanged implements Inputs: a loop, occupancy, door or fire-alarm
// sensor changed.
func (g *Gateway) SensorChanged(ctx context.Context, deviceID string, active bool) {
	r, ok := g.roles[deviceID]
	if !ok {
		g.log.Warn("change from unknown sensor", "device", deviceID)
		return
	}
	// The change is timed when it arrives, and the state a timer reads
	// (occupied since, open since) is set before the event is recorded:
	// whoever sees the event and then runs Tick sees the new state.
	now := g.clock.Now()
	var then func()
	switch {
	case r.kind == KindFireAlarm:
		then = func() { g.fireAlarm(ctx, active) }
	case r.lane != nil && r.lane.Loop == deviceID:
		then = func() { g.loopChanged(ctx, g.lanes[r.lane.ID], active) }
	case r.space != nil && r.space.Sensor == deviceID:
		g.occupancyChanged(g.spaces[r.space.ID], active, now)
	case r.kind == KindDoorSensor && r.door != "":
		then = g.doorChanged(ctx, g.doors[r.door], active, now)
	}
	g.record(ctx, EvDevice, map[string]any{"device": deviceID, "kind": r.kind, "active": active})
	if then != nil {
		then()
	}
}

// CashPaid implements Inputs: the pay station took a payment.
func (g *Gateway) CashPaid(ctx context.Context, p CashPayment) {
	_, err := g.ApplyPayment(ctx, PaymentIn{ID: "cash-" + p.ID, Ref: p.Ref, Method: PayCash, Amount: p.Amount, At: p.At})
	if err != nil {
		g.log.Error("apply cash payment", "tx", p.ID, "ref", p.Ref, "err", err)
		g.record(ctx, EvAlarm, map[string]any{"alarm": "cash_payment_unapplied", "tx": p.ID, "ref": p.Ref,
			"amount": p.Amount, "error": err.Error()})
	}
}

func (g *Gateway) occupancyChanged(sp *spaceState, present bool, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if sp.known && present == sp.present {
		return
	}
	sp.known, sp.present = true, present
	if present {
		sp.presentSince = now
	} else {
		sp.emptySince = now
	}
}

// tickSpaces raises flaps under cars that stood long enough and finishes
// released spaces that stayed empty long enough.
func (g *Gateway) tickSpaces(ctx context.Context, now time.Time) {
	type job struct {
		sp     *spaceState
		raise  bool
		forced bool // lower a flap that is up over an empty space first
	}
	var jobs []job
	g.mu.Lock()
	for _, sp := range g.spaces {
		emptied := sp.known && !sp.present && now.Sub(sp.emptySince) >= sp.space.EmptyFor
		switch {
		case sp.released || sp.restored:
			if emptied {
				jobs = append(jobs, job{sp: sp})
			} else if !sp.released && sp.present && now.Sub(sp.presentSince) >= sp.space.RaiseAfter && !g.fire {
				jobs = append(jobs, job{sp: sp, raise: true})
			}
		case !sp.flapUp && sp.known && sp.present && now.Sub(sp.presentSince) >= sp.space.RaiseAfter && !g.fire:
			jobs = append(jobs, job{sp: sp, raise: true})
		case sp.flapUp && emptied:
			// The flap is up over an empty space: the car was forced over
			// it, or the sensor failed. Lower it, so the space is usable,
			// and close the session as left unpaid (with an alarm) if it
			// owed anything.
			jobs = append(jobs, job{sp: sp, forced: true})
		}
	}
	g.mu.Unlock()
	for _, j := range jobs {
		if j.raise {
			g.occupySpace(ctx, j.sp)
		} else {
			if j.forced {
				g.record(ctx, EvAlarm, map[string]any{"alarm": "flap_up_on_empty_space", "space": j.sp.space.ID})
				g.lowerFlap(ctx, j.sp.space.ID, false)
			}
			g.finishSpace(ctx, j.sp, now)
		}
	}
}

// occupySpace opens a session for the car on a space and raises the flap.
func (g *Gateway) occupySpace(ctx context.Context, sp *spaceState) {
	g.mu.Lock()
	since := sp.presentSince
	g.mu.Unlock()
	now := g.clock.Now()
	err := g.update(ctx, func(tx Tx, rec *recorder) error {
		cred := "space:" + sp.space.ID
		if _, err := tx.OpenSessionByCredential(cred); err == nil {
			return nil // a restored session: raise its flap again
		} else if KindOf(err) != NotFound {
			return err
		}
		s, err := g.newSession(tx, cred, since)
		if err != nil {
			return err
		}
		s.Space = sp.space.ID
		return g.openSession(tx, rec, s, now)
	})
	if err != nil {
		g.log.Error("open space session", "space", sp.space.ID, "err", err)
		return
	}
	// The fire alarm may have gone off, or the car driven away, while the
	// session opened. Checked under the flap's command lock, as the fire
	// alarm's lowering takes it too: the flap then stays down, and the
	// session is handled as a restored one (the flap rises once the alarm
	// is over and the car is still there; it closes once the space stays
	// empty).
	f := g.act.Flaps[sp.space.Flap]
	raised := false
	err = g.withDevice(ctx, sp.space.Flap, func(ctx context.Context) error {
		g.mu.Lock()
		if g.fire || !sp.present {
			sp.restored = true
			g.mu.Unlock()
			return nil
		}
		sp.flapUp, sp.restored = true, false
		g.mu.Unlock()
		raised = true
		if f == nil {
			return Errorf(Unavailable, "no driver for device %s", sp.space.Flap)
		}
		return f.Raise(ctx)
	})
	if raised || err != nil {
		g.recordActuation(ctx, sp.space.Flap, "raise", err)
	}
}

// releaseSpace lowers a space's flap after its session was settled.
func (g *Gateway) releaseSpace(ctx context.Context, spaceID string) {
	_ = g.lowerFlap(ctx, spaceID, true)
}

// lowerFlap lowers a space's flap. settled says the session owes nothing
// (released); otherwise (the fire alarm) the session stays owing and is
// closed as left unpaid if the car goes.
func (g *Gateway) lowerFlap(ctx context.Context, spaceID string, settled bool) error {
	sp, ok := g.spaces[spaceID]
	if !ok {
		return nil
	}
	g.mu.Lock()
	if settled {
		sp.released = true
	} else {
		sp.restored = true
	}
	sp.flapUp = false
	if !sp.present && sp.emptySince.IsZero() {
		sp.emptySince = g.clock.Now()
	}
	g.mu.Unlock()
	f := g.act.Flaps[sp.space.Flap]
	var cmd func(context.Context) error
	if f != nil {
		cmd = f.Lower
	}
	return g.actuate(ctx, sp.space.Flap, "lower", cmd)
}

// ReleaseSpace lowers a space's flap when nothing is due (a stay within the
// free minutes, or a fee already paid); otherwise it returns a denial with
// the amount due (payment_due), or no_session when the space has no open
// session. Every decision is recorded.
func (g *Gateway) ReleaseSpace(ctx context.Context, spaceID string) (Decision, error) {
	if _, ok := g.spaces[spaceID]; !ok {
		return Decision{}, Errorf(NotFound, "no space %q", spaceID)
	}
	now := g.clock.Now()
	res := "space:" + spaceID
	var d Decision
	err := g.update(ctx, func(tx Tx, rec *recorder) error {
		d = Deny(ReasonNoSession)
		s, err := tx.OpenSessionByCredential(res)
		switch {
		case err == nil:
			due, err := g.due(tx, s, now)
			if err != nil {
				return err
			}
			if d = Allow(); due.Amount > 0 {
				d = Deny(ReasonPaymentDue)
				d.Due = due.Amount
			}
			d.SessionID = s.ID
		case KindOf(err) != NotFound:
			return err
		}
		if err := rec.add(tx, now, EvAccess, accessData{Resource: res, Action: ActionOpen, Credential: res,
			Allowed: d.Allowed, Reason: d.Reason, SessionID: d.SessionID, Due: d.Due}); err != nil {
			return err
		}
		d.Seq = rec.last()
		return nil
	})
	if err != nil {
		return Decision{}, fmt.Errorf("release space %s: %w", spaceID, err)
	}
	if d.Allowed {
		g.releaseSpace(ctx, spaceID)
	}
	return d, nil
}

// finishSpace closes the session of a released space that stayed empty.
//
// The fee is reckoned at the moment the space emptied. A car that left
// owing something (an overstay past the exit grace, or a car let go by the
// fire alarm or while the gateway was down) is closed as overridden, so it
// is listed among the exits let through unpaid, and an alarm is recorded.
func (g *Gateway) finishSpace(ctx context.Context, sp *spaceState, now time.Time) {
	g.mu.Lock()
	left := sp.emptySince
	g.mu.Unlock()
	err := g.update(ctx, func(tx Tx, rec *recorder) error {
		s, err := tx.OpenSessionByCredential("space:" + sp.space.ID)
		if KindOf(err) == NotFound {
			return nil
		}
		if err != nil {
			return err
		}
		d, err := g.due(tx, s, left)
		if err != nil {
			return err
		}
		how := "space_empty"
		if d.Amount > 0 {
			how = "left_unpaid"
			s.Overridden = true
			if err := rec.add(tx, now, EvAlarm, map[string]any{"alarm": "left_unpaid", "space": sp.space.ID,
				"session_id": s.ID, "unpaid": d.Amount, "left_at": left}); err != nil {
				return err
			}
		}
		return g.closeSession(tx, rec, s, left, how)
	})
	if err != nil {
		g.log.Error("close space session", "space", sp.space.ID, "err", err)
		return
	}
	g.mu.Lock()
	sp.released, sp.restored = false, false
	g.mu.Unlock()
}

func (g *Gateway) doorByResource(res string) *doorState {
	return g.doors[res]
}

// unlockDoor releases a door or compartment lock for the unlock time.
func (g *Gateway) unlockDoor(ctx context.Context, ds *doorState) {
	g.mu.Lock()
	ds.unlockedUntil = g.clock.Now().Add(g.site.Policy.UnlockFor)
	g.mu.Unlock()
	l := g.act.Locks[ds.lock]
	var cmd func(context.Context) error
	if l != nil {
		cmd = l.Unlock
	}
	_ = g.actuate(ctx, ds.lock, "unlock", cmd)
}

// lockDoor engages a lock unless the fire alarm holds the door.
func (g *Gateway) lockDoor(ctx context.Context, ds *doorState) {
	g.mu.Lock()
	if ds.fireHeld {
		g.mu.Unlock()
		return
	}
	ds.unlockedUntil = time.Time{}
	g.mu.Unlock()
	l := g.act.Locks[ds.lock]
	var cmd func(context.Context) error
	if l != nil {
		cmd = l.Lock
	}
	_ = g.actuate(ctx, ds.lock, "lock", cmd)
}

// doorChanged sets the door's state and returns what follows from it (a
// cleared alarm and a re-lock when the door closed), or nil.
func (g *Gateway) doorChanged(ctx context.Context, ds *doorState, open bool, now time.Time) func() {
	g.mu.Lock()
	wasOpen := ds.open
	ds.open = open
	alarmed := ds.alarmed
	if open && !wasOpen {
		ds.openSince, ds.alarmed = now, false
	}
	g.mu.Unlock()
	if open || !wasOpen {
		return nil
	}
	return func() {
		if alarmed {
			g.record(ctx, EvAlarm, map[string]any{"alarm": "door_open", "resource": ds.resource, "cleared": true})
		}
		g.lockDoor(ctx, ds)
	}
}

// tickDoors re-locks doors whose unlock time ran out while still closed and
// raises an alarm for doors left open too long.
func (g *Gateway) tickDoors(ctx context.Context, now time.Time) {
	var relock, alarm []*doorState
	g.mu.Lock()
	for _, ds := range g.doors {
		if !ds.open && !ds.unlockedUntil.IsZero() && !now.Before(ds.unlockedUntil) && !ds.fireHeld {
			relock = append(relock, ds)
		}
		if ds.open && !ds.alarmed && !ds.fireHeld && now.Sub(ds.openSince) >= g.site.Policy.DoorOpenAlarm {
			ds.alarmed = true
			alarm = append(alarm, ds)
		}
	}
	g.mu.Unlock()
	for _, ds := range relock {
		g.lockDoor(ctx, ds)
	}
	for _, ds := range alarm {
		g.record(ctx, EvAlarm, map[string]any{"alarm": "door_open", "resource": ds.resource, "open_since": ds.openSince})
	}
}

// fireAlarm opens the configured exits and doors and holds them while the
// alarm is active; no other decision lowers or locks them meanwhile.
func (g *Gateway) fireAlarm(ctx context.Context, active bool) {
	g.mu.Lock()
	if g.fire == active {
		g.mu.Unlock()
		return
	}
	g.fire = active
	var lanes []*laneState
	var doors []*doorState
	if !active {
		for _, ls := range g.lanes {
			ls.fireRetry = false
		}
		for _, ds := range g.doors {
			ds.fireRetry = false
		}
		for _, sp := range g.spaces {
			sp.fireRetry = false
		}
	}
	if fa := g.site.FireAlarm; fa != nil {
		for _, id := range fa.Opens {
			if ls, ok := g.lanes[id]; ok {
				lanes = append(lanes, ls)
				if active {
					ls.fireOpened = true
				}
			}
		}
		for _, id := range fa.Doors {
			if ds, ok := g.doors["door:"+id]; ok {
				ds.fireHeld = active
				doors = append(doors, ds)
			}
		}
	}
	var flaps []string
	if active {
		// Nobody is trapped on a space during a fire: every raised flap
		// lowers, and none rises while the alarm lasts (see tickSpaces).
		for _, sp := range g.spaces {
			if sp.flapUp {
				flaps = append(flaps, sp.space.ID)
			}
		}
	}
	g.mu.Unlock()
	g.record(ctx, EvFireAlarm, map[string]any{"active": active})
	// A command that fails now (a device that did not answer) is marked
	// for Tick to retry while the alarm lasts: a fire exit is never left
	// shut because its barrier missed one command.
	retry := func(flag *bool, err error) {
		if err != nil {
			g.mu.Lock()
			*flag = g.fire
			g.mu.Unlock()
		}
	}
	// Every device is commanded at once, each on its own goroutine: the
	// exits and doors must not wait for a slow or jammed flap (a flap can
	// take seconds to confirm), nor for each other. Exits and doors start
	// first.
	var wg sync.WaitGroup
	do := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	for _, ls := range lanes {
		if active {
			do(func() { retry(&ls.fireRetry, g.raiseBarrier(ctx, ls, false)) })
		} else {
			do(func() { g.lowerIfSafe(ctx, ls, nil) })
		}
	}
	for _, ds := range doors {
		if active {
			do(func() { retry(&ds.fireRetry, g.actuate(ctx, ds.lock, "unlock (fire alarm)", g.lockCmd(ds, false))) })
		} else if !ds.open {
			do(func() { g.lockDoor(ctx, ds) })
		}
	}
	for _, id := range flaps {
		sp := g.spaces[id]
		do(func() { retry(&sp.fireRetry, g.lowerFlap(ctx, id, false)) })
	}
	wg.Wait()
}

// lockCmd is a door's Lock (lock) or Unlock command, nil without a driver.
func (g *Gateway) lockCmd(ds *doorState, lock bool) func(context.Context) error {
	l := g.act.Locks[ds.lock]
	switch {
	case l == nil:
		return nil
	case lock:
		return l.Lock
	}
	return l.Unlock
}

// tickFire retries the fire alarm's commands that failed, while the alarm
// lasts. Each retry re-checks the alarm under the device's command lock,
// so a retry never acts after the alarm cleared.
func (g *Gateway) tickFire(ctx context.Context) {
	type job struct {
		id, command string
		flag        *bool
		cmd         func(context.Context) error
		before      func() // under g.mu, right before the command
	}
	var jobs []job
	g.mu.Lock()
	if g.fire {
		for _, ls := range g.lanes {
			if ls.fireRetry {
				ls.fireRetry = false
				var cmd func(context.Context) error
				if b := g.act.Barriers[ls.lane.Barrier]; b != nil {
					cmd = b.Raise
				}
				jobs = append(jobs, job{id: ls.lane.Barrier, command: "raise (fire alarm, retry)", flag: &ls.fireRetry, cmd: cmd,
					before: func() { ls.up, ls.raisedAt, ls.carSeen = true, g.clock.Now(), ls.occupied }})
			}
		}
		for _, ds := range g.doors {
			if ds.fireRetry {
				ds.fireRetry = false
				jobs = append(jobs, job{id: ds.lock, command: "unlock (fire alarm, retry)", flag: &ds.fireRetry, cmd: g.lockCmd(ds, false)})
			}
		}
		for _, sp := range g.spaces {
			if sp.fireRetry {
				sp.fireRetry = false
				var cmd func(context.Context) error
				if f := g.act.Flaps[sp.space.Flap]; f != nil {
					cmd = f.Lower
				}
				jobs = append(jobs, job{id: sp.space.Flap, command: "lower (fire alarm, retry)", flag: &sp.fireRetry, cmd: cmd})
			}
		}
	}
	g.mu.Unlock()
	for _, j := range jobs {
		acted := false
		err := g.withDevice(ctx, j.id, func(ctx context.Context) error {
			g.mu.Lock()
			if !g.fire {
				g.mu.Unlock()
				return nil
			}
			if j.before != nil {
				j.before()
			}
			g.mu.Unlock()
			acted = true
			if j.cmd == nil {
				return Errorf(Unavailable, "no driver for device %s", j.id)
			}
			return j.cmd(ctx)
		})
		if !acted && err == nil {
			continue
		}
		if err != nil {
			g.mu.Lock()
			*j.flag = g.fire
			g.mu.Unlock()
		}
		g.recordActuation(ctx, j.id, j.command, err)
	}
}

// FireAlarmActive reports whether the fire alarm is raised.
func (g *Gateway) FireAlarmActive() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fire
}

// Tick runs the gateway's timers at now: barriers whose open time ran out,
// flaps under cars that stood long enough, released spaces that emptied,
// locks to re-engage and doors left open. Run calls it periodically; tests
// call it with an injected clock.
func (g *Gateway) Tick(ctx context.Context, now time.Time) {
	g.tickFire(ctx)
	g.tickLanes(ctx, now)
	g.tickSpaces(ctx, now)
	g.tickDoors(ctx, now)
}

// Run calls Tick every interval until ctx is done.
func (g *Gateway) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			g.Tick(ctx, g.clock.Now())
		}
	}
}

// DeviceHealthChanged implements HealthSink: every transition is an event.
func (g *Gateway) DeviceHealthChanged(ctx context.Context, h DeviceHealth) {
	g.health.set(h)
	if !h.Online {
		g.log.Warn("device offline", "device", h.Device, "err", h.LastError)
	} else {
		g.log.Info("device online", "device", h.Device)
	}
	g.record(ctx, EvDevice, map[string]any{"device": h.Device, "online": h.Online, "last_error": h.LastError,
		"failures": h.Failures, "successes": h.Successes})
}
