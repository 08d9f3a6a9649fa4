package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/lotgate/lotgate/gateway"
)

// TestPragmas reads the settings back from several connections of both
// pools: DSN parameters that silently did not apply would show here.
func TestPragmas(t *testing.T) {
	for _, tc := range []struct {
		sync     string
		wantSync int
	}{
		{"", 2},
		{SyncFull, 2},
		{SyncNormal, 1},
	} {
		t.Run("sync="+tc.sync, func(t *testing.T) {
			db := mustOpen(t, Options{Sync: tc.sync, MaxReaders: 3})
			for _, pool := range []struct {
				name      string
				db        *sql.DB
				conns     int
				queryOnly int
			}{
				{"writer", db.w, 1, 0},
				{"reader", db.r, 3, 1},
			} {
				// Hold several connections at once so each is a different one.
				var conns []*sql.Conn
				for range pool.conns {
					c, err := pool.db.Conn(t.Context())
					if err != nil {
						t.Fatal(err)
					}
					conns = append(conns, c)
				}
				for i, c := range conns {
					var mode string
					var syncMode, fk, busy, qo int
					for _, p := range []struct {
						q    string
						dest any
					}{
						{"PRAGMA journal_mode", &mode},
						{"PRAGMA synchronous", &syncMode},
						{"PRAGMA foreign_keys", &fk},
						{"PRAGMA busy_timeout", &busy},
						{"PRAGMA query_only", &qo},
					} {
						if err := c.QueryRowContext(t.Context(), p.q).Scan(p.dest); err != nil {
							t.Fatalf("%s conn %d: %s: %v", pool.name, i, p.q, err)
						}
					}
					if mode != "wal" || syncMode != tc.wantSync || fk != 1 || busy != 5000 || qo != pool.queryOnly {
						t.Errorf("%s conn %d: got journal_mode=%s synchronous=%d foreign_keys=%d busy_timeout=%d query_only=%d; want wal %d 1 5000 %d",
							pool.name, i, mode, syncMode, fk, busy, qo, tc.wantSync, pool.queryOnly)
					}
				}
				for _, c := range conns {
					c.Close()
				}
			}
		})
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		path string
		opts Options
	}{
		{"", Options{}},
		{":memory:", Options{}},
		{"file:x.db", Options{}},
		{filepath.Join(dir, "a.db"), Options{Sync: "off"}},
		{filepath.Join(dir, "no-such-dir", "a.db"), Options{}},
	} {
		db, err := Open(context.Background(), tc.path, tc.opts)
		if err == nil {
			db.Close()
			t.Errorf("Open(%q, %+v): got nil error; want one", tc.path, tc.opts)
		}
	}
}

func TestPathWithSpecialCharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a?b#c%d e.db")
	db := mustOpenAt(t, path, Options{})
	mustUpdate(t, db, func(tx gateway.Tx) error { return tx.PutTariff("v1", []byte(`{}`)) })
	mustView(t, db, func(tx gateway.Tx) error {
		_, err := tx.Tariff("v1")
		return err
	})
	if _, err := filepath.Glob(path); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "a?b#c%d e.db")); len(m) != 1 {
		t.Errorf("database file: got %v; want %s", m, path)
	}
}

func TestMigrate(t *testing.T) {
	open := func(t *testing.T) *sql.DB {
		db, err := sql.Open("sqlite3", dsn(filepath.Join(t.TempDir(), "m.db"), nil))
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		return db
	}
	versions := func(t *testing.T, db *sql.DB) map[int]bool {
		v, err := appliedVersions(t.Context(), db)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	log := discard()

	t.Run("in order, once", func(t *testing.T) {
		db := open(t)
		fsys := fstest.MapFS{
			// 0002 needs 0001's table: applied out of order it fails.
			"0002_b.sql": {Data: []byte("INSERT INTO a (x) VALUES (1); CREATE TABLE b (y INTEGER);")},
			"0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")},
		}
		for range 2 {
			if err := migrate(t.Context(), db, fsys, log); err != nil {
				t.Fatalf("migrate: %v", err)
			}
		}
		if v := versions(t, db); len(v) != 2 || !v[1] || !v[2] {
			t.Errorf("applied versions: got %v; want 1 and 2", v)
		}
		var n int
		if err := db.QueryRow("SELECT count(*) FROM a").Scan(&n); err != nil || n != 1 {
			t.Errorf("rows in a: got %d, %v; want 1 (0002 ran once)", n, err)
		}
	})
	t.Run("a failing migration leaves nothing", func(t *testing.T) {
		db := open(t)
		fsys := fstest.MapFS{
			"0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")},
			"0002_b.sql": {Data: []byte("CREATE TABLE b (y INTEGER); INSERT INTO nope VALUES (1);")},
		}
		if err := migrate(t.Context(), db, fsys, log); err == nil {
			t.Fatal("migrate: got nil error; want 0002's")
		}
		if v := versions(t, db); len(v) != 1 || !v[1] {
			t.Errorf("applied versions: got %v; want only 1", v)
		}
		var n int
		db.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'b'").Scan(&n)
		if n != 0 {
			t.Errorf("table b exists after the failed migration; want it rolled back")
		}
	})
	t.Run("bad names", func(t *testing.T) {
		for _, fsys := range []fstest.MapFS{
			{"init.sql": {Data: []byte("SELECT 1;")}},
			{"0000_zero.sql": {Data: []byte("SELECT 1;")}},
			{"0001_a.sql": {Data: []byte("SELECT 1;")}, "1_b.sql": {Data: []byte("SELECT 1;")}},
		} {
			if err := migrate(t.Context(), open(t), fsys, log); err == nil {
				t.Errorf("migrate(%v): got nil error; want a naming error", fsys)
			}
		}
	})
	t.Run("embedded", func(t *testing.T) {
		ms, err := loadMigrations(migrationFiles())
		if err != nil || len(ms) == 0 || ms[0].version != 1 {
			t.Fatalf("embedded migrations: got %d, %v; want 0001 first", len(ms), err)
		}
	})
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lotgate.db")
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.Exec("INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(context.Background(), path, Options{})
	if err == nil {
		db.Close()
		t.Fatal("Open of a database with schema version 9999: got nil error; want ErrSchemaTooNew")
	}
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("Open: got %v; want ErrSchemaTooNew", err)
	}
}

// TestReopenKeepsEverything writes with one strategy and reads with the other.
func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lotgate.db")
	db, err := Open(context.Background(), path, Options{GroupCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	ev := gateway.Event{Time: at(10, 0), Type: gateway.EvGatewayStarted, Data: json.RawMessage(`{"v":"1"}`)}
	mustUpdate(t, db, func(tx gateway.Tx) error {
		steps := []error{
			tx.AppendEvent(&ev),
			tx.PutKeyState(gateway.KeyState{KeyID: "k", Uses: 2}),
			tx.Revoke(gateway.Revocation{KeyID: "r", At: at(9, 0)}),
			tx.PutSession(gateway.Session{ID: "s", Credential: "ticket:1", State: gateway.SessionOpen, EntryAt: at(8, 0)}),
			tx.InsertPayment(gateway.Payment{ID: "p", SessionID: "s", Method: gateway.PayCash, Amount: 5, At: at(9, 0)}),
			tx.PutQuote(gateway.Quote{ID: "q", SessionID: "s", Amount: 5}),
			tx.PutCheckout(gateway.Checkout{ID: "c", SessionID: "s", ExpiresAt: at(11, 0)}),
			tx.ReplaceList(7, []gateway.ListEntry{{ID: "card", Status: gateway.ListAccepted}}),
			tx.PutReservation(gateway.Reservation{ID: "res", Credential: "key:k", From: at(9, 0), Until: at(12, 0)}),
			tx.PutTariff("v1", []byte(`{"a":1}`)),
		}
		_, err := tx.UseProofStep("k", 1)
		steps = append(steps, err)
		_, err = tx.AdvanceTrustedTime(at(10, 0))
		steps = append(steps, err)
		return errors.Join(steps...)
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = mustOpenAt(t, path, Options{})
	mustView(t, db, func(tx gateway.Tx) error {
		evs, err := tx.Events(1, 10)
		if err != nil || len(evs) != 1 || string(evs[0].Data) != `{"v":"1"}` || !evs[0].Time.Equal(ev.Time) {
			t.Errorf("Events: got %+v, %v; want the started event", evs, err)
		}
		checks := []struct {
			name string
			ok   func() bool
		}{
			{"key state", func() bool { s, err := tx.KeyState("k"); return err == nil && s.Uses == 2 }},
			{"revocation", func() bool { r, err := tx.Revoked("r"); return err == nil && r }},
			{"session", func() bool { _, err := tx.OpenSessionByCredential("ticket:1"); return err == nil }},
			{"payment", func() bool { p, err := tx.Payment("p"); return err == nil && p.Amount == 5 }},
			{"quote", func() bool { _, err := tx.Quote("q"); return err == nil }},
			{"checkout", func() bool { _, err := tx.ActiveCheckout("s", at(10, 30)); return err == nil }},
			{"list", func() bool { v, err := tx.ListVersion(); return err == nil && v == 7 }},
			{"list entry", func() bool { _, err := tx.ListEntry("card"); return err == nil }},
			{"reservation", func() bool { _, err := tx.ReservationFor("key:k", at(10, 0), 0, 0); return err == nil }},
			{"tariff", func() bool { d, err := tx.Tariff("v1"); return err == nil && string(d) == `{"a":1}` }},
			{"trusted time", func() bool { tt, err := tx.LatestTrustedTime(); return err == nil && tt.Equal(at(10, 0)) }},
		}
		for _, c := range checks {
			if !c.ok() {
				t.Errorf("after reopen: %s missing or wrong", c.name)
			}
		}
		return nil
	})
	mustUpdate(t, db, func(tx gateway.Tx) error {
		if used, err := tx.UseProofStep("k", 1); err != nil || used {
			t.Errorf("UseProofStep(k, 1) after reopen: got %v, %v; want false", used, err)
		}
		return nil
	})
	if checked, bad, err := db.VerifyChain(t.Context()); err != nil || checked != 1 || bad != 0 {
		t.Errorf("VerifyChain after reopen: got %d, %d, %v; want 1, 0, nil", checked, bad, err)
	}
}
