package sqlite

import (
	"bytes"
	"slices"

	"github.com/lotgate/lotgate/gateway"
)

// metaRedactedThrough is the meta key of the redaction cursor: every event
// up to it has been considered by RedactEvents.
const metaRedactedThrough = "redacted_through"

// redactedData is what a redacted event's data column holds.
var redactedData = []byte("null")

// StoreBytes returns (page_count − freelist_count) × page_size of the main
// database: free pages are reused before the file grows, so this is what
// the disk cap is compared with. The file itself does not shrink (no
// VACUUM: on an SD card it costs time and twice the space).
func (t *tx) StoreBytes() (int64, error) {
	const op = "measure store size"
	if err := t.check(op, false); err != nil {
		return 0, err
	}
	var pages, free, size int64
	if _, err := t.queryRow(op, "SELECT (SELECT page_count FROM pragma_page_count()), (SELECT freelist_count FROM pragma_freelist_count()), (SELECT page_size FROM pragma_page_size())", nil, &pages, &free, &size); err != nil {
		return 0, err
	}
	return (pages - free) * size, nil
}

// RedactEvents implements gateway.Retention. It walks the log from its
// cursor in pages by seq (the primary key), so each event is looked at
// once over the store's life, and moves the cursor in meta so a later call
// starts where this one stopped.
//
// A page with something to redact is rewritten whole: its rows are
// deleted and inserted again, the redacted ones without their data.
// Updating the rows in place would shrink them but give no page back:
// SQLite rebalances pages after a delete, not after an update, and a page
// of small events that lost their data is still too full to merge (see
// TestStoreBytesShrinksWhenDataIsRedacted).
func (t *tx) RedactEvents(to uint64, types []gateway.EventType, need int64, limit int) (gateway.Redaction, error) {
	const op = "redact events"
	var r gateway.Redaction
	if err := t.check(op, true); err != nil {
		return r, err
	}
	if limit <= 0 || need <= 0 || len(types) == 0 {
		return r, invalid("store: %s: need a positive byte count and limit and at least one type", op)
	}
	cur, _, err := t.getMeta(op, metaRedactedThrough)
	if err != nil {
		return r, err
	}
	after := uint64(cur)
	r.Through = after
	last, _, err := t.lastEvent(op)
	if err != nil {
		return r, err
	}
	to = min(to, last) // the cursor never runs ahead of the log
	if to <= after {
		return r, nil
	}
	routine := map[gateway.EventType]bool{}
	for _, typ := range types {
		routine[typ] = true
	}
	const page = 256
	for done := false; !done; {
		evs, err := t.queryEvents(op, "SELECT "+eventCols+" FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
			int64(after), int64(to), page)
		if err != nil {
			return r, err
		}
		if len(evs) < page {
			done = true
		}
		n, redact := 0, make([]bool, len(evs))
		for i, e := range evs {
			n = i + 1
			if !routine[e.Type] || e.Redacted {
				continue
			}
			// Only events of the digest chain: one chained over its data
			// itself (v1), or altered, would not verify without it.
			if !bytes.Equal(gateway.ChainHash(e.PrevHash, e.Seq, e.Time, e.Type, e.Data), e.Hash) {
				r.Skipped++
				continue
			}
			redact[i] = true
			if r.Count == 0 {
				r.First = e.Seq
			}
			r.Count++
			r.Last = e.Seq
			r.Bytes += int64(len(e.Data))
			if r.Bytes >= need || r.Count >= limit {
				done = true
				break
			}
		}
		if n == 0 {
			break
		}
		evs, redact = evs[:n], redact[:n]
		after = evs[n-1].Seq
		if !slices.Contains(redact, true) {
			continue
		}
		if _, err := t.exec(op, "DELETE FROM events WHERE seq >= ? AND seq <= ?", int64(evs[0].Seq), int64(after)); err != nil {
			return r, err
		}
		for i, e := range evs {
			data, digest := []byte(e.Data), e.DataHash
			if redact[i] {
				data, digest = redactedData, gateway.DataDigest(e.Data)
			}
			if _, err := t.exec(op, "INSERT INTO events (seq, time, type, data, prev_hash, hash, data_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
				int64(e.Seq), e.Time.UnixNano(), string(e.Type), data, e.PrevHash, e.Hash, digest); err != nil {
				return r, err
			}
		}
	}
	if r.Count < limit && r.Bytes < need {
		after = to // nothing more to redact up to to
	}
	r.Through = after
	if err := t.setMeta(op, metaRedactedThrough, int64(after)); err != nil {
		return r, err
	}
	return r, nil
}

func (t *tx) queryEvents(op, q string, args ...any) ([]gateway.Event, error) {
	return queryAll(t, op, scanEvent, q, args...)
}
