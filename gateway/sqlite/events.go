package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// AppendEvent assigns e.Seq (last + 1), e.PrevHash and e.Hash and stores the
// event. e.Time is normalised to UTC without a monotonic reading (the same
// instant), so e equals what Events returns. e.Type must be set, e.Time
// non-zero and within the years 1678–2261, and e.Data valid JSON (the cloud
// receives it as JSON): otherwise the error is Invalid and nothing is
// stored.
func (t *tx) AppendEvent(e *gateway.Event) error {
	const op = "append event"
	if err := t.check(op, true); err != nil {
		return err
	}
	if e == nil {
		return invalid("store: %s: nil event", op)
	}
	if e.Type == "" {
		return invalid("store: %s: event type is required", op)
	}
	var en enc
	en.required("event time", e.Time)
	if en.err != nil {
		return en.err
	}
	if !json.Valid(e.Data) {
		return invalid("store: %s %s: data is not valid JSON", op, e.Type)
	}
	last, prev, err := t.lastEvent(op)
	if err != nil {
		return err
	}
	seq := last + 1
	tm := time.Unix(0, e.Time.UnixNano()).UTC()
	h := gateway.ChainHash(prev, seq, tm, e.Type, e.Data)
	if _, err := t.exec(op, "INSERT INTO events (seq, time, type, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)",
		int64(seq), tm.UnixNano(), string(e.Type), []byte(e.Data), prev, h); err != nil {
		return err
	}
	e.Seq, e.Time, e.PrevHash, e.Hash = seq, tm, prev, h
	e.Redacted, e.DataHash = false, nil
	return nil
}

// Events returns up to limit events with Seq >= from, in order. A limit of 0
// returns none; a negative limit is Invalid.
func (t *tx) Events(from uint64, limit int) ([]gateway.Event, error) {
	const op = "read events"
	if err := t.check(op, false); err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, invalid("store: %s: negative limit %d", op, limit)
	}
	if limit == 0 || from > math.MaxInt64 {
		return nil, nil
	}
	return t.queryEvents(op, "SELECT "+eventCols+" FROM events WHERE seq >= ? ORDER BY seq LIMIT ?", int64(from), limit)
}

// eventCols are the columns scanEvent reads.
const eventCols = "seq, time, type, data, prev_hash, hash, data_hash"

func scanEvent(rows scanner) (gateway.Event, error) {
	var (
		e   gateway.Event
		seq int64
		ns  int64
		typ string
	)
	if err := rows.Scan(&seq, &ns, &typ, (*[]byte)(&e.Data), &e.PrevHash, &e.Hash, &e.DataHash); err != nil {
		return gateway.Event{}, err
	}
	e.Seq = uint64(seq)
	e.Time = time.Unix(0, ns).UTC()
	e.Type = gateway.EventType(typ)
	e.Redacted = e.DataHash != nil
	return e, nil
}

// LastEvent returns the sequence number and hash of the last event, or 0 and
// (a copy of) GenesisHash when there is none.
func (t *tx) LastEvent() (uint64, []byte, error) {
	const op = "read last event"
	if err := t.check(op, false); err != nil {
		return 0, nil, err
	}
	return t.lastEvent(op)
}

func (t *tx) lastEvent(op string) (uint64, []byte, error) {
	var (
		seq  int64
		hash []byte
	)
	ok, err := t.queryRow(op, "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1", nil, &seq, &hash)
	if err != nil {
		return 0, nil, err
	}
	if !ok {
		return 0, bytes.Clone(gateway.GenesisHash), nil
	}
	return uint64(seq), hash, nil
}

// ChainError describes the first event at which the hash chain is broken.
type ChainError struct {
	Seq    uint64 // the first bad sequence number
	Reason string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("event log broken at seq %d: %s", e.Seq, e.Reason)
}

// verifyPage is how many events VerifyChain reads per query: memory stays
// constant and no read snapshot is held for the whole walk.
const verifyPage = 512

// VerifyChain walks every event in order, checks each hash against the
// event's content (gateway.Event.HashValid: a redacted event by the digest
// of the data it had) and the links (PrevHash is the previous event's
// Hash, GenesisHash for seq 1), and that seq is 1, 2, 3… without gaps. It
// reads in pages, in constant memory.
//
// checked is the number of events found good. When the chain is broken,
// badSeq is the first bad sequence number (for a deleted event, the missing
// number) and err is a *ChainError saying why; badSeq is 0 when all is good.
// An error with badSeq 0 means the log could not be read. Audit says, in
// addition, how many events the disk cap redacted.
func (db *DB) VerifyChain(ctx context.Context) (checked uint64, badSeq uint64, err error) {
	a, err := db.Audit(ctx)
	return a.Checked, a.BadSeq, err
}

// AuditReport is what Audit found.
type AuditReport struct {
	Checked  uint64 // events found good
	Redacted uint64 // of those, events whose data the disk cap removed
	BadSeq   uint64 // the first bad sequence number, 0 when the chain is whole
}

// Audit is VerifyChain that also counts the redacted events.
func (db *DB) Audit(ctx context.Context) (AuditReport, error) {
	var a AuditReport
	done, err := db.startRead()
	if err != nil {
		return a, err
	}
	defer done()
	prev := bytes.Clone(gateway.GenesisHash)
	var last uint64 // the last good seq
	for {
		n := 0
		var broken *ChainError
		err := func() error {
			rows, err := db.r.QueryContext(ctx, "SELECT "+eventCols+" FROM events WHERE seq > ? ORDER BY seq LIMIT ?", int64(last), verifyPage)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				e, err := scanEvent(rows)
				if err != nil {
					return err
				}
				n++
				want := last + 1
				switch {
				case e.Seq != want:
					broken = &ChainError{Seq: want, Reason: fmt.Sprintf("missing (the next stored event is %d)", e.Seq)}
				case !bytes.Equal(e.PrevHash, prev):
					broken = &ChainError{Seq: e.Seq, Reason: "prev_hash does not match the previous event's hash"}
				case !e.HashValid():
					broken = &ChainError{Seq: e.Seq, Reason: "hash does not match the event's content"}
				}
				if broken != nil {
					return nil
				}
				last, prev = e.Seq, e.Hash
				a.Checked++
				if e.Redacted {
					a.Redacted++
				}
			}
			return rows.Err()
		}()
		if err != nil {
			return a, storeErr("verify event chain", err)
		}
		if broken != nil {
			a.BadSeq = broken.Seq
			return a, broken
		}
		if n < verifyPage {
			break
		}
	}
	// A chain cut at its end still verifies. What else in the store names
	// a later event gives the cut away: the cloud's ack cursor, and the
	// outcome events of the cloud messages in the inbox.
	var acked, inbox sql.NullInt64
	if err := db.r.QueryRowContext(ctx, "SELECT (SELECT value FROM meta WHERE key = ?), (SELECT max(seq) FROM inbox)",
		metaCloudAcked).Scan(&acked, &inbox); err != nil {
		return a, storeErr("verify event chain: read the ack cursor and the inbox", err)
	}
	for _, ref := range []struct {
		seq  int64
		what string
	}{{acked.Int64, "the cloud acknowledged events up to"}, {inbox.Int64, "the inbox names the outcome event"}} {
		if ref.seq > int64(last) {
			broken := &ChainError{Seq: last + 1, Reason: fmt.Sprintf("missing: the log ends at %d, but %s %d", last, ref.what, ref.seq)}
			a.BadSeq = broken.Seq
			return a, broken
		}
	}
	return a, nil
}

// LastSeq returns the sequence number of the last event (0 when none).
func (db *DB) LastSeq(ctx context.Context) (uint64, error) {
	done, err := db.startRead()
	if err != nil {
		return 0, err
	}
	defer done()
	var seq sql.NullInt64
	if err := db.r.QueryRowContext(ctx, "SELECT max(seq) FROM events").Scan(&seq); err != nil {
		return 0, storeErr("read last event seq", err)
	}
	return uint64(seq.Int64), nil
}
