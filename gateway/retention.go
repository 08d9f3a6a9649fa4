package gateway

import (
	"context"
	"fmt"
	"slices"
)

// The disk cap. The event log is the outbox and the audit trail: it is
// never pruned. When the store grows past its cap (cloud.disk_cap), the
// data of routine events is removed — first those the cloud has already
// acknowledged, then those it has not — oldest first. Each keeps its
// place in the chain: its seq, time, type and hashes, and the SHA-256 of
// the removed data (the chain covers that digest, see ChainHash), so
// `audit verify` still passes. Payments, access, entry and exit
// decisions, overrides, sessions, alarms and everything else not listed
// in routineTypes keep their data whatever the cap: past the cap with
// nothing routine left, the store grows.

// EvEventsRedacted records what the disk cap redacted. It is not routine.
const EvEventsRedacted EventType = "events.redacted"

// routineTypes are the event types whose data the disk cap may remove:
// device reports, actuator commands, occupancy counts, start and stop,
// trusted time and duplicate cloud deliveries. Nothing that decides,
// moves money, overrides, or raises an alarm. A type not listed is kept.
var routineTypes = []EventType{
	EvDevice,
	EvActuation,
	EvCapacity,
	EvGatewayStarted,
	EvGatewayStopping,
	EvTrustedTime,
	EvCloudDuplicate,
}

// Routine reports whether the disk cap may remove the data of events of
// type t. This is the one place that says so.
func (t EventType) Routine() bool { return slices.Contains(routineTypes, t) }

// RoutineTypes returns the routine event types.
func RoutineTypes() []EventType { return slices.Clone(routineTypes) }

// DiskCapResult says what EnforceDiskCap did.
type DiskCapResult struct {
	Cap      int64 // the cap, bytes
	Before   int64 // store bytes before
	After    int64 // store bytes after
	Acked    int   // redacted events the cloud had acknowledged
	Unacked  int   // redacted events it had not
	Bytes    int64 // data bytes removed
	Skipped  int   // routine events left alone: their hash does not verify
	OverCap  bool  // still over the cap, with nothing routine left to redact
	Batches  int   // transactions (each records an events.redacted event)
	FirstSeq uint64
	LastSeq  uint64
}

// Redacted is the number of events redacted.
func (r DiskCapResult) Redacted() int { return r.Acked + r.Unacked }

// redactBatch bounds the events redacted in one transaction, so the disk
// cap never holds the writer for long.
const redactBatch = 2000

// EnforceDiskCap redacts routine events while the store is over capBytes,
// down to 90% of it (so it does not run again at the next event), in
// transactions of at most redactBatch events, each recording an
// events.redacted event. A capBytes ≤ 0 does nothing.
func (g *Gateway) EnforceDiskCap(ctx context.Context, capBytes int64) (DiskCapResult, error) {
	res := DiskCapResult{Cap: capBytes}
	if capBytes <= 0 {
		return res, nil
	}
	low := capBytes - capBytes/10
	types := RoutineTypes()
	for first := true; ; first = false {
		var done bool
		err := g.update(ctx, func(tx Tx, rec *recorder) error {
			done = false
			size, err := tx.StoreBytes()
			if err != nil {
				return err
			}
			if first {
				res.Before = size
			}
			res.After = size
			if (first && size <= capBytes) || size <= low {
				done = true
				return nil
			}
			acked, err := tx.CloudAcked()
			if err != nil {
				return err
			}
			last, _, err := tx.LastEvent()
			if err != nil {
				return err
			}
			need := size - low
			a, err := tx.RedactEvents(acked, types, need, redactBatch)
			if err != nil {
				return err
			}
			var u Redaction
			if a.Bytes < need && a.Count < redactBatch && a.Through >= acked {
				if u, err = tx.RedactEvents(last, types, need-a.Bytes, redactBatch-a.Count); err != nil {
					return err
				}
			}
			n := a.Count + u.Count
			if n == 0 {
				// Nothing routine left (the cursor reached the last event).
				done, res.OverCap = true, size > capBytes
				return nil
			}
			firstSeq, lastSeq := a.First, u.Last
			if a.Count == 0 {
				firstSeq = u.First
			}
			if u.Count == 0 {
				lastSeq = a.Last
			}
			after, err := tx.StoreBytes()
			if err != nil {
				return err
			}
			if err := rec.add(tx, g.clock.Now(), EvEventsRedacted, map[string]any{
				"count": n, "acked": a.Count, "unacked": u.Count, "first_seq": firstSeq, "last_seq": lastSeq,
				"types": types, "bytes": a.Bytes + u.Bytes, "skipped": a.Skipped + u.Skipped,
				"store_bytes": size, "store_bytes_after": after, "disk_cap": capBytes,
			}); err != nil {
				return err
			}
			res.Acked += a.Count
			res.Unacked += u.Count
			res.Bytes += a.Bytes + u.Bytes
			res.Skipped += a.Skipped + u.Skipped
			res.Batches++
			if res.FirstSeq == 0 {
				res.FirstSeq = firstSeq
			}
			res.LastSeq = lastSeq
			res.After = after
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("enforce disk cap: %w", err)
		}
		if done {
			break
		}
	}
	if res.Redacted() > 0 {
		g.log.Warn("disk cap: redacted routine events", "cap", capBytes, "before", res.Before, "after", res.After,
			"acked", res.Acked, "unacked", res.Unacked, "first_seq", res.FirstSeq, "last_seq", res.LastSeq)
	}
	return res, nil
}
