package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/lotgate/lotgate/gateway/keys"
	"github.com/lotgate/lotgate/gateway/tariff"
)

// Cloud sync, the core's side: signed messages from the operator's cloud
// (over MQTT, relayed by a phone, or posted locally) are verified with the
// site's trusted operator keys, stored durably in the inbox before the
// transport acknowledges them, applied at most once by message ID, and
// answered with an event (cloud.applied or cloud.refused). Nothing unsigned
// opens anything or moves money. docs/keys.md ("Signed messages") and
// docs/asyncapi.yaml are the contract.

// Event types of cloud sync. They are part of the sync contract.
const (
	EvCloudApplied      EventType = "cloud.applied"   // a signed message was applied
	EvCloudRefused      EventType = "cloud.refused"   // a message was refused, with a reason
	EvCloudDuplicate    EventType = "cloud.duplicate" // a message ID seen before arrived again; nothing was done
	EvApprovalRequested EventType = "approval.requested"
	EvApprovalDecided   EventType = "approval.decided" // approved, refused or expired
	EvPaymentTokenUsed  EventType = "approval.token_used"
	EvReservation       EventType = "reservation.changed"
	EvTariffStored      EventType = "tariff.stored" // no longer recorded: a tariff update is tariff.current (tariffs.go)
	EvKeyGranted        EventType = "key.granted"
	EvPaymentProvider   EventType = "payment_provider.changed"
	EvRemoteCommand     EventType = "remote.command" // a signed remote command, before it is carried out
	EvReceiptPresented  EventType = "receipt.presented"
	EvDelegationRefused EventType = "approval.refused_offline"
)

// Message types of signed cloud messages (keys.Message.Type).
const (
	MsgTrustedTime     = "time.trusted"
	MsgPayment         = "payment.completed"
	MsgRevocation      = "key.revoked"
	MsgKeyGrant        = "key.granted"
	MsgListUpdate      = "list.update"
	MsgReservationPut  = "reservation.put"
	MsgReservationDel  = "reservation.delete"
	MsgTariff          = "tariff.update"
	MsgCommand         = "command"
	MsgApproval        = "approval.decision"
	MsgPaymentProvider = "payment_provider.status"
)

// Reasons of refused cloud messages and delegation, next to the decision
// reasons of reason.go.
const (
	ReasonReplayed        Reason = "replayed"         // this message ID was applied or refused before
	ReasonVersionMismatch Reason = "version_mismatch" // a differential list update for another version
	ReasonUnknownType     Reason = "unknown_type"     // a message type this gateway does not know
	ReasonInvalid         Reason = "invalid"          // the message's body is not acceptable
	ReasonConflict        Reason = "conflict"         // the state forbids it (not newer, already decided…)
	ReasonNoExpiry        Reason = "no_expiry"        // a command or decision without an expiry, or one too long
	ReasonLate            Reason = "late"             // an approval decision after the countdown
	ReasonOwnerRefused    Reason = "owner_refused"    // the owner said no
	ReasonNoDecision      Reason = "no_decision"      // the countdown ran out
	ReasonOffline         Reason = "offline"          // no uplink: the owner cannot be asked
	ReasonWrongType       Reason = "wrong_type"       // a receipt that is not a payment completion
	ReasonTokenUsed       Reason = "token_used"       // a single-use payment token shown again
)

var syncReasonText = map[Reason]string{
	ReasonReplayed:        "this message was already received",
	ReasonVersionMismatch: "the list update is for another list version",
	ReasonUnknownType:     "unknown message type",
	ReasonInvalid:         "the message's content is not acceptable",
	ReasonConflict:        "the current state does not allow it",
	ReasonNoExpiry:        "a command must expire within minutes",
	ReasonLate:            "the owner's answer came after the countdown",
	ReasonOwnerRefused:    "the owner refused",
	ReasonNoDecision:      "the owner did not answer in time",
	ReasonOffline:         "the site has no connection to the cloud right now, so the owner cannot be asked; delegation is refused",
	ReasonWrongType:       "this code is not a payment receipt",
	ReasonTokenUsed:       "this payment token was already used",
}

// ReasonText is Reason.Message, also for the reasons of cloud sync.
func ReasonText(r Reason) string {
	if m, ok := syncReasonText[r]; ok {
		return m
	}
	return r.Message()
}

// ActionPay is the action of a delegation request to pay for a session.
const ActionPay Action = "pay"

// SyncOptions configure a Sync.
type SyncOptions struct {
	// Countdown is how long the owner has to answer an approval request
	// (default 60s).
	Countdown time.Duration
	// MaxCommandLifetime bounds a remote command's or approval decision's
	// expiry after its issue time (default 5m): "an expiry of seconds".
	MaxCommandLifetime time.Duration
	Logger             *slog.Logger // the gateway's when nil
}

// Sync applies the cloud's signed messages to a Gateway and runs
// delegation. Its methods are safe for concurrent use; messages are
// applied one at a time.
type Sync struct {
	g        *Gateway
	log      *slog.Logger
	countTO  time.Duration
	maxLife  time.Duration
	applyMu  sync.Mutex // one message applied at a time
	mu       sync.Mutex
	online   func() bool
	provider bool // the payment provider is available (as the cloud says)
	provWhy  string
	waiters  map[string][]chan Approval
}

// NewSync returns the sync side of g. From then on a receipt (LGR1:)
// scanned at a lane is handled by its PresentReceiptAtLane.
func NewSync(g *Gateway, o SyncOptions) *Sync {
	if o.Countdown <= 0 {
		o.Countdown = 60 * time.Second
	}
	if o.MaxCommandLifetime <= 0 {
		o.MaxCommandLifetime = 5 * time.Minute
	}
	log := o.Logger
	if log == nil {
		log = g.log
	}
	s := &Sync{g: g, log: log.With("component", "sync"), countTO: o.Countdown, maxLife: o.MaxCommandLifetime,
		provider: true, waiters: map[string][]chan Approval{}}
	g.receipts.Store(s) // receipts scanned at a lane come here (PresentAtLane)
	return s
}

// SetOnline sets how Sync learns whether the cloud can be reached now
// (cloudsync's link state). Until it is set the cloud counts as offline.
func (s *Sync) SetOnline(f func() bool) {
	s.mu.Lock()
	s.online = f
	s.mu.Unlock()
}

func (s *Sync) isOnline() bool {
	s.mu.Lock()
	f := s.online
	s.mu.Unlock()
	return f != nil && f()
}

// PaymentProvider reports whether the cloud says its payment provider is
// available, and why not.
func (s *Sync) PaymentProvider() (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.provider, s.provWhy
}

// Outcome says what became of a signed message.
type Outcome struct {
	MessageID string
	Type      string
	State     InboxState // pending (stored, not yet applied), applied or refused
	Reason    Reason
	Message   string // human-readable reason
	// Duplicate is set when the message ID was seen before: nothing was
	// done now, and State is what became of it the first time.
	Duplicate bool
	// Stored is set when the message is in the inbox: the transport may
	// acknowledge it. A message that did not verify is not stored (its ID
	// is not authenticated) but is answered and may be acknowledged too.
	Stored  bool
	Payment *PaymentResult // for an applied payment completion
	Seq     uint64         // the event that answered the message
}

// refusal builds an outcome refusing a message.
func refusal(id, typ string, r Reason) Outcome {
	return Outcome{MessageID: id, Type: typ, State: InboxRefused, Reason: r, Message: ReasonText(r)}
}

// Accept verifies a signed message and stores it in the inbox (pending),
// durably, before returning. The transport acknowledges the message only
// after Accept returned nil; an error means nothing was stored and the
// message must not be acknowledged (it will be delivered again).
//
// A message that does not verify (bad signature, unknown kid, malformed)
// is answered with a cloud.refused event and not stored. A message ID seen
// before is answered with a cloud.duplicate event and changes nothing.
func (s *Sync) Accept(ctx context.Context, raw []byte, source string) (Outcome, error) {
	return s.accept(ctx, raw, source, nil)
}

func (s *Sync) accept(ctx context.Context, raw []byte, source string, allow func(keys.Message) Reason) (Outcome, error) {
	m, kid, err := keys.VerifyMessage(raw, s.g.check.lookup)
	if err != nil {
		return s.refuseUnverified(ctx, raw, source, kid, err)
	}
	return s.store(ctx, raw, source, m, kid, allow)
}

// refuseUnverified answers a message that did not verify (bad signature,
// unknown kid, malformed) with a cloud.refused event; it is not stored.
func (s *Sync) refuseUnverified(ctx context.Context, raw []byte, source, kid string, verr error) (Outcome, error) {
	g := s.g
	now := g.clock.Now()
	r := ReasonMalformed
	switch {
	case errors.Is(verr, keys.ErrUnknownKID):
		r = ReasonUnknownKID
	case errors.Is(verr, keys.ErrBadSignature):
		r = ReasonBadSignature
	}
	out := refusal("", "", r)
	sum := sha256.Sum256(raw)
	err := g.update(ctx, func(tx Tx, rec *recorder) error {
		if err := rec.add(tx, now, EvCloudRefused, map[string]any{"reason": r, "kid": kid, "source": source,
			"sha256": hex.EncodeToString(sum[:]), "error": verr.Error()}); err != nil {
			return err
		}
		out.Seq = rec.last()
		return nil
	})
	s.log.Warn("refused unverifiable cloud message", "source", source, "reason", r, "err", verr)
	return out, err
}

// store stores a verified message in the inbox, pending (see Accept).
func (s *Sync) store(ctx context.Context, raw []byte, source string, m keys.Message, kid string, allow func(keys.Message) Reason) (Outcome, error) {
	g := s.g
	now := g.clock.Now()
	if allow != nil {
		if r := allow(m); r != ReasonOK {
			out := refusal(m.ID, m.Type, r)
			err := g.update(ctx, func(tx Tx, rec *recorder) error {
				if err := rec.add(tx, now, EvCloudRefused, map[string]any{"message_id": m.ID, "type": m.Type, "reason": r,
					"source": source, "stored": false}); err != nil {
					return err
				}
				out.Seq = rec.last()
				return nil
			})
			return out, err
		}
	}
	var out Outcome
	err := g.update(ctx, func(tx Tx, rec *recorder) error {
		out = Outcome{MessageID: m.ID, Type: m.Type, State: InboxPending, Reason: ReasonOK, Stored: true}
		old, err := tx.InboxMessage(m.ID)
		if err == nil {
			return s.duplicate(tx, rec, now, m, source, old, &out)
		} else if KindOf(err) != NotFound {
			return err
		}
		return tx.InsertInboxMessage(InboxMessage{ID: m.ID, Type: m.Type, Kid: kid, Raw: raw, Source: source,
			ReceivedAt: now, State: InboxPending, Reason: ReasonOK})
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("store cloud message %s: %w", m.ID, err)
	}
	return out, nil
}

// duplicate answers a message ID seen before with a cloud.duplicate event;
// out says what became of it the first time.
func (s *Sync) duplicate(tx Tx, rec *recorder, now time.Time, m keys.Message, source string, old InboxMessage, out *Outcome) error {
	*out = Outcome{MessageID: m.ID, Type: m.Type, State: old.State, Reason: old.Reason, Message: ReasonText(old.Reason),
		Duplicate: true, Stored: true}
	if err := rec.add(tx, now, EvCloudDuplicate, map[string]any{"message_id": m.ID, "type": m.Type, "source": source,
		"first_source": old.Source, "state": old.State, "first_seq": old.Seq}); err != nil {
		return err
	}
	out.Seq = rec.last()
	return nil
}

// Receive is Accept followed by applying the message (when it was new).
func (s *Sync) Receive(ctx context.Context, raw []byte, source string) (Outcome, error) {
	out, err := s.Accept(ctx, raw, source)
	if err != nil || !out.Stored || out.Duplicate {
		return out, err
	}
	return s.Apply(ctx, out.MessageID)
}

// ApplyPending applies every pending inbox message, oldest first: after
// Accept, and at start-up for messages stored before a crash. It returns
// how many it applied or refused.
func (s *Sync) ApplyPending(ctx context.Context) (int, error) {
	n := 0
	for {
		var pending []InboxMessage
		if err := s.g.store.View(ctx, func(tx Tx) error {
			var err error
			pending, err = tx.PendingInbox(64)
			return err
		}); err != nil {
			return n, fmt.Errorf("read pending cloud messages: %w", err)
		}
		if len(pending) == 0 {
			return n, nil
		}
		for _, m := range pending {
			if _, err := s.Apply(ctx, m.ID); err != nil {
				return n, err
			}
			n++
		}
	}
}

// Apply applies one stored message if it is still pending and returns
// its outcome. Applying is at least once for effects that are idempotent
// by their own ID (payments, revocations, list versions, reservations,
// trusted time) and at most once for actuations (remote commands,
// approvals): those are marked applied before the barrier moves.
func (s *Sync) Apply(ctx context.Context, id string) (Outcome, error) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	var im InboxMessage
	if err := s.g.store.View(ctx, func(tx Tx) error {
		var err error
		im, err = tx.InboxMessage(id)
		return err
	}); err != nil {
		return Outcome{}, fmt.Errorf("apply cloud message %s: %w", id, err)
	}
	if im.State != InboxPending {
		return Outcome{MessageID: im.ID, Type: im.Type, State: im.State, Reason: im.Reason, Message: ReasonText(im.Reason),
			Duplicate: true, Stored: true, Seq: im.Seq}, nil
	}
	m, _, err := keys.VerifyMessage(im.Raw, s.g.check.lookup)
	if err != nil {
		// The operator key was removed since the message was stored.
		return s.finish(ctx, im, ReasonUnknownKID, map[string]any{"error": err.Error()}, nil)
	}
	out, err := s.apply(ctx, im, m)
	if err != nil {
		return Outcome{}, fmt.Errorf("apply cloud message %s (%s): %w", m.ID, m.Type, err)
	}
	return out, nil
}

// paymentTime is when a payment completion says the money was taken
// (paid_at, else the message's iat). A completion is applied whatever its
// time (the money was taken), but a time beyond now and the clock skew
// means the issuer's clock is wrong: the payment is dated now, and claimed
// is the time it gave (zero when it was believed).
func (s *Sync) paymentTime(ctx context.Context, b paymentBody, m keys.Message) (at, claimed time.Time) {
	at = b.PaidAt
	if at.IsZero() {
		at = m.IssuedAt
	}
	if now := s.effectiveNow(ctx); at.After(now.Add(s.g.site.Policy.ClockSkew)) {
		return now, at
	}
	return at, time.Time{}
}

// effectiveNow is the later of the wall clock and the latest trusted time:
// a clock that went backwards cannot make an expired command valid again.
func (s *Sync) effectiveNow(ctx context.Context) time.Time {
	now := s.g.clock.Now()
	if tt := s.g.trustedTime(ctx); tt.After(now) {
		return tt
	}
	return now
}

// checkTime refuses a message that is expired or not yet valid; required
// makes an expiry within the command lifetime mandatory.
func (s *Sync) checkTime(ctx context.Context, m keys.Message, required bool) Reason {
	if required && (m.Expires.IsZero() || m.Expires.Sub(m.IssuedAt) > s.maxLife) {
		return ReasonNoExpiry
	}
	err := m.CheckTime(s.effectiveNow(ctx), s.g.site.Policy.ClockSkew)
	switch {
	case errors.Is(err, keys.ErrMessageExpired):
		return ReasonExpired
	case errors.Is(err, keys.ErrMessageNotYetValid):
		return ReasonNotYetValid
	}
	return ReasonOK
}

// finish records a message's outcome: refused when r is not ReasonOK. fn,
// when not nil, runs in the same transaction first (the effect).
func (s *Sync) finish(ctx context.Context, im InboxMessage, r Reason, data map[string]any, fn func(Tx, *recorder) error) (Outcome, error) {
	now := s.g.clock.Now()
	out := Outcome{MessageID: im.ID, Type: im.Type, State: InboxApplied, Reason: r, Message: ReasonText(r), Stored: true}
	typ := EvCloudApplied
	if r != ReasonOK {
		out.State, typ = InboxRefused, EvCloudRefused
	}
	if data == nil {
		data = map[string]any{}
	}
	data["message_id"], data["type"], data["source"], data["reason"] = im.ID, im.Type, im.Source, r
	err := s.g.update(ctx, func(tx Tx, rec *recorder) error {
		if fn != nil {
			if err := fn(tx, rec); err != nil {
				return err
			}
		}
		if err := rec.add(tx, now, typ, data); err != nil {
			return err
		}
		im.State, im.Reason, im.DoneAt, im.Seq = out.State, r, now, rec.last()
		out.Seq = im.Seq
		return tx.UpdateInboxMessage(im)
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("record outcome of cloud message %s: %w", im.ID, err)
	}
	if r != ReasonOK {
		s.log.Warn("refused cloud message", "id", im.ID, "type", im.Type, "source", im.Source, "reason", r)
	}
	return out, nil
}

// refuseErr maps an error of the core to a refusal reason; ok is false for
// errors that must not be answered as a refusal (the store failed: try
// again later).
func refuseErr(err error) (Reason, bool) {
	var vm *VersionMismatchError
	switch {
	case errors.As(err, &vm):
		return ReasonVersionMismatch, true
	case KindOf(err) == Invalid:
		return ReasonInvalid, true
	case KindOf(err) == NotFound:
		return ReasonNoSession, true
	case KindOf(err) == Conflict:
		return ReasonConflict, true
	}
	return "", false
}

// decodeBody decodes a message body strictly (unknown fields refused).
func decodeBody(m keys.Message, v any) error {
	dec := json.NewDecoder(bytes.NewReader(m.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s body: %w", m.Type, err)
	}
	return nil
}

// Message bodies (JSON). docs/asyncapi.yaml documents them.
type (
	trustedTimeBody struct {
		Time time.Time `json:"time"` // zero: the message's issue time
	}
	paymentBody struct {
		PaymentID  string    `json:"payment_id"`
		Ref        string    `json:"ref"` // session ID, credential or ticket text
		Amount     int64     `json:"amount"`
		Currency   string    `json:"currency"`
		QuoteID    string    `json:"quote_id,omitempty"`
		CheckoutID string    `json:"checkout_id,omitempty"`
		PaidAt     time.Time `json:"paid_at"`
	}
	revocationBody struct {
		KeyID  string    `json:"key_id"`
		Reason string    `json:"reason"`
		At     time.Time `json:"at"`
	}
	keyGrantBody struct {
		Key string `json:"key"` // LG1: text
	}
	listEntryBody struct {
		ID         string     `json:"id"`
		Kind       string     `json:"kind"`
		Status     ListStatus `json:"status"`
		ValidFrom  time.Time  `json:"valid_from"`
		ValidUntil time.Time  `json:"valid_until"`
		Holder     string     `json:"holder"`
		FeeExempt  bool       `json:"fee_exempt"`
	}
	listBody struct {
		Full    bool            `json:"full"`
		From    int64           `json:"from"`
		Version int64           `json:"version"`
		Upsert  []listEntryBody `json:"upsert"`
		Remove  []string        `json:"remove"`
	}
	reservationBody struct {
		ID         string    `json:"id"`
		Credential string    `json:"credential"`
		Space      string    `json:"space"`
		From       time.Time `json:"from"`
		Until      time.Time `json:"until"`
		Prepaid    bool      `json:"prepaid"`
	}
	tariffBody struct {
		Tariff json.RawMessage `json:"tariff"`
	}
	commandBody struct {
		Command  string `json:"command"` // open_barrier, unlock, reset_passback
		Lane     string `json:"lane,omitempty"`
		Resource string `json:"resource,omitempty"`
		KeyID    string `json:"key_id,omitempty"`
		Operator string `json:"operator"`
		Reason   string `json:"reason"`
	}
	approvalBody struct {
		RequestID string `json:"request_id"`
		Approved  bool   `json:"approved"`
		Operator  string `json:"operator"`
		Reason    string `json:"reason,omitempty"`
	}
	providerBody struct {
		Available bool   `json:"available"`
		Reason    string `json:"reason,omitempty"`
	}
)

// apply dispatches a verified, stored, pending message.
func (s *Sync) apply(ctx context.Context, im InboxMessage, m keys.Message) (Outcome, error) {
	g := s.g
	if m.Site != g.site.ID {
		return s.finish(ctx, im, ReasonWrongSite, map[string]any{"site": m.Site}, nil)
	}
	switch m.Type {
	case MsgTrustedTime:
		var b trustedTimeBody
		if err := decodeBody(m, &b); err != nil {
			return s.finish(ctx, im, ReasonInvalid, map[string]any{"error": err.Error()}, nil)
		}
		t := b.Time
		if t.IsZero() {
			t = m.IssuedAt
		}
		// No expiry check: this is what repairs a wrong clock. An old
		// message cannot move the trusted time back.
		moved, err := g.AdvanceTrustedTime(ctx, t, "cloud:"+m.ID)
		if err != nil {
			return Outcome{}, err
		}
		return s.finish(ctx, im, ReasonOK, map[string]any{"trusted_time": t.UTC(), "moved": moved}, nil)

	case MsgPayment:
		return s.applyPayment(ctx, im, m)

	case MsgRevocation:
		var b revocationBody
		if err := decodeBody(m, &b); err != nil || b.KeyID == "" {
			return s.finish(ctx, im, ReasonInvalid, errData(err, "key_id is required"), nil)
		}
		if r := s.checkTime(ctx, m, false); r != ReasonOK {
			return s.finish(ctx, im, r, nil, nil)
		}
		if err := g.Revoke(ctx, Revocation{KeyID: b.KeyID, Reason: b.Reason, At: b.At}); err != nil {
			if r, ok := refuseErr(err); ok {
				return s.finish(ctx, im, r, errData(err, ""), nil)
			}
			return Outcome{}, err
		}
		return s.finish(ctx, im, ReasonOK, map[string]any{"key_id": b.KeyID}, nil)

	case MsgKeyGrant:
		var b keyGrantBody
		if err := decodeBody(m, &b); err != nil {
			return s.finish(ctx, im, ReasonInvalid, errData(err, ""), nil)
		}
		p, err := keys.ParsePresentation(b.Key)
		if err != nil {
			return s.finish(ctx, im, ReasonMalformed, errData(err, ""), nil)
		}
		c, err := keys.Verify(p.Key, g.check.lookup)
		if err != nil {
			return s.finish(ctx, im, ReasonBadSignature, errData(err, ""), nil)
		}
		if c.Site != g.site.ID {
			return s.finish(ctx, im, ReasonWrongSite, map[string]any{"key_id": c.KeyID}, nil)
		}
		// Keys are self-contained: nothing to store. The grant is audited.
		return s.finish(ctx, im, ReasonOK, map[string]any{"key_id": c.KeyID, "holder": c.Holder},
			func(tx Tx, rec *recorder) error {
				return rec.add(tx, g.clock.Now(), EvKeyGranted, map[string]any{"key_id": c.KeyID, "holder": c.Holder,
					"resources": c.Resources, "actions": c.Actions, "expires": c.Expires})
			})

	case MsgListUpdate:
		return s.applyList(ctx, im, m)

	case MsgReservationPut, MsgReservationDel:
		var b reservationBody
		if err := decodeBody(m, &b); err != nil || b.ID == "" {
			return s.finish(ctx, im, ReasonInvalid, errData(err, "id is required"), nil)
		}
		if r := s.checkTime(ctx, m, false); r != ReasonOK {
			return s.finish(ctx, im, r, nil, nil)
		}
		if m.Type == MsgReservationPut && (b.Credential == "" || !b.Until.After(b.From)) {
			return s.finish(ctx, im, ReasonInvalid, map[string]any{"error": "a reservation needs a credential and from before until"}, nil)
		}
		return s.finish(ctx, im, ReasonOK, map[string]any{"reservation_id": b.ID}, func(tx Tx, rec *recorder) error {
			if m.Type == MsgReservationDel {
				if err := tx.DeleteReservation(b.ID); err != nil && KindOf(err) != NotFound {
					return err
				}
				return rec.add(tx, g.clock.Now(), EvReservation, map[string]any{"reservation_id": b.ID, "deleted": true})
			}
			r := Reservation{ID: b.ID, Credential: b.Credential, Space: b.Space, From: b.From, Until: b.Until, Prepaid: b.Prepaid}
			if err := tx.PutReservation(r); err != nil {
				return err
			}
			return rec.add(tx, g.clock.Now(), EvReservation, map[string]any{"reservation_id": b.ID, "credential": b.Credential,
				"space": b.Space, "from": b.From, "until": b.Until, "prepaid": b.Prepaid})
		})

	case MsgTariff:
		var b tariffBody
		if err := decodeBody(m, &b); err != nil {
			return s.finish(ctx, im, ReasonInvalid, errData(err, ""), nil)
		}
		if r := s.checkTime(ctx, m, false); r != ReasonOK {
			return s.finish(ctx, im, r, nil, nil)
		}
		t := &tariff.Tariff{}
		if err := json.Unmarshal(b.Tariff, t); err != nil {
			return s.finish(ctx, im, ReasonInvalid, errData(err, ""), nil)
		}
		doc, err := checkTariff(t)
		if err != nil {
			return s.finish(ctx, im, ReasonInvalid, map[string]any{"error": err.Error(), "version": t.Version}, nil)
		}
		// Stored and made current in the outcome's transaction: new
		// sessions start under it, open ones keep theirs.
		out, err := s.finish(ctx, im, ReasonOK, map[string]any{"version": t.Version, "current": true}, func(tx Tx, rec *recorder) error {
			return g.setTariffTx(tx, rec, t, doc, "cloud:"+m.ID)
		})
		if err != nil {
			if r, ok := refuseErr(err); ok {
				// Another content under a stored version (versions are
				// immutable).
				return s.finish(ctx, im, r, map[string]any{"error": err.Error(), "version": t.Version}, nil)
			}
			return out, err
		}
		g.useTariff(t)
		return out, nil

	case MsgCommand:
		return s.applyCommand(ctx, im, m)

	case MsgApproval:
		return s.applyDecision(ctx, im, m)

	case MsgPaymentProvider:
		var b providerBody
		if err := decodeBody(m, &b); err != nil {
			return s.finish(ctx, im, ReasonInvalid, errData(err, ""), nil)
		}
		if r := s.checkTime(ctx, m, false); r != ReasonOK {
			return s.finish(ctx, im, r, nil, nil)
		}
		s.mu.Lock()
		s.provider, s.provWhy = b.Available, b.Reason
		s.mu.Unlock()
		return s.finish(ctx, im, ReasonOK, map[string]any{"available": b.Available}, func(tx Tx, rec *recorder) error {
			return rec.add(tx, g.clock.Now(), EvPaymentProvider, map[string]any{"available": b.Available, "reason": b.Reason})
		})
	}
	return s.finish(ctx, im, ReasonUnknownType, nil, nil)
}

func errData(err error, fallback string) map[string]any {
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	return map[string]any{"error": fallback}
}

// applyPayment applies a payment completion through ApplyPayment, which is
// idempotent by payment ID: after a crash between the payment and the
// outcome record, applying it again finds the payment and changes
// nothing. A completion below what is due, or against an expired quote,
// is applied and leaves the difference due; the outcome says so.
func (s *Sync) applyPayment(ctx context.Context, im InboxMessage, m keys.Message) (Outcome, error) {
	g := s.g
	var b paymentBody
	if err := decodeBody(m, &b); err != nil || b.PaymentID == "" || b.Ref == "" || b.Amount <= 0 {
		return s.finish(ctx, im, ReasonInvalid, errData(err, "payment_id, ref and a positive amount are required"), nil)
	}
	if cur := g.CurrentTariff(); b.Currency != "" && cur != nil && b.Currency != cur.Currency {
		return s.finish(ctx, im, ReasonInvalid, map[string]any{"error": "currency " + b.Currency + " is not the site's " + cur.Currency}, nil)
	}
	at, claimed := s.paymentTime(ctx, b, m)
	res, err := g.ApplyPayment(ctx, PaymentIn{ID: b.PaymentID, Ref: b.Ref, Method: PayEPayment, Amount: b.Amount, At: at,
		QuoteID: b.QuoteID, CheckoutID: b.CheckoutID})
	if err != nil {
		if r, ok := refuseErr(err); ok {
			return s.finish(ctx, im, r, map[string]any{"payment_id": b.PaymentID, "ref": b.Ref, "error": err.Error()}, nil)
		}
		return Outcome{}, err
	}
	quoteExpired := false
	if !res.Settled && b.QuoteID != "" {
		var q Quote
		if err := g.store.View(ctx, func(tx Tx) error { var err error; q, err = tx.Quote(b.QuoteID); return err }); err == nil && at.After(q.ExpiresAt) {
			quoteExpired = true
		}
	}
	out, err := s.finish(ctx, im, ReasonOK, paymentOutcome(b, res, quoteExpired, claimed), nil)
	out.Payment = &res
	return out, err
}

// applyList applies a local-list update. A differential update for
// another version is refused (version_mismatch) with both versions, so the
// cloud sends a full list instead of the gateway guessing.
func (s *Sync) applyList(ctx context.Context, im InboxMessage, m keys.Message) (Outcome, error) {
	g := s.g
	var b listBody
	if err := decodeBody(m, &b); err != nil {
		return s.finish(ctx, im, ReasonInvalid, errData(err, ""), nil)
	}
	if r := s.checkTime(ctx, m, false); r != ReasonOK {
		return s.finish(ctx, im, r, nil, nil)
	}
	u := ListUpdate{Full: b.Full, From: b.From, Version: b.Version, Remove: b.Remove}
	for _, e := range b.Upsert {
		u.Upsert = append(u.Upsert, ListEntry{ID: e.ID, Kind: e.Kind, Status: e.Status, ValidFrom: e.ValidFrom,
			ValidUntil: e.ValidUntil, Holder: e.Holder, FeeExempt: e.FeeExempt})
	}
	var have int64
	if err := g.store.View(ctx, func(tx Tx) error { var err error; have, err = tx.ListVersion(); return err }); err != nil {
		return Outcome{}, err
	}
	if have == u.Version && have != 0 {
		// Applied before a crash, not yet recorded: applying it again
		// would be refused as not newer.
		return s.finish(ctx, im, ReasonOK, map[string]any{"version": u.Version, "already": true}, nil)
	}
	if err := g.UpdateList(ctx, u); err != nil {
		var vm *VersionMismatchError
		if errors.As(err, &vm) {
			return s.finish(ctx, im, ReasonVersionMismatch, map[string]any{"have": vm.Have, "want": vm.Want, "version": u.Version}, nil)
		}
		if r, ok := refuseErr(err); ok {
			return s.finish(ctx, im, r, map[string]any{"have": have, "version": u.Version, "error": err.Error()}, nil)
		}
		return Outcome{}, err
	}
	return s.finish(ctx, im, ReasonOK, map[string]any{"version": u.Version, "full": u.Full}, nil)
}

// applyCommand carries out a remote command: open a barrier, unlock a
// door or compartment, reset anti-passback. Each needs an operator, a
// reason and an expiry of at most the command lifetime. The outcome is
// recorded first and the device moved after: a command is carried out at
// most once, even across a crash.
func (s *Sync) applyCommand(ctx context.Context, im InboxMessage, m keys.Message) (Outcome, error) {
	g := s.g
	var b commandBody
	if err := decodeBody(m, &b); err != nil {
		return s.finish(ctx, im, ReasonInvalid, errData(err, ""), nil)
	}
	if r := s.checkTime(ctx, m, true); r != ReasonOK {
		return s.finish(ctx, im, r, map[string]any{"command": b.Command, "expires": m.Expires}, nil)
	}
	o := Override{Operator: b.Operator, Reason: b.Reason}
	if err := o.validate(); err != nil {
		return s.finish(ctx, im, ReasonInvalid, errData(err, ""), nil)
	}
	data := map[string]any{"command": b.Command, "operator": b.Operator, "reason": b.Reason, "expires": m.Expires}
	var act func() error
	switch b.Command {
	case "open_barrier":
		if _, ok := g.lanes[b.Lane]; !ok {
			return s.finish(ctx, im, ReasonInvalid, map[string]any{"error": fmt.Sprintf("no lane %q", b.Lane)}, nil)
		}
		data["lane"] = b.Lane
		act = func() error {
			_, err := g.OverrideLane(ctx, b.Lane, "", Override{Operator: "cloud:" + b.Operator, Reason: b.Reason})
			return err
		}
	case "unlock":
		ds := g.doorByResource(b.Resource)
		if ds == nil {
			return s.finish(ctx, im, ReasonInvalid, map[string]any{"error": fmt.Sprintf("no door or compartment %q", b.Resource)}, nil)
		}
		data["resource"] = b.Resource
		act = func() error {
			g.record(ctx, EvOverride, map[string]any{"resource": b.Resource, "operator": "cloud:" + b.Operator, "reason": b.Reason, "unlock": true})
			g.unlockDoor(ctx, ds)
			return nil
		}
	case "reset_passback":
		if b.KeyID == "" {
			return s.finish(ctx, im, ReasonInvalid, map[string]any{"error": "key_id is required"}, nil)
		}
		data["key_id"] = b.KeyID
		act = func() error {
			return g.ResetPassback(ctx, b.KeyID, Override{Operator: "cloud:" + b.Operator, Reason: b.Reason})
		}
	default:
		return s.finish(ctx, im, ReasonInvalid, map[string]any{"error": fmt.Sprintf("unknown command %q", b.Command)}, nil)
	}
	out, err := s.finish(ctx, im, ReasonOK, data, func(tx Tx, rec *recorder) error {
		return rec.add(tx, g.clock.Now(), EvRemoteCommand, data)
	})
	if err != nil {
		return out, err
	}
	if err := act(); err != nil {
		s.log.Error("remote command failed after it was recorded", "id", im.ID, "command", b.Command, "err", err)
		g.record(ctx, EvAlarm, map[string]any{"alarm": "remote_command_failed", "message_id": im.ID, "command": b.Command, "error": err.Error()})
	}
	return out, nil
}

// newToken returns a single-use payment token.
func newToken() string { return "pt-" + newID(20) }

// strip trims and bounds a text field from a request.
func strip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = s[:n]
	}
	return s
}
