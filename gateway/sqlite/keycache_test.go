package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lotgate/lotgate/gateway"
)

// keyView is what a View reads for a key: the reference KeyStatus must
// match.
type keyView struct {
	State   gateway.KeyState
	Revoked bool
}

func viewKey(tb testing.TB, db *DB, id string) keyView {
	tb.Helper()
	var v keyView
	mustView(tb, db, func(tx gateway.Tx) error {
		var err error
		if v.State, err = tx.KeyState(id); err != nil {
			return err
		}
		v.Revoked, err = tx.Revoked(id)
		return err
	})
	return v
}

func keyStatus(tb testing.TB, db *DB, id string) keyView {
	tb.Helper()
	st, revoked, err := db.KeyStatus(context.Background(), id)
	if err != nil {
		tb.Fatalf("KeyStatus(%s): %v", id, err)
	}
	return keyView{st, revoked}
}

// wantCacheCurrent checks that KeyStatus answers each key exactly as a
// View does, from memory (no miss).
func wantCacheCurrent(tb testing.TB, db *DB, what string, ids ...string) {
	tb.Helper()
	before := db.KeyCacheStats()
	for _, id := range ids {
		got, want := keyStatus(tb, db, id), viewKey(tb, db, id)
		if !reflect.DeepEqual(got, want) {
			tb.Errorf("%s: KeyStatus(%s) = %+v; a View reads %+v", what, id, got, want)
		}
	}
	after := db.KeyCacheStats()
	if misses := after.Misses - before.Misses; misses != 0 {
		tb.Errorf("%s: %d of %d KeyStatus calls went to SQL; want all from memory", what, misses, len(ids))
	}
	if hits := after.Hits - before.Hits; hits != uint64(len(ids)) {
		tb.Errorf("%s: %d KeyStatus calls answered from memory; want %d", what, hits, len(ids))
	}
}

// TestKeyStatusFollowsCommits: after every committed Update, KeyStatus
// answers from memory exactly what a View reads, for keys stored, updated,
// revoked (twice) and never seen.
func TestKeyStatusFollowsCommits(t *testing.T) {
	ids := []string{"a", "b", "never-seen"}
	steps := []struct {
		name string
		fn   func(gateway.Tx) error
	}{
		{"store a", func(tx gateway.Tx) error {
			return tx.PutKeyState(gateway.KeyState{KeyID: "a", Uses: 1, LastUsed: at(9, 0)})
		}},
		{"store a again and b", func(tx gateway.Tx) error {
			if err := tx.PutKeyState(gateway.KeyState{KeyID: "a", Uses: 2, Inside: true, LastUsed: at(9, 30), PINFailures: 2, PINLockedUntil: at(10, 0)}); err != nil {
				return err
			}
			return tx.PutKeyState(gateway.KeyState{KeyID: "b", Uses: 7})
		}},
		{"revoke b", func(tx gateway.Tx) error {
			return tx.Revoke(gateway.Revocation{KeyID: "b", At: at(11, 0), Reason: "lost"})
		}},
		{"revoke b again (no change) and a key never seen", func(tx gateway.Tx) error {
			if err := tx.Revoke(gateway.Revocation{KeyID: "b", Reason: "again"}); err != nil {
				return err
			}
			return tx.Revoke(gateway.Revocation{KeyID: "c"})
		}},
		{"a read-modify-write of a", func(tx gateway.Tx) error {
			s, err := tx.KeyState("a")
			if err != nil {
				return err
			}
			s.Uses++
			s.Inside = false
			return tx.PutKeyState(s)
		}},
		{"a write that touches no key", func(tx gateway.Tx) error {
			return tx.AppendEvent(&gateway.Event{Time: at(12, 0), Type: gateway.EvAccess, Data: []byte(`{}`)})
		}},
	}
	forEachStrategy(t, func(t *testing.T, db *DB) {
		wantCacheCurrent(t, db, "empty", append(ids, "c")...)
		for _, s := range steps {
			mustUpdate(t, db, s.fn)
			wantCacheCurrent(t, db, s.name, append(ids, "c")...)
		}
		if got := keyStatus(t, db, "b"); !got.Revoked || got.State.Uses != 7 {
			t.Errorf("KeyStatus(b) = %+v; want revoked with 7 uses", got)
		}
		if got := keyStatus(t, db, "c"); !got.Revoked {
			t.Errorf("KeyStatus(c) = %+v; want revoked", got)
		}
		// A reopened store loads what was committed.
		db2 := mustOpenAt(t, db.path, Options{})
		wantCacheCurrent(t, db2, "reopened", append(ids, "c")...)
		if !reflect.DeepEqual(keyStatus(t, db2, "a"), keyStatus(t, db, "a")) {
			t.Errorf("reopened: KeyStatus(a) = %+v; before %+v", keyStatus(t, db2, "a"), keyStatus(t, db, "a"))
		}
	})
}

// TestKeyCacheUnchangedByRollback: an Update that fails or panics after
// changing key state and revoking leaves the cache as it was, and still
// current.
func TestKeyCacheUnchangedByRollback(t *testing.T) {
	change := func(tx gateway.Tx) {
		if err := tx.PutKeyState(gateway.KeyState{KeyID: "k", Uses: 99, Inside: true}); err != nil {
			t.Errorf("PutKeyState: %v", err)
		}
		if err := tx.Revoke(gateway.Revocation{KeyID: "k", Reason: "rolled back"}); err != nil {
			t.Errorf("Revoke: %v", err)
		}
		if err := tx.PutKeyState(gateway.KeyState{KeyID: "new", Uses: 1}); err != nil {
			t.Errorf("PutKeyState: %v", err)
		}
	}
	forEachStrategy(t, func(t *testing.T, db *DB) {
		mustUpdate(t, db, func(tx gateway.Tx) error { return tx.PutKeyState(gateway.KeyState{KeyID: "k", Uses: 1}) })
		want := keyStatus(t, db, "k")

		err := db.Update(context.Background(), func(tx gateway.Tx) error {
			change(tx)
			return errTest
		})
		if err == nil {
			t.Fatal("failing Update: got nil error")
		}
		if got := keyStatus(t, db, "k"); !reflect.DeepEqual(got, want) {
			t.Errorf("after a failed Update: KeyStatus(k) = %+v; want %+v as before", got, want)
		}
		wantCacheCurrent(t, db, "after a failed Update", "k", "new")

		func() {
			defer func() {
				if v := recover(); v != "boom" {
					t.Errorf("recover: got %v; want boom", v)
				}
			}()
			db.Update(context.Background(), func(tx gateway.Tx) error {
				change(tx)
				panic("boom")
			})
		}()
		if got := keyStatus(t, db, "k"); !reflect.DeepEqual(got, want) {
			t.Errorf("after a panicking Update: KeyStatus(k) = %+v; want %+v as before", got, want)
		}
		wantCacheCurrent(t, db, "after a panicking Update", "k", "new")

		// A later successful Update is applied on top of the unchanged
		// cache.
		mustUpdate(t, db, func(tx gateway.Tx) error { return tx.Revoke(gateway.Revocation{KeyID: "k"}) })
		if got := keyStatus(t, db, "k"); !got.Revoked || got.State.Uses != 1 {
			t.Errorf("after a revocation: KeyStatus(k) = %+v; want revoked, 1 use", got)
		}
		wantCacheCurrent(t, db, "after a revocation", "k", "new")
	})
}

// TestKeyCacheGroupBatch: in one group-commit batch, the key changes of a
// failing and of a panicking fn are dropped with their savepoints, the
// others are applied, in order.
func TestKeyCacheGroupBatch(t *testing.T) {
	db := mustOpen(t, Options{GroupCommit: true})
	bg := context.Background()
	reqs := []*request{
		{ctx: bg, fn: func(tx gateway.Tx) error { return tx.PutKeyState(gateway.KeyState{KeyID: "k", Uses: 1}) }},
		{ctx: bg, fn: func(tx gateway.Tx) error { // fails after writing
			if err := tx.Revoke(gateway.Revocation{KeyID: "k"}); err != nil {
				return err
			}
			if err := tx.PutKeyState(gateway.KeyState{KeyID: "f", Uses: 1}); err != nil {
				return err
			}
			return errTest
		}},
		{ctx: bg, fn: func(tx gateway.Tx) error { // panics after writing
			tx.Revoke(gateway.Revocation{KeyID: "p"})
			panic("boom")
		}},
		{ctx: bg, fn: func(tx gateway.Tx) error { // sees the first, after the rolled-back ones
			s, err := tx.KeyState("k")
			if err != nil {
				return err
			}
			s.Uses++
			if err := tx.PutKeyState(s); err != nil {
				return err
			}
			return tx.Revoke(gateway.Revocation{KeyID: "r"})
		}},
	}
	for _, r := range reqs {
		r.done = make(chan result, 1)
	}
	db.runBatch(reqs)
	for i, r := range reqs {
		res := <-r.done
		if wantOK := i == 0 || i == 3; wantOK != (res.err == nil && !res.panicked) {
			t.Errorf("request %d: got %+v; want success %v", i, res, wantOK)
		}
	}
	wantCacheCurrent(t, db, "after the batch", "k", "f", "p", "r")
	if got := keyStatus(t, db, "k"); got.Revoked || got.State.Uses != 2 {
		t.Errorf("KeyStatus(k) = %+v; want 2 uses, not revoked", got)
	}
	if got := keyStatus(t, db, "p"); got.Revoked {
		t.Errorf("KeyStatus(p) = %+v; want not revoked (its fn panicked)", got)
	}
	if got := keyStatus(t, db, "r"); !got.Revoked {
		t.Errorf("KeyStatus(r) = %+v; want revoked", got)
	}
}

// TestKeyCacheSeesOtherWriters: a revocation or key state written by
// another connection (another process, the sqlite3 shell) is never hidden
// by the cache: the next KeyStatus reads it, and the cache catches up.
func TestKeyCacheSeesOtherWriters(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		mustUpdate(t, db, func(tx gateway.Tx) error { return tx.PutKeyState(gateway.KeyState{KeyID: "k", Uses: 1}) })
		wantCacheCurrent(t, db, "before", "k")

		// Another lotgate process: a second DB on the same file.
		other := mustOpenAt(t, db.path, Options{})
		mustUpdate(t, other, func(tx gateway.Tx) error { return tx.Revoke(gateway.Revocation{KeyID: "k", Reason: "cli"}) })
		if got := keyStatus(t, db, "k"); !got.Revoked {
			t.Errorf("after another DB revoked k: KeyStatus(k) = %+v; want revoked", got)
		}
		wantCacheCurrent(t, db, "caught up after another DB's revocation", "k")

		// Plain SQL on its own connection, as the sqlite3 shell would.
		raw, err := sql.Open("sqlite3", "file:"+filepath.ToSlash(db.path)+"?_busy_timeout=5000")
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		for _, q := range []string{
			"UPDATE key_states SET uses = 5 WHERE key_id = 'k'",
			"INSERT INTO revocations (key_id, at, reason) VALUES ('shell', NULL, 'shell')",
			"DELETE FROM revocations WHERE key_id = 'k'",
		} {
			if _, err := raw.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			if got, want := keyStatus(t, db, "k"), viewKey(t, db, "k"); !reflect.DeepEqual(got, want) {
				t.Errorf("after %q: KeyStatus(k) = %+v; a View reads %+v", q, got, want)
			}
			if got := keyStatus(t, db, "shell"); got.Revoked != (q != "UPDATE key_states SET uses = 5 WHERE key_id = 'k'") {
				t.Errorf("after %q: KeyStatus(shell) = %+v", q, got)
			}
		}
		wantCacheCurrent(t, db, "caught up after plain SQL", "k", "shell")
		if got := keyStatus(t, db, "k"); got.Revoked || got.State.Uses != 5 {
			t.Errorf("KeyStatus(k) = %+v; want 5 uses, not revoked", got)
		}

		// This DB's next write applies on top of what it reloaded.
		mustUpdate(t, db, func(tx gateway.Tx) error { return tx.PutKeyState(gateway.KeyState{KeyID: "k", Uses: 6}) })
		wantCacheCurrent(t, db, "own write after a reload", "k", "shell")
	})
}

// TestKeyCacheAbortedBatch: a batch that SQLite rolls back (a full disk)
// applies nothing, and the cache stays current.
func TestKeyCacheAbortedBatch(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		mustUpdate(t, db, func(tx gateway.Tx) error { return tx.PutKeyState(gateway.KeyState{KeyID: "k", Uses: 1}) })
		var pages int
		if err := db.w.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
			t.Fatal(err)
		}
		if _, err := db.w.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages+8)); err != nil {
			t.Fatal(err)
		}
		big := []byte(`"` + strings.Repeat("x", 1<<20) + `"`)
		err := db.Update(context.Background(), func(tx gateway.Tx) error {
			if err := tx.Revoke(gateway.Revocation{KeyID: "k"}); err != nil {
				return err
			}
			if err := tx.PutKeyState(gateway.KeyState{KeyID: "k", Uses: 2}); err != nil {
				return err
			}
			tx.PutTariff("big", big) // fails: the disk is full
			return nil
		})
		if err == nil {
			t.Fatal("Update on a full disk: got nil error")
		}
		if got := keyStatus(t, db, "k"); got.Revoked || got.State.Uses != 1 {
			t.Errorf("after the aborted Update: KeyStatus(k) = %+v; want 1 use, not revoked", got)
		}
		wantCacheCurrent(t, db, "after the aborted Update", "k")
	})
}

// TestKeyStatusNeverBehindAReturnedUpdate: with writers and readers at
// once, a KeyStatus started after an Update returned always sees it (and
// the revocation of every key whose Revoke returned).
func TestKeyStatusNeverBehindAReturnedUpdate(t *testing.T) {
	const n = 150
	forEachStrategy(t, func(t *testing.T, db *DB) {
		var done atomic.Int64 // the last use count whose Update returned
		var wg sync.WaitGroup
		ctx := context.Background()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= n; i++ {
				err := db.Update(ctx, func(tx gateway.Tx) error {
					if err := tx.PutKeyState(gateway.KeyState{KeyID: "k", Uses: i}); err != nil {
						return err
					}
					return tx.Revoke(gateway.Revocation{KeyID: "r-" + strconv.Itoa(i)})
				})
				if err != nil {
					t.Errorf("Update %d: %v", i, err)
					return
				}
				done.Store(int64(i))
			}
		}()
		for r := 0; r < 2; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for done.Load() < n {
					d := done.Load()
					st, _, err := db.KeyStatus(ctx, "k")
					if err != nil {
						t.Errorf("KeyStatus: %v", err)
						return
					}
					if int64(st.Uses) < d {
						t.Errorf("KeyStatus(k) = %d uses after the Update of %d returned", st.Uses, d)
						return
					}
					if d > 0 {
						if _, revoked, err := db.KeyStatus(ctx, "r-"+strconv.Itoa(int(d))); err != nil || !revoked {
							t.Errorf("KeyStatus(r-%d) = revoked %v, %v after its Revoke returned", d, revoked, err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		wantCacheCurrent(t, db, "at the end", "k", "r-1", "r-"+strconv.Itoa(n))
		t.Logf("%+v", db.KeyCacheStats())
	})
}
