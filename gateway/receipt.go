package gateway

import (
	"context"
	"fmt"

	"github.com/lotgate/lotgate/gateway/keys"
)

// Phone-relayed receipts: when the site has no uplink but the driver's
// phone has the internet, the phone carries the cloud-signed payment
// completion to the gateway — as QR text ("LGR1:" + base45 of the signed
// message, keys.EncodeReceiptText) at the exit scanner, or posted to the
// gateway's local page. It is verified and applied exactly as if it had
// come over MQTT (same inbox, same message ID: a receipt that also
// arrives over MQTT later is a duplicate), and its events reach the cloud
// when the link returns.

// IsReceipt reports whether scanned text is a phone-relayed receipt.
func IsReceipt(text string) bool { return keys.IsReceiptText(text) }

// ApplyReceipt verifies and applies a receipt given as QR text (LGR1:…)
// or as the raw signed message. Only payment completions are accepted;
// anything else is refused (wrong_type) without being stored, so the same
// message can still arrive over MQTT.
func (s *Sync) ApplyReceipt(ctx context.Context, text string, source string) (Outcome, error) {
	raw, err := keys.ParseReceiptText(text)
	if err != nil {
		return refusal("", "", ReasonMalformed), nil
	}
	return s.ApplyReceiptBytes(ctx, raw, source)
}

// ApplyReceiptBytes is ApplyReceipt for the raw signed message (a local
// page may post the bytes).
func (s *Sync) ApplyReceiptBytes(ctx context.Context, raw []byte, source string) (Outcome, error) {
	if source == "" {
		source = "phone"
	}
	out, err := s.accept(ctx, raw, source, func(m keys.Message) Reason {
		if m.Type != MsgPayment {
			return ReasonWrongType
		}
		return ReasonOK
	})
	if err != nil || !out.Stored {
		return out, err
	}
	// New, or seen before (over MQTT, or shown twice): Apply applies a
	// pending message and only reports one already applied or refused.
	return s.Apply(ctx, out.MessageID)
}

// PresentReceiptAtLane handles a receipt shown at an exit lane's scanner:
// the payment is applied, then the session it paid for is decided at the
// lane as if its ticket or key had been shown, and the barrier rises when
// nothing is due. The decision's reason says why not otherwise.
func (s *Sync) PresentReceiptAtLane(ctx context.Context, laneID, text string) (Decision, Outcome, error) {
	g := s.g
	ls, ok := g.lanes[laneID]
	if !ok {
		return Decision{}, Outcome{}, Errorf(NotFound, "no lane %q", laneID)
	}
	out, err := s.ApplyReceipt(ctx, text, "scanner:"+laneID)
	if err != nil {
		return Decision{}, out, err
	}
	if out.State != InboxApplied {
		r := out.Reason
		if r == ReasonOK || r == "" {
			r = ReasonMalformed
		}
		d := Deny(r)
		d.Message = ReasonText(r)
		g.record(ctx, EvReceiptPresented, map[string]any{"lane": laneID, "message_id": out.MessageID, "reason": r})
		return d, out, nil
	}
	sessionID := ""
	if out.Payment != nil {
		sessionID = out.Payment.SessionID
	} else if id, err := s.paymentSession(ctx, out.MessageID); err == nil {
		sessionID = id
	}
	if sessionID == "" {
		return Deny(ReasonNoSession), out, nil
	}
	var sess Session
	if err := g.store.View(ctx, func(tx Tx) error { var err error; sess, err = tx.Session(sessionID); return err }); err != nil {
		return Decision{}, out, fmt.Errorf("receipt at lane %s: %w", laneID, err)
	}
	if ls.lane.Direction != Exit || sess.State != SessionOpen {
		d := Deny(ReasonWrongLane)
		if sess.State != SessionOpen {
			d = Deny(ReasonNoSession)
		}
		d.SessionID = sessionID
		return d, out, nil
	}
	d, err := g.decideCredential(ctx, ls.lane, sess.Credential, nil, g.exitFollow(ls.lane))
	if err != nil {
		return Decision{}, out, err
	}
	if d.Allowed {
		g.admit(ctx, ls, d) // as any exit: undone if no car passes
	}
	return d, out, nil
}

// paymentSession finds the session a stored payment message paid for.
func (s *Sync) paymentSession(ctx context.Context, messageID string) (string, error) {
	var id string
	err := s.g.store.View(ctx, func(tx Tx) error {
		im, err := tx.InboxMessage(messageID)
		if err != nil {
			return err
		}
		m, _, err := keys.VerifyMessage(im.Raw, s.g.check.lookup)
		if err != nil {
			return err
		}
		var b paymentBody
		if err := decodeBody(m, &b); err != nil {
			return err
		}
		p, err := tx.Payment(b.PaymentID)
		if err != nil {
			return err
		}
		id = p.SessionID
		return nil
	})
	return id, err
}
