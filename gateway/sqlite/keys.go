package sqlite

import (
	"database/sql"

	"github.com/lotgate/lotgate/gateway"
)

// KeyState returns the key's state; a key never seen returns a zero state
// with KeyID set and no error.
func (t *tx) KeyState(keyID string) (gateway.KeyState, error) {
	const op = "read key state"
	if err := t.check(op, false); err != nil {
		return gateway.KeyState{}, err
	}
	s := gateway.KeyState{KeyID: keyID}
	var lastUsed, lockedUntil sql.NullInt64
	_, err := t.queryRow(op, "SELECT uses, inside, last_used, pin_failures, pin_locked_until FROM key_states WHERE key_id = ?",
		[]any{keyID}, &s.Uses, &s.Inside, &lastUsed, &s.PINFailures, &lockedUntil)
	if err != nil {
		return gateway.KeyState{}, err
	}
	s.LastUsed = decTime(lastUsed)
	s.PINLockedUntil = decTime(lockedUntil)
	return s, nil
}

// PutKeyState stores s (insert or replace). KeyID is required.
func (t *tx) PutKeyState(s gateway.KeyState) error {
	const op = "store key state"
	if err := t.check(op, true); err != nil {
		return err
	}
	if s.KeyID == "" {
		return invalid("store: %s: key ID is required", op)
	}
	var en enc
	lastUsed := en.time("last used", s.LastUsed)
	lockedUntil := en.time("PIN locked until", s.PINLockedUntil)
	if en.err != nil {
		return en.err
	}
	if err := t.beginKeyWrite(op); err != nil {
		return err
	}
	_, err := t.exec(op, `INSERT INTO key_states (key_id, uses, inside, last_used, pin_failures, pin_locked_until)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (key_id) DO UPDATE SET uses = excluded.uses, inside = excluded.inside,
			last_used = excluded.last_used, pin_failures = excluded.pin_failures,
			pin_locked_until = excluded.pin_locked_until`,
		s.KeyID, s.Uses, s.Inside, lastUsed, s.PINFailures, lockedUntil)
	if err != nil {
		return err
	}
	// What KeyState will read back: times in UTC to the nanosecond.
	s.LastUsed = decTime(nullTime(lastUsed))
	s.PINLockedUntil = decTime(nullTime(lockedUntil))
	t.writes.ops = append(t.writes.ops, keyOp{state: s})
	t.writes.rows++ // an upsert inserts or updates exactly one row
	return nil
}

// nullTime turns enc.time's result back into what a column read gives.
func nullTime(v any) sql.NullInt64 {
	n, ok := v.(int64)
	return sql.NullInt64{Int64: n, Valid: ok}
}

// Revoked reports whether the key is revoked.
func (t *tx) Revoked(keyID string) (bool, error) {
	const op = "read revocation"
	if err := t.check(op, false); err != nil {
		return false, err
	}
	var one int
	return t.queryRow(op, "SELECT 1 FROM revocations WHERE key_id = ?", []any{keyID}, &one)
}

// Revoke records a revocation. Revoking twice is not an error; the first
// record (time and reason) is kept.
func (t *tx) Revoke(r gateway.Revocation) error {
	const op = "store revocation"
	if err := t.check(op, true); err != nil {
		return err
	}
	if r.KeyID == "" {
		return invalid("store: %s: key ID is required", op)
	}
	var en enc
	at := en.time("revocation time", r.At)
	if en.err != nil {
		return en.err
	}
	if err := t.beginKeyWrite(op); err != nil {
		return err
	}
	res, err := t.exec(op, "INSERT INTO revocations (key_id, at, reason) VALUES (?, ?, ?) ON CONFLICT (key_id) DO NOTHING",
		r.KeyID, at, r.Reason)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return t.fail(op, err)
	}
	t.writes.ops = append(t.writes.ops, keyOp{revoke: r.KeyID})
	t.writes.rows += n // 0 when already revoked: nothing changed
	return nil
}

// ProofStepUsed reports whether the device proof for keyID at step was
// accepted already.
func (t *tx) ProofStepUsed(keyID string, step int64) (bool, error) {
	const op = "read proof step"
	if err := t.check(op, false); err != nil {
		return false, err
	}
	var one int
	return t.queryRow(op, "SELECT 1 FROM proof_steps WHERE key_id = ? AND step = ?", []any{keyID, step}, &one)
}

// UseProofStep records that the device proof for keyID at step was
// accepted. It returns false (and records nothing) if it was already used.
func (t *tx) UseProofStep(keyID string, step int64) (bool, error) {
	const op = "record proof step"
	if err := t.check(op, true); err != nil {
		return false, err
	}
	if keyID == "" {
		return false, invalid("store: %s: key ID is required", op)
	}
	res, err := t.exec(op, "INSERT INTO proof_steps (key_id, step) VALUES (?, ?) ON CONFLICT DO NOTHING", keyID, step)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, t.fail(op, err)
	}
	return n == 1, nil
}
