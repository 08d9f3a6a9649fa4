package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lotgate/lotgate/gateway"
)

var errUsed = errors.New("test: key already used")

// consumeOnce is a read-check-increment of a single-use key.
func consumeOnce(tx gateway.Tx) error {
	s, err := tx.KeyState("single")
	if err != nil {
		return err
	}
	if s.Uses >= 1 {
		return errUsed
	}
	s.Uses++
	return tx.PutKeyState(s)
}

func TestSingleUseKeyConsumedOnce(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		const n = 50
		errs := make(chan error, n)
		var start sync.WaitGroup
		start.Add(1)
		for range n {
			go func() {
				start.Wait()
				errs <- db.Update(context.Background(), consumeOnce)
			}()
		}
		start.Done()
		ok, used := 0, 0
		for range n {
			switch err := <-errs; {
			case err == nil:
				ok++
			case errors.Is(err, errUsed):
				used++
			default:
				t.Errorf("Update: %v", err)
			}
		}
		if ok != 1 || used != n-1 {
			t.Errorf("got %d successes and %d refusals; want 1 and %d", ok, used, n-1)
		}
		mustView(t, db, func(tx gateway.Tx) error {
			if s, err := tx.KeyState("single"); err != nil || s.Uses != 1 {
				t.Errorf("KeyState(single): got %+v, %v; want 1 use", s, err)
			}
			return nil
		})
	})
}

func TestEventsGapFreeUnderConcurrency(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		const writers, each = 8, 25
		var wg sync.WaitGroup
		seqs := make(chan uint64, writers*each)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					e := gateway.Event{Time: at(10, 0), Type: gateway.EvAccess, Data: json.RawMessage(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))}
					if err := db.Update(context.Background(), func(tx gateway.Tx) error { return tx.AppendEvent(&e) }); err != nil {
						t.Errorf("Update: %v", err)
						return
					}
					seqs <- e.Seq
				}
			})
		}
		wg.Wait()
		close(seqs)
		seen := map[uint64]bool{}
		for s := range seqs {
			if seen[s] {
				t.Errorf("seq %d acknowledged twice", s)
			}
			seen[s] = true
		}
		for s := uint64(1); s <= writers*each; s++ {
			if !seen[s] {
				t.Errorf("seq %d missing", s)
			}
		}
		if checked, bad, err := db.VerifyChain(t.Context()); err != nil || checked != writers*each || bad != 0 {
			t.Errorf("VerifyChain: got %d, %d, %v; want %d, 0, nil", checked, bad, err, writers*each)
		}
		if got := db.Stats().Updates; got != writers*each {
			t.Errorf("Stats().Updates: got %d; want %d", got, writers*each)
		}
	})
}

// blockWriter starts an Update whose fn holds the writer until release is
// closed; it returns once fn runs, and the Update's error arrives on the
// returned channel.
func blockWriter(t *testing.T, db *DB, key string) (release chan struct{}, done chan error) {
	t.Helper()
	release, done = make(chan struct{}), make(chan error, 1)
	running := make(chan struct{})
	go func() {
		done <- db.Update(context.Background(), func(tx gateway.Tx) error {
			close(running)
			<-release
			return tx.PutKeyState(gateway.KeyState{KeyID: key, Uses: 1})
		})
	}()
	<-running
	return release, done
}

func TestUpdateCancelledWhileWaiting(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		release, done := blockWriter(t, db, "a")
		ctx, cancel := context.WithCancel(context.Background())
		ran := false
		errc := make(chan error, 1)
		go func() {
			errc <- db.Update(ctx, func(tx gateway.Tx) error { ran = true; return nil })
		}()
		cancel()
		err := <-errc
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled Update: got %v; want context.Canceled", err)
		}
		close(release)
		if err := <-done; err != nil {
			t.Errorf("blocking Update: %v", err)
		}
		if ran {
			t.Errorf("cancelled Update: fn ran; want not")
		}
		wantKind(t, "cancelled Update", err, gateway.Unavailable)
	})
}

func TestPanicInFnRollsBack(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		func() {
			defer func() {
				if v := recover(); v != "boom" {
					t.Errorf("recover: got %v; want boom", v)
				}
			}()
			db.Update(context.Background(), func(tx gateway.Tx) error {
				if err := tx.PutKeyState(gateway.KeyState{KeyID: "p", Uses: 1}); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		// The store still works and kept nothing of the panicking fn.
		mustUpdate(t, db, func(tx gateway.Tx) error { return tx.PutKeyState(gateway.KeyState{KeyID: "q", Uses: 1}) })
		mustView(t, db, func(tx gateway.Tx) error {
			for key, want := range map[string]int{"p": 0, "q": 1} {
				if s, err := tx.KeyState(key); err != nil || s.Uses != want {
					t.Errorf("KeyState(%s): got %+v, %v; want %d uses", key, s, err, want)
				}
			}
			return nil
		})
	})
}

func TestClose(t *testing.T) {
	for _, s := range strategies() {
		t.Run(s.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lotgate.db")
			db, err := Open(context.Background(), path, s.opts)
			if err != nil {
				t.Fatal(err)
			}
			release, doneA := blockWriter(t, db, "a")
			doneB := make(chan error, 1)
			go func() {
				doneB <- db.Update(context.Background(), func(tx gateway.Tx) error {
					return tx.PutKeyState(gateway.KeyState{KeyID: "b", Uses: 1})
				})
			}()
			closed := make(chan error, 1)
			go func() { closed <- db.Close() }()
			close(release)
			if err := <-closed; err != nil {
				t.Fatalf("Close: %v", err)
			}
			// The Update in progress when Close was called committed.
			if err := <-doneA; err != nil {
				t.Errorf("Update in progress at Close: got %v; want nil", err)
			}
			// B either ran before Close or was refused: never silently lost.
			errB := <-doneB
			if errB != nil && !errors.Is(errB, ErrClosed) {
				t.Errorf("Update queued at Close: got %v; want nil or ErrClosed", errB)
			}
			if err := db.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			err = db.Update(context.Background(), func(gateway.Tx) error { return nil })
			if !errors.Is(err, ErrClosed) {
				t.Errorf("Update after Close: got %v; want ErrClosed", err)
			}
			err = db.View(context.Background(), func(gateway.Tx) error { return nil })
			if !errors.Is(err, ErrClosed) {
				t.Errorf("View after Close: got %v; want ErrClosed", err)
			}
			if s.opts.GroupCommit {
				// Close waited for the writer goroutine; a second Wait returns at once.
				db.wg.Wait()
			}

			db2 := mustOpenAt(t, path, s.opts)
			mustView(t, db2, func(tx gateway.Tx) error {
				if st, err := tx.KeyState("a"); err != nil || st.Uses != 1 {
					t.Errorf("KeyState(a) after reopen: got %+v, %v; want 1 use", st, err)
				}
				want := 0
				if errB == nil {
					want = 1
				}
				if st, err := tx.KeyState("b"); err != nil || st.Uses != want {
					t.Errorf("KeyState(b) after reopen (Update said %v): got %+v, %v; want %d uses", errB, st, err, want)
				}
				return nil
			})
		})
	}
}

// TestGroupBatchSavepoints runs one batch by hand: a failing fn loses only
// its own writes, later fns see earlier ones, a cancelled request does not
// run, and the batch commits once.
func TestGroupBatchSavepoints(t *testing.T) {
	db := mustOpen(t, Options{GroupCommit: true})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	bg := context.Background()
	var seenByC, seenByD int
	newEv := func() gateway.Event {
		return gateway.Event{Time: at(10, 0), Type: gateway.EvAccess, Data: json.RawMessage(`{}`)}
	}
	evB, evC, evD := newEv(), newEv(), newEv()
	reqs := []*request{
		{ctx: bg, fn: func(tx gateway.Tx) error { // B
			if err := tx.AppendEvent(&evB); err != nil {
				return err
			}
			return tx.PutKeyState(gateway.KeyState{KeyID: "k", Uses: 1})
		}},
		{ctx: bg, fn: func(tx gateway.Tx) error { // C fails after writing
			s, err := tx.KeyState("k")
			if err != nil {
				return err
			}
			seenByC = s.Uses
			s.Uses = 2
			if err := tx.PutKeyState(s); err != nil {
				return err
			}
			if err := tx.PutKeyState(gateway.KeyState{KeyID: "c", Uses: 1}); err != nil {
				return err
			}
			if err := tx.AppendEvent(&evC); err != nil {
				return err
			}
			return errTest
		}},
		{ctx: cancelled, fn: func(tx gateway.Tx) error { // cancelled before its turn
			return tx.PutKeyState(gateway.KeyState{KeyID: "x", Uses: 1})
		}},
		{ctx: bg, fn: func(tx gateway.Tx) error { // D
			s, err := tx.KeyState("k")
			if err != nil {
				return err
			}
			seenByD = s.Uses
			if err := tx.AppendEvent(&evD); err != nil {
				return err
			}
			return tx.PutKeyState(gateway.KeyState{KeyID: "d", Uses: 1})
		}},
		{ctx: bg, fn: func(tx gateway.Tx) error { // E panics after writing
			tx.PutKeyState(gateway.KeyState{KeyID: "e", Uses: 1})
			panic("boom")
		}},
		{ctx: bg, fn: func(tx gateway.Tx) error { // F: a Conflict does not spoil the batch
			err := tx.InsertPayment(gateway.Payment{ID: "p", SessionID: "s", Method: gateway.PayCash})
			if err != nil {
				return err
			}
			err = tx.InsertPayment(gateway.Payment{ID: "p", SessionID: "s", Method: gateway.PayCash})
			if gateway.KindOf(err) != gateway.Conflict {
				return fmt.Errorf("second InsertPayment: got %v; want a Conflict", err)
			}
			return nil
		}},
	}
	for _, r := range reqs {
		r.done = make(chan result, 1)
	}
	commits := db.Stats().Commits
	db.runBatch(reqs)

	res := make([]result, len(reqs))
	for i, r := range reqs {
		res[i] = <-r.done
	}
	if res[0].err != nil {
		t.Errorf("B: got %v; want nil", res[0].err)
	}
	if !errors.Is(res[1].err, errTest) {
		t.Errorf("C: got %v; want its own error", res[1].err)
	}
	if !errors.Is(res[2].err, context.Canceled) {
		t.Errorf("cancelled: got %v; want context.Canceled", res[2].err)
	}
	if res[3].err != nil {
		t.Errorf("D: got %v; want nil", res[3].err)
	}
	if !res[4].panicked || res[4].panicVal != "boom" {
		t.Errorf("E: got %+v; want a panic with boom", res[4])
	}
	if res[5].err != nil {
		t.Errorf("F: got %v; want nil", res[5].err)
	}
	if seenByC != 1 || seenByD != 1 {
		t.Errorf("uses seen by C and D: got %d and %d; want 1 and 1", seenByC, seenByD)
	}
	// C's event was rolled back with its savepoint: D's follows B's, no gap.
	if evB.Seq != 1 || evC.Seq != 2 || evD.Seq != 2 {
		t.Errorf("event seqs of B, C (rolled back), D: got %d, %d, %d; want 1, 2, 2", evB.Seq, evC.Seq, evD.Seq)
	}
	if checked, bad, err := db.VerifyChain(t.Context()); err != nil || checked != 2 || bad != 0 {
		t.Errorf("VerifyChain: got %d, %d, %v; want 2, 0, nil", checked, bad, err)
	}
	if got := db.Stats().Commits - commits; got != 1 {
		t.Errorf("commits for the batch: got %d; want 1", got)
	}
	mustView(t, db, func(tx gateway.Tx) error {
		for key, want := range map[string]int{"k": 1, "c": 0, "x": 0, "d": 1, "e": 0} {
			if s, err := tx.KeyState(key); err != nil || s.Uses != want {
				t.Errorf("KeyState(%s): got %+v, %v; want %d uses", key, s, err, want)
			}
		}
		if _, err := tx.Payment("p"); err != nil {
			t.Errorf("Payment(p): %v", err)
		}
		return nil
	})
}

// TestDiskFullReportedTruthfully fills the database (max_page_count on the
// one writer connection) in the middle of an Update that swallows the error:
// that Update must still fail, and every other Update's answer must match
// what is stored.
func TestDiskFullReportedTruthfully(t *testing.T) {
	big := []byte(`"` + strings.Repeat("x", 1<<20) + `"`)
	put := func(key string) func(gateway.Tx) error {
		return func(tx gateway.Tx) error { return tx.PutKeyState(gateway.KeyState{KeyID: key, Uses: 1}) }
	}
	swallow := func(tx gateway.Tx) error {
		err := tx.PutTariff("big", big)
		if gateway.KindOf(err) != gateway.Unavailable {
			t.Errorf("PutTariff on a full disk: got %v; want an Unavailable error", err)
		}
		// Ignoring the error: what follows must not be kept either.
		tx.PutKeyState(gateway.KeyState{KeyID: "b", Uses: 1})
		return nil
	}
	fns := map[string]func(gateway.Tx) error{"a": put("a"), "b": swallow, "c": put("c")}
	order := []string{"a", "b", "c"}

	forEachStrategy(t, func(t *testing.T, db *DB) {
		var pages int
		if err := db.w.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
			t.Fatal(err)
		}
		if _, err := db.w.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages+8)); err != nil {
			t.Fatal(err)
		}
		errs := map[string]error{}
		if db.group {
			// One batch, deterministically.
			var reqs []*request
			for _, k := range order {
				reqs = append(reqs, &request{ctx: context.Background(), fn: fns[k], done: make(chan result, 1)})
			}
			db.runBatch(reqs)
			for i, k := range order {
				errs[k] = (<-reqs[i].done).err
			}
		} else {
			for _, k := range order {
				errs[k] = db.Update(context.Background(), fns[k])
			}
		}
		if errs["b"] == nil {
			t.Errorf("Update that hit a full disk: got nil; want an error")
		}
		mustView(t, db, func(tx gateway.Tx) error {
			for _, k := range order {
				s, err := tx.KeyState(k)
				if err != nil {
					return err
				}
				if stored := s.Uses == 1; stored != (errs[k] == nil) {
					t.Errorf("key %s: Update returned %v but stored=%v", k, errs[k], stored)
				}
			}
			if _, err := tx.Tariff("big"); gateway.KindOf(err) != gateway.NotFound {
				t.Errorf("Tariff(big): got %v; want NotFound", err)
			}
			return nil
		})
		t.Logf("a: %v; b: %v; c: %v", errs["a"], errs["b"], errs["c"])
	})
}
