package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/lotgate/lotgate/gateway"
)

// Update runs fn in a write transaction and returns nil only after the
// transaction committed (fsync'd with SyncFull). Updates are serialised, so a
// read-check-write in fn is atomic. If fn returns an error, or a statement
// failed in a way that may have undone the transaction, nothing fn wrote is
// kept and the error is returned (fn's own error unchanged).
//
// ctx is honoured while the Update waits for its turn; once fn has run, the
// Update waits for the commit and reports its true outcome. A panic in fn
// rolls back fn's writes and is re-raised in the caller's goroutine.
func (db *DB) Update(ctx context.Context, fn func(gateway.Tx) error) error {
	if db.isClosed() {
		return closedErr()
	}
	if err := ctx.Err(); err != nil {
		return notStarted(err)
	}
	if db.group {
		return db.updateGroup(ctx, fn)
	}
	return db.updateSingle(ctx, fn)
}

func closedErr() error {
	return &gateway.Error{Kind: gateway.Unavailable, Message: "store: closed", Err: ErrClosed}
}

func notStarted(err error) error {
	return &gateway.Error{Kind: gateway.Unavailable, Message: "store: update not started", Err: err}
}

// updateSingle runs fn in its own BEGIN IMMEDIATE transaction.
func (db *DB) updateSingle(ctx context.Context, fn func(gateway.Tx) error) (err error) {
	select {
	case db.sem <- struct{}{}:
	case <-ctx.Done():
		return notStarted(ctx.Err())
	case <-db.closed:
		return closedErr()
	}
	defer func() { <-db.sem }()
	if db.isClosed() {
		return closedErr()
	}
	// The transaction does not use ctx: once fn has run we report the true
	// outcome of the commit rather than a cancellation.
	sqlTx, err := db.w.BeginTx(context.Background(), nil)
	if err != nil {
		return storeErr("begin write transaction", err)
	}
	committed := false
	defer func() {
		if !committed {
			// Also on a panic in fn.
			sqlTx.Rollback()
		}
	}()
	var kt keyTxn
	t := &tx{ctx: context.Background(), q: sqlTx, txn: &kt}
	err = fn(t)
	t.done = true
	if err == nil && t.broken != nil {
		err = t.broken
	}
	if err != nil {
		return err
	}
	kt.writes = t.writes
	gen, err := db.keysEndGen(&kt, sqlTx)
	if err != nil {
		return err
	}
	committed = true // database/sql considers the tx finished whatever Commit returns
	err = sqlTx.Commit()
	db.keysCommitted(&kt, gen, err == nil)
	if err != nil {
		db.log.Error("commit failed", "err", err)
		return storeErr("commit", err)
	}
	db.commits.Add(1)
	db.updates.Add(1)
	return nil
}

// request is one Update queued for the group-commit writer.
type request struct {
	ctx  context.Context
	fn   func(gateway.Tx) error
	done chan result // buffered 1; written exactly once
}

type result struct {
	err      error
	panicked bool
	panicVal any
}

func (db *DB) updateGroup(ctx context.Context, fn func(gateway.Tx) error) error {
	req := &request{ctx: ctx, fn: fn, done: make(chan result, 1)}
	select {
	case db.reqs <- req:
	case <-ctx.Done():
		return notStarted(ctx.Err())
	case <-db.closed:
		return closedErr()
	}
	// The writer has the request: it answers promptly and truthfully, so
	// wait for it even if ctx is cancelled now.
	res := <-req.done
	if res.panicked {
		panic(res.panicVal)
	}
	return res.err
}

// writeLoop is the group-commit writer goroutine: it takes the first queued
// request, every request already waiting behind it (up to maxBatch), and runs
// them as one batch. It stops when Close is called.
func (db *DB) writeLoop() {
	defer db.wg.Done()
	for {
		var first *request
		select {
		case first = <-db.reqs:
		case <-db.closed:
			return
		}
		if db.isClosed() {
			first.done <- result{err: closedErr()}
			continue
		}
		batch := []*request{first}
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-db.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		db.runBatch(batch)
	}
}

// runBatch runs each request's fn in its own savepoint of one transaction,
// commits once, and then answers every request. A failing fn rolls back only
// its savepoint. Nothing is answered as committed before COMMIT returned.
func (db *DB) runBatch(batch []*request) {
	res := make([]result, len(batch))
	ran := make([]bool, len(batch)) // fn ran and succeeded: pending commit
	answer := func() {
		for i, r := range batch {
			r.done <- res[i]
		}
	}
	live := 0
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			res[i] = result{err: notStarted(err)}
			continue
		}
		live++
	}
	if live == 0 {
		answer()
		return
	}
	if n := int64(live); n > db.maxSeen.Load() {
		db.maxSeen.Store(n) // only the writer goroutine stores
	}

	bg := context.Background()
	var kt keyTxn
	sqlTx, err := db.w.BeginTx(bg, nil)
	if err != nil {
		err = storeErr("begin write transaction", err)
		for i := range batch {
			if res[i].err == nil {
				res[i].err = err
			}
		}
		answer()
		return
	}
	// abort rolls the whole batch back after a savepoint could not be
	// managed: every request not already failed gets err.
	abort := func(err error) {
		sqlTx.Rollback()
		db.log.Error("group commit batch aborted", "err", err, "batch", len(batch))
		err = storeErr("batch aborted", err)
		for i := range batch {
			if res[i].err == nil && !res[i].panicked {
				res[i].err = err
			}
		}
		answer()
	}
	for i, r := range batch {
		if res[i].err != nil {
			continue
		}
		if _, err := sqlTx.ExecContext(bg, "SAVEPOINT u"); err != nil {
			abort(fmt.Errorf("savepoint: %w", err))
			return
		}
		t := &tx{ctx: bg, q: sqlTx, txn: &kt}
		res[i] = callFn(r.fn, t)
		t.done = true
		if res[i].err == nil && !res[i].panicked && t.broken != nil {
			res[i].err = t.broken
		}
		if res[i].err != nil || res[i].panicked {
			// If a failed statement rolled back the whole transaction the
			// savepoint is gone and this fails: the batch is lost. (The Tx
			// refuses statements after such a failure, so nothing of fn ran
			// outside the transaction.)
			if _, err := sqlTx.ExecContext(bg, "ROLLBACK TO u"); err != nil {
				abort(fmt.Errorf("rollback to savepoint: %w", err))
				return
			}
		}
		if _, err := sqlTx.ExecContext(bg, "RELEASE u"); err != nil {
			abort(fmt.Errorf("release savepoint: %w", err))
			return
		}
		ran[i] = res[i].err == nil && !res[i].panicked
		if ran[i] {
			// Only an fn whose savepoint was released keeps its key
			// changes; a rolled-back one's are dropped with it.
			kt.writes.add(t.writes)
		}
	}
	gen, err := db.keysEndGen(&kt, sqlTx)
	if err != nil {
		abort(fmt.Errorf("read key generation: %w", err))
		return
	}
	err = sqlTx.Commit()
	db.keysCommitted(&kt, gen, err == nil)
	if err != nil {
		db.log.Error("group commit failed", "err", err, "batch", len(batch))
		err = storeErr("commit", err)
		for i := range batch {
			if ran[i] {
				res[i].err = err
			}
		}
		answer()
		return
	}
	db.commits.Add(1)
	for i := range batch {
		if ran[i] {
			db.updates.Add(1)
		}
	}
	answer()
}

// callFn runs fn, turning a panic into a result so the writer goroutine
// survives and the caller can re-raise it.
func callFn(fn func(gateway.Tx) error, t *tx) (res result) {
	defer func() {
		if v := recover(); v != nil {
			res = result{panicked: true, panicVal: v}
		}
	}()
	return result{err: fn(t)}
}

// View runs fn in a read transaction (a snapshot) on the read-only pool.
// Writes through the Tx return an Invalid error. Views run concurrently with
// each other and with Updates (WAL); fn must not call View or Update.
func (db *DB) View(ctx context.Context, fn func(gateway.Tx) error) error {
	done, err := db.startRead()
	if err != nil {
		return err
	}
	defer done()
	return db.view(ctx, fn)
}

// view is View for a caller that already holds startRead.
func (db *DB) view(ctx context.Context, fn func(gateway.Tx) error) error {
	sqlTx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return storeErr("begin read transaction", err)
	}
	defer sqlTx.Rollback()
	t := &tx{ctx: ctx, q: sqlTx, readOnly: true}
	err = fn(t)
	t.done = true
	return err
}
