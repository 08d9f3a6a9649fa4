package sqlite

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// meta keys.
const (
	metaListVersion = "list_version"
	metaTrustedTime = "trusted_time"
)

func (t *tx) getMeta(op, key string) (int64, bool, error) {
	var v int64
	ok, err := t.queryRow(op, "SELECT value FROM meta WHERE key = ?", []any{key}, &v)
	return v, ok, err
}

func (t *tx) setMeta(op, key string, v int64) error {
	_, err := t.exec(op, "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, v)
	return err
}

// ListVersion returns the local list's version, 0 when never set.
func (t *tx) ListVersion() (int64, error) {
	const op = "read local list version"
	if err := t.check(op, false); err != nil {
		return 0, err
	}
	v, _, err := t.getMeta(op, metaListVersion)
	return v, err
}

// ListEntry returns an entry of the local list by credential value
// (NotFound if none).
func (t *tx) ListEntry(id string) (gateway.ListEntry, error) {
	const op = "read local list entry"
	if err := t.check(op, false); err != nil {
		return gateway.ListEntry{}, err
	}
	e := gateway.ListEntry{ID: id}
	var (
		status      string
		from, until sql.NullInt64
	)
	ok, err := t.queryRow(op, "SELECT kind, status, valid_from, valid_until, holder, fee_exempt FROM list_entries WHERE id = ?",
		[]any{id}, &e.Kind, &status, &from, &until, &e.Holder, &e.FeeExempt)
	if err != nil {
		return gateway.ListEntry{}, err
	}
	if !ok {
		return gateway.ListEntry{}, notFound("%q is not in the local list", id)
	}
	e.Status = gateway.ListStatus(status)
	e.ValidFrom, e.ValidUntil = decTime(from), decTime(until)
	return e, nil
}

// ReplaceList replaces the whole list and sets its version. Entries need an
// ID and a known status; a repeated ID keeps the last entry.
func (t *tx) ReplaceList(version int64, entries []gateway.ListEntry) error {
	const op = "replace local list"
	if err := t.check(op, true); err != nil {
		return err
	}
	if err := validateEntries(op, entries); err != nil {
		return err
	}
	if _, err := t.exec(op, "DELETE FROM list_entries"); err != nil {
		return err
	}
	if err := t.upsertEntries(op, entries); err != nil {
		return err
	}
	return t.setMeta(op, metaListVersion, version)
}

// PatchList upserts entries, deletes IDs and sets the version. Removing an
// ID that is not in the list is not an error; an ID both upserted and removed
// ends up removed.
func (t *tx) PatchList(version int64, upsert []gateway.ListEntry, remove []string) error {
	const op = "patch local list"
	if err := t.check(op, true); err != nil {
		return err
	}
	if err := validateEntries(op, upsert); err != nil {
		return err
	}
	if err := t.upsertEntries(op, upsert); err != nil {
		return err
	}
	for _, id := range remove {
		if _, err := t.exec(op, "DELETE FROM list_entries WHERE id = ?", id); err != nil {
			return err
		}
	}
	return t.setMeta(op, metaListVersion, version)
}

func validateEntries(op string, entries []gateway.ListEntry) error {
	for _, e := range entries {
		if e.ID == "" {
			return invalid("store: %s: an entry has no ID", op)
		}
		switch e.Status {
		case gateway.ListAccepted, gateway.ListBlocked, gateway.ListExpired:
		default:
			return invalid("store: %s: entry %s: unknown status %q", op, e.ID, e.Status)
		}
		var en enc
		en.time("valid from", e.ValidFrom)
		en.time("valid until", e.ValidUntil)
		if en.err != nil {
			return en.err
		}
	}
	return nil
}

func (t *tx) upsertEntries(op string, entries []gateway.ListEntry) error {
	for _, e := range entries {
		var en enc
		_, err := t.exec(op, `INSERT INTO list_entries (id, kind, status, valid_from, valid_until, holder, fee_exempt)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, status = excluded.status,
				valid_from = excluded.valid_from, valid_until = excluded.valid_until,
				holder = excluded.holder, fee_exempt = excluded.fee_exempt`,
			e.ID, e.Kind, string(e.Status), en.time("valid from", e.ValidFrom), en.time("valid until", e.ValidUntil), e.Holder, e.FeeExempt)
		if err != nil {
			return err
		}
	}
	return nil
}

// LatestTrustedTime returns the latest trusted time, zero when never set.
func (t *tx) LatestTrustedTime() (time.Time, error) {
	const op = "read trusted time"
	if err := t.check(op, false); err != nil {
		return time.Time{}, err
	}
	v, ok, err := t.getMeta(op, metaTrustedTime)
	if err != nil || !ok {
		return time.Time{}, err
	}
	return time.Unix(0, v).UTC(), nil
}

// AdvanceTrustedTime stores tt if it is later than the stored value and
// reports whether it did. The zero time never advances it.
func (t *tx) AdvanceTrustedTime(tt time.Time) (bool, error) {
	if tt.IsZero() {
		return false, t.check("advance trusted time", true)
	}
	_, moved, err := t.storeTrustedTime("advance trusted time", tt, true)
	return moved, err
}

// ResetTrustedTime stores tt, earlier or not, and returns the value it
// replaced (zero when never set).
func (t *tx) ResetTrustedTime(tt time.Time) (time.Time, error) {
	const op = "reset trusted time"
	if tt.IsZero() {
		if err := t.check(op, true); err != nil {
			return time.Time{}, err
		}
		return time.Time{}, invalid("store: %s: the time is required", op)
	}
	prev, _, err := t.storeTrustedTime(op, tt, false)
	return prev, err
}

// storeTrustedTime stores tt (only if later than the stored value when
// onlyLater) and returns the value it found (zero when never set) and
// whether it stored tt.
func (t *tx) storeTrustedTime(op string, tt time.Time, onlyLater bool) (prev time.Time, stored bool, err error) {
	if err := t.check(op, true); err != nil {
		return time.Time{}, false, err
	}
	var en enc
	en.time("trusted time", tt)
	if en.err != nil {
		return time.Time{}, false, en.err
	}
	cur, ok, err := t.getMeta(op, metaTrustedTime)
	if err != nil {
		return time.Time{}, false, err
	}
	if ok {
		prev = time.Unix(0, cur).UTC()
	}
	if onlyLater && ok && tt.UnixNano() <= cur {
		return prev, false, nil
	}
	if err := t.setMeta(op, metaTrustedTime, tt.UnixNano()); err != nil {
		return prev, false, err
	}
	return prev, true, nil
}

// PutReservation stores r (insert or replace). ID, Credential, From and
// Until are required and Until must not be before From: a reservation
// without an end would admit its holder forever.
func (t *tx) PutReservation(r gateway.Reservation) error {
	const op = "store reservation"
	if err := t.check(op, true); err != nil {
		return err
	}
	if r.ID == "" || r.Credential == "" {
		return invalid("store: %s: ID and credential are required", op)
	}
	var en enc
	from := en.required("reservation start", r.From)
	until := en.required("reservation end", r.Until)
	if en.err != nil {
		return en.err
	}
	if r.Until.Before(r.From) {
		return invalid("store: %s %s: ends before it starts", op, r.ID)
	}
	_, err := t.exec(op, `INSERT INTO reservations (id, credential, space, from_at, until_at, prepaid)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET credential = excluded.credential, space = excluded.space,
			from_at = excluded.from_at, until_at = excluded.until_at, prepaid = excluded.prepaid`,
		r.ID, r.Credential, r.Space, from, until, r.Prepaid)
	return err
}

// DeleteReservation deletes a reservation (NotFound if none).
func (t *tx) DeleteReservation(id string) error {
	const op = "delete reservation"
	if err := t.check(op, true); err != nil {
		return err
	}
	res, err := t.exec(op, "DELETE FROM reservations WHERE id = ?", id)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return t.fail(op, err)
	}
	if n == 0 {
		return notFound("no reservation %q", id)
	}
	return nil
}

// Reservation returns a reservation by ID (NotFound if none).
func (t *tx) Reservation(id string) (gateway.Reservation, error) {
	const op = "read reservation"
	if err := t.check(op, false); err != nil {
		return gateway.Reservation{}, err
	}
	r := gateway.Reservation{ID: id}
	var from, until int64
	ok, err := t.queryRow(op, `SELECT credential, space, from_at, until_at, prepaid FROM reservations WHERE id = ?`,
		[]any{id}, &r.Credential, &r.Space, &from, &until, &r.Prepaid)
	if err != nil {
		return gateway.Reservation{}, err
	}
	if !ok {
		return gateway.Reservation{}, notFound("no reservation %q", id)
	}
	r.From, r.Until = time.Unix(0, from).UTC(), time.Unix(0, until).UTC()
	return r, nil
}

// ReservationFor returns a reservation for cred whose [From-early,
// Until+late] covers at (NotFound if none). When several do, the one whose
// From is closest to at wins (then the lowest ID). early and late must not be
// negative.
func (t *tx) ReservationFor(cred string, at time.Time, early, late time.Duration) (gateway.Reservation, error) {
	const op = "find reservation"
	if err := t.check(op, false); err != nil {
		return gateway.Reservation{}, err
	}
	if early < 0 || late < 0 {
		return gateway.Reservation{}, invalid("store: %s: negative early (%s) or late (%s) allowance", op, early, late)
	}
	// From-early <= at <= Until+late  ⇔  From <= at+early  ∧  Until >= at-late.
	atNs := clampNanos(at)
	r := gateway.Reservation{Credential: cred}
	var from, until int64
	ok, err := t.queryRow(op, `SELECT id, space, from_at, until_at, prepaid FROM reservations
		WHERE credential = ? AND from_at <= ? AND until_at >= ?
		ORDER BY abs(from_at - ?), id LIMIT 1`,
		[]any{cred, clampNanos(at.Add(early)), clampNanos(at.Add(-late)), atNs},
		&r.ID, &r.Space, &from, &until, &r.Prepaid)
	if err != nil {
		return gateway.Reservation{}, err
	}
	if !ok {
		return gateway.Reservation{}, notFound("no reservation for %q at %s", cred, at.UTC().Format(time.RFC3339))
	}
	r.From, r.Until = time.Unix(0, from).UTC(), time.Unix(0, until).UTC()
	return r, nil
}

// PutTariff stores a tariff version's JSON. A version is immutable, since
// sessions refer to it: storing the same bytes again is a no-op, different
// bytes under an existing version are a Conflict (bump the version).
func (t *tx) PutTariff(version string, doc []byte) error {
	const op = "store tariff"
	if err := t.check(op, true); err != nil {
		return err
	}
	if version == "" {
		return invalid("store: %s: version is required", op)
	}
	if !json.Valid(doc) {
		return invalid("store: %s %s: document is not valid JSON", op, version)
	}
	var old []byte
	ok, err := t.queryRow(op, "SELECT doc FROM tariffs WHERE version = ?", []any{version}, &old)
	if err != nil {
		return err
	}
	if ok {
		if bytes.Equal(old, doc) {
			return nil
		}
		return gateway.Errorf(gateway.Conflict, "tariff version %s is already stored with a different content", version)
	}
	_, err = t.exec(op, "INSERT INTO tariffs (version, doc) VALUES (?, ?)", version, doc)
	return err
}

// Tariff returns a tariff version's JSON (NotFound if none).
func (t *tx) Tariff(version string) ([]byte, error) {
	const op = "read tariff"
	if err := t.check(op, false); err != nil {
		return nil, err
	}
	var doc []byte
	ok, err := t.queryRow(op, "SELECT doc FROM tariffs WHERE version = ?", []any{version}, &doc)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound("no tariff version %q", version)
	}
	return doc, nil
}
