-- 0002: cloud sync. The inbox of signed cloud messages (stored before the
-- MQTT acknowledgement, applied at most once by message ID), delegation
-- approvals, and the index behind the unpaid-exits report. The cloud's
-- acknowledgement cursor over the event log lives in meta ('cloud_acked').

CREATE TABLE inbox (
	id          TEXT PRIMARY KEY,
	type        TEXT    NOT NULL,
	kid         TEXT    NOT NULL,
	raw         BLOB    NOT NULL,
	source      TEXT    NOT NULL,
	received_at INTEGER NOT NULL,
	state       TEXT    NOT NULL CHECK (state IN ('pending', 'applied', 'refused')),
	reason      TEXT    NOT NULL,
	done_at     INTEGER,
	seq         INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX inbox_pending ON inbox (received_at) WHERE state = 'pending';

CREATE TABLE approvals (
	id             TEXT PRIMARY KEY,
	nickname       TEXT    NOT NULL,
	requester      TEXT    NOT NULL,
	requester_kind TEXT    NOT NULL,
	action         TEXT    NOT NULL,
	resource       TEXT    NOT NULL,
	place          TEXT    NOT NULL,
	requested_at   INTEGER NOT NULL,
	deadline       INTEGER NOT NULL,
	state          TEXT    NOT NULL CHECK (state IN ('pending', 'approved', 'refused', 'expired')),
	reason         TEXT    NOT NULL,
	decided_at     INTEGER,
	decision_id    TEXT    NOT NULL,
	operator       TEXT    NOT NULL,
	token          TEXT,
	token_used     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE UNIQUE INDEX approvals_token ON approvals (token) WHERE token IS NOT NULL;

CREATE INDEX sessions_overridden_exit ON sessions (exit_at) WHERE overridden = 1 AND state = 'closed';
