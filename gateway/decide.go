package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lotgate/lotgate/gateway/keys"
)

// errDenied rolls back a decision transaction whose outcome is a denial;
// the denial itself is then recorded in a transaction of its own, so that
// nothing a denied attempt did (a session opened, a use counted) is kept.
var errDenied = errors.New("denied")

// follow is the part of a decision that belongs to where the key was
// shown: at an entry it checks capacity and opens a session, at an exit it
// checks what is due and closes the session. It runs inside the decision's
// transaction after every key check passed; it may turn d into a denial.
type follow func(tx Tx, rec *recorder, d *Decision, cred string, feeExempt bool) error

// accessData is the payload of access and lane decision events.
type accessData struct {
	Resource   string  `json:"resource"`
	Action     Action  `json:"action"`
	Channel    Channel `json:"channel,omitempty"`
	Credential string  `json:"credential,omitempty"`
	KeyID      string  `json:"key_id,omitempty"`
	Holder     string  `json:"holder,omitempty"`
	Allowed    bool    `json:"allowed"`
	Reason     Reason  `json:"reason"`
	SessionID  string  `json:"session_id,omitempty"`
	Due        int64   `json:"due,omitempty"`
}

// CheckKey verifies a key presentation against the site and the stored
// state without changing anything: no use is consumed, no event recorded.
// It is what `lotgate keys check` runs.
func (g *Gateway) CheckKey(ctx context.Context, req AccessRequest) (Decision, error) {
	if _, lane := g.laneByResource(req.Resource); !lane && !g.knownResource(req.Resource) {
		// As Authorize: the site has no such resource, whatever the key.
		return Deny(ReasonUnknownResource), nil
	}
	now := g.clock.Now()
	v, d := g.check.verifyKey(req, now, g.trustedTime(ctx))
	if !d.Allowed {
		return d, nil
	}
	pres := g.resolvePIN(ctx, v.claims, req, g.check.checkPresence(v.claims, req), now)
	st, revoked, err := g.keyStatus(ctx, v.claims.KeyID)
	if err != nil {
		return Decision{}, err
	}
	if v.proof != nil {
		// A proof a lane already accepted would be refused there.
		var used bool
		if err := g.store.View(ctx, func(tx Tx) error {
			var err error
			used, err = tx.ProofStepUsed(v.claims.KeyID, v.proof.Step)
			return err
		}); err != nil {
			return Decision{}, fmt.Errorf("check device proof: %w", err)
		}
		if used && !revoked {
			d := Deny(ReasonProofReplayed)
			d.KeyID = v.claims.KeyID
			return d, nil
		}
	}
	return g.judgeKeyState(v, st, revoked, req, pres, now), nil
}

// KeyStatusReader is a Store that also answers a key's committed state and
// whether it is revoked outside any transaction, faster than a View
// (gateway/sqlite keeps both tables in memory). The answer must be exactly
// what Tx.KeyState and Tx.Revoked would read in a View started during the
// call: never a state the store no longer holds. Decisions that write (a
// use counted) still read inside their Update.
type KeyStatusReader interface {
	KeyStatus(ctx context.Context, keyID string) (state KeyState, revoked bool, err error)
}

// keyStatus reads a key's state and revocation for a decision that writes
// nothing: through KeyStatusReader when the store has it, else in a View.
func (g *Gateway) keyStatus(ctx context.Context, keyID string) (KeyState, bool, error) {
	if ks, ok := g.store.(KeyStatusReader); ok {
		return ks.KeyStatus(ctx, keyID)
	}
	var st KeyState
	var revoked bool
	err := g.store.View(ctx, func(tx Tx) error {
		var err error
		if st, err = tx.KeyState(keyID); err != nil {
			return err
		}
		revoked, err = tx.Revoked(keyID)
		return err
	})
	return st, revoked, err
}

// Authorize decides a key presentation for a resource that is not a lane
// (a locker compartment, a door, a space) and records the decision. On an
// allowed decision it also unlocks the door or compartment.
//
// A lane's resource ("gate:out-1") is decided as at the lane (a session
// opens or must be paid) and raises the barrier: that is a remote open from
// the holder's phone, with the key's presence policy applied unless
// req.Channel is ChannelScanner.
func (g *Gateway) Authorize(ctx context.Context, req AccessRequest) (Decision, error) {
	if ls, ok := g.laneByResource(req.Resource); ok {
		return g.presentKeyAtLane(ctx, ls, req)
	}
	if !g.knownResource(req.Resource) {
		// Refused before the key is looked at: a typo or a probe for a
		// resource the site does not have must not take a use of the key
		// nor change its anti-passback state.
		return g.refuseRequest(ctx, req, ReasonUnknownResource)
	}
	if req.Action == ActionEnter || req.Action == ActionExit {
		// Only lanes enter or exit. Allowed elsewhere, an "exit" would
		// clear the key's anti-passback state (and take no use) without
		// the car passing any lane.
		return g.refuseRequest(ctx, req, ReasonActionNotAllowed)
	}
	d, err := g.decideKey(ctx, req, nil)
	if err != nil || !d.Allowed {
		return d, err
	}
	if ds := g.doorByResource(req.Resource); ds != nil {
		switch req.Action {
		case ActionOpen, ActionUnlock:
			g.unlockDoor(ctx, ds)
		case ActionLock:
			g.lockDoor(ctx, ds)
		}
	}
	return d, nil
}

// knownResource reports whether the site has a door, compartment or space
// by that resource name (lanes are looked up by laneByResource).
func (g *Gateway) knownResource(res string) bool {
	if g.doorByResource(res) != nil {
		return true
	}
	id, ok := strings.CutPrefix(res, "space:")
	_, found := g.spaces[id]
	return ok && found
}

// refuseRequest records a refusal decided from the request alone, before
// any key check.
func (g *Gateway) refuseRequest(ctx context.Context, req AccessRequest, r Reason) (Decision, error) {
	res := req.Resource
	if len(res) > keys.MaxResourceLen {
		res = res[:keys.MaxResourceLen]
	}
	d := Deny(r)
	seq, err := g.recordDenial(ctx, accessData{Resource: res, Action: req.Action, Channel: req.Channel, Reason: r}, "", false, g.clock.Now())
	if err != nil {
		return Decision{}, fmt.Errorf("refuse %s %s: %w", req.Action, res, err)
	}
	d.Seq = seq
	return d, nil
}

// decideKey runs the whole key decision: stateless checks and the PIN hash
// outside any transaction, then the stored-state checks, the follow-up and
// the consumption of a use in one durable transaction.
func (g *Gateway) decideKey(ctx context.Context, req AccessRequest, then follow) (Decision, error) {
	now := g.clock.Now()
	v, d := g.check.verifyKey(req, now, g.trustedTime(ctx))
	pres := presenceOK
	if d.Allowed {
		pres = g.resolvePIN(ctx, v.claims, req, g.check.checkPresence(v.claims, req), now)
	}
	cred := ""
	if v.claims.KeyID != "" {
		cred = "key:" + v.claims.KeyID
	}
	data := accessData{Resource: req.Resource, Action: req.Action, Channel: req.Channel, Credential: cred,
		KeyID: v.claims.KeyID, Holder: v.claims.Holder}
	err := g.update(ctx, func(tx Tx, rec *recorder) error {
		if !d.Allowed {
			return errDenied
		}
		dd, st, err := g.keyStateChecks(tx, v, req, pres, now)
		if err != nil {
			return err
		}
		if !dd.Allowed {
			d = dd
			return errDenied
		}
		if then != nil {
			if err := then(tx, rec, &dd, cred, v.claims.FeeExempt); err != nil {
				return err
			}
			if !dd.Allowed {
				d = dd
				return errDenied
			}
		}
		if v.proof != nil {
			fresh, err := tx.UseProofStep(v.claims.KeyID, v.proof.Step)
			if err != nil {
				return err
			}
			if !fresh {
				d = Deny(ReasonProofReplayed)
				return errDenied
			}
		}
		if !(req.Action == ActionExit && st.Inside) {
			st.Uses++
		}
		st.LastUsed = now
		st.PINFailures = 0
		switch req.Action {
		case ActionEnter:
			st.Inside = true
		case ActionExit:
			st.Inside = false
		}
		if err := tx.PutKeyState(st); err != nil {
			return err
		}
		d = dd
		data.Allowed, data.Reason, data.SessionID = true, ReasonOK, dd.SessionID
		if err := rec.add(tx, now, EvAccess, data); err != nil {
			return err
		}
		d.Seq = rec.last()
		return nil
	})
	d.KeyID = v.claims.KeyID
	if errors.Is(err, errDenied) {
		data.Reason, data.Due, data.SessionID = d.Reason, d.Due, d.SessionID
		d.Seq, err = g.recordDenial(ctx, data, v.claims.KeyID, d.Reason == ReasonPINWrong, now)
	}
	if err != nil {
		return Decision{}, fmt.Errorf("decide key for %s %s: %w", req.Action, req.Resource, err)
	}
	return d, nil
}

// resolvePIN checks a pending PIN. The hash is slow and memory-hungry on
// purpose (scrypt, 32 MiB), so a key whose PIN is locked is refused before
// hashing, and hashes run one at a time: a flood of PIN requests queues
// instead of exhausting a Pi's memory. It runs outside any transaction.
func (g *Gateway) resolvePIN(ctx context.Context, c keys.Claims, req AccessRequest, pres presence, now time.Time) presence {
	if pres != presencePINPending {
		return pres
	}
	if st, _, err := g.keyStatus(ctx, c.KeyID); err == nil && now.Before(st.PINLockedUntil) {
		return presenceNeedPIN // keyStateChecks refuses it as pin_locked, unhashed
	}
	select {
	case g.pinSem <- struct{}{}:
	case <-ctx.Done():
		return presencePINWrong
	}
	ok := keys.CheckPIN(req.PIN, c.Presence.PINHash, c.Presence.PINSalt)
	<-g.pinSem
	if ok {
		return presenceNeedPIN
	}
	return presencePINWrong
}

// recordDenial records a denial and, for a wrong PIN, counts the failure
// and locks the key's PIN after too many.
func (g *Gateway) recordDenial(ctx context.Context, data accessData, keyID string, pinWrong bool, now time.Time) (uint64, error) {
	var seq uint64
	err := g.update(ctx, func(tx Tx, rec *recorder) error {
		if pinWrong && keyID != "" {
			st, err := tx.KeyState(keyID)
			if err != nil {
				return err
			}
			st.PINFailures++
			if st.PINFailures >= g.site.Policy.PINMaxAttempts {
				st.PINLockedUntil = now.Add(g.site.Policy.PINLockout)
				st.PINFailures = 0
				if err := rec.add(tx, now, EvPINLockout, map[string]any{
					"key_id": keyID, "locked_until": st.PINLockedUntil, "resource": data.Resource,
				}); err != nil {
					return err
				}
			}
			if err := tx.PutKeyState(st); err != nil {
				return err
			}
		}
		if err := rec.add(tx, now, EvAccess, data); err != nil {
			return err
		}
		seq = rec.last()
		return nil
	})
	return seq, err
}

// keyStateChecks checks what needs stored state: revocation, use count,
// anti-passback, PIN lockout and the presence outcome. It returns the key's
// state for the caller to update.
func (g *Gateway) keyStateChecks(tx Tx, v verified, req AccessRequest, pres presence, now time.Time) (Decision, KeyState, error) {
	st, err := tx.KeyState(v.claims.KeyID)
	if err != nil {
		return Decision{}, st, err
	}
	revoked, err := tx.Revoked(v.claims.KeyID)
	if err != nil {
		return Decision{}, st, err
	}
	return g.judgeKeyState(v, st, revoked, req, pres, now), st, nil
}

// judgeKeyState is the decision keyStateChecks makes once the key's state
// and revocation are read.
func (g *Gateway) judgeKeyState(v verified, st KeyState, revoked bool, req AccessRequest, pres presence, now time.Time) Decision {
	c := v.claims
	deny := func(r Reason) Decision {
		d := Deny(r)
		d.KeyID = c.KeyID
		return d
	}
	if revoked {
		return deny(ReasonRevoked)
	}
	// A key that entered may always leave: the exit of a visit does not
	// take a use (a single-use key is one visit, in and out).
	leaving := req.Action == ActionExit && st.Inside
	if c.Uses > 0 && st.Uses >= c.Uses && !leaving {
		return deny(ReasonUsedUp)
	}
	if req.Action == ActionEnter && st.Inside {
		return deny(ReasonPassback)
	}
	if req.Action == ActionExit && !st.Inside && c.AllowsAction(string(ActionEnter)) && g.entersHere(c) {
		// Strict anti-passback for keys that enter this site: a key that
		// did not come in cannot let a car out (a second car on someone
		// else's key), and a repeated exit scan takes no use.
		d := DenyBecause(ReasonPassback, "the key has not entered, or has already left: it cannot let a car out")
		d.KeyID = c.KeyID
		return d
	}
	switch pres {
	case presenceOutside:
		return deny(ReasonOutsideGeofence)
	case presencePINMissing:
		return deny(ReasonPINRequired)
	case presencePINWrong, presenceNeedPIN:
		if now.Before(st.PINLockedUntil) {
			return deny(ReasonPINLocked)
		}
		if pres == presencePINWrong {
			return deny(ReasonPINWrong)
		}
	}
	d := Allow()
	d.KeyID = c.KeyID
	return d
}

// unreadableTrustedTime stands for a trusted time the store could not
// read.
var unreadableTrustedTime = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// entersHere reports whether the key may enter at one of this site's
// entry lanes.
func (g *Gateway) entersHere(c keys.Claims) bool {
	for _, l := range g.site.Lanes {
		if l.Direction == Entry && c.AllowsResource(l.Resource()) {
			return true
		}
	}
	return false
}

// trustedTime returns the latest trusted time (zero when unknown).
func (g *Gateway) trustedTime(ctx context.Context) time.Time {
	g.mu.Lock()
	t, ok := g.trusted, g.trustedLoaded
	g.mu.Unlock()
	if ok {
		return t
	}
	err := g.store.View(ctx, func(tx Tx) error {
		var err error
		t, err = tx.LatestTrustedTime()
		return err
	})
	if err != nil {
		// Fail closed: a time it cannot read is treated as a time far
		// ahead, so time-limited decisions are refused (clock_untrusted)
		// rather than made on a clock nobody vouched for.
		g.log.Error("read latest trusted time", "err", err)
		return unreadableTrustedTime
	}
	g.mu.Lock()
	if !g.trustedLoaded || t.After(g.trusted) {
		g.trusted, g.trustedLoaded = t, true
	}
	t = g.trusted
	g.mu.Unlock()
	return t
}

// AdvanceTrustedTime feeds a trusted time (a signed cloud timestamp, or an
// installer's command). The stored value never goes backwards. It reports
// whether the stored time moved.
func (g *Gateway) AdvanceTrustedTime(ctx context.Context, t time.Time, source string) (bool, error) {
	now := g.clock.Now()
	var moved bool
	err := g.update(ctx, func(tx Tx, rec *recorder) error {
		var err error
		moved, err = tx.AdvanceTrustedTime(t)
		if err != nil || !moved {
			return err
		}
		return rec.add(tx, now, EvTrustedTime, map[string]any{"trusted_time": t.UTC(), "source": source, "wall_clock": now.UTC()})
	})
	if err != nil {
		return false, fmt.Errorf("advance trusted time: %w", err)
	}
	if moved {
		g.mu.Lock()
		if t.After(g.trusted) {
			g.trusted, g.trustedLoaded = t, true
		}
		g.mu.Unlock()
	}
	return moved, nil
}

// ResetTrustedTime sets the latest trusted time to t even when t is
// earlier: the way back from a trusted time that was wrong (a cloud whose
// clock ran ahead), which would otherwise refuse every time-limited key
// with clock_untrusted and run every fee to that time. It takes an
// attendant's override (operator and reason) and is recorded with the
// value it replaced. It returns that value (zero when never set).
func (g *Gateway) ResetTrustedTime(ctx context.Context, t time.Time, o Override) (time.Time, error) {
	if err := o.validate(); err != nil {
		return time.Time{}, err
	}
	if t.IsZero() {
		return time.Time{}, Errorf(Invalid, "reset trusted time: the time is required")
	}
	now := g.clock.Now()
	var prev time.Time
	err := g.update(ctx, func(tx Tx, rec *recorder) error {
		var err error
		if prev, err = tx.ResetTrustedTime(t); err != nil {
			return err
		}
		data := map[string]any{"trusted_time": t.UTC(), "source": "reset", "reset": true,
			"operator": o.Operator, "reason": o.Reason, "wall_clock": now.UTC()}
		if !prev.IsZero() {
			data["previous"] = prev.UTC()
		}
		return rec.add(tx, now, EvTrustedTime, data)
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("reset trusted time: %w", err)
	}
	g.mu.Lock()
	g.trusted, g.trustedLoaded = t, true
	g.mu.Unlock()
	return prev, nil
}

// ClockTrusted reports whether the wall clock is at or after the latest
// trusted time (minus the allowed skew), and the latest trusted time.
func (g *Gateway) ClockTrusted(ctx context.Context) (bool, time.Time) {
	t := g.trustedTime(ctx)
	return t.IsZero() || !g.clock.Now().Before(t.Add(-g.site.Policy.ClockSkew)), t
}
