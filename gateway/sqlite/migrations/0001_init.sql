-- 0001: the initial schema. Times are Unix nanoseconds, NULL for the zero time.

-- Small typed settings: the local list version, the latest trusted time.
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The hash-chained, gap-free event log. seq is assigned as last+1 by
-- AppendEvent (an INTEGER PRIMARY KEY without AUTOINCREMENT: no gaps).
CREATE TABLE events (
	seq       INTEGER PRIMARY KEY,
	time      INTEGER NOT NULL,
	type      TEXT    NOT NULL,
	data      BLOB    NOT NULL,
	prev_hash BLOB    NOT NULL,
	hash      BLOB    NOT NULL
) STRICT;

CREATE TABLE key_states (
	key_id           TEXT PRIMARY KEY,
	uses             INTEGER NOT NULL,
	inside           INTEGER NOT NULL,
	last_used        INTEGER,
	pin_failures     INTEGER NOT NULL,
	pin_locked_until INTEGER
) STRICT, WITHOUT ROWID;

CREATE TABLE revocations (
	key_id TEXT PRIMARY KEY,
	at     INTEGER,
	reason TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE proof_steps (
	key_id TEXT    NOT NULL,
	step   INTEGER NOT NULL,
	PRIMARY KEY (key_id, step)
) STRICT, WITHOUT ROWID;

CREATE TABLE sessions (
	id             TEXT PRIMARY KEY,
	credential     TEXT    NOT NULL,
	lane           TEXT    NOT NULL,
	space          TEXT    NOT NULL,
	entry_at       INTEGER,
	exit_at        INTEGER,
	state          TEXT    NOT NULL CHECK (state IN ('open', 'closed')),
	tariff_version TEXT    NOT NULL,
	reservation_id TEXT    NOT NULL,
	fee_exempt     INTEGER NOT NULL,
	lost_ticket    INTEGER NOT NULL,
	paid           INTEGER NOT NULL,
	paid_at        INTEGER,
	paid_through   INTEGER,
	overridden     INTEGER NOT NULL
) STRICT;

-- At most one open session per credential.
CREATE UNIQUE INDEX sessions_open_credential ON sessions (credential) WHERE state = 'open';

CREATE TABLE payments (
	id          TEXT PRIMARY KEY,
	session_id  TEXT    NOT NULL,
	method      TEXT    NOT NULL,
	amount      INTEGER NOT NULL,
	at          INTEGER,
	quote_id    TEXT    NOT NULL,
	checkout_id TEXT    NOT NULL
) STRICT;

CREATE INDEX payments_session ON payments (session_id, at);

CREATE TABLE quotes (
	id         TEXT PRIMARY KEY,
	session_id TEXT    NOT NULL,
	amount     INTEGER NOT NULL,
	at         INTEGER,
	expires_at INTEGER
) STRICT;

CREATE TABLE checkouts (
	id         TEXT PRIMARY KEY,
	session_id TEXT    NOT NULL,
	quote_id   TEXT    NOT NULL,
	started_at INTEGER,
	expires_at INTEGER,
	done       INTEGER NOT NULL
) STRICT;

CREATE INDEX checkouts_session ON checkouts (session_id, done);

CREATE TABLE list_entries (
	id          TEXT PRIMARY KEY,
	kind        TEXT    NOT NULL,
	status      TEXT    NOT NULL CHECK (status IN ('accepted', 'blocked', 'expired')),
	valid_from  INTEGER,
	valid_until INTEGER,
	holder      TEXT    NOT NULL,
	fee_exempt  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE reservations (
	id         TEXT PRIMARY KEY,
	credential TEXT    NOT NULL,
	space      TEXT    NOT NULL,
	from_at    INTEGER NOT NULL,
	until_at   INTEGER NOT NULL,
	prepaid    INTEGER NOT NULL
) STRICT;

CREATE INDEX reservations_credential ON reservations (credential, from_at);

CREATE TABLE tariffs (
	version TEXT PRIMARY KEY,
	doc     BLOB NOT NULL
) STRICT;
