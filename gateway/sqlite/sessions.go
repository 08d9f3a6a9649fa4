package sqlite

import (
	"database/sql"

	"github.com/lotgate/lotgate/gateway"
)

const sessionCols = `id, credential, lane, space, entry_at, exit_at, state, tariff_version,
	reservation_id, fee_exempt, lost_ticket, paid, paid_at, paid_through, overridden`

type scanner interface{ Scan(dest ...any) error }

func scanSession(r scanner) (gateway.Session, error) {
	var (
		s                                gateway.Session
		state                            string
		entry, exit, paidAt, paidThrough sql.NullInt64
	)
	err := r.Scan(&s.ID, &s.Credential, &s.Lane, &s.Space, &entry, &exit, &state, &s.TariffVersion,
		&s.ReservationID, &s.FeeExempt, &s.LostTicket, &s.Paid, &paidAt, &paidThrough, &s.Overridden)
	if err != nil {
		return gateway.Session{}, err
	}
	s.State = gateway.SessionState(state)
	s.EntryAt, s.ExitAt = decTime(entry), decTime(exit)
	s.PaidAt, s.PaidThrough = decTime(paidAt), decTime(paidThrough)
	return s, nil
}

// Session returns a session by ID (NotFound if none).
func (t *tx) Session(id string) (gateway.Session, error) {
	return t.oneSession("read session", "SELECT "+sessionCols+" FROM sessions WHERE id = ?", id, "no session %q")
}

// OpenSessionByCredential returns the open session for a credential
// (NotFound if none).
func (t *tx) OpenSessionByCredential(cred string) (gateway.Session, error) {
	return t.oneSession("read open session", "SELECT "+sessionCols+" FROM sessions WHERE credential = ? AND state = 'open'", cred, "no open session for %q")
}

func (t *tx) oneSession(op, query, arg, missing string) (gateway.Session, error) {
	return queryOne(t, op, query, arg, missing, scanSession)
}

// queryOne runs a query for one row with one argument and scans it; no row
// is NotFound with the missing message (formatted with arg).
func queryOne[T any](t *tx, op, query, arg, missing string, scan func(scanner) (T, error)) (T, error) {
	var zero T
	if err := t.check(op, false); err != nil {
		return zero, err
	}
	v, err := scan(t.q.QueryRowContext(t.ctx, query, arg))
	if err == sql.ErrNoRows {
		return zero, notFound(missing, arg)
	}
	if err != nil {
		return zero, t.fail(op, err)
	}
	return v, nil
}

// queryAll runs a query and scans every row, in order.
func queryAll[T any](t *tx, op string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := t.q.QueryContext(t.ctx, query, args...)
	if err != nil {
		return nil, t.fail(op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, t.fail(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, t.fail(op, err)
	}
	return out, nil
}

// PutSession stores s (insert or replace). ID and Credential are required,
// State is open or closed. Storing a second open session for a credential
// that already has one is a Conflict.
func (t *tx) PutSession(s gateway.Session) error {
	const op = "store session"
	if err := t.check(op, true); err != nil {
		return err
	}
	if s.ID == "" || s.Credential == "" {
		return invalid("store: %s: ID and credential are required", op)
	}
	if s.State != gateway.SessionOpen && s.State != gateway.SessionClosed {
		return invalid("store: %s %s: state %q is neither open nor closed", op, s.ID, s.State)
	}
	var en enc
	entry := en.time("entry time", s.EntryAt)
	exit := en.time("exit time", s.ExitAt)
	paidAt := en.time("paid time", s.PaidAt)
	paidThrough := en.time("paid through", s.PaidThrough)
	if en.err != nil {
		return en.err
	}
	_, err := t.exec(op, `INSERT INTO sessions (`+sessionCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET credential = excluded.credential, lane = excluded.lane,
			space = excluded.space, entry_at = excluded.entry_at, exit_at = excluded.exit_at,
			state = excluded.state, tariff_version = excluded.tariff_version,
			reservation_id = excluded.reservation_id, fee_exempt = excluded.fee_exempt,
			lost_ticket = excluded.lost_ticket, paid = excluded.paid, paid_at = excluded.paid_at,
			paid_through = excluded.paid_through, overridden = excluded.overridden`,
		s.ID, s.Credential, s.Lane, s.Space, entry, exit, string(s.State), s.TariffVersion,
		s.ReservationID, s.FeeExempt, s.LostTicket, s.Paid, paidAt, paidThrough, s.Overridden)
	if err != nil && gateway.KindOf(err) == gateway.Conflict {
		return &gateway.Error{Kind: gateway.Conflict, Message: "store: another session is open for credential " + s.Credential, Err: err}
	}
	return err
}

// OpenSessions returns every open session, oldest entry first.
func (t *tx) OpenSessions() ([]gateway.Session, error) {
	const op = "read open sessions"
	if err := t.check(op, false); err != nil {
		return nil, err
	}
	return queryAll(t, op, scanSession, "SELECT "+sessionCols+" FROM sessions WHERE state = 'open' ORDER BY entry_at, id")
}

// CountOpenSessions returns the number of open sessions.
func (t *tx) CountOpenSessions() (int, error) {
	const op = "count open sessions"
	if err := t.check(op, false); err != nil {
		return 0, err
	}
	var n int
	_, err := t.queryRow(op, "SELECT count(*) FROM sessions WHERE state = 'open'", nil, &n)
	return n, err
}
