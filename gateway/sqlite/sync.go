package sqlite

import (
	"context"
	"database/sql"
	"math"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// metaCloudAcked is the meta key of the cloud's acknowledgement cursor.
const metaCloudAcked = "cloud_acked"

const inboxCols = "id, type, kid, raw, source, received_at, state, reason, done_at, seq"

func scanInbox(r scanner) (gateway.InboxMessage, error) {
	var (
		m          gateway.InboxMessage
		recv       int64
		state, rsn string
		done       sql.NullInt64
		seq        int64
	)
	if err := r.Scan(&m.ID, &m.Type, &m.Kid, &m.Raw, &m.Source, &recv, &state, &rsn, &done, &seq); err != nil {
		return gateway.InboxMessage{}, err
	}
	m.ReceivedAt = time.Unix(0, recv).UTC()
	m.State, m.Reason = gateway.InboxState(state), gateway.Reason(rsn)
	m.DoneAt = decTime(done)
	m.Seq = uint64(seq)
	return m, nil
}

// InboxMessage returns a stored cloud message by ID (NotFound if none).
func (t *tx) InboxMessage(id string) (gateway.InboxMessage, error) {
	const op = "read inbox message"
	if err := t.check(op, false); err != nil {
		return gateway.InboxMessage{}, err
	}
	m, err := scanInbox(t.q.QueryRowContext(t.ctx, "SELECT "+inboxCols+" FROM inbox WHERE id = ?", id))
	if err == sql.ErrNoRows {
		return gateway.InboxMessage{}, notFound("no inbox message %q", id)
	}
	if err != nil {
		return gateway.InboxMessage{}, t.fail(op, err)
	}
	return m, nil
}

func (t *tx) inboxArgs(op string, m gateway.InboxMessage) ([]any, error) {
	if m.ID == "" || m.Type == "" || len(m.Raw) == 0 {
		return nil, invalid("store: %s: ID, type and raw bytes are required", op)
	}
	switch m.State {
	case gateway.InboxPending, gateway.InboxApplied, gateway.InboxRefused:
	default:
		return nil, invalid("store: %s %s: unknown state %q", op, m.ID, m.State)
	}
	if m.Seq > math.MaxInt64 {
		return nil, invalid("store: %s %s: seq out of range", op, m.ID)
	}
	var en enc
	recv := en.required("received at", m.ReceivedAt)
	done := en.time("done at", m.DoneAt)
	if en.err != nil {
		return nil, en.err
	}
	return []any{m.ID, m.Type, m.Kid, m.Raw, m.Source, recv, string(m.State), string(m.Reason), done, int64(m.Seq)}, nil
}

// InsertInboxMessage stores a new message. ID, Type, Raw, ReceivedAt and a
// known State are required (Invalid); an existing ID is a Conflict.
func (t *tx) InsertInboxMessage(m gateway.InboxMessage) error {
	const op = "store inbox message"
	if err := t.check(op, true); err != nil {
		return err
	}
	args, err := t.inboxArgs(op, m)
	if err != nil {
		return err
	}
	_, err = t.exec(op, "INSERT INTO inbox ("+inboxCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", args...)
	return err
}

// UpdateInboxMessage stores the new state of a stored message (NotFound if
// it was never inserted).
func (t *tx) UpdateInboxMessage(m gateway.InboxMessage) error {
	const op = "update inbox message"
	if err := t.check(op, true); err != nil {
		return err
	}
	args, err := t.inboxArgs(op, m)
	if err != nil {
		return err
	}
	res, err := t.exec(op, `UPDATE inbox SET type = ?2, kid = ?3, raw = ?4, source = ?5, received_at = ?6, state = ?7,
		reason = ?8, done_at = ?9, seq = ?10 WHERE id = ?1`, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return t.fail(op, err)
	} else if n == 0 {
		return notFound("no inbox message %q", m.ID)
	}
	return nil
}

// PendingInbox returns up to limit pending messages, oldest first.
func (t *tx) PendingInbox(limit int) ([]gateway.InboxMessage, error) {
	const op = "read pending inbox"
	if err := t.check(op, false); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	return queryAll(t, op, scanInbox, "SELECT "+inboxCols+" FROM inbox WHERE state = 'pending' ORDER BY received_at, id LIMIT ?", limit)
}

// CloudAcked returns the cloud's acknowledgement cursor (0 when none).
func (t *tx) CloudAcked() (uint64, error) {
	const op = "read cloud ack cursor"
	if err := t.check(op, false); err != nil {
		return 0, err
	}
	v, _, err := t.getMeta(op, metaCloudAcked)
	return uint64(v), err
}

// AckCloud moves the cursor forward to seq. It refuses (Invalid) a seq
// beyond the last event: the cloud cannot have what was never written.
func (t *tx) AckCloud(seq uint64) (bool, error) {
	const op = "advance cloud ack cursor"
	if err := t.check(op, true); err != nil {
		return false, err
	}
	last, _, err := t.lastEvent(op)
	if err != nil {
		return false, err
	}
	if seq > last {
		return false, invalid("store: %s: ack of seq %d beyond the last event %d", op, seq, last)
	}
	cur, _, err := t.getMeta(op, metaCloudAcked)
	if err != nil {
		return false, err
	}
	if int64(seq) <= cur {
		return false, nil
	}
	return true, t.setMeta(op, metaCloudAcked, int64(seq))
}

const approvalCols = `id, nickname, requester, requester_kind, action, resource, place, requested_at, deadline,
	state, reason, decided_at, decision_id, operator, token, token_used`

func scanApproval(r scanner) (gateway.Approval, error) {
	var (
		a                   gateway.Approval
		action, state       string
		requested, deadline int64
		decided             sql.NullInt64
		token               sql.NullString
	)
	if err := r.Scan(&a.ID, &a.Nickname, &a.Requester, &a.RequesterKind, &action, &a.Resource, &a.Place, &requested,
		&deadline, &state, &a.Reason, &decided, &a.DecisionID, &a.Operator, &token, &a.TokenUsed); err != nil {
		return gateway.Approval{}, err
	}
	a.Action, a.State = gateway.Action(action), gateway.ApprovalState(state)
	a.RequestedAt, a.Deadline = time.Unix(0, requested).UTC(), time.Unix(0, deadline).UTC()
	a.DecidedAt = decTime(decided)
	a.Token = token.String
	return a, nil
}

// Approval returns a delegation request by ID (NotFound if none).
func (t *tx) Approval(id string) (gateway.Approval, error) {
	return t.oneApproval("read approval", "SELECT "+approvalCols+" FROM approvals WHERE id = ?", id, "no approval %q")
}

// ApprovalByToken returns the request whose payment token is token.
func (t *tx) ApprovalByToken(token string) (gateway.Approval, error) {
	return t.oneApproval("read approval by token", "SELECT "+approvalCols+" FROM approvals WHERE token = ?", token, "no approval with token %q")
}

func (t *tx) oneApproval(op, query, arg, missing string) (gateway.Approval, error) {
	return queryOne(t, op, query, arg, missing, scanApproval)
}

// PutApproval inserts or replaces a request. ID, RequestedAt, Deadline and
// a known State are required; a token already used by another request is
// a Conflict.
func (t *tx) PutApproval(a gateway.Approval) error {
	const op = "store approval"
	if err := t.check(op, true); err != nil {
		return err
	}
	if a.ID == "" {
		return invalid("store: %s: ID is required", op)
	}
	switch a.State {
	case gateway.ApprovalPending, gateway.ApprovalApproved, gateway.ApprovalRefused, gateway.ApprovalExpired:
	default:
		return invalid("store: %s %s: unknown state %q", op, a.ID, a.State)
	}
	var en enc
	requested := en.required("requested at", a.RequestedAt)
	deadline := en.required("deadline", a.Deadline)
	decided := en.time("decided at", a.DecidedAt)
	if en.err != nil {
		return en.err
	}
	var token any
	if a.Token != "" {
		token = a.Token
	}
	// Not INSERT OR REPLACE: that would silently delete another request
	// holding the same token.
	_, err := t.exec(op, "INSERT INTO approvals ("+approvalCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET nickname = excluded.nickname, requester = excluded.requester,
		requester_kind = excluded.requester_kind, action = excluded.action, resource = excluded.resource,
		place = excluded.place, requested_at = excluded.requested_at, deadline = excluded.deadline,
		state = excluded.state, reason = excluded.reason, decided_at = excluded.decided_at,
		decision_id = excluded.decision_id, operator = excluded.operator, token = excluded.token,
		token_used = excluded.token_used`,
		a.ID, a.Nickname, a.Requester, a.RequesterKind, string(a.Action), a.Resource, a.Place, requested, deadline,
		string(a.State), a.Reason, decided, a.DecisionID, a.Operator, token, a.TokenUsed)
	return err
}

// OverriddenSessions returns closed sessions marked overridden whose exit
// is in [from, to), by exit time. A zero from or to leaves that side open.
func (t *tx) OverriddenSessions(from, to time.Time) ([]gateway.Session, error) {
	const op = "read overridden sessions"
	if err := t.check(op, false); err != nil {
		return nil, err
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !from.IsZero() {
		lo = clampNanos(from)
	}
	if !to.IsZero() {
		hi = clampNanos(to)
	}
	return queryAll(t, op, scanSession, "SELECT "+sessionCols+` FROM sessions
		WHERE overridden = 1 AND state = 'closed' AND exit_at >= ? AND exit_at < ? ORDER BY exit_at, id`, lo, hi)
}

// OutboxDepth returns the last event's seq and the cloud's ack cursor:
// last - acked events wait for the cloud.
func (db *DB) OutboxDepth(ctx context.Context) (last, acked uint64, err error) {
	done, err := db.startRead()
	if err != nil {
		return 0, 0, err
	}
	defer done()
	var l sql.NullInt64
	var a sql.NullInt64
	if err := db.r.QueryRowContext(ctx, "SELECT (SELECT max(seq) FROM events), (SELECT value FROM meta WHERE key = ?)", metaCloudAcked).Scan(&l, &a); err != nil {
		return 0, 0, storeErr("read outbox depth", err)
	}
	return uint64(l.Int64), uint64(a.Int64), nil
}
