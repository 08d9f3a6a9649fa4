package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lotgate/lotgate/gateway/keys"
)

// Delegation (owner approval with a countdown): someone — a family member,
// a valet, an AI assistant device — asks to open a resource or pay on
// behalf of a holder named by nickname. The request goes up to the cloud
// as an approval.requested event; the owner sees date, time, place and the
// countdown, and the cloud sends a signed approval.decision. Only an
// approval that arrives within the countdown opens the resource (or yields
// a single-use payment token); a refusal, a late answer or none denies.
// With no uplink the request is refused at once.

// ApprovalRequest is what a delegate asks for.
type ApprovalRequest struct {
	Nickname      string // the holder, as the requester names them
	Requester     string // the requester's name or device ID
	RequesterKind string // "person" (default) or "ai_device"
	Action        Action // enter, exit, open, unlock or pay
	Resource      string // "gate:<lane>", "door:<id>", "locker:<id>"; for pay: a session reference
}

// RequestApproval records an approval request and returns it pending, with
// its deadline. With no uplink it returns the request refused (reason
// offline, with a clear message in Reason) and records that too: denials
// are decisions, not errors.
func (s *Sync) RequestApproval(ctx context.Context, r ApprovalRequest) (Approval, error) {
	g := s.g
	r.Nickname, r.Requester = strip(r.Nickname, 64), strip(r.Requester, 64)
	if r.RequesterKind == "" {
		r.RequesterKind = "person"
	}
	if r.Nickname == "" || r.Requester == "" {
		return Approval{}, Errorf(Invalid, "an approval request needs the holder's nickname and the requester")
	}
	if r.RequesterKind != "person" && r.RequesterKind != "ai_device" {
		return Approval{}, Errorf(Invalid, "requester kind %q: want person or ai_device", r.RequesterKind)
	}
	switch r.Action {
	case ActionPay:
		if r.Resource == "" {
			return Approval{}, Errorf(Invalid, "a pay request needs the session reference")
		}
	case ActionEnter, ActionExit, ActionOpen, ActionUnlock:
		if !s.knownResource(r.Resource) {
			return Approval{}, Errorf(NotFound, "no resource %q at this site", r.Resource)
		}
	default:
		return Approval{}, Errorf(Invalid, "action %q cannot be delegated", r.Action)
	}
	now := g.clock.Now()
	a := Approval{ID: "ap-" + newID(12), Nickname: r.Nickname, Requester: r.Requester, RequesterKind: r.RequesterKind,
		Action: r.Action, Resource: r.Resource, Place: g.site.Name, RequestedAt: now, Deadline: now.Add(s.countTO),
		State: ApprovalPending}
	online := s.isOnline()
	if !online {
		a.State, a.Reason, a.DecidedAt = ApprovalRefused, string(ReasonOffline), now
	}
	err := g.update(ctx, func(tx Tx, rec *recorder) error {
		if err := tx.PutApproval(a); err != nil {
			return err
		}
		data := map[string]any{"request_id": a.ID, "nickname": a.Nickname, "requester": a.Requester,
			"requester_kind": a.RequesterKind, "action": a.Action, "resource": a.Resource, "site": g.site.ID,
			"place": a.Place, "requested_at": a.RequestedAt, "local_time": a.RequestedAt.In(g.site.Location).Format("2006-01-02 15:04:05 MST"),
			"deadline": a.Deadline, "countdown_s": int(s.countTO / time.Second)}
		if !online {
			data["reason"] = ReasonOffline
			return rec.add(tx, now, EvDelegationRefused, data)
		}
		return rec.add(tx, now, EvApprovalRequested, data)
	})
	if err != nil {
		return Approval{}, fmt.Errorf("request approval: %w", err)
	}
	if !online {
		a.Reason = ReasonText(ReasonOffline)
	}
	return a, nil
}

func (s *Sync) knownResource(res string) bool {
	if s.g.doorByResource(res) != nil {
		return true
	}
	for _, l := range s.g.site.Lanes {
		if l.Resource() == res {
			return true
		}
	}
	return false
}

// WaitApproval waits until the request is decided or its countdown ran
// out (then it is expired and denied) or ctx is done, and returns it.
func (s *Sync) WaitApproval(ctx context.Context, id string) (Approval, error) {
	ch := make(chan Approval, 1)
	s.mu.Lock()
	s.waiters[id] = append(s.waiters[id], ch)
	s.mu.Unlock()
	defer s.unwait(id, ch)
	a, err := s.approval(ctx, id)
	if err != nil || a.State != ApprovalPending {
		return a, err
	}
	t := time.NewTimer(max(0, a.Deadline.Sub(s.g.clock.Now())) + 50*time.Millisecond)
	defer t.Stop()
	select {
	case a := <-ch:
		return a, nil
	case <-t.C:
		s.Tick(ctx, s.g.clock.Now())
		return s.approval(ctx, id)
	case <-ctx.Done():
		return a, ctx.Err()
	}
}

func (s *Sync) unwait(id string, ch chan Approval) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.waiters[id]
	for i, w := range ws {
		if w == ch {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(s.waiters, id)
	} else {
		s.waiters[id] = ws
	}
}

func (s *Sync) wake(a Approval) {
	s.mu.Lock()
	ws := append([]chan Approval(nil), s.waiters[a.ID]...)
	s.mu.Unlock()
	for _, w := range ws {
		select {
		case w <- a:
		default:
		}
	}
}

func (s *Sync) approval(ctx context.Context, id string) (Approval, error) {
	var a Approval
	err := s.g.store.View(ctx, func(tx Tx) error {
		var err error
		a, err = tx.Approval(id)
		return err
	})
	return a, err
}

// Tick expires the pending approval requests whose countdown ended at now
// (those with waiters; others expire when a late decision arrives).
func (s *Sync) Tick(ctx context.Context, now time.Time) {
	s.mu.Lock()
	ids := make([]string, 0, len(s.waiters))
	for id := range s.waiters {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		var expired *Approval
		err := s.g.update(ctx, func(tx Tx, rec *recorder) error {
			expired = nil
			a, err := tx.Approval(id)
			if err != nil || a.State != ApprovalPending || now.Before(a.Deadline) {
				return err
			}
			a.State, a.Reason, a.DecidedAt = ApprovalExpired, string(ReasonNoDecision), now
			if err := tx.PutApproval(a); err != nil {
				return err
			}
			expired = &a
			return rec.add(tx, now, EvApprovalDecided, map[string]any{"request_id": a.ID, "state": a.State, "reason": ReasonNoDecision})
		})
		if err != nil {
			s.log.Error("expire approval request", "id", id, "err", err)
			continue
		}
		if expired != nil {
			s.wake(*expired)
		}
	}
}

// applyDecision applies a signed approval decision. It must carry an
// expiry (like a command) and arrive within the request's countdown.
func (s *Sync) applyDecision(ctx context.Context, im InboxMessage, m keys.Message) (Outcome, error) {
	g := s.g
	var b approvalBody
	if err := decodeBody(m, &b); err != nil || b.RequestID == "" || b.Operator == "" {
		return s.finish(ctx, im, ReasonInvalid, errData(err, "request_id and operator are required"), nil)
	}
	if r := s.checkTime(ctx, m, true); r != ReasonOK {
		return s.finish(ctx, im, r, map[string]any{"request_id": b.RequestID}, nil)
	}
	now := g.clock.Now()
	var a Approval
	var refuse Reason
	out, err := s.finish(ctx, im, ReasonOK, map[string]any{"request_id": b.RequestID, "approved": b.Approved},
		func(tx Tx, rec *recorder) error {
			var err error
			refuse = ""
			if a, err = tx.Approval(b.RequestID); err != nil {
				return err
			}
			if a.State != ApprovalPending {
				refuse = ReasonConflict
				return errDenied
			}
			a.DecidedAt, a.DecisionID, a.Operator = now, m.ID, b.Operator
			switch {
			case now.After(a.Deadline):
				a.State, a.Reason, refuse = ApprovalExpired, string(ReasonLate), ReasonLate
				return errDenied
			case !b.Approved:
				a.State, a.Reason = ApprovalRefused, string(ReasonOwnerRefused)
				if b.Reason != "" {
					a.Reason += ": " + strip(b.Reason, 200)
				}
			default:
				a.State = ApprovalApproved
				if a.Action == ActionPay {
					a.Token = newToken()
				}
			}
			if err := tx.PutApproval(a); err != nil {
				return err
			}
			return rec.add(tx, now, EvApprovalDecided, map[string]any{"request_id": a.ID, "state": a.State,
				"reason": a.Reason, "operator": a.Operator, "decision_id": m.ID, "action": a.Action, "resource": a.Resource,
				"token_issued": a.Token != ""})
		})
	if err != nil {
		if KindOf(err) == NotFound {
			return s.finish(ctx, im, ReasonInvalid, map[string]any{"request_id": b.RequestID, "error": "no such approval request"}, nil)
		}
		if errors.Is(err, errDenied) {
			// A late decision still expires the request: record that,
			// then refuse the message.
			if refuse == ReasonLate {
				return s.finish(ctx, im, ReasonLate, map[string]any{"request_id": b.RequestID}, func(tx Tx, rec *recorder) error {
					if err := tx.PutApproval(a); err != nil {
						return err
					}
					return rec.add(tx, now, EvApprovalDecided, map[string]any{"request_id": a.ID, "state": a.State, "reason": ReasonLate})
				})
			}
			return s.finish(ctx, im, refuse, map[string]any{"request_id": b.RequestID, "state": a.State}, nil)
		}
		return Outcome{}, err
	}
	if a.State == ApprovalApproved && a.Action != ActionPay {
		s.open(ctx, a)
	}
	s.wake(a)
	return out, nil
}

// open carries out an approved delegation: a lane's barrier rises, a door
// or compartment unlocks. The decision event was recorded before.
func (s *Sync) open(ctx context.Context, a Approval) {
	g := s.g
	if ds := g.doorByResource(a.Resource); ds != nil {
		g.unlockDoor(ctx, ds)
		return
	}
	for _, l := range g.site.Lanes {
		if l.Resource() == a.Resource {
			g.raise(ctx, g.lanes[l.ID])
			return
		}
	}
}

// UsePaymentToken consumes a single-use payment token of an approved pay
// request and returns the request (its Resource names the session). A
// token shown again is refused (Conflict, reason token_used).
func (s *Sync) UsePaymentToken(ctx context.Context, token string) (Approval, error) {
	g := s.g
	now := g.clock.Now()
	var a Approval
	err := g.update(ctx, func(tx Tx, rec *recorder) error {
		var err error
		if a, err = tx.ApprovalByToken(token); err != nil {
			return err
		}
		if a.TokenUsed {
			return &Error{Kind: Conflict, Message: ReasonText(ReasonTokenUsed)}
		}
		a.TokenUsed = true
		if err := tx.PutApproval(a); err != nil {
			return err
		}
		return rec.add(tx, now, EvPaymentTokenUsed, map[string]any{"request_id": a.ID, "resource": a.Resource})
	})
	if err != nil {
		return Approval{}, fmt.Errorf("use payment token: %w", err)
	}
	return a, nil
}
