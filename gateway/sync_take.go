package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/lotgate/lotgate/gateway/keys"
)

// Take is how a transport hands over a signed message with the fewest
// durable writes before the device moves. It verifies the message and,
// in one transaction (one fsync), stores it in the inbox and — for a
// payment completion or a remote open or unlock that passes its checks —
// applies it and records its outcome. The transport acknowledges the
// message once Take returned nil (an error means nothing was stored: do
// not acknowledge), then calls act when it is not nil: act moves the
// barrier, tells the pay station, or applies a message that was only
// stored (the other types, and any message to refuse, go through Apply
// as before). A message act failed to apply stays pending for
// ApplyPending.
//
// The outcome is the same as Accept then Apply: a duplicate delivery is
// answered and changes nothing, a payment is applied once per payment ID,
// a command is carried out at most once (its outcome is committed before
// act runs).
func (s *Sync) Take(ctx context.Context, raw []byte, source string) (Outcome, func(context.Context) error, error) {
	m, kid, err := keys.VerifyMessage(raw, s.g.check.lookup)
	if err != nil {
		out, err := s.refuseUnverified(ctx, raw, source, kid, err)
		return out, nil, err
	}
	if f := s.fast(ctx, m); f != nil {
		out, act, ok, err := s.takeFast(ctx, raw, source, m, kid, f)
		if err != nil || ok {
			return out, act, err
		}
	}
	out, err := s.store(ctx, raw, source, m, kid, nil)
	if err != nil || !out.Stored || out.Duplicate {
		return out, nil, err
	}
	id := out.MessageID
	return out, func(ctx context.Context) error {
		_, err := s.Apply(ctx, id)
		return err
	}, nil
}

// fastApply is a message applied in the transaction that stores it.
type fastApply struct {
	fn    func(Tx, *recorder) error         // the effect
	data  func(out *Outcome) map[string]any // the outcome event's data, after fn
	after func(ctx context.Context) error   // after the commit and the transport's ack
}

// fast returns how to apply m in the transaction that stores it, or nil
// when m is not a type that can be, or does not pass the checks that come
// before its effect (it is then stored and refused by Apply, as before).
func (s *Sync) fast(ctx context.Context, m keys.Message) *fastApply {
	if m.Site != s.g.site.ID {
		return nil
	}
	switch m.Type {
	case MsgPayment:
		return s.fastPayment(ctx, m)
	case MsgCommand:
		return s.fastCommand(ctx, m)
	}
	return nil
}

// takeFast stores and applies m in one transaction. ok is false (and
// nothing stored) when the effect was refused: the caller stores the
// message and Apply records the refusal.
func (s *Sync) takeFast(ctx context.Context, raw []byte, source string, m keys.Message, kid string, f *fastApply) (out Outcome, act func(context.Context) error, ok bool, err error) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	g := s.g
	now := g.clock.Now()
	err = g.update(ctx, func(tx Tx, rec *recorder) error {
		out = Outcome{MessageID: m.ID, Type: m.Type, Stored: true}
		if old, err := tx.InboxMessage(m.ID); err == nil {
			return s.duplicate(tx, rec, now, m, source, old, &out)
		} else if KindOf(err) != NotFound {
			return err
		}
		if err := f.fn(tx, rec); err != nil {
			return err
		}
		data := f.data(&out)
		data["message_id"], data["type"], data["source"], data["reason"] = m.ID, m.Type, source, ReasonOK
		if err := rec.add(tx, now, EvCloudApplied, data); err != nil {
			return err
		}
		out.State, out.Reason, out.Message, out.Seq = InboxApplied, ReasonOK, ReasonText(ReasonOK), rec.last()
		return tx.InsertInboxMessage(InboxMessage{ID: m.ID, Type: m.Type, Kid: kid, Raw: raw, Source: source,
			ReceivedAt: now, State: InboxApplied, Reason: ReasonOK, DoneAt: now, Seq: out.Seq})
	})
	if err != nil {
		if _, refusable := refuseErr(err); refusable {
			return Outcome{}, nil, false, nil
		}
		return Outcome{}, nil, false, fmt.Errorf("store and apply cloud message %s: %w", m.ID, err)
	}
	if out.Duplicate {
		return out, nil, true, nil
	}
	return out, f.after, true, nil
}

// fastPayment applies a payment completion as applyPayment does.
func (s *Sync) fastPayment(ctx context.Context, m keys.Message) *fastApply {
	g := s.g
	var b paymentBody
	if err := decodeBody(m, &b); err != nil || b.PaymentID == "" || b.Ref == "" || b.Amount <= 0 {
		return nil
	}
	if cur := g.CurrentTariff(); b.Currency != "" && cur != nil && b.Currency != cur.Currency {
		return nil
	}
	at, claimed := s.paymentTime(ctx, b, m)
	in := PaymentIn{ID: b.PaymentID, Ref: b.Ref, Method: PayEPayment, Amount: b.Amount, At: at,
		QuoteID: b.QuoteID, CheckoutID: b.CheckoutID}
	var (
		res          PaymentResult
		sess         Session
		quoteExpired bool
	)
	return &fastApply{
		fn: func(tx Tx, rec *recorder) error {
			if err := g.paymentTx(in, g.clock.Now(), &res, &sess)(tx, rec); err != nil {
				return err
			}
			quoteExpired = false
			if !res.Settled && b.QuoteID != "" {
				if q, err := tx.Quote(b.QuoteID); err == nil && at.After(q.ExpiresAt) {
					quoteExpired = true
				}
			}
			return nil
		},
		data: func(out *Outcome) map[string]any {
			out.Payment = &res
			return paymentOutcome(b, res, quoteExpired, claimed)
		},
		after: func(ctx context.Context) error {
			if !res.Duplicate && res.Settled && sess.State == SessionOpen {
				g.afterSettled(ctx, sess, PayEPayment)
			}
			return nil
		},
	}
}

// paymentOutcome is the data of an applied payment completion's outcome.
func paymentOutcome(b paymentBody, res PaymentResult, quoteExpired bool, claimed time.Time) map[string]any {
	data := map[string]any{"payment_id": b.PaymentID, "session_id": res.SessionID, "amount": b.Amount,
		"settled": res.Settled, "due_after": res.Due.Amount, "duplicate": res.Duplicate, "payment_seq": res.Seq}
	if !claimed.IsZero() {
		// The issuer's clock ran ahead: dated now, the claim kept.
		data["paid_at_claimed"] = claimed.UTC()
	}
	if !res.Settled {
		data["note"] = "the payment does not cover what is due; the difference stays due"
		if quoteExpired {
			data["quote_expired"] = true
			data["note"] = "the payment came after its quote expired; what accrued since stays due"
		}
	}
	return data
}

// fastCommand carries out a remote open or unlock as applyCommand does:
// the command, its override and its outcome are committed together, then
// the device moves.
func (s *Sync) fastCommand(ctx context.Context, m keys.Message) *fastApply {
	g := s.g
	var b commandBody
	if err := decodeBody(m, &b); err != nil {
		return nil
	}
	if s.checkTime(ctx, m, true) != ReasonOK {
		return nil
	}
	if err := (Override{Operator: b.Operator, Reason: b.Reason}).validate(); err != nil {
		return nil
	}
	data := map[string]any{"command": b.Command, "operator": b.Operator, "reason": b.Reason, "expires": m.Expires}
	override := map[string]any{"operator": "cloud:" + b.Operator, "reason": b.Reason}
	var move func(context.Context) error
	switch b.Command {
	case "open_barrier":
		ls, ok := g.lanes[b.Lane]
		if !ok {
			return nil
		}
		data["lane"], override["lane"] = b.Lane, b.Lane
		// As OverrideLane with no session named: an override event,
		// then the barrier rises.
		move = func(ctx context.Context) error { return g.raise(ctx, ls) }
	case "unlock":
		ds := g.doorByResource(b.Resource)
		if ds == nil {
			return nil
		}
		data["resource"], override["resource"], override["unlock"] = b.Resource, b.Resource, true
		move = func(ctx context.Context) error { g.unlockDoor(ctx, ds); return nil }
	default:
		return nil // reset_passback and unknown commands: Apply
	}
	return &fastApply{
		fn: func(tx Tx, rec *recorder) error {
			now := g.clock.Now()
			if err := rec.add(tx, now, EvRemoteCommand, data); err != nil {
				return err
			}
			return rec.add(tx, now, EvOverride, override)
		},
		data: func(*Outcome) map[string]any {
			out := make(map[string]any, len(data)+4)
			for k, v := range data {
				out[k] = v
			}
			return out
		},
		after: func(ctx context.Context) error {
			// The command is committed; the device moves in the
			// background so a slow barrier never holds up the next
			// message (inBackground).
			g.inBackground(ctx, func(ctx context.Context) {
				if err := move(ctx); err != nil {
					s.log.Error("remote command failed after it was recorded", "id", m.ID, "command", b.Command, "err", err)
					g.record(ctx, EvAlarm, map[string]any{"alarm": "remote_command_failed", "message_id": m.ID, "command": b.Command, "error": err.Error()})
				}
			})
			return nil
		},
	}
}
