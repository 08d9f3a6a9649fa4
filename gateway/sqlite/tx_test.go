package sqlite

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

func TestKeyStates(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		full := gateway.KeyState{KeyID: "k1", Uses: 3, Inside: true, LastUsed: at(10, 0), PINFailures: 2, PINLockedUntil: at(10, 5)}
		mustUpdate(t, db, func(tx gateway.Tx) error {
			if err := tx.PutKeyState(full); err != nil {
				return err
			}
			return tx.PutKeyState(gateway.KeyState{KeyID: "k2", Uses: 1})
		})
		mustView(t, db, func(tx gateway.Tx) error {
			for _, tc := range []struct {
				id   string
				want gateway.KeyState
			}{
				{"k1", gateway.KeyState{KeyID: "k1", Uses: 3, Inside: true, LastUsed: at(10, 0).UTC(), PINFailures: 2, PINLockedUntil: at(10, 5).UTC()}},
				{"k2", gateway.KeyState{KeyID: "k2", Uses: 1}},
				{"never-seen", gateway.KeyState{KeyID: "never-seen"}},
			} {
				got, err := tx.KeyState(tc.id)
				if err != nil {
					t.Fatalf("KeyState(%s): %v", tc.id, err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("KeyState(%s): got %+v; want %+v", tc.id, got, tc.want)
				}
				if !got.LastUsed.IsZero() && got.LastUsed.Location() != time.UTC {
					t.Errorf("KeyState(%s).LastUsed: got location %s; want UTC", tc.id, got.LastUsed.Location())
				}
			}
			return nil
		})
		// Overwrite.
		mustUpdate(t, db, func(tx gateway.Tx) error {
			return tx.PutKeyState(gateway.KeyState{KeyID: "k1", Uses: 4})
		})
		mustView(t, db, func(tx gateway.Tx) error {
			got, err := tx.KeyState("k1")
			if want := (gateway.KeyState{KeyID: "k1", Uses: 4}); err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("KeyState(k1) after overwrite: got %+v, %v; want %+v", got, err, want)
			}
			return nil
		})
		err := db.Update(t.Context(), func(tx gateway.Tx) error { return tx.PutKeyState(gateway.KeyState{}) })
		wantKind(t, "PutKeyState without key ID", err, gateway.Invalid)
	})
}

func TestRevocations(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		mustUpdate(t, db, func(tx gateway.Tx) error {
			if got, err := tx.Revoked("k1"); err != nil || got {
				t.Errorf("Revoked(k1) before: got %v, %v; want false", got, err)
			}
			if err := tx.Revoke(gateway.Revocation{KeyID: "k1", At: at(9, 0), Reason: "lost"}); err != nil {
				return err
			}
			// Twice is not an error.
			return tx.Revoke(gateway.Revocation{KeyID: "k1", At: at(9, 1), Reason: "again"})
		})
		mustView(t, db, func(tx gateway.Tx) error {
			for _, tc := range []struct {
				id   string
				want bool
			}{{"k1", true}, {"k2", false}} {
				if got, err := tx.Revoked(tc.id); err != nil || got != tc.want {
					t.Errorf("Revoked(%s): got %v, %v; want %v", tc.id, got, err, tc.want)
				}
			}
			return nil
		})
	})
}

func TestProofSteps(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		steps := []struct {
			key  string
			step int64
			want bool
		}{
			{"k1", 5, true},
			{"k1", 5, false},
			{"k1", 6, true},
			{"k2", 5, true},
			{"k1", -1, true},
		}
		for _, s := range steps {
			mustUpdate(t, db, func(tx gateway.Tx) error {
				got, err := tx.UseProofStep(s.key, s.step)
				if err != nil {
					return err
				}
				if got != s.want {
					t.Errorf("UseProofStep(%s, %d): got %v; want %v", s.key, s.step, got, s.want)
				}
				return nil
			})
		}
	})
}

func TestSessions(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		s1 := gateway.Session{
			ID: "s1", Credential: "ticket:1", Lane: "in-1", EntryAt: at(8, 0), State: gateway.SessionOpen,
			TariffVersion: "v1", ReservationID: "r1", FeeExempt: true, LostTicket: true, Paid: 250,
			PaidAt: at(9, 0), PaidThrough: at(9, 0), Overridden: true,
		}
		s2 := gateway.Session{ID: "s2", Credential: "space:A-03", Space: "A-03", EntryAt: at(8, 30), State: gateway.SessionOpen}
		mustUpdate(t, db, func(tx gateway.Tx) error {
			if err := tx.PutSession(s1); err != nil {
				return err
			}
			return tx.PutSession(s2)
		})
		utc := func(s gateway.Session) gateway.Session {
			for _, p := range []*time.Time{&s.EntryAt, &s.ExitAt, &s.PaidAt, &s.PaidThrough} {
				if !p.IsZero() {
					*p = p.UTC()
				}
			}
			return s
		}
		mustView(t, db, func(tx gateway.Tx) error {
			got, err := tx.Session("s1")
			if err != nil || !reflect.DeepEqual(got, utc(s1)) {
				t.Errorf("Session(s1): got %+v, %v; want %+v", got, err, utc(s1))
			}
			if !got.ExitAt.IsZero() {
				t.Errorf("Session(s1).ExitAt: got %v; want zero", got.ExitAt)
			}
			got, err = tx.OpenSessionByCredential("space:A-03")
			if err != nil || !reflect.DeepEqual(got, utc(s2)) {
				t.Errorf("OpenSessionByCredential(space:A-03): got %+v, %v; want %+v", got, err, utc(s2))
			}
			open, err := tx.OpenSessions()
			if want := []gateway.Session{utc(s1), utc(s2)}; err != nil || !reflect.DeepEqual(open, want) {
				t.Errorf("OpenSessions: got %+v, %v; want %+v", open, err, want)
			}
			if n, err := tx.CountOpenSessions(); err != nil || n != 2 {
				t.Errorf("CountOpenSessions: got %d, %v; want 2", n, err)
			}
			_, err = tx.Session("nope")
			wantKind(t, "Session(nope)", err, gateway.NotFound)
			_, err = tx.OpenSessionByCredential("ticket:nope")
			wantKind(t, "OpenSessionByCredential(ticket:nope)", err, gateway.NotFound)
			return nil
		})

		// A second open session for the same credential is a Conflict.
		err := db.Update(t.Context(), func(tx gateway.Tx) error {
			return tx.PutSession(gateway.Session{ID: "s3", Credential: "ticket:1", State: gateway.SessionOpen})
		})
		wantKind(t, "second open session for ticket:1", err, gateway.Conflict)

		// Once s1 is closed, the credential may open again.
		s1.State, s1.ExitAt = gateway.SessionClosed, at(9, 10)
		s3 := gateway.Session{ID: "s3", Credential: "ticket:1", EntryAt: at(9, 20), State: gateway.SessionOpen}
		mustUpdate(t, db, func(tx gateway.Tx) error {
			if err := tx.PutSession(s1); err != nil {
				return err
			}
			return tx.PutSession(s3)
		})
		mustView(t, db, func(tx gateway.Tx) error {
			got, err := tx.Session("s1")
			if err != nil || !reflect.DeepEqual(got, utc(s1)) {
				t.Errorf("Session(s1) closed: got %+v, %v; want %+v", got, err, utc(s1))
			}
			got, err = tx.OpenSessionByCredential("ticket:1")
			if err != nil || got.ID != "s3" {
				t.Errorf("OpenSessionByCredential(ticket:1): got %q, %v; want s3", got.ID, err)
			}
			if n, err := tx.CountOpenSessions(); err != nil || n != 2 {
				t.Errorf("CountOpenSessions: got %d, %v; want 2", n, err)
			}
			return nil
		})

		for _, bad := range []gateway.Session{
			{Credential: "ticket:9", State: gateway.SessionOpen},
			{ID: "s9", State: gateway.SessionOpen},
			{ID: "s9", Credential: "ticket:9", State: "parked"},
			{ID: "s9", Credential: "ticket:9", State: gateway.SessionOpen, EntryAt: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)},
		} {
			err := db.Update(t.Context(), func(tx gateway.Tx) error { return tx.PutSession(bad) })
			wantKind(t, "PutSession("+bad.ID+")", err, gateway.Invalid)
		}
	})
}

func TestPayments(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		p1 := gateway.Payment{ID: "p1", SessionID: "s1", Method: gateway.PayEPayment, Amount: 450, At: at(10, 0), QuoteID: "q1", CheckoutID: "c1"}
		p2 := gateway.Payment{ID: "p2", SessionID: "s1", Method: gateway.PayCash, Amount: 50, At: at(10, 30)}
		mustUpdate(t, db, func(tx gateway.Tx) error {
			if err := tx.InsertPayment(p2); err != nil {
				return err
			}
			return tx.InsertPayment(p1)
		})
		p1.At, p2.At = p1.At.UTC(), p2.At.UTC()

		// The same ID again is a Conflict and changes nothing.
		err := db.Update(t.Context(), func(tx gateway.Tx) error {
			return tx.InsertPayment(gateway.Payment{ID: "p1", SessionID: "s2", Method: gateway.PayCash, Amount: 1})
		})
		wantKind(t, "InsertPayment(p1) again", err, gateway.Conflict)

		mustView(t, db, func(tx gateway.Tx) error {
			got, err := tx.Payment("p1")
			if err != nil || !reflect.DeepEqual(got, p1) {
				t.Errorf("Payment(p1): got %+v, %v; want %+v", got, err, p1)
			}
			ps, err := tx.PaymentsForSession("s1")
			if want := []gateway.Payment{p1, p2}; err != nil || !reflect.DeepEqual(ps, want) {
				t.Errorf("PaymentsForSession(s1): got %+v, %v; want %+v", ps, err, want)
			}
			ps, err = tx.PaymentsForSession("s2")
			if err != nil || len(ps) != 0 {
				t.Errorf("PaymentsForSession(s2): got %+v, %v; want none", ps, err)
			}
			_, err = tx.Payment("nope")
			wantKind(t, "Payment(nope)", err, gateway.NotFound)
			return nil
		})

		for _, bad := range []gateway.Payment{
			{SessionID: "s1", Method: gateway.PayCash},
			{ID: "p9", Method: gateway.PayCash},
			{ID: "p9", SessionID: "s1", Method: "cheque"},
			{ID: "p9", SessionID: "s1", Method: gateway.PayCash, Amount: -1},
		} {
			err := db.Update(t.Context(), func(tx gateway.Tx) error { return tx.InsertPayment(bad) })
			wantKind(t, "InsertPayment("+bad.ID+")", err, gateway.Invalid)
		}
	})
}

func TestQuotes(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		q := gateway.Quote{ID: "q1", SessionID: "s1", Amount: 700, At: at(10, 0), ExpiresAt: at(10, 5)}
		mustUpdate(t, db, func(tx gateway.Tx) error { return tx.PutQuote(q) })
		mustView(t, db, func(tx gateway.Tx) error {
			want := q
			want.At, want.ExpiresAt = q.At.UTC(), q.ExpiresAt.UTC()
			got, err := tx.Quote("q1")
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("Quote(q1): got %+v, %v; want %+v", got, err, want)
			}
			_, err = tx.Quote("nope")
			wantKind(t, "Quote(nope)", err, gateway.NotFound)
			return nil
		})
	})
}

func TestCheckouts(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		c1 := gateway.Checkout{ID: "c1", SessionID: "s1", QuoteID: "q1", StartedAt: at(10, 0), ExpiresAt: at(10, 10)}
		done := gateway.Checkout{ID: "c0", SessionID: "s1", StartedAt: at(10, 1), ExpiresAt: at(10, 20), Done: true}
		noExpiry := gateway.Checkout{ID: "cz", SessionID: "s3", StartedAt: at(10, 0)}
		mustUpdate(t, db, func(tx gateway.Tx) error {
			for _, c := range []gateway.Checkout{c1, done, noExpiry} {
				if err := tx.PutCheckout(c); err != nil {
					return err
				}
			}
			return nil
		})
		mustView(t, db, func(tx gateway.Tx) error {
			want := c1
			want.StartedAt, want.ExpiresAt = c1.StartedAt.UTC(), c1.ExpiresAt.UTC()
			got, err := tx.Checkout("c1")
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("Checkout(c1): got %+v, %v; want %+v", got, err, want)
			}
			_, err = tx.Checkout("nope")
			wantKind(t, "Checkout(nope)", err, gateway.NotFound)

			for _, tc := range []struct {
				session string
				now     time.Time
				want    string // "" for NotFound
			}{
				{"s1", at(10, 5), "c1"},
				{"s1", at(10, 10).Add(-time.Nanosecond), "c1"},
				{"s1", at(10, 10), ""}, // expired at ExpiresAt
				{"s1", at(10, 15), ""}, // c0 is done
				{"s2", at(10, 5), ""},
				{"s3", at(10, 5), ""}, // zero expiry never locks
			} {
				got, err := tx.ActiveCheckout(tc.session, tc.now)
				if tc.want == "" {
					wantKind(t, "ActiveCheckout("+tc.session+", "+tc.now.String()+")", err, gateway.NotFound)
					continue
				}
				if err != nil || got.ID != tc.want {
					t.Errorf("ActiveCheckout(%s, %v): got %q, %v; want %q", tc.session, tc.now, got.ID, err, tc.want)
				}
			}
			return nil
		})
		// Completing it ends the lock.
		mustUpdate(t, db, func(tx gateway.Tx) error {
			c1.Done = true
			return tx.PutCheckout(c1)
		})
		mustView(t, db, func(tx gateway.Tx) error {
			_, err := tx.ActiveCheckout("s1", at(10, 5))
			wantKind(t, "ActiveCheckout(s1) after done", err, gateway.NotFound)
			return nil
		})
	})
}

func TestLocalList(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		a := gateway.ListEntry{ID: "04A1B2", Kind: "rfid", Status: gateway.ListAccepted, ValidFrom: at(0, 0), ValidUntil: at(23, 0), Holder: "Ann", FeeExempt: true}
		b := gateway.ListEntry{ID: "AB-123", Kind: "plate", Status: gateway.ListBlocked}
		mustView(t, db, func(tx gateway.Tx) error {
			if v, err := tx.ListVersion(); err != nil || v != 0 {
				t.Errorf("ListVersion before: got %d, %v; want 0", v, err)
			}
			return nil
		})
		mustUpdate(t, db, func(tx gateway.Tx) error { return tx.ReplaceList(3, []gateway.ListEntry{a, b}) })
		mustView(t, db, func(tx gateway.Tx) error {
			if v, err := tx.ListVersion(); err != nil || v != 3 {
				t.Errorf("ListVersion: got %d, %v; want 3", v, err)
			}
			want := a
			want.ValidFrom, want.ValidUntil = a.ValidFrom.UTC(), a.ValidUntil.UTC()
			if got, err := tx.ListEntry(a.ID); err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("ListEntry(%s): got %+v, %v; want %+v", a.ID, got, err, want)
			}
			if got, err := tx.ListEntry(b.ID); err != nil || !reflect.DeepEqual(got, b) {
				t.Errorf("ListEntry(%s): got %+v, %v; want %+v", b.ID, got, err, b)
			}
			return nil
		})

		a2 := gateway.ListEntry{ID: a.ID, Kind: "rfid", Status: gateway.ListExpired}
		c := gateway.ListEntry{ID: "PASS-7", Kind: "pass", Status: gateway.ListAccepted}
		mustUpdate(t, db, func(tx gateway.Tx) error {
			return tx.PatchList(4, []gateway.ListEntry{a2, c}, []string{b.ID, "not-there"})
		})
		check := func(version int64, present []gateway.ListEntry, absent []string) {
			t.Helper()
			mustView(t, db, func(tx gateway.Tx) error {
				if v, err := tx.ListVersion(); err != nil || v != version {
					t.Errorf("ListVersion: got %d, %v; want %d", v, err, version)
				}
				for _, e := range present {
					if got, err := tx.ListEntry(e.ID); err != nil || !reflect.DeepEqual(got, e) {
						t.Errorf("ListEntry(%s): got %+v, %v; want %+v", e.ID, got, err, e)
					}
				}
				for _, id := range absent {
					_, err := tx.ListEntry(id)
					wantKind(t, "ListEntry("+id+")", err, gateway.NotFound)
				}
				return nil
			})
		}
		check(4, []gateway.ListEntry{a2, c}, []string{b.ID})

		d := gateway.ListEntry{ID: "D", Kind: "rfid", Status: gateway.ListAccepted}
		mustUpdate(t, db, func(tx gateway.Tx) error { return tx.ReplaceList(5, []gateway.ListEntry{d}) })
		check(5, []gateway.ListEntry{d}, []string{a.ID, b.ID, c.ID})

		// A bad entry is refused and the list is left alone.
		err := db.Update(t.Context(), func(tx gateway.Tx) error {
			return tx.ReplaceList(6, []gateway.ListEntry{{ID: "E", Status: "maybe"}})
		})
		wantKind(t, "ReplaceList with a bad status", err, gateway.Invalid)
		err = db.Update(t.Context(), func(tx gateway.Tx) error {
			return tx.PatchList(6, []gateway.ListEntry{{Status: gateway.ListAccepted}}, nil)
		})
		wantKind(t, "PatchList with an entry without ID", err, gateway.Invalid)
		check(5, []gateway.ListEntry{d}, []string{"E"})
	})
}

func TestTrustedTime(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		mustView(t, db, func(tx gateway.Tx) error {
			if got, err := tx.LatestTrustedTime(); err != nil || !got.IsZero() {
				t.Errorf("LatestTrustedTime before: got %v, %v; want zero", got, err)
			}
			return nil
		})
		for _, tc := range []struct {
			t      time.Time
			want   bool
			latest time.Time
		}{
			{at(10, 0), true, at(10, 0)},
			{at(9, 0), false, at(10, 0)},
			{at(10, 0), false, at(10, 0)},
			{time.Time{}, false, at(10, 0)},
			{at(10, 0).Add(time.Nanosecond), true, at(10, 0).Add(time.Nanosecond)},
		} {
			mustUpdate(t, db, func(tx gateway.Tx) error {
				got, err := tx.AdvanceTrustedTime(tc.t)
				if err != nil {
					return err
				}
				if got != tc.want {
					t.Errorf("AdvanceTrustedTime(%v): got %v; want %v", tc.t, got, tc.want)
				}
				return nil
			})
			mustView(t, db, func(tx gateway.Tx) error {
				got, err := tx.LatestTrustedTime()
				if err != nil || !got.Equal(tc.latest) || got.Location() != time.UTC {
					t.Errorf("LatestTrustedTime after %v: got %v, %v; want %v in UTC", tc.t, got, err, tc.latest.UTC())
				}
				return nil
			})
		}
	})
}

func TestReservations(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		r := gateway.Reservation{ID: "r1", Credential: "key:k1", Space: "A-03", From: at(10, 0), Until: at(12, 0), Prepaid: true}
		later := gateway.Reservation{ID: "r2", Credential: "key:k1", From: at(14, 0), Until: at(15, 0)}
		mustUpdate(t, db, func(tx gateway.Tx) error {
			if err := tx.PutReservation(r); err != nil {
				return err
			}
			return tx.PutReservation(later)
		})
		early, late := 15*time.Minute, 10*time.Minute
		mustView(t, db, func(tx gateway.Tx) error {
			for _, tc := range []struct {
				cred string
				t    time.Time
				want string // "" for NotFound
			}{
				{"key:k1", at(9, 45).Add(-time.Nanosecond), ""},
				{"key:k1", at(9, 45), "r1"},
				{"key:k1", at(11, 0), "r1"},
				{"key:k1", at(12, 10), "r1"},
				{"key:k1", at(12, 10).Add(time.Nanosecond), ""},
				{"key:k1", at(13, 50), "r2"},
				{"key:k2", at(11, 0), ""},
			} {
				got, err := tx.ReservationFor(tc.cred, tc.t, early, late)
				if tc.want == "" {
					wantKind(t, "ReservationFor("+tc.cred+", "+tc.t.String()+")", err, gateway.NotFound)
					continue
				}
				if err != nil || got.ID != tc.want {
					t.Errorf("ReservationFor(%s, %v): got %q, %v; want %q", tc.cred, tc.t, got.ID, err, tc.want)
				}
			}
			want := r
			want.From, want.Until = r.From.UTC(), r.Until.UTC()
			if got, err := tx.ReservationFor("key:k1", at(11, 0), 0, 0); err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("ReservationFor(key:k1, 11:00): got %+v, %v; want %+v", got, err, want)
			}
			return nil
		})
		mustUpdate(t, db, func(tx gateway.Tx) error { return tx.DeleteReservation("r1") })
		mustView(t, db, func(tx gateway.Tx) error {
			_, err := tx.ReservationFor("key:k1", at(11, 0), early, late)
			wantKind(t, "ReservationFor after delete", err, gateway.NotFound)
			return nil
		})
		err := db.Update(t.Context(), func(tx gateway.Tx) error { return tx.DeleteReservation("r1") })
		wantKind(t, "DeleteReservation(r1) twice", err, gateway.NotFound)
		for _, bad := range []gateway.Reservation{
			{ID: "r9", Credential: "key:k1", From: at(10, 0)},
			{ID: "r9", Credential: "key:k1", Until: at(10, 0)},
			{ID: "r9", Credential: "key:k1", From: at(11, 0), Until: at(10, 0)},
			{Credential: "key:k1", From: at(10, 0), Until: at(11, 0)},
		} {
			err := db.Update(t.Context(), func(tx gateway.Tx) error { return tx.PutReservation(bad) })
			wantKind(t, "PutReservation(bad)", err, gateway.Invalid)
		}
	})
}

func TestTariffs(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		doc := []byte(`{"version":"v1","free_minutes":15}`)
		mustUpdate(t, db, func(tx gateway.Tx) error { return tx.PutTariff("v1", doc) })
		mustUpdate(t, db, func(tx gateway.Tx) error { return tx.PutTariff("v1", doc) }) // same bytes: fine
		err := db.Update(t.Context(), func(tx gateway.Tx) error { return tx.PutTariff("v1", []byte(`{"version":"v1"}`)) })
		wantKind(t, "PutTariff(v1) with other content", err, gateway.Conflict)
		err = db.Update(t.Context(), func(tx gateway.Tx) error { return tx.PutTariff("v2", []byte(`{`)) })
		wantKind(t, "PutTariff(v2) not JSON", err, gateway.Invalid)
		mustView(t, db, func(tx gateway.Tx) error {
			if got, err := tx.Tariff("v1"); err != nil || !bytes.Equal(got, doc) {
				t.Errorf("Tariff(v1): got %s, %v; want %s", got, err, doc)
			}
			_, err := tx.Tariff("v2")
			wantKind(t, "Tariff(v2)", err, gateway.NotFound)
			return nil
		})
	})
}

func TestEvents(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		mustView(t, db, func(tx gateway.Tx) error {
			seq, h, err := tx.LastEvent()
			if err != nil || seq != 0 || !bytes.Equal(h, gateway.GenesisHash) {
				t.Errorf("LastEvent on empty log: got %d, %x, %v; want 0, genesis", seq, h, err)
			}
			return nil
		})
		var appended []gateway.Event
		for i, typ := range []gateway.EventType{gateway.EvGatewayStarted, gateway.EvEntry, gateway.EvPayment} {
			e := gateway.Event{Time: at(10, i), Type: typ, Data: json.RawMessage(`{"n": ` + string(rune('0'+i)) + `, "x": "é"}`)}
			mustUpdate(t, db, func(tx gateway.Tx) error { return tx.AppendEvent(&e) })
			if e.Seq != uint64(i+1) {
				t.Errorf("event %d: got seq %d; want %d", i, e.Seq, i+1)
			}
			prev := gateway.GenesisHash
			if i > 0 {
				prev = appended[i-1].Hash
			}
			if !bytes.Equal(e.PrevHash, prev) {
				t.Errorf("event %d: got prev hash %x; want %x", e.Seq, e.PrevHash, prev)
			}
			if want := gateway.ChainHash(prev, e.Seq, at(10, i), typ, e.Data); !bytes.Equal(e.Hash, want) {
				t.Errorf("event %d: got hash %x; want %x", e.Seq, e.Hash, want)
			}
			appended = append(appended, e)
		}
		mustView(t, db, func(tx gateway.Tx) error {
			for _, tc := range []struct {
				from  uint64
				limit int
				want  []gateway.Event
			}{
				{0, 10, appended},
				{1, 10, appended},
				{2, 1, appended[1:2]},
				{2, 10, appended[1:]},
				{4, 10, nil},
				{1, 0, nil},
			} {
				got, err := tx.Events(tc.from, tc.limit)
				if err != nil || !reflect.DeepEqual(got, tc.want) {
					t.Errorf("Events(%d, %d): got %+v, %v; want %+v", tc.from, tc.limit, got, err, tc.want)
				}
			}
			for _, e := range appended {
				if e.Time.Location() != time.UTC || e.Time.UnixNano() != at(10, int(e.Seq)-1).UnixNano() {
					t.Errorf("event %d time: got %v; want %v in UTC", e.Seq, e.Time, at(10, int(e.Seq)-1).UTC())
				}
			}
			seq, h, err := tx.LastEvent()
			if err != nil || seq != 3 || !bytes.Equal(h, appended[2].Hash) {
				t.Errorf("LastEvent: got %d, %x, %v; want 3, %x", seq, h, err, appended[2].Hash)
			}
			_, err = tx.Events(1, -1)
			wantKind(t, "Events with a negative limit", err, gateway.Invalid)
			return nil
		})
		if n, err := db.LastSeq(t.Context()); err != nil || n != 3 {
			t.Errorf("LastSeq: got %d, %v; want 3", n, err)
		}
		if checked, bad, err := db.VerifyChain(t.Context()); err != nil || checked != 3 || bad != 0 {
			t.Errorf("VerifyChain: got %d, %d, %v; want 3, 0, nil", checked, bad, err)
		}
		for _, bad := range []gateway.Event{
			{Time: at(10, 0), Data: json.RawMessage(`{}`)},
			{Type: gateway.EvAlarm, Data: json.RawMessage(`{}`)},
			{Type: gateway.EvAlarm, Time: at(10, 0), Data: json.RawMessage(`{"a":`)},
			{Type: gateway.EvAlarm, Time: at(10, 0)},
		} {
			err := db.Update(t.Context(), func(tx gateway.Tx) error { return tx.AppendEvent(&bad) })
			wantKind(t, "AppendEvent(bad)", err, gateway.Invalid)
			if bad.Seq != 0 {
				t.Errorf("AppendEvent(bad): got seq %d assigned; want 0", bad.Seq)
			}
		}
	})
}

func TestViewIsReadOnly(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		writes := map[string]func(gateway.Tx) error{
			"AppendEvent": func(tx gateway.Tx) error {
				return tx.AppendEvent(&gateway.Event{Time: at(1, 0), Type: gateway.EvAlarm, Data: json.RawMessage(`{}`)})
			},
			"PutKeyState":  func(tx gateway.Tx) error { return tx.PutKeyState(gateway.KeyState{KeyID: "k"}) },
			"Revoke":       func(tx gateway.Tx) error { return tx.Revoke(gateway.Revocation{KeyID: "k"}) },
			"UseProofStep": func(tx gateway.Tx) error { _, err := tx.UseProofStep("k", 1); return err },
			"PutSession": func(tx gateway.Tx) error {
				return tx.PutSession(gateway.Session{ID: "s", Credential: "c", State: gateway.SessionOpen})
			},
			"InsertPayment": func(tx gateway.Tx) error {
				return tx.InsertPayment(gateway.Payment{ID: "p", SessionID: "s", Method: gateway.PayCash})
			},
			"PutQuote":           func(tx gateway.Tx) error { return tx.PutQuote(gateway.Quote{ID: "q"}) },
			"PutCheckout":        func(tx gateway.Tx) error { return tx.PutCheckout(gateway.Checkout{ID: "c", SessionID: "s"}) },
			"ReplaceList":        func(tx gateway.Tx) error { return tx.ReplaceList(1, nil) },
			"PatchList":          func(tx gateway.Tx) error { return tx.PatchList(1, nil, nil) },
			"AdvanceTrustedTime": func(tx gateway.Tx) error { _, err := tx.AdvanceTrustedTime(at(1, 0)); return err },
			"PutReservation": func(tx gateway.Tx) error {
				return tx.PutReservation(gateway.Reservation{ID: "r", Credential: "c", From: at(1, 0), Until: at(2, 0)})
			},
			"DeleteReservation": func(tx gateway.Tx) error { return tx.DeleteReservation("r") },
			"PutTariff":         func(tx gateway.Tx) error { return tx.PutTariff("v", []byte(`{}`)) },
		}
		for name, w := range writes {
			err := db.View(t.Context(), w)
			wantKind(t, "View: "+name, err, gateway.Invalid)
		}
		// The read pool itself refuses writes too.
		if _, err := db.r.ExecContext(t.Context(), "INSERT INTO meta (key, value) VALUES ('x', 1)"); err == nil {
			t.Errorf("raw INSERT on the read pool: got nil error; want a read-only error")
		}
	})
}

func TestUpdateErrorKeepsNothing(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		err := db.Update(t.Context(), func(tx gateway.Tx) error {
			if err := tx.PutKeyState(gateway.KeyState{KeyID: "k", Uses: 1}); err != nil {
				return err
			}
			if err := tx.AppendEvent(&gateway.Event{Time: at(1, 0), Type: gateway.EvAccess, Data: json.RawMessage(`{}`)}); err != nil {
				return err
			}
			return errTest
		})
		if !errors.Is(err, errTest) {
			t.Fatalf("Update: got %v; want fn's error", err)
		}
		mustView(t, db, func(tx gateway.Tx) error {
			if s, err := tx.KeyState("k"); err != nil || s.Uses != 0 {
				t.Errorf("KeyState(k) after failed Update: got %+v, %v; want 0 uses", s, err)
			}
			if seq, _, err := tx.LastEvent(); err != nil || seq != 0 {
				t.Errorf("LastEvent after failed Update: got %d, %v; want 0", seq, err)
			}
			return nil
		})
	})
}

func TestTxUnusableAfterFn(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		var leaked gateway.Tx
		mustUpdate(t, db, func(tx gateway.Tx) error { leaked = tx; return nil })
		err := leaked.PutKeyState(gateway.KeyState{KeyID: "k"})
		wantKind(t, "PutKeyState on a leaked Tx", err, gateway.Internal)
		mustView(t, db, func(tx gateway.Tx) error { leaked = tx; return nil })
		_, err = leaked.KeyState("k")
		wantKind(t, "KeyState on a leaked View Tx", err, gateway.Internal)
	})
}
