package gateway

import (
	"context"
	"errors"
	"strings"
	"time"
)

// laneState is the live state of a lane. Guarded by Gateway.mu.
type laneState struct {
	lane     *Lane
	occupied bool      // the loop sees a vehicle
	up       bool      // the barrier was commanded up
	raisedAt time.Time //
	carSeen  bool      // a vehicle was on the loop since the barrier rose
	// pending is the exit that raised the barrier, until the car passes.
	// If it never does, the exit is undone (see undoExit).
	pending *pendingExit
	// unknown: the barrier's position is not known (after a restart); the
	// first report of a clear loop lowers it.
	unknown bool
	// fireRetry: the fire alarm's raise failed; Tick commands it again
	// while the alarm lasts.
	fireRetry bool
	// fireOpened: the fire alarm raised the barrier and it has not been
	// lowered since (a car may still leave through it after the alarm
	// cleared).
	fireOpened bool
	// decided: a decision or an override raised the barrier for the
	// next car (cleared when a car passes).
	decided bool
}

// Scanned handles text read by a scanner: a key, a ticket or a local-list
// credential shown at a lane.
func (g *Gateway) Scanned(ctx context.Context, scannerID, text string) {
	r, ok := g.roles[scannerID]
	if !ok || r.lane == nil {
		g.log.Warn("scan from unknown scanner", "device", scannerID)
		g.record(ctx, EvAccess, accessData{Resource: "scanner:" + scannerID, Reason: ReasonUnknownDevice})
		return
	}
	if _, err := g.PresentAtLane(ctx, r.lane.ID, text); err != nil {
		g.log.Error("decide scan", "lane", r.lane.ID, "err", err)
	}
}

// PresentAtLane decides a credential shown at a lane's scanner and, when
// allowed, raises the barrier.
func (g *Gateway) PresentAtLane(ctx context.Context, laneID, text string) (Decision, error) {
	ls, ok := g.lanes[laneID]
	if !ok {
		return Decision{}, Errorf(NotFound, "no lane %q", laneID)
	}
	if s := g.receipts.Load(); s != nil && IsReceipt(text) {
		d, _, err := s.PresentReceiptAtLane(ctx, laneID, text)
		return d, err
	}
	l := ls.lane
	then := g.laneFollow(l)
	var d Decision
	var err error
	kind, value := classify(text)
	switch kind {
	case credKey:
		return g.presentKeyAtLane(ctx, ls, AccessRequest{Text: text, Action: l.Action(), Channel: ChannelScanner})
	case credTicket:
		check := func(Tx, time.Time) (Decision, bool, error) { return Allow(), false, nil }
		switch {
		case value == "" || len(value) > maxCredentialLen:
			check = func(Tx, time.Time) (Decision, bool, error) { return Deny(ReasonMalformed), false, nil }
		case l.Direction == Entry:
			// Tickets are printed at the entry, never read there.
			check = func(Tx, time.Time) (Decision, bool, error) { return Deny(ReasonWrongLane), false, nil }
		}
		d, err = g.decideCredential(ctx, l, "ticket:"+value, check, then)
	default:
		check := g.listCheck(value)
		if value == "" || len(value) > maxCredentialLen {
			// Not a key, not a ticket and not a sane card UID or plate.
			check = func(Tx, time.Time) (Decision, bool, error) { return Deny(ReasonMalformed), false, nil }
			value = ""
		}
		d, err = g.decideCredential(ctx, l, "list:"+value, check, then)
	}
	if err != nil {
		return Decision{}, err
	}
	if d.Allowed {
		g.admit(ctx, ls, d)
	}
	return d, nil
}

// maxCredentialLen bounds a local-list credential (a card UID, a plate, a
// pass number) read by a scanner.
const maxCredentialLen = 128

// laneFollow is the session part of a decision at the lane.
func (g *Gateway) laneFollow(l *Lane) follow {
	if l.Direction == Entry {
		return g.entryFollow(l)
	}
	return g.exitFollow(l)
}

// laneByResource finds the lane a "gate:<lane>" resource names.
func (g *Gateway) laneByResource(res string) (*laneState, bool) {
	id, ok := strings.CutPrefix(res, "gate:")
	if !ok {
		return nil, false
	}
	ls, ok := g.lanes[id]
	return ls, ok
}

// presentKeyAtLane decides a key for a lane (from its scanner, or remotely)
// and raises the barrier when allowed. The resource and, when empty, the
// action are the lane's.
func (g *Gateway) presentKeyAtLane(ctx context.Context, ls *laneState, req AccessRequest) (Decision, error) {
	req.Resource = ls.lane.Resource()
	if req.Action == "" {
		req.Action = ls.lane.Action()
	}
	if req.Action != ls.lane.Action() {
		d := Deny(ReasonActionNotAllowed)
		seq, err := g.recordDenial(ctx, accessData{Resource: req.Resource, Action: req.Action, Channel: req.Channel,
			Reason: d.Reason}, "", false, g.clock.Now())
		d.Seq = seq
		return d, err
	}
	d, err := g.decideKey(ctx, req, g.laneFollow(ls.lane))
	if err != nil {
		return Decision{}, err
	}
	if d.Allowed {
		g.admit(ctx, ls, d)
	}
	return d, nil
}

// listCheck checks a local-list credential (a card UID, a plate, a pass).
func (g *Gateway) listCheck(id string) func(tx Tx, now time.Time) (Decision, bool, error) {
	return func(tx Tx, now time.Time) (Decision, bool, error) {
		e, err := tx.ListEntry(id)
		if KindOf(err) == NotFound {
			return Deny(ReasonUnknownCredential), false, nil
		}
		if err != nil {
			return Decision{}, false, err
		}
		switch e.Status {
		case ListBlocked:
			return Deny(ReasonBlocked), false, nil
		case ListExpired:
			return Deny(ReasonExpired), false, nil
		}
		if !e.ValidFrom.IsZero() || !e.ValidUntil.IsZero() {
			// Read through tx: this runs inside an Update, which must not
			// call View (as g.trustedTime may).
			trusted, err := tx.LatestTrustedTime()
			if err != nil {
				return Decision{}, false, err
			}
			if !trusted.IsZero() && now.Before(trusted.Add(-g.site.Policy.ClockSkew)) {
				return Deny(ReasonClockUntrusted), false, nil
			}
		}
		skew := g.site.Policy.ClockSkew
		if !e.ValidFrom.IsZero() && now.Add(skew).Before(e.ValidFrom) {
			return Deny(ReasonNotYetValid), false, nil
		}
		if !e.ValidUntil.IsZero() && !now.Add(-skew).Before(e.ValidUntil) {
			return Deny(ReasonExpired), false, nil
		}
		return Allow(), e.FeeExempt, nil
	}
}

// decideCredential decides a ticket or local-list credential at a lane.
// check, when not nil, validates the credential itself first.
func (g *Gateway) decideCredential(ctx context.Context, l *Lane, cred string, check func(Tx, time.Time) (Decision, bool, error), then follow) (Decision, error) {
	now := g.clock.Now()
	data := accessData{Resource: l.Resource(), Action: l.Action(), Channel: ChannelScanner, Credential: cred}
	var d Decision
	err := g.update(ctx, func(tx Tx, rec *recorder) error {
		d = Allow()
		exempt := false
		if check != nil {
			var err error
			if d, exempt, err = check(tx, now); err != nil {
				return err
			}
			if !d.Allowed {
				return errDenied
			}
		}
		if err := then(tx, rec, &d, cred, exempt); err != nil {
			return err
		}
		if !d.Allowed {
			return errDenied
		}
		data.Allowed, data.Reason, data.SessionID = true, ReasonOK, d.SessionID
		if err := rec.add(tx, now, laneEvent(l), data); err != nil {
			return err
		}
		d.Seq = rec.last()
		return nil
	})
	if errors.Is(err, errDenied) {
		data.Reason, data.Due, data.SessionID = d.Reason, d.Due, d.SessionID
		err = g.update(ctx, func(tx Tx, rec *recorder) error {
			if err := rec.add(tx, now, laneEvent(l), data); err != nil {
				return err
			}
			d.Seq = rec.last()
			return nil
		})
	}
	return d, err
}

// pendingExit is an allowed exit whose car has not passed yet.
type pendingExit struct {
	session string
	keyID   string
}

// admit raises the barrier for an allowed decision. At an exit it
// remembers the session the decision closed, to undo it if no car passes.
func (g *Gateway) admit(ctx context.Context, ls *laneState, d Decision) {
	if ls.lane.Direction == Exit && (d.SessionID != "" || d.KeyID != "") {
		g.mu.Lock()
		ls.pending = &pendingExit{session: d.SessionID, keyID: d.KeyID}
		g.mu.Unlock()
	}
	g.raise(ctx, ls)
}

// undoExit reopens the session of an exit whose barrier timed out with no
// car passing: the car is still inside, and its ticket or key must work
// again (a key that entered is marked inside again).
func (g *Gateway) undoExit(ctx context.Context, laneID string, p *pendingExit) {
	now := g.clock.Now()
	if p.session == "" {
		g.undoKeyExit(ctx, laneID, p.keyID, now)
		return
	}
	err := g.update(ctx, func(tx Tx, rec *recorder) error {
		s, err := tx.Session(p.session)
		if err != nil {
			return err
		}
		if s.State != SessionClosed {
			return nil
		}
		if _, err := tx.OpenSessionByCredential(s.Credential); err == nil {
			return nil // the credential has a newer session; leave this one
		} else if KindOf(err) != NotFound {
			return err
		}
		s.State, s.ExitAt = SessionOpen, time.Time{}
		if err := tx.PutSession(s); err != nil {
			return err
		}
		if id, ok := strings.CutPrefix(s.Credential, "key:"); ok {
			st, err := tx.KeyState(id)
			if err != nil {
				return err
			}
			st.Inside = true
			if err := tx.PutKeyState(st); err != nil {
				return err
			}
		}
		return rec.add(tx, now, EvSessionReopened, map[string]any{"session_id": s.ID, "lane": laneID,
			"reason": "no vehicle passed the barrier"})
	})
	if err != nil {
		g.log.Error("undo exit", "lane", laneID, "session", p.session, "err", err)
	}
}

// undoKeyExit gives back the use an exit-only key's allowed exit took
// when no car passed: a single-use key must work again for the car that
// is still inside.
func (g *Gateway) undoKeyExit(ctx context.Context, laneID, keyID string, now time.Time) {
	err := g.update(ctx, func(tx Tx, rec *recorder) error {
		st, err := tx.KeyState(keyID)
		if err != nil {
			return err
		}
		if st.Uses == 0 {
			return nil
		}
		st.Uses--
		if err := tx.PutKeyState(st); err != nil {
			return err
		}
		return rec.add(tx, now, EvExitUndone, map[string]any{"key_id": keyID, "lane": laneID,
			"reason": "no vehicle passed the barrier", "uses": st.Uses})
	})
	if err != nil {
		g.log.Error("undo exit", "lane", laneID, "key", keyID, "err", err)
	}
}

func laneEvent(l *Lane) EventType {
	if l.Direction == Entry {
		return EvEntry
	}
	return EvExit
}

// entryFollow checks capacity and opens a session at an entry lane.
func (g *Gateway) entryFollow(l *Lane) follow {
	return func(tx Tx, rec *recorder, d *Decision, cred string, exempt bool) error {
		now := g.clock.Now()
		if _, err := tx.OpenSessionByCredential(cred); err == nil {
			*d = Deny(ReasonPassback)
			return nil
		} else if KindOf(err) != NotFound {
			return err
		}
		s, err := g.newSession(tx, cred, now)
		if err != nil {
			return err
		}
		if s.ReservationID == "" {
			state, _, err := g.capacityState(tx)
			if err != nil {
				return err
			}
			switch state {
			case Closed:
				*d = Deny(ReasonSiteClosed)
				return nil
			case Full:
				*d = Deny(ReasonSiteFull)
				return nil
			}
		} else if st, _, err := g.capacityState(tx); err != nil {
			return err
		} else if st == Closed {
			*d = Deny(ReasonSiteClosed)
			return nil
		}
		s.Lane = l.ID
		s.FeeExempt = exempt
		d.SessionID = s.ID
		return g.openSession(tx, rec, s, now)
	}
}

// exitFollow checks what is due at an exit lane and closes the session.
// A key or list credential with no open session may leave (it entered some
// other way); a ticket must have a session.
func (g *Gateway) exitFollow(l *Lane) follow {
	return func(tx Tx, rec *recorder, d *Decision, cred string, exempt bool) error {
		now := g.clock.Now()
		s, err := tx.OpenSessionByCredential(cred)
		if KindOf(err) == NotFound {
			if strings.HasPrefix(cred, "ticket:") {
				*d = Deny(ReasonNoSession)
			}
			return nil
		}
		if err != nil {
			return err
		}
		d.SessionID = s.ID
		if !exempt {
			due, err := g.due(tx, s, now)
			if err != nil {
				return err
			}
			if due.Amount > 0 {
				*d = Deny(ReasonPaymentDue)
				d.SessionID, d.Due = s.ID, due.Amount
				return nil
			}
		}
		return g.closeSession(tx, rec, s, now, "exit:"+l.ID)
	}
}

// capacityState is Closed when the site is closed, Full when the open lane
// sessions reach the capacity, else Open. It also returns the number of
// open lane sessions.
func (g *Gateway) capacityState(tx Tx) (CapacityState, int, error) {
	n, err := g.countCars(tx)
	if err != nil {
		return "", 0, err
	}
	g.mu.Lock()
	closed := g.closed
	g.mu.Unlock()
	switch {
	case closed:
		return Closed, n, nil
	case n >= g.site.Capacity.Spaces:
		return Full, n, nil
	}
	return Open, n, nil
}

// countCars counts the cars on the site: the open sessions that are not
// space sessions. A car that entered through a lane and then stands on a
// flap-lock space has both a lane session and a space session; it takes
// one place.
func (g *Gateway) countCars(tx Tx) (int, error) {
	n, err := tx.CountOpenSessions()
	if err != nil || n == 0 {
		return n, err
	}
	for _, sp := range g.site.Spaces {
		if _, err := tx.OpenSessionByCredential(sp.Resource()); err == nil {
			n--
		} else if KindOf(err) != NotFound {
			return 0, err
		}
	}
	return max(n, 0), nil
}

// Occupancy is the site's capacity state and the number of cars on the site
// (open sessions other than space sessions).
func (g *Gateway) Occupancy(ctx context.Context) (CapacityState, int, error) {
	var st CapacityState
	var n int
	err := g.store.View(ctx, func(tx Tx) error {
		var err error
		st, n, err = g.capacityState(tx)
		return err
	})
	return st, n, err
}

// TicketRequested issues an entry ticket when a vehicle is on the lane's
// loop and the site takes it, then raises the barrier.
func (g *Gateway) TicketRequested(ctx context.Context, deviceID string) {
	r, ok := g.roles[deviceID]
	if !ok || r.lane == nil || r.lane.Direction != Entry {
		g.log.Warn("ticket request from unknown dispenser", "device", deviceID)
		return
	}
	if _, _, err := g.IssueTicket(ctx, r.lane.ID); err != nil {
		g.log.Error("issue ticket", "lane", r.lane.ID, "err", err)
	}
}

// IssueTicket opens a ticket session at an entry lane, prints the ticket and
// raises the barrier. It returns the decision and the ticket's QR text.
func (g *Gateway) IssueTicket(ctx context.Context, laneID string) (Decision, string, error) {
	ls, ok := g.lanes[laneID]
	if !ok || ls.lane.Direction != Entry {
		return Decision{}, "", Errorf(NotFound, "no entry lane %q", laneID)
	}
	g.mu.Lock()
	occupied := ls.occupied
	// The barrier is already up for the car on the loop: a second press
	// would open a second session for one car (and count it twice).
	admitted := ls.up && ls.decided
	g.mu.Unlock()
	id := newID(10)
	text := TicketPrefix + id
	refuse := func(r Reason) func(Tx, time.Time) (Decision, bool, error) {
		return func(Tx, time.Time) (Decision, bool, error) { return Deny(r), false, nil }
	}
	var d Decision
	var err error
	switch {
	case !occupied:
		d, err = g.decideCredential(ctx, ls.lane, "ticket:"+id, refuse(ReasonNoVehicle), g.entryFollow(ls.lane))
	case admitted:
		d, err = g.decideCredential(ctx, ls.lane, "ticket:"+id, refuse(ReasonAlreadyAdmitted), g.entryFollow(ls.lane))
	default:
		d, err = g.decideCredential(ctx, ls.lane, "ticket:"+id, nil, g.entryFollow(ls.lane))
	}
	if err != nil || !d.Allowed {
		return d, "", err
	}
	p := g.act.Tickets[ls.lane.Ticket]
	var print func(context.Context) error
	if p != nil {
		print = func(ctx context.Context) error { return p.Print(ctx, text) }
	}
	if err := g.actuate(ctx, ls.lane.Ticket, "print", print); err != nil {
		// No ticket, no entry: the driver would owe the lost-ticket fee
		// for a ticket they never had.
		return g.unissue(ctx, ls.lane, d)
	}
	g.raise(ctx, ls)
	return d, text, nil
}

// unissue closes the session of a ticket that could not be printed and
// records the entry as refused.
func (g *Gateway) unissue(ctx context.Context, l *Lane, d Decision) (Decision, string, error) {
	now := g.clock.Now()
	out := Deny(ReasonDeviceOffline)
	err := g.update(ctx, func(tx Tx, rec *recorder) error {
		s, err := tx.Session(d.SessionID)
		if err != nil {
			return err
		}
		if err := g.closeSession(tx, rec, s, now, "ticket_not_printed"); err != nil {
			return err
		}
		if err := rec.add(tx, now, EvEntry, accessData{Resource: l.Resource(), Action: l.Action(), Channel: ChannelScanner,
			Credential: s.Credential, Reason: out.Reason, SessionID: s.ID}); err != nil {
			return err
		}
		out.Seq = rec.last()
		return nil
	})
	return out, "", err
}

// raise commands a lane's barrier up. The error is recorded as an event;
// callers other than the fire alarm need not look at it.
func (g *Gateway) raise(ctx context.Context, ls *laneState) error {
	return g.raiseBarrier(ctx, ls, true)
}

// raiseBarrier raises a lane's barrier; decided says a decision or an
// override is behind it (false: the fire alarm).
func (g *Gateway) raiseBarrier(ctx context.Context, ls *laneState, decided bool) error {
	g.mu.Lock()
	ls.up, ls.raisedAt, ls.carSeen = true, g.clock.Now(), ls.occupied
	if decided {
		ls.decided = true
	}
	g.mu.Unlock()
	b := g.act.Barriers[ls.lane.Barrier]
	var cmd func(context.Context) error
	if b != nil {
		cmd = b.Raise
	}
	return g.actuate(ctx, ls.lane.Barrier, "raise", cmd)
}

// lowerIfSafe lowers a lane's barrier unless its loop sees a vehicle or a
// fire alarm holds it open. The check is repeated while holding the
// device's command lock, right before the command.
//
// why, when not nil, is re-checked together with the safety conditions: a
// timer that decided to lower must not lower a barrier that rose again for
// the next car meanwhile.
func (g *Gateway) lowerIfSafe(ctx context.Context, ls *laneState, why func(*laneState) bool) bool {
	if !g.mayLower(ls, why) {
		return false
	}
	b := g.act.Barriers[ls.lane.Barrier]
	if b == nil {
		return false
	}
	lowered := false
	err := g.withDevice(ctx, ls.lane.Barrier, func(ctx context.Context) error {
		if !g.mayLower(ls, why) {
			return nil
		}
		g.mu.Lock()
		ls.up, ls.unknown, ls.fireOpened, ls.decided = false, false, false, false
		g.mu.Unlock()
		lowered = true
		return b.Lower(ctx)
	})
	if lowered || err != nil {
		g.recordActuation(ctx, ls.lane.Barrier, "lower", err)
	}
	return lowered
}

func (g *Gateway) mayLower(ls *laneState, why func(*laneState) bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return ls.up && !ls.occupied && !(g.fire && g.fireHolds(ls.lane.Barrier)) && (why == nil || why(ls))
}

// carPassed: a vehicle was on the loop since the barrier rose.
func carPassed(ls *laneState) bool { return ls.carSeen }

// loopChanged handles a lane's loop detector.
func (g *Gateway) loopChanged(ctx context.Context, ls *laneState, occupied bool) {
	g.mu.Lock()
	ls.occupied = occupied
	passed, unverified := false, false
	if occupied && ls.up {
		ls.carSeen = true
	}
	if !occupied && ls.up && ls.carSeen {
		passed = true
		// A vehicle through an exit the fire alarm holds open, with no
		// decision behind it: nobody knows whose session it was, so
		// the operator must hear of it (UnverifiedExits).
		unverified = !ls.decided && ls.lane.Direction == Exit && ls.fireOpened
		ls.pending, ls.decided = nil, false // the exit happened
	}
	settle := !occupied && ls.unknown && !ls.up
	if settle {
		// After a restart the arm may be up: with the loop clear it is
		// safe to put it down.
		ls.up = true
	}
	g.mu.Unlock()
	if unverified {
		g.record(ctx, EvExitUnverified, map[string]any{"lane": ls.lane.ID, "cause": "fire_alarm"})
	}
	switch {
	case passed:
		g.lowerIfSafe(ctx, ls, carPassed)
	case settle:
		g.lowerIfSafe(ctx, ls, nil)
	}
}

// tickLanes lowers barriers that were raised but no vehicle passed within
// the open timeout.
func (g *Gateway) tickLanes(ctx context.Context, now time.Time) {
	expired := func(ls *laneState) bool {
		return ls.carSeen || now.Sub(ls.raisedAt) >= g.site.Policy.BarrierOpenTimeout
	}
	var due []*laneState
	g.mu.Lock()
	for _, ls := range g.lanes {
		if ls.up && !ls.occupied && expired(ls) {
			due = append(due, ls)
		}
	}
	g.mu.Unlock()
	for _, ls := range due {
		if !g.lowerIfSafe(ctx, ls, expired) {
			continue
		}
		g.mu.Lock()
		p := ls.pending
		ls.pending = nil
		unused := p != nil && !ls.carSeen
		g.mu.Unlock()
		if unused {
			g.undoExit(ctx, ls.lane.ID, p)
		}
	}
}

// LaneStatus is a lane's live state.
type LaneStatus struct {
	ID        string    `json:"id"`
	Direction Direction `json:"direction"`
	Occupied  bool      `json:"occupied"`
	BarrierUp bool      `json:"barrier_up"`
	FireHeld  bool      `json:"fire_held"`
}

// Lanes returns every lane's live state.
func (g *Gateway) Lanes() []LaneStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]LaneStatus, 0, len(g.site.Lanes))
	for _, l := range g.site.Lanes {
		ls := g.lanes[l.ID]
		out = append(out, LaneStatus{ID: l.ID, Direction: l.Direction, Occupied: ls.occupied, BarrierUp: ls.up,
			FireHeld: g.fire && g.fireHolds(l.Barrier)})
	}
	return out
}
