package sqlite

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/lotgate/lotgate/gateway"
)

func appendN(t *testing.T, db *DB, n int) {
	t.Helper()
	for i := range n {
		e := gateway.Event{Time: at(10, i%60), Type: gateway.EvAccess, Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
		mustUpdate(t, db, func(tx gateway.Tx) error { return tx.AppendEvent(&e) })
	}
}

func TestVerifyChainDetectsTampering(t *testing.T) {
	// More events than a page, so a break is also found past the first page.
	const n = verifyPage + 20
	for _, tc := range []struct {
		name    string
		tamper  []string // raw SQL run on the writer connection
		wantBad uint64
	}{
		{"intact", nil, 0},
		{"data edited", []string{`UPDATE events SET data = CAST('{"i":999}' AS BLOB) WHERE seq = 5`}, 5},
		{"type edited", []string{`UPDATE events SET type = 'override' WHERE seq = 520`}, 520},
		{"time edited", []string{`UPDATE events SET time = time + 1 WHERE seq = 2`}, 2},
		{"event deleted", []string{`DELETE FROM events WHERE seq = 7`}, 7},
		{"first event deleted", []string{`DELETE FROM events WHERE seq = 1`}, 1},
		{"deleted past the first page", []string{fmt.Sprintf(`DELETE FROM events WHERE seq = %d`, verifyPage+3)}, verifyPage + 3},
		{"hash rewritten to match edited data", nil, 0}, // filled in below
		{"prev hash rewritten", []string{`UPDATE events SET prev_hash = zeroblob(32) WHERE seq = 3`}, 3},
		{"renumbered", []string{`UPDATE events SET seq = seq + 1000 WHERE seq = 9`}, 9},
		// The tail cut off: the chain that is left verifies, but the
		// cloud's ack cursor (or an inbox outcome) names a later event.
		{"acknowledged tail deleted", []string{`INSERT OR REPLACE INTO meta (key, value) VALUES ('cloud_acked', 520)`,
			`DELETE FROM events WHERE seq > 500`}, 501},
		{"unacknowledged tail deleted", []string{`INSERT OR REPLACE INTO meta (key, value) VALUES ('cloud_acked', 400)`,
			`DELETE FROM events WHERE seq > 500`}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := mustOpen(t, Options{Sync: SyncNormal}) // fast: durability is not what is tested
			appendN(t, db, n)
			wantBad := tc.wantBad
			if tc.name == "hash rewritten to match edited data" {
				// An attacker who recomputes the edited event's hash is
				// caught by the next event's prev link.
				var e gateway.Event
				mustView(t, db, func(tx gateway.Tx) error {
					evs, err := tx.Events(4, 1)
					if err != nil {
						return err
					}
					e = evs[0]
					return nil
				})
				e.Data = json.RawMessage(`{"i":"forged"}`)
				h := gateway.ChainHash(e.PrevHash, e.Seq, e.Time, e.Type, e.Data)
				if _, err := db.w.Exec("UPDATE events SET data = ?, hash = ? WHERE seq = 4", []byte(e.Data), h); err != nil {
					t.Fatal(err)
				}
				wantBad = 5
			}
			for _, q := range tc.tamper {
				if _, err := db.w.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			checked, bad, err := db.VerifyChain(t.Context())
			if bad != wantBad {
				t.Errorf("VerifyChain: got bad seq %d (%v); want %d", bad, err, wantBad)
			}
			if tc.name == "unacknowledged tail deleted" {
				// Nothing in the store names what was cut: only the
				// cloud, which has the acked chain, can tell.
				if err != nil || checked != 500 {
					t.Errorf("VerifyChain: got %d checked, %v; want 500, nil", checked, err)
				}
				return
			}
			if wantBad == 0 {
				if err != nil || checked != n {
					t.Errorf("VerifyChain: got %d checked, %v; want %d, nil", checked, err, n)
				}
				return
			}
			var ce *ChainError
			if !errors.As(err, &ce) || ce.Seq != wantBad {
				t.Errorf("VerifyChain: got error %v; want a *ChainError at %d", err, wantBad)
			}
			if checked != wantBad-1 {
				t.Errorf("VerifyChain: got %d checked; want %d", checked, wantBad-1)
			}
		})
	}
}

func TestVerifyChainEmpty(t *testing.T) {
	db := mustOpen(t, Options{})
	if checked, bad, err := db.VerifyChain(t.Context()); err != nil || checked != 0 || bad != 0 {
		t.Errorf("VerifyChain on an empty log: got %d, %d, %v; want 0, 0, nil", checked, bad, err)
	}
	if n, err := db.LastSeq(t.Context()); err != nil || n != 0 {
		t.Errorf("LastSeq on an empty log: got %d, %v; want 0", n, err)
	}
}
