package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"

	"github.com/lotgate/lotgate/gateway"
)

// The key cache: key_states and revocations as committed, held in memory
// so that KeyStatus answers a key decision without a read transaction
// (one small SELECT instead of a BEGIN, two lookups and a ROLLBACK).
//
// Why it cannot go stale:
//
//   - Invariant: states and revoked are exactly the two tables' contents
//     at generation gen. The generation (table key_generation, migration
//     0005) is moved by triggers on every row inserted, updated or deleted
//     in either table, in the writer's own transaction, whoever the writer
//     is: this DB, a CLI in another process, the sqlite3 shell.
//   - KeyStatus reads the database's current generation first and answers
//     from memory only if it equals gen; otherwise it reads SQL. So a change
//     committed anywhere and not (yet) applied here is never hidden: the
//     read goes to the database until the cache has caught up.
//   - The cache moves only in two ways, both keeping the invariant: a
//     reload (all rows and the generation in one read snapshot), and the
//     apply of a write transaction of this DB after its COMMIT returned
//     nil, and only if the cache was at the generation the transaction
//     started from and the transaction moved the generation by exactly the
//     rows its recorded changes touched (so no unrecorded write hid in it).
//     A rolled-back savepoint or transaction, a failed commit, an aborted
//     batch apply nothing; the generation check then sends reads to SQL
//     and a reload brings the cache back.
//
// Reads inside View and Update (Tx.KeyState, Tx.Revoked) always use SQL:
// they are part of their transaction's snapshot.
type keyCache struct {
	mu      sync.RWMutex
	gen     int64 // -1 until loaded
	states  map[string]gateway.KeyState
	revoked map[string]struct{}

	reloading sync.Mutex // one reload at a time
	// committing counts write transactions with key changes between their
	// COMMIT and their apply: a generation ahead of the cache is then
	// expected and is no reason to reload.
	committing atomic.Int32

	hits, misses, reloads atomic.Uint64
}

// keyGenQuery reads the generation of key_states and revocations.
const keyGenQuery = "SELECT gen FROM key_generation WHERE id = 1"

// keyOp is one change a write transaction made to the key tables.
type keyOp struct {
	state  gateway.KeyState // the state stored (normalised as read back), when revoke is ""
	revoke string           // the key ID revoked
}

// keyWrites are the key changes of one Update (or of a whole write
// transaction): the ops in order, and how many rows they inserted or
// updated, which is how far the triggers moved the generation.
type keyWrites struct {
	ops  []keyOp
	rows int64
}

func (w *keyWrites) add(o keyWrites) {
	w.ops = append(w.ops, o.ops...)
	w.rows += o.rows
}

// keyTxn is the key-cache bookkeeping of one write transaction (one Update,
// or one group-commit batch).
type keyTxn struct {
	startGen  int64 // the generation before the first key write
	haveStart bool
	writes    keyWrites // of the Updates whose fn succeeded
}

// get answers from memory if the cache is at generation gen.
func (c *keyCache) get(gen int64, keyID string) (gateway.KeyState, bool, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.gen < 0 || c.gen != gen {
		return gateway.KeyState{}, false, false
	}
	st, ok := c.states[keyID]
	if !ok {
		st = gateway.KeyState{KeyID: keyID}
	}
	_, revoked := c.revoked[keyID]
	return st, revoked, true
}

func (c *keyCache) generation() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// apply brings a committed write transaction into the cache: only if the
// cache was at the generation it started from and the generation moved by
// exactly the rows of its ops. Otherwise the cache is left behind, reads go
// to SQL and a reload catches up.
func (c *keyCache) apply(startGen, endGen int64, w keyWrites) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen < 0 || c.gen != startGen || endGen != startGen+w.rows {
		return false
	}
	for _, o := range w.ops {
		if o.revoke != "" {
			c.revoked[o.revoke] = struct{}{}
		} else {
			c.states[o.state.KeyID] = o.state
		}
	}
	c.gen = endGen
	return true
}

// install replaces the cache with a snapshot read at generation gen, unless
// the cache is already at a later one.
func (c *keyCache) install(gen int64, states map[string]gateway.KeyState, revoked map[string]struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen >= 0 && gen <= c.gen {
		return
	}
	c.gen, c.states, c.revoked = gen, states, revoked
}

// loadKeys reads both tables and the generation in one read snapshot and
// installs them.
func (db *DB) loadKeys(ctx context.Context) error {
	db.keys.reloading.Lock()
	defer db.keys.reloading.Unlock()
	return db.loadKeysLocked(ctx)
}

func (db *DB) loadKeysLocked(ctx context.Context) error {
	const op = "load key cache"
	sqlTx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return storeErr(op, err)
	}
	defer sqlTx.Rollback()
	var gen int64
	if err := sqlTx.QueryRowContext(ctx, keyGenQuery).Scan(&gen); err != nil {
		return storeErr(op, err)
	}
	states := map[string]gateway.KeyState{}
	rows, err := sqlTx.QueryContext(ctx, "SELECT key_id, uses, inside, last_used, pin_failures, pin_locked_until FROM key_states")
	if err != nil {
		return storeErr(op, err)
	}
	for rows.Next() {
		var s gateway.KeyState
		var lastUsed, lockedUntil sql.NullInt64
		if err := rows.Scan(&s.KeyID, &s.Uses, &s.Inside, &lastUsed, &s.PINFailures, &lockedUntil); err != nil {
			rows.Close()
			return storeErr(op, err)
		}
		s.LastUsed, s.PINLockedUntil = decTime(lastUsed), decTime(lockedUntil)
		states[s.KeyID] = s
	}
	if err := rows.Close(); err != nil {
		return storeErr(op, err)
	}
	if err := rows.Err(); err != nil {
		return storeErr(op, err)
	}
	revoked := map[string]struct{}{}
	rows, err = sqlTx.QueryContext(ctx, "SELECT key_id FROM revocations")
	if err != nil {
		return storeErr(op, err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return storeErr(op, err)
		}
		revoked[id] = struct{}{}
	}
	if err := rows.Close(); err != nil {
		return storeErr(op, err)
	}
	if err := rows.Err(); err != nil {
		return storeErr(op, err)
	}
	db.keys.install(gen, states, revoked)
	db.keys.reloads.Add(1)
	return nil
}

// KeyStatus returns a key's state and whether it is revoked, as committed:
// what Tx.KeyState and Tx.Revoked return in a View started now. It is the
// key decision's read (gateway.KeyStatusReader), answered from memory when
// the in-memory copy is current, else from SQL (see keyCache). A key never
// seen has a zero state with KeyID set. Safe for concurrent use.
func (db *DB) KeyStatus(ctx context.Context, keyID string) (gateway.KeyState, bool, error) {
	done, err := db.startRead()
	if err != nil {
		return gateway.KeyState{}, false, err
	}
	defer done()
	var gen int64
	if err := db.r.QueryRowContext(ctx, keyGenQuery).Scan(&gen); err != nil {
		return gateway.KeyState{}, false, storeErr("read key generation", err)
	}
	if st, revoked, ok := db.keys.get(gen, keyID); ok {
		db.keys.hits.Add(1)
		return st, revoked, nil
	}
	db.keys.misses.Add(1)
	// Behind the database: a write of this DB between its COMMIT and its
	// apply (a matter of microseconds; no reload), or a change the cache
	// will never see applied (another process, a failed commit): reload.
	// Either way this read goes to SQL. (The generation only grows; a cache
	// ahead of the generation just read raced a newer commit.)
	if db.keys.committing.Load() == 0 && db.keys.generation() < gen && db.keys.reloading.TryLock() {
		var err error
		if db.keys.generation() < gen { // not reloaded while this read waited
			err = db.loadKeysLocked(ctx)
		}
		db.keys.reloading.Unlock()
		if err != nil {
			db.log.Error("reload key cache", "err", err)
		} else if st, revoked, ok := db.keys.get(gen, keyID); ok {
			return st, revoked, nil
		}
	}
	var st gateway.KeyState
	var revoked bool
	err = db.view(ctx, func(t gateway.Tx) error {
		var err error
		if st, err = t.KeyState(keyID); err != nil {
			return err
		}
		revoked, err = t.Revoked(keyID)
		return err
	})
	return st, revoked, err
}

// KeyCacheStats are the key cache's counters.
type KeyCacheStats struct {
	Hits    uint64 // KeyStatus answered from memory
	Misses  uint64 // KeyStatus answered from SQL
	Reloads uint64 // full loads, the one at Open included
}

// KeyCacheStats returns the key cache's counters so far.
func (db *DB) KeyCacheStats() KeyCacheStats {
	return KeyCacheStats{Hits: db.keys.hits.Load(), Misses: db.keys.misses.Load(), Reloads: db.keys.reloads.Load()}
}

// beginKeyWrite is called by a write Tx before it changes a key table: the
// first time in a write transaction it reads the generation the
// transaction starts from.
func (t *tx) beginKeyWrite(op string) error {
	if t.txn == nil || t.txn.haveStart {
		return nil
	}
	if err := t.q.QueryRowContext(t.ctx, keyGenQuery).Scan(&t.txn.startGen); err != nil {
		return t.fail(op, err)
	}
	t.txn.haveStart = true
	return nil
}

// keysEndGen is called before a write transaction's COMMIT: if it changed
// key tables, it reads the generation the transaction ends at and counts
// the transaction as committing until keysCommitted.
func (db *DB) keysEndGen(kt *keyTxn, q *sql.Tx) (int64, error) {
	if len(kt.writes.ops) == 0 {
		return 0, nil
	}
	var gen int64
	if err := q.QueryRowContext(context.Background(), keyGenQuery).Scan(&gen); err != nil {
		return 0, storeErr("read key generation", err)
	}
	db.keys.committing.Add(1)
	return gen, nil
}

// keysCommitted is called once COMMIT returned: committed reports whether
// it returned nil. Only then are the key changes applied; after a failed
// commit (whose outcome SQLite may not know) the cache stays where it was
// and the generation check sends reads to SQL.
func (db *DB) keysCommitted(kt *keyTxn, endGen int64, committed bool) {
	if len(kt.writes.ops) == 0 {
		return
	}
	if committed {
		db.keys.apply(kt.startGen, endGen, kt.writes)
	}
	db.keys.committing.Add(-1)
}
