package sqlite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/lotgate/lotgate/gateway"
)

// appendTyped appends one event per type in types, in order, with data of
// about size bytes.
func appendTyped(t *testing.T, db *DB, size int, types ...gateway.EventType) []gateway.Event {
	t.Helper()
	var out []gateway.Event
	mustUpdate(t, db, func(tx gateway.Tx) error {
		out = out[:0]
		for i, typ := range types {
			e := gateway.Event{Time: at(10, i%60), Type: typ,
				Data: json.RawMessage(fmt.Sprintf(`{"i":%d,"pad":%q}`, i, strings.Repeat("x", size)))}
			if err := tx.AppendEvent(&e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out
}

func allEvents(t *testing.T, db *DB) []gateway.Event {
	t.Helper()
	var evs []gateway.Event
	mustView(t, db, func(tx gateway.Tx) error {
		var err error
		evs, err = tx.Events(1, 1<<20)
		return err
	})
	return evs
}

func TestRedactEvents(t *testing.T) {
	dev, act, pay := gateway.EvDevice, gateway.EvActuation, gateway.EvPayment
	routine := []gateway.EventType{dev, act}
	for _, tc := range []struct {
		name        string
		to          uint64
		need        int64
		limit       int
		wantSeqs    []uint64 // redacted
		wantThrough uint64
	}{
		{"everything routine up to the last", 8, 1 << 30, 100, []uint64{1, 2, 4, 6, 8}, 8},
		{"only up to to", 4, 1 << 30, 100, []uint64{1, 2, 4}, 4},
		{"stops at the limit", 8, 1 << 30, 2, []uint64{1, 2}, 2},
		{"stops once need bytes are removed", 8, 150, 100, []uint64{1, 2}, 2},
		{"nothing before to", 0, 1 << 30, 100, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := mustOpen(t, Options{Sync: SyncNormal})
			orig := appendTyped(t, db, 100, dev, act, pay, dev, pay, act, pay, dev)
			var r gateway.Redaction
			mustUpdate(t, db, func(tx gateway.Tx) error {
				var err error
				r, err = tx.RedactEvents(tc.to, routine, tc.need, tc.limit)
				return err
			})
			if r.Count != len(tc.wantSeqs) || r.Through != tc.wantThrough {
				t.Errorf("RedactEvents(%d, need %d, limit %d): got count %d through %d; want %d through %d",
					tc.to, tc.need, tc.limit, r.Count, r.Through, len(tc.wantSeqs), tc.wantThrough)
			}
			want := map[uint64]bool{}
			for _, s := range tc.wantSeqs {
				want[s] = true
			}
			for i, e := range allEvents(t, db) {
				o := orig[i]
				if e.Redacted != want[e.Seq] {
					t.Errorf("seq %d (%s): got redacted %v; want %v", e.Seq, e.Type, e.Redacted, want[e.Seq])
				}
				if e.Redacted {
					if string(e.Data) != "null" || !bytes.Equal(e.DataHash, gateway.DataDigest(o.Data)) {
						t.Errorf("seq %d: got data %s, data hash %x; want null and SHA-256 of the original", e.Seq, e.Data, e.DataHash)
					}
				} else if !bytes.Equal(e.Data, o.Data) || e.DataHash != nil {
					t.Errorf("seq %d: got data %s, data hash %x; want the original data and no data hash", e.Seq, e.Data, e.DataHash)
				}
				if !bytes.Equal(e.Hash, o.Hash) {
					t.Errorf("seq %d: hash changed", e.Seq)
				}
			}
			if len(tc.wantSeqs) > 0 && (r.First != tc.wantSeqs[0] || r.Last != tc.wantSeqs[len(tc.wantSeqs)-1]) {
				t.Errorf("got first %d last %d; want %d, %d", r.First, r.Last, tc.wantSeqs[0], tc.wantSeqs[len(tc.wantSeqs)-1])
			}
			a, err := db.Audit(t.Context())
			if err != nil || a.Checked != 8 || a.Redacted != uint64(len(tc.wantSeqs)) || a.BadSeq != 0 {
				t.Errorf("Audit: got %+v, %v; want 8 checked, %d redacted, none bad", a, err, len(tc.wantSeqs))
			}
		})
	}
}

func TestRedactEventsCursor(t *testing.T) {
	db := mustOpen(t, Options{Sync: SyncNormal})
	dev := gateway.EvDevice
	appendTyped(t, db, 50, dev, dev, dev, dev, dev, dev)
	redact := func(to uint64, limit int) gateway.Redaction {
		var r gateway.Redaction
		mustUpdate(t, db, func(tx gateway.Tx) error {
			var err error
			r, err = tx.RedactEvents(to, []gateway.EventType{dev}, 1<<30, limit)
			return err
		})
		return r
	}
	for i, tc := range []struct {
		to, limit          int
		wantFirst, wantCnt int
	}{
		{3, 2, 1, 2}, // 1, 2
		{3, 5, 3, 1}, // 3: the cursor starts after 2
		{3, 5, 0, 0}, // nothing left up to 3
		{6, 5, 4, 3}, // 4, 5, 6
	} {
		r := redact(uint64(tc.to), tc.limit)
		if int(r.First) != tc.wantFirst || r.Count != tc.wantCnt {
			t.Errorf("call %d RedactEvents(%d, limit %d): got first %d count %d; want %d, %d", i, tc.to, tc.limit, r.First, r.Count, tc.wantFirst, tc.wantCnt)
		}
	}
}

// An event whose hash does not verify (altered, or chained the old way)
// is never redacted: redaction must not launder a tampered event.
func TestRedactEventsLeavesUnverifiableEvents(t *testing.T) {
	db := mustOpen(t, Options{Sync: SyncNormal})
	dev := gateway.EvDevice
	evs := appendTyped(t, db, 50, dev, dev, dev)
	// seq 2 altered; seq 3 rewritten as an event of the old (v1) chain.
	if _, err := db.w.Exec(`UPDATE events SET data = CAST('{"i":999}' AS BLOB) WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	e3 := evs[2]
	if _, err := db.w.Exec(`UPDATE events SET hash = ? WHERE seq = 3`, gateway.ChainHashV1(e3.PrevHash, e3.Seq, e3.Time, e3.Type, e3.Data)); err != nil {
		t.Fatal(err)
	}
	var r gateway.Redaction
	mustUpdate(t, db, func(tx gateway.Tx) error {
		var err error
		r, err = tx.RedactEvents(3, []gateway.EventType{dev}, 1<<30, 10)
		return err
	})
	if r.Count != 1 || r.First != 1 || r.Skipped != 2 {
		t.Errorf("got %+v; want seq 1 redacted, 2 skipped", r)
	}
	got := allEvents(t, db)
	if got[1].Redacted || string(got[1].Data) != `{"i":999}` {
		t.Errorf("the altered event: got redacted %v, data %s; want it left as found", got[1].Redacted, got[1].Data)
	}
	if _, bad, _ := db.VerifyChain(t.Context()); bad != 2 {
		t.Errorf("VerifyChain: got bad %d; want 2 (the altered event)", bad)
	}
}

// Events chained the old way (before the digest chain) still verify.
func TestVerifyChainAcceptsV1Events(t *testing.T) {
	db := mustOpen(t, Options{Sync: SyncNormal})
	// Rewrite the whole chain as the v1 scheme wrote it.
	evs := appendTyped(t, db, 10, gateway.EvAccess, gateway.EvDevice, gateway.EvAccess)
	prev := gateway.GenesisHash
	for _, e := range evs {
		h := gateway.ChainHashV1(prev, e.Seq, e.Time, e.Type, e.Data)
		if _, err := db.w.Exec(`UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?`, prev, h, int64(e.Seq)); err != nil {
			t.Fatal(err)
		}
		prev = h
	}
	// And one new event after them, chained the new way.
	appendTyped(t, db, 10, gateway.EvDevice)
	if checked, bad, err := db.VerifyChain(t.Context()); checked != 4 || bad != 0 || err != nil {
		t.Errorf("VerifyChain: got %d checked, bad %d, %v; want 4, 0, nil", checked, bad, err)
	}
}

// A forged redaction (data removed, a made-up digest) breaks the chain.
func TestVerifyChainDetectsForgedRedaction(t *testing.T) {
	for _, tc := range []struct{ name, sql string }{
		{"payment redacted with a wrong digest", `UPDATE events SET data = CAST('null' AS BLOB), data_hash = zeroblob(32) WHERE seq = 2`},
		{"digest of a short length", `UPDATE events SET data = CAST('null' AS BLOB), data_hash = zeroblob(4) WHERE seq = 2`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := mustOpen(t, Options{Sync: SyncNormal})
			appendTyped(t, db, 10, gateway.EvDevice, gateway.EvPayment, gateway.EvDevice)
			if _, err := db.w.Exec(tc.sql); err != nil {
				t.Fatal(err)
			}
			if _, bad, _ := db.VerifyChain(t.Context()); bad != 2 {
				t.Errorf("VerifyChain: got bad %d; want 2", bad)
			}
		})
	}
	// A correct digest of the data that was there verifies: that is what
	// redaction does, and why only the digest, not the data, is chained.
	db := mustOpen(t, Options{Sync: SyncNormal})
	evs := appendTyped(t, db, 10, gateway.EvDevice, gateway.EvPayment)
	if _, err := db.w.Exec(`UPDATE events SET data = CAST('null' AS BLOB), data_hash = ? WHERE seq = 2`, gateway.DataDigest(evs[1].Data)); err != nil {
		t.Fatal(err)
	}
	if _, bad, err := db.VerifyChain(t.Context()); bad != 0 || err != nil {
		t.Errorf("VerifyChain after a true redaction: got bad %d, %v; want 0, nil", bad, err)
	}
}

func TestStoreBytesShrinksWhenDataIsRedacted(t *testing.T) {
	for _, tc := range []struct {
		name      string
		n, size   int
		every     int     // one event in every is a payment, the rest routine
		wantRatio float64 // at most this share of the store bytes is left
	}{
		{"large routine events", 400, 2000, 0, 0.25},
		{"small events, a third of them payments", 4000, 150, 3, 0.8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := mustOpen(t, Options{Sync: SyncNormal})
			types := make([]gateway.EventType, tc.n)
			for i := range types {
				types[i] = gateway.EvDevice
				if tc.every > 0 && i%tc.every == 0 {
					types[i] = gateway.EvPayment
				}
			}
			appendTyped(t, db, tc.size, types...)
			size := func() int64 {
				var n int64
				mustView(t, db, func(tx gateway.Tx) error {
					var err error
					n, err = tx.StoreBytes()
					return err
				})
				return n
			}
			before := size()
			if min := int64(tc.n * tc.size); before < min {
				t.Fatalf("StoreBytes: got %d before redaction; want at least the %d bytes of data", before, min)
			}
			mustUpdate(t, db, func(tx gateway.Tx) error {
				_, err := tx.RedactEvents(uint64(tc.n), []gateway.EventType{gateway.EvDevice}, 1<<30, tc.n)
				return err
			})
			if after := size(); float64(after) > float64(before)*tc.wantRatio {
				t.Errorf("StoreBytes: got %d after redacting the routine events; want at most %.0f%% of %d", after, tc.wantRatio*100, before)
			}
			if _, bad, err := db.VerifyChain(t.Context()); bad != 0 || err != nil {
				t.Errorf("VerifyChain: got bad %d, %v; want 0, nil", bad, err)
			}
		})
	}
}
