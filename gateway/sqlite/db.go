package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lotgate/lotgate/gateway"
	"github.com/mattn/go-sqlite3"
)

// ErrClosed is returned (wrapped in a gateway.Error of kind Unavailable) by
// Update and View once Close has been called.
var ErrClosed = errors.New("store closed")

// Sync modes for Options.Sync.
const (
	// SyncFull fsyncs the WAL on every commit: a commit survives a power cut.
	SyncFull = "full"
	// SyncNormal does not fsync on commit (only at checkpoints): a commit
	// survives a crash of the process but may be lost on a power cut. For
	// comparison and tests; the gateway should not use it.
	SyncNormal = "normal"
)

// Options configure Open. Recommended: the zero value plus GroupCommit: true
// (README.md has the measurements).
type Options struct {
	// Logger receives migration and commit-failure logs; nil discards.
	Logger *slog.Logger
	// Sync is SyncFull (default, "" means full) or SyncNormal.
	Sync string
	// GroupCommit runs Updates on one writer goroutine that commits queued
	// Updates together, each in its own savepoint, with one fsync per
	// batch. Without it every Update is its own IMMEDIATE transaction.
	GroupCommit bool
	// BusyTimeout is how long a connection waits for a lock held by another
	// process (the CLI, a backup) before failing; default 5s.
	BusyTimeout time.Duration
	// MaxReaders bounds the read-only connection pool used by View;
	// default 4.
	MaxReaders int
	// Exclusive takes an advisory lock on path+".lock" until Close: a
	// second Open with Exclusive fails at once with a Conflict error. The
	// gateway and the commands that write while it is stopped use it;
	// read-only commands (audit, reports) do not.
	Exclusive bool
}

// maxBatch bounds a group-commit batch, so one batch's latency stays small.
const maxBatch = 256

// DB is the SQLite store. It implements gateway.Store. Open it with Open and
// close it with Close; all methods are safe for concurrent use.
type DB struct {
	lock   *os.File // the Exclusive lock, nil without
	w      *sql.DB  // the one writer connection
	r      *sql.DB  // read-only pool
	log    *slog.Logger
	path   string
	group  bool
	reqs   chan *request // group commit: Update → writer goroutine
	sem    chan struct{} // per-Update transactions: the writer slot
	closed chan struct{} // closed by Close
	wg     sync.WaitGroup
	// readers is held shared by View, VerifyChain and LastSeq, and
	// exclusively by Close, so Close waits for reads in progress and a read
	// after Close reports ErrClosed rather than a pool error.
	readers sync.RWMutex

	closeOnce sync.Once
	closeErr  error

	updates atomic.Uint64
	commits atomic.Uint64
	maxSeen atomic.Int64

	// keys is key_states and revocations in memory, for KeyStatus
	// (keycache.go).
	keys keyCache
}

// Interface guards
var (
	_ gateway.Store           = (*DB)(nil)
	_ gateway.KeyStatusReader = (*DB)(nil)
)

// Open opens (creating if needed) the database at path, applies the
// embedded migrations and, with GroupCommit, starts the writer goroutine.
// A database written by a newer binary (an unknown schema version) is refused
// with an error wrapping ErrSchemaTooNew.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("open store: path %q must be a file path", path)
	}
	syncMode := "FULL"
	switch strings.ToLower(opts.Sync) {
	case "", SyncFull:
	case SyncNormal:
		syncMode = "NORMAL"
	default:
		return nil, fmt.Errorf("open store: sync %q: want %q or %q", opts.Sync, SyncFull, SyncNormal)
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	readers := opts.MaxReaders
	if readers <= 0 {
		readers = 4
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	db := &DB{
		log:    logger.With("component", "sqlite"),
		path:   path,
		group:  opts.GroupCommit,
		closed: make(chan struct{}),
	}
	if opts.Exclusive {
		lock, err := lockFile(path)
		if err != nil {
			return nil, err
		}
		db.lock = lock
	}
	opened := false
	defer func() {
		if !opened && db.lock != nil {
			db.lock.Close() // Open failed after the lock
		}
	}()

	common := url.Values{}
	common.Set("_busy_timeout", fmt.Sprint(busy.Milliseconds()))
	common.Set("_foreign_keys", "1")
	common.Set("_synchronous", syncMode)
	common.Set("_stmt_cache_size", "64")

	wq := cloneValues(common)
	wq.Set("_txlock", "immediate")
	wq.Set("_journal_mode", "WAL")
	w, err := sql.Open("sqlite3", dsn(path, wq))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// One writer connection: SQLite has one writer anyway, and all writes
	// going through one connection makes Update's serialisation explicit.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	db.w = w
	if err := db.checkWriter(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := migrate(ctx, w, migrationFiles(), db.log); err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}

	rq := cloneValues(common)
	rq.Set("mode", "ro")
	rq.Set("_query_only", "1")
	r, err := sql.Open("sqlite3", dsn(path, rq))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s read pool: %w", path, err)
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	db.r = r
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open store %s read pool: %w", path, err)
	}
	db.keys.gen = -1
	if err := db.loadKeys(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}

	if db.group {
		db.reqs = make(chan *request)
		db.wg.Add(1)
		go db.writeLoop()
	} else {
		db.sem = make(chan struct{}, 1)
	}
	opened = true
	return db, nil
}

// checkWriter opens the writer connection and verifies the settings took.
func (db *DB) checkWriter(ctx context.Context) error {
	var mode string
	if err := db.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, want wal (is the file on a filesystem without shared memory?)", mode)
	}
	return nil
}

// Close stops taking Updates and Views, lets the Update in progress (and, with
// group commit, the batch in progress) and the Views in progress finish,
// refuses the queued Updates with ErrClosed, stops the writer goroutine and
// closes the database (checkpointing the WAL). Calling it
// again returns the first result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.closed)
		if db.group {
			db.wg.Wait()
		} else {
			db.sem <- struct{}{} // wait for the Update in progress; never released
		}
		db.readers.Lock()
		defer db.readers.Unlock()
		// Readers first: the last connection to close (the writer)
		// checkpoints and removes the WAL.
		db.closeErr = errors.Join(db.r.Close(), db.w.Close())
		if db.lock != nil {
			db.closeErr = errors.Join(db.closeErr, db.lock.Close())
		}
		if db.closeErr != nil {
			db.closeErr = fmt.Errorf("close store %s: %w", db.path, db.closeErr)
		}
	})
	return db.closeErr
}

// startRead admits a read unless the store is closed; call the returned
// function when the read is over.
func (db *DB) startRead() (done func(), err error) {
	db.readers.RLock()
	if db.isClosed() {
		db.readers.RUnlock()
		return nil, closedErr()
	}
	return db.readers.RUnlock, nil
}

func (db *DB) isClosed() bool {
	select {
	case <-db.closed:
		return true
	default:
		return false
	}
}

// Path returns the database file's path as given to Open.
func (db *DB) Path() string { return db.path }

// Stats are counters for metrics.
type Stats struct {
	Updates  uint64 // Updates whose fn succeeded and were committed
	Commits  uint64 // COMMITs (fsyncs with SyncFull) of write transactions
	MaxBatch int    // the largest group-commit batch so far
}

// Stats returns the counters so far.
func (db *DB) Stats() Stats {
	return Stats{
		Updates:  db.updates.Load(),
		Commits:  db.commits.Load(),
		MaxBatch: int(db.maxSeen.Load()),
	}
}

// dsn builds a SQLite URI filename for path with query parameters (SQLite's
// own, such as mode, and go-sqlite3's underscore ones).
func dsn(path string, q url.Values) string {
	// In a URI filename '%' '?' and '#' are special; escape them.
	p := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + p + "?" + q.Encode()
}

func cloneValues(v url.Values) url.Values {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// storeErr wraps a database error with a gateway error kind: Unavailable for
// a busy, full or failing disk and for cancellation, Conflict for a
// uniqueness violation, Invalid for a CHECK or NOT NULL violation, Internal
// otherwise. An error that already carries a gateway kind is returned as is.
func storeErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var ge *gateway.Error
	if errors.As(err, &ge) {
		return err
	}
	kind := gateway.Internal
	var se sqlite3.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		kind = gateway.Unavailable
	case errors.As(err, &se):
		switch se.Code {
		case sqlite3.ErrBusy, sqlite3.ErrLocked, sqlite3.ErrFull, sqlite3.ErrIoErr,
			sqlite3.ErrCantOpen, sqlite3.ErrNomem, sqlite3.ErrReadonly, sqlite3.ErrProtocol:
			kind = gateway.Unavailable
		case sqlite3.ErrConstraint:
			switch se.ExtendedCode {
			case sqlite3.ErrConstraintUnique, sqlite3.ErrConstraintPrimaryKey:
				kind = gateway.Conflict
			case sqlite3.ErrConstraintCheck, sqlite3.ErrConstraintNotNull:
				kind = gateway.Invalid
			}
		}
	case errors.Is(err, sql.ErrConnDone), errors.Is(err, ErrClosed):
		kind = gateway.Unavailable
	}
	return &gateway.Error{Kind: kind, Message: "store: " + op, Err: err}
}

// poisons reports whether a failed statement may have rolled back the whole
// transaction (SQLite does so on a full disk, I/O errors, out of memory,
// interrupts...). Only constraint violations are known to undo just the
// statement.
func poisons(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code != sqlite3.ErrConstraint
	}
	return true
}
