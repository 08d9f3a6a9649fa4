package gateway

import (
	"context"
	"time"
)

// Store is the durable state of the gateway. Implemented by gateway/sqlite.
type Store interface {
	// Update runs fn in one write transaction and commits it durably
	// (fsync'd) before returning nil. Write transactions are serialised: fn
	// sees every earlier committed Update, so a read-check-write inside fn is
	// atomic (this is how a single-use key is consumed exactly once). If fn
	// returns an error, nothing it did is kept. fn must not block on I/O
	// other than the Tx and must not call Update or View.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only snapshot. Writes through the Tx fail.
	View(ctx context.Context, fn func(Tx) error) error
}

// Tx is the store seen from inside a transaction. Lookups of something that
// does not exist return an error whose KindOf is NotFound.
type Tx interface {
	EventLog
	KeyStates
	Sessions
	Payments
	LocalList
	TrustedTime
	Reservations
	Tariffs
	SyncStore
}

// EventLog is the hash-chained, gap-free event log (also the outbox that
// cloud sync drains).
type EventLog interface {
	// AppendEvent assigns e.Seq (last + 1), e.PrevHash and e.Hash (see
	// ChainHash) and stores it.
	AppendEvent(e *Event) error
	// Events returns up to limit events with Seq >= from, in order.
	Events(from uint64, limit int) ([]Event, error)
	// LastEvent returns the sequence number and hash of the last event
	// (0 and GenesisHash when there is none).
	LastEvent() (uint64, []byte, error)
}

// KeyState is what the gateway remembers about a key it has seen.
type KeyState struct {
	KeyID    string
	Uses     int       // successful uses so far
	Inside   bool      // entered and not yet exited (anti-passback)
	LastUsed time.Time // zero when never used
	// PIN attempt accounting.
	PINFailures    int
	PINLockedUntil time.Time
}

// Revocation revokes a key by ID.
type Revocation struct {
	KeyID  string
	At     time.Time
	Reason string
}

// KeyStates holds per-key state, revocations and used device-proof steps.
type KeyStates interface {
	// KeyState returns the key's state; a key never seen returns a zero
	// state with KeyID set and no error.
	KeyState(keyID string) (KeyState, error)
	PutKeyState(s KeyState) error
	// Revoked reports whether the key is revoked.
	Revoked(keyID string) (bool, error)
	// Revoke records a revocation; revoking twice is not an error.
	Revoke(r Revocation) error
	// UseProofStep records that the device proof for keyID at step was
	// accepted. It returns false (and records nothing) if it was already used.
	UseProofStep(keyID string, step int64) (bool, error)
	// ProofStepUsed reports whether the device proof for keyID at step
	// was accepted already (read-only: for checks with no side effects).
	ProofStepUsed(keyID string, step int64) (bool, error)
}

// SessionState of a parking session.
type SessionState string

const (
	SessionOpen   SessionState = "open"
	SessionClosed SessionState = "closed"
)

// Session is a parking session: from entry to exit.
type Session struct {
	ID            string
	Credential    string // "ticket:<id>", "key:<key id>", "list:<id>", "space:<id>"
	Lane          string // entry lane, empty for space sessions
	Space         string // space ID for flap-lock sessions
	EntryAt       time.Time
	ExitAt        time.Time // zero while open
	State         SessionState
	TariffVersion string
	ReservationID string // empty when no reservation covered the entry
	FeeExempt     bool   // the credential's holder pays nothing (passes)
	LostTicket    bool   // the lost-ticket fee applies
	Paid          int64  // total paid, minor units
	PaidAt        time.Time
	PaidThrough   time.Time // fee was settled up to this time (quote time)
	Overridden    bool      // an attendant let it leave
}

// Sessions stores parking sessions.
type Sessions interface {
	Session(id string) (Session, error)
	// OpenSessionByCredential returns the open session for a credential.
	OpenSessionByCredential(cred string) (Session, error)
	PutSession(s Session) error
	// OpenSessions returns every open session.
	OpenSessions() ([]Session, error)
	CountOpenSessions() (int, error)
}

// PaymentMethod of a payment.
type PaymentMethod string

const (
	PayCash     PaymentMethod = "cash"
	PayEPayment PaymentMethod = "epayment"
)

// Payment is an applied payment. Payment IDs are unique: a payment is
// applied at most once.
type Payment struct {
	ID         string
	SessionID  string
	Method     PaymentMethod
	Amount     int64
	At         time.Time
	QuoteID    string
	CheckoutID string
}

// Quote is a fee quoted to a driver; the amount holds until ExpiresAt.
type Quote struct {
	ID        string
	SessionID string
	Amount    int64
	At        time.Time
	ExpiresAt time.Time
}

// Checkout locks a session while one payment is in progress.
type Checkout struct {
	ID        string
	SessionID string
	QuoteID   string
	StartedAt time.Time
	ExpiresAt time.Time
	Done      bool // completed or cancelled
}

// Payments stores payments, quotes and checkouts.
type Payments interface {
	// Payment returns a payment by ID (NotFound if never applied).
	Payment(id string) (Payment, error)
	// InsertPayment stores a new payment; an existing ID is a Conflict.
	InsertPayment(p Payment) error
	PaymentsForSession(sessionID string) ([]Payment, error)
	Quote(id string) (Quote, error)
	PutQuote(q Quote) error
	Checkout(id string) (Checkout, error)
	// ActiveCheckout returns the session's checkout that is not done and
	// not expired at now (NotFound if none).
	ActiveCheckout(sessionID string, now time.Time) (Checkout, error)
	PutCheckout(c Checkout) error
}

// ListStatus of a local-list entry (as OCPP's AuthorizationStatus).
type ListStatus string

const (
	ListAccepted ListStatus = "accepted"
	ListBlocked  ListStatus = "blocked"
	ListExpired  ListStatus = "expired"
)

// ListEntry is a credential that is not self-contained: an RFID card UID, a
// plate, a monthly pass.
type ListEntry struct {
	ID         string // the credential value, e.g. card UID or plate
	Kind       string // "rfid", "plate", "pass"
	Status     ListStatus
	ValidFrom  time.Time // zero: no lower bound
	ValidUntil time.Time // zero: no upper bound
	Holder     string
	FeeExempt  bool
}

// LocalList is the versioned local authorization list.
type LocalList interface {
	ListVersion() (int64, error)
	ListEntry(id string) (ListEntry, error)
	// ReplaceList replaces the whole list and sets its version.
	ReplaceList(version int64, entries []ListEntry) error
	// PatchList upserts entries, deletes IDs and sets the version.
	PatchList(version int64, upsert []ListEntry, remove []string) error
}

// TrustedTime stores the latest trusted time, which never goes backwards.
type TrustedTime interface {
	LatestTrustedTime() (time.Time, error) // zero when never set
	// AdvanceTrustedTime stores t if it is later than the stored value and
	// reports whether it did.
	AdvanceTrustedTime(t time.Time) (bool, error)
	// ResetTrustedTime stores t (not zero) even if it is earlier, and
	// returns the value it replaced (zero when never set). Only an audited
	// attendant reset calls it (Gateway.ResetTrustedTime).
	ResetTrustedTime(t time.Time) (prev time.Time, err error)
}

// Reservation reserves entry (and optionally a space) for a credential.
type Reservation struct {
	ID         string
	Credential string // as Session.Credential
	Space      string // may be empty
	From       time.Time
	Until      time.Time
	Prepaid    bool // the stay from From to Until is paid
}

// Reservations stores reservations.
type Reservations interface {
	PutReservation(r Reservation) error
	DeleteReservation(id string) error
	// Reservation returns a reservation by ID (NotFound if none).
	Reservation(id string) (Reservation, error)
	// ReservationFor returns a reservation for cred whose [From-early,
	// Until+late] covers t (NotFound if none).
	ReservationFor(cred string, t time.Time, early, late time.Duration) (Reservation, error)
}

// Tariffs stores every tariff version ever in force, as the JSON the
// gateway/tariff package encodes, so a session keeps its version.
type Tariffs interface {
	PutTariff(version string, doc []byte) error
	Tariff(version string) ([]byte, error)
}
