package sqlite

import (
	"database/sql"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// Payment returns a payment by ID (NotFound if never applied).
func (t *tx) Payment(id string) (gateway.Payment, error) {
	const op = "read payment"
	if err := t.check(op, false); err != nil {
		return gateway.Payment{}, err
	}
	p, err := scanPayment(t.q.QueryRowContext(t.ctx, "SELECT id, session_id, method, amount, at, quote_id, checkout_id FROM payments WHERE id = ?", id))
	if err == sql.ErrNoRows {
		return gateway.Payment{}, notFound("no payment %q", id)
	}
	if err != nil {
		return gateway.Payment{}, t.fail(op, err)
	}
	return p, nil
}

func scanPayment(r scanner) (gateway.Payment, error) {
	var (
		p      gateway.Payment
		method string
		at     sql.NullInt64
	)
	if err := r.Scan(&p.ID, &p.SessionID, &method, &p.Amount, &at, &p.QuoteID, &p.CheckoutID); err != nil {
		return gateway.Payment{}, err
	}
	p.Method = gateway.PaymentMethod(method)
	p.At = decTime(at)
	return p, nil
}

// InsertPayment stores a new payment. An existing ID is a Conflict (the
// stored payment is left as it was). ID and SessionID are required, Method is
// cash or epayment, Amount is not negative.
func (t *tx) InsertPayment(p gateway.Payment) error {
	const op = "store payment"
	if err := t.check(op, true); err != nil {
		return err
	}
	if p.ID == "" || p.SessionID == "" {
		return invalid("store: %s: ID and session ID are required", op)
	}
	if p.Method != gateway.PayCash && p.Method != gateway.PayEPayment {
		return invalid("store: %s %s: unknown method %q", op, p.ID, p.Method)
	}
	if p.Amount < 0 {
		return invalid("store: %s %s: negative amount %d", op, p.ID, p.Amount)
	}
	var en enc
	at := en.time("payment time", p.At)
	if en.err != nil {
		return en.err
	}
	res, err := t.exec(op, `INSERT INTO payments (id, session_id, method, amount, at, quote_id, checkout_id)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		p.ID, p.SessionID, string(p.Method), p.Amount, at, p.QuoteID, p.CheckoutID)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return t.fail(op, err)
	}
	if n == 0 {
		return gateway.Errorf(gateway.Conflict, "payment %s was already applied", p.ID)
	}
	return nil
}

// PaymentsForSession returns the session's payments, oldest first.
func (t *tx) PaymentsForSession(sessionID string) ([]gateway.Payment, error) {
	const op = "read session payments"
	if err := t.check(op, false); err != nil {
		return nil, err
	}
	return queryAll(t, op, scanPayment, "SELECT id, session_id, method, amount, at, quote_id, checkout_id FROM payments WHERE session_id = ? ORDER BY at, id", sessionID)
}

// Quote returns a quote by ID (NotFound if none).
func (t *tx) Quote(id string) (gateway.Quote, error) {
	const op = "read quote"
	if err := t.check(op, false); err != nil {
		return gateway.Quote{}, err
	}
	q := gateway.Quote{ID: id}
	var at, expires sql.NullInt64
	ok, err := t.queryRow(op, "SELECT session_id, amount, at, expires_at FROM quotes WHERE id = ?", []any{id}, &q.SessionID, &q.Amount, &at, &expires)
	if err != nil {
		return gateway.Quote{}, err
	}
	if !ok {
		return gateway.Quote{}, notFound("no quote %q", id)
	}
	q.At, q.ExpiresAt = decTime(at), decTime(expires)
	return q, nil
}

// PutQuote stores q (insert or replace). ID is required.
func (t *tx) PutQuote(q gateway.Quote) error {
	const op = "store quote"
	if err := t.check(op, true); err != nil {
		return err
	}
	if q.ID == "" {
		return invalid("store: %s: ID is required", op)
	}
	var en enc
	at := en.time("quote time", q.At)
	expires := en.time("quote expiry", q.ExpiresAt)
	if en.err != nil {
		return en.err
	}
	_, err := t.exec(op, `INSERT INTO quotes (id, session_id, amount, at, expires_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET session_id = excluded.session_id, amount = excluded.amount,
			at = excluded.at, expires_at = excluded.expires_at`,
		q.ID, q.SessionID, q.Amount, at, expires)
	return err
}

const checkoutCols = "id, session_id, quote_id, started_at, expires_at, done"

func scanCheckout(r scanner) (gateway.Checkout, error) {
	var (
		c                gateway.Checkout
		started, expires sql.NullInt64
	)
	if err := r.Scan(&c.ID, &c.SessionID, &c.QuoteID, &started, &expires, &c.Done); err != nil {
		return gateway.Checkout{}, err
	}
	c.StartedAt, c.ExpiresAt = decTime(started), decTime(expires)
	return c, nil
}

// Checkout returns a checkout by ID (NotFound if none).
func (t *tx) Checkout(id string) (gateway.Checkout, error) {
	const op = "read checkout"
	if err := t.check(op, false); err != nil {
		return gateway.Checkout{}, err
	}
	c, err := scanCheckout(t.q.QueryRowContext(t.ctx, "SELECT "+checkoutCols+" FROM checkouts WHERE id = ?", id))
	if err == sql.ErrNoRows {
		return gateway.Checkout{}, notFound("no checkout %q", id)
	}
	if err != nil {
		return gateway.Checkout{}, t.fail(op, err)
	}
	return c, nil
}

// ActiveCheckout returns the session's checkout that is not done and not
// expired at now, that is now < ExpiresAt (NotFound if none). A checkout
// with a zero ExpiresAt never counts as active, so a checkout can never lock
// a session forever. If several are active, the latest started is returned.
func (t *tx) ActiveCheckout(sessionID string, now time.Time) (gateway.Checkout, error) {
	const op = "read active checkout"
	if err := t.check(op, false); err != nil {
		return gateway.Checkout{}, err
	}
	c, err := scanCheckout(t.q.QueryRowContext(t.ctx, "SELECT "+checkoutCols+` FROM checkouts
		WHERE session_id = ? AND done = 0 AND expires_at > ?
		ORDER BY started_at DESC, id DESC LIMIT 1`, sessionID, clampNanos(now)))
	if err == sql.ErrNoRows {
		return gateway.Checkout{}, notFound("no active checkout for session %q", sessionID)
	}
	if err != nil {
		return gateway.Checkout{}, t.fail(op, err)
	}
	return c, nil
}

// PutCheckout stores c (insert or replace). ID and SessionID are required.
func (t *tx) PutCheckout(c gateway.Checkout) error {
	const op = "store checkout"
	if err := t.check(op, true); err != nil {
		return err
	}
	if c.ID == "" || c.SessionID == "" {
		return invalid("store: %s: ID and session ID are required", op)
	}
	var en enc
	started := en.time("checkout start", c.StartedAt)
	expires := en.time("checkout expiry", c.ExpiresAt)
	if en.err != nil {
		return en.err
	}
	_, err := t.exec(op, `INSERT INTO checkouts (`+checkoutCols+`) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET session_id = excluded.session_id, quote_id = excluded.quote_id,
			started_at = excluded.started_at, expires_at = excluded.expires_at, done = excluded.done`,
		c.ID, c.SessionID, c.QuoteID, started, expires, c.Done)
	return err
}
