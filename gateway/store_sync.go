package gateway

import "time"

// SyncStore is what cloud sync needs from a transaction: the durable inbox
// of signed cloud messages, the cloud's acknowledgement cursor over the
// event log (the outbox), delegation approvals and the unpaid-exits
// report. It is part of Tx.
type SyncStore interface {
	Inbox
	Outbox
	Approvals
	UnpaidExits
	Retention
	CurrentTariff
}

// CurrentTariff is the durable pointer to the tariff new sessions start
// under (see Gateway.SetTariff).
type CurrentTariff interface {
	// CurrentTariffVersion returns the stored pointer ("" when never set).
	CurrentTariffVersion() (string, error)
	// SetCurrentTariffVersion points at a stored version (PutTariff
	// first); a version never stored is NotFound.
	SetCurrentTariffVersion(version string) error
}

// InboxState of a stored cloud message.
type InboxState string

const (
	InboxPending InboxState = "pending" // stored, not yet applied
	InboxApplied InboxState = "applied"
	InboxRefused InboxState = "refused"
)

// InboxMessage is a signed message from the cloud (or relayed by a phone),
// stored before it is acknowledged and applied at most once by ID.
type InboxMessage struct {
	ID         string // the signed message ID
	Type       string
	Kid        string // the operator key that signed it
	Raw        []byte // the COSE_Sign1 bytes as received
	Source     string // "mqtt", "phone", "local"
	ReceivedAt time.Time
	State      InboxState
	Reason     Reason    // refusal reason (or "ok")
	DoneAt     time.Time // when it was applied or refused
	Seq        uint64    // the event that answered it
}

// Inbox stores signed cloud messages by ID.
type Inbox interface {
	// InboxMessage returns a message by ID (NotFound if never stored).
	InboxMessage(id string) (InboxMessage, error)
	// InsertInboxMessage stores a new message; an existing ID is a
	// Conflict (the message was seen before).
	InsertInboxMessage(m InboxMessage) error
	// UpdateInboxMessage stores the new state of a stored message.
	UpdateInboxMessage(m InboxMessage) error
	// PendingInbox returns up to limit pending messages, oldest first.
	PendingInbox(limit int) ([]InboxMessage, error)
}

// Outbox is the cloud's acknowledgement cursor over the event log. Events
// are never deleted on an ack: the log stays whole for `audit verify`.
type Outbox interface {
	// CloudAcked returns the highest sequence number the cloud has
	// acknowledged (every event up to it has reached the cloud); 0 when
	// none.
	CloudAcked() (uint64, error)
	// AckCloud moves the cursor forward to seq and reports whether it
	// moved; an ack at or below the cursor changes nothing.
	AckCloud(seq uint64) (bool, error)
}

// ApprovalState of a delegation request.
type ApprovalState string

const (
	ApprovalPending  ApprovalState = "pending"
	ApprovalApproved ApprovalState = "approved"
	ApprovalRefused  ApprovalState = "refused" // the owner said no
	ApprovalExpired  ApprovalState = "expired" // no decision within the countdown
)

// Approval is a delegation request: someone asks to open or pay on behalf
// of a holder named by nickname, and the owner decides within a countdown.
type Approval struct {
	ID            string
	Nickname      string // the holder, as the requester names them
	Requester     string // who asks: a person's name or a device ID
	RequesterKind string // "person" or "ai_device"
	Action        Action // enter, exit, open, unlock — or ActionPay
	Resource      string // e.g. "gate:out-1", "locker:A-03"; for pay: the session reference
	Place         string // the site's name
	RequestedAt   time.Time
	Deadline      time.Time // the end of the countdown
	State         ApprovalState
	Reason        string // why it was refused or expired
	DecidedAt     time.Time
	DecisionID    string // the signed decision's message ID
	Operator      string // who decided (from the decision)
	// Token is the single-use payment token of an approved pay request.
	Token     string
	TokenUsed bool
}

// Approvals stores delegation requests.
type Approvals interface {
	// Approval returns a request by ID (NotFound if none).
	Approval(id string) (Approval, error)
	// ApprovalByToken returns the request that yielded a payment token
	// (NotFound if none).
	ApprovalByToken(token string) (Approval, error)
	// PutApproval inserts or replaces a request.
	PutApproval(a Approval) error
}

// UnpaidExits lists exits let through without full payment.
type UnpaidExits interface {
	// OverriddenSessions returns the closed sessions marked Overridden
	// whose exit time is in [from, to), by exit time.
	OverriddenSessions(from, to time.Time) ([]Session, error)
}

// Retention is what the disk cap needs from the store (see
// Gateway.EnforceDiskCap).
type Retention interface {
	// StoreBytes returns the bytes the store's data occupies: its size
	// less the free space it reuses before it grows.
	StoreBytes() (int64, error)
	// RedactEvents removes the data of events whose type is in types,
	// oldest first, starting after the last event an earlier call
	// considered and going up to seq to, until need bytes of data were
	// removed or limit events redacted. It keeps SHA-256 of each removed
	// data (Event.DataHash), so the chain still verifies. An event whose
	// stored hash does not verify (written before the digest chain, or
	// altered) is left alone and counted as skipped.
	RedactEvents(to uint64, types []EventType, need int64, limit int) (Redaction, error)
}

// Redaction says what RedactEvents did.
type Redaction struct {
	Count   int    // events redacted
	First   uint64 // the first redacted seq (0 when none)
	Last    uint64 // the last redacted seq
	Bytes   int64  // data bytes removed
	Skipped int    // events left alone: their hash does not verify
	Through uint64 // every event up to this seq has been considered
}
