package sqlite

import (
	"context"
	"database/sql"
	"math"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// tx is the gateway.Tx of one Update or View. It is valid only while the
// function it was passed to runs.
type tx struct {
	ctx      context.Context
	q        *sql.Tx
	readOnly bool
	done     bool  // fn returned: refuse further use
	broken   error // a statement failed in a way that may have ended the transaction
	// txn is the key-cache bookkeeping of the write transaction this Tx
	// runs in (nil in a View); writes are this Tx's own key changes,
	// kept only if its fn succeeds.
	txn    *keyTxn
	writes keyWrites
}

// Interface guards
var _ gateway.Tx = (*tx)(nil)

// check is called first by every method.
func (t *tx) check(op string, write bool) error {
	if t.done {
		return gateway.Errorf(gateway.Internal, "store: %s: transaction used after its function returned", op)
	}
	if t.broken != nil {
		return t.broken
	}
	if write && t.readOnly {
		return gateway.Errorf(gateway.Invalid, "store: %s: read-only transaction", op)
	}
	return nil
}

// fail wraps a database error and, when the error may have rolled back the
// transaction, refuses every later statement of the Tx: otherwise they would
// run (and commit) outside it.
func (t *tx) fail(op string, err error) error {
	e := storeErr(op, err)
	if poisons(err) {
		t.broken = e
	}
	return e
}

func (t *tx) exec(op, query string, args ...any) (sql.Result, error) {
	res, err := t.q.ExecContext(t.ctx, query, args...)
	if err != nil {
		return nil, t.fail(op, err)
	}
	return res, nil
}

// queryRow runs a one-row query; sql.ErrNoRows becomes notFound (which may be
// nil to mean "no row is fine", signalled by the false return).
func (t *tx) queryRow(op, query string, args []any, dest ...any) (bool, error) {
	err := t.q.QueryRowContext(t.ctx, query, args...).Scan(dest...)
	if err == sql.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, t.fail(op, err)
	}
	return true, nil
}

func notFound(format string, args ...any) error {
	return gateway.Errorf(gateway.NotFound, format, args...)
}

func invalid(format string, args ...any) error {
	return gateway.Errorf(gateway.Invalid, format, args...)
}

// The instants a Unix-nanosecond int64 can hold (years 1677 to 2262).
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// enc encodes times for SQL and remembers the first out-of-range one.
type enc struct{ err error }

// time returns nil (NULL) for the zero time, else Unix nanoseconds.
func (e *enc) time(field string, v time.Time) any {
	if v.IsZero() {
		return nil
	}
	if v.Before(minTime) || v.After(maxTime) {
		if e.err == nil {
			e.err = invalid("store: %s %s is out of range (years 1678 to 2261)", field, v.Format(time.RFC3339))
		}
		return nil
	}
	return v.UnixNano()
}

// required is time for a field that must be set.
func (e *enc) required(field string, v time.Time) any {
	if v.IsZero() && e.err == nil {
		e.err = invalid("store: %s is required", field)
	}
	return e.time(field, v)
}

// decTime reads back a time stored by enc.time, in UTC.
func decTime(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// clampNanos is t in Unix nanoseconds, saturated to the int64 range.
func clampNanos(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}
