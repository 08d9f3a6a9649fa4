package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// Environment of the crash child: the database path, "1" for group commit,
// and the run number (to make IDs unique across runs).
const (
	envChild = "LOTGATE_SQLITE_CHILD"
	envGroup = "LOTGATE_SQLITE_CHILD_GROUP"
	envRun   = "LOTGATE_SQLITE_CHILD_RUN"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(envChild); path != "" {
		os.Exit(crashChild(path, os.Getenv(envGroup) == "1", os.Getenv(envRun)))
	}
	os.Exit(m.Run())
}

// crashChild appends an event and inserts a payment with the same ID in
// each Update, and prints "ID SEQ" only after Update returned nil. It runs
// until killed (or a bound, should the parent be gone).
func crashChild(path string, group bool, run string) int {
	db, err := Open(context.Background(), path, Options{GroupCommit: group})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	workers := 1
	if group {
		workers = 4
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	failed := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range 100000 {
				id := fmt.Sprintf("r%s-w%d-%d", run, w, i)
				e := gateway.Event{
					Time: time.Unix(1_700_000_000, int64(i)).UTC(),
					Type: gateway.EvPayment,
					Data: json.RawMessage(`{"id":"` + id + `"}`),
				}
				err := db.Update(context.Background(), func(tx gateway.Tx) error {
					if err := tx.AppendEvent(&e); err != nil {
						return err
					}
					return tx.InsertPayment(gateway.Payment{ID: id, SessionID: "s", Method: gateway.PayCash, Amount: 1, At: e.Time})
				})
				if err != nil {
					failed <- err
					return
				}
				mu.Lock()
				_, err = fmt.Fprintf(os.Stdout, "%s %d\n", id, e.Seq)
				mu.Unlock()
				if err != nil {
					return // the parent is gone
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-failed:
		fmt.Fprintln(os.Stderr, err)
		return 3
	default:
	}
	return 0
}

// TestCrashSafety kills a writing child process with SIGKILL at random
// points and checks that every acknowledged write survived, exactly once,
// with a gap-free, intact chain. (SIGKILL tests SQLite's atomic commit and
// that Update acknowledges only after COMMIT; it cannot simulate a power cut,
// against which synchronous=FULL is the protection.)
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	path := filepath.Join(t.TempDir(), "crash.db")
	acked := map[string]uint64{} // ID → seq, over all runs

	const runs = 20
	for run := range runs {
		group := run%2 == 1
		killAfter := rng.IntN(30) // acknowledged lines before the kill; 0 kills at once
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envChild+"="+path, envRun+"="+strconv.Itoa(run), envGroup+"="+map[bool]string{true: "1", false: "0"}[group])
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if killAfter == 0 {
			cmd.Process.Kill()
		}
		lines := 0
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break // EOF once killed; a partial last line is ignored
			}
			id, seqText, ok := strings.Cut(strings.TrimSpace(line), " ")
			seq, perr := strconv.ParseUint(seqText, 10, 64)
			if !ok || perr != nil {
				t.Fatalf("run %d: child printed %q", run, line)
			}
			if _, dup := acked[id]; dup {
				t.Fatalf("run %d: %s acknowledged twice", run, id)
			}
			acked[id] = seq
			lines++
			if lines == killAfter {
				cmd.Process.Kill() // SIGKILL
			}
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Exited() {
			t.Fatalf("run %d: child ended with %v, not killed; stderr: %s", run, err, stderr.String())
		}
		checkCrashDB(t, run, path, acked)
	}
	t.Logf("%d runs, %d acknowledged writes", runs, len(acked))
}

func checkCrashDB(t *testing.T, run int, path string, acked map[string]uint64) {
	t.Helper()
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatalf("run %d: reopen: %v", run, err)
	}
	defer db.Close()
	checked, bad, err := db.VerifyChain(t.Context())
	last, lerr := db.LastSeq(t.Context())
	if err != nil || bad != 0 || lerr != nil || checked != last {
		t.Fatalf("run %d: VerifyChain: got %d checked, bad %d, %v; LastSeq %d, %v", run, checked, bad, err, last, lerr)
	}
	var events, payments uint64
	if err := db.r.QueryRow("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM payments)").Scan(&events, &payments); err != nil {
		t.Fatal(err)
	}
	// Each Update wrote one of each: both or neither survive.
	if events != last || payments != events {
		t.Fatalf("run %d: got %d events, %d payments, last seq %d; want all equal", run, events, payments, last)
	}
	mustView(t, db, func(tx gateway.Tx) error {
		for id, seq := range acked {
			if _, err := tx.Payment(id); err != nil {
				t.Errorf("run %d: acknowledged payment %s: %v", run, id, err)
			}
			evs, err := tx.Events(seq, 1)
			if err != nil || len(evs) != 1 || evs[0].Seq != seq || string(evs[0].Data) != `{"id":"`+id+`"}` {
				t.Errorf("run %d: acknowledged event %d for %s: got %+v, %v", run, seq, id, evs, err)
			}
		}
		return nil
	})
}
