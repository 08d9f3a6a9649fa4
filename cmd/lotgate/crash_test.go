package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lotgate/lotgate/config"
	"github.com/lotgate/lotgate/drivers/sim"
	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/keys"
	"github.com/lotgate/lotgate/gateway/sqlite"
)

// TestCrashChild is the child of TestCrash: it runs the real gateway on the
// example site and takes payments and single-use keys in a loop, printing
// each one only after the gateway acknowledged it, until it is killed. It
// also re-delivers what earlier children had acknowledged, which must
// change nothing.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("LOTGATE_CRASH_DIR")
	if dir == "" {
		t.Skip("child of TestCrash only")
	}
	runN := os.Getenv("LOTGATE_CRASH_RUN")
	ctx := context.Background()
	f, err := config.Load(filepath.Join(dir, "site.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The same store settings as `lotgate run`.
	db, err := sqlite.Open(ctx, f.Store.Path, sqlite.Options{GroupCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	devices, err := sim.New(f.Site, nil)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Options{Site: f.Site, Store: db, Actuators: devices.Actuators()})
	if err != nil {
		t.Fatal(err)
	}
	devices.Attach(gw)
	if err := gw.Open(ctx); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) {
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
	}
	priv, err := readSeed(filepath.Join(dir, "demo-operator.seed"))
	if err != nil {
		t.Fatal(err)
	}
	kid := keys.DeriveKID(priv.Public().(ed25519.PublicKey))

	// Re-deliver everything acknowledged before: nothing may change.
	prev, _ := os.ReadFile(filepath.Join(dir, "acked"))
	for _, line := range strings.Split(string(prev), "\n") {
		fs := strings.Fields(line)
		switch {
		case len(fs) == 4 && fs[0] == "PAY":
			r, err := gw.ApplyPayment(ctx, gateway.PaymentIn{ID: fs[1], Ref: fs[2], Method: gateway.PayEPayment, Amount: 100})
			if err != nil || !r.Duplicate {
				say("BAD payment %s re-applied: duplicate=%v err=%v", fs[1], r.Duplicate, err)
			}
		case len(fs) == 3 && fs[0] == "KEY":
			d, err := gw.PresentAtLane(ctx, "out-1", fs[2])
			if err != nil || d.Allowed || d.Reason != gateway.ReasonUsedUp {
				say("BAD key %s presented again: %v err=%v", fs[1], d, err)
			}
		}
	}
	say("READY %s", runN)

	for i := 0; ; i++ {
		// A ticket session, then its payment.
		if err := devices.SetSensor(ctx, "in-1-loop", true); err != nil {
			t.Fatal(err)
		}
		d, ticket, err := gw.IssueTicket(ctx, "in-1")
		if err != nil || !d.Allowed {
			t.Fatalf("ticket: %v %v", d, err)
		}
		if err := devices.SetSensor(ctx, "in-1-loop", false); err != nil {
			t.Fatal(err)
		}
		pid := fmt.Sprintf("r%s-p%d", runN, i)
		if _, err := gw.ApplyPayment(ctx, gateway.PaymentIn{ID: pid, Ref: ticket, Method: gateway.PayEPayment, Amount: 100}); err != nil {
			t.Fatal(err)
		}
		say("PAY %s %s 100", pid, ticket)

		// A single-use key shown on both exits at once: exactly one opens.
		now := time.Now().Truncate(time.Second)
		keyID := fmt.Sprintf("r%s-k%d", runN, i)
		cose, err := keys.Sign(keys.Claims{KeyID: keyID, Site: f.Site.ID, Resources: []string{"gate:out-*"},
			Actions: []string{"exit"}, Uses: 1, IssuedAt: now, Expires: now.Add(time.Hour)}, kid, priv)
		if err != nil {
			t.Fatal(err)
		}
		text := keys.EncodeText(cose)
		var wg sync.WaitGroup
		var allowed [2]bool
		for j, lane := range []string{"out-1", "out-2"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, err := gw.PresentAtLane(ctx, lane, text)
				if err != nil {
					say("BAD key %s at %s: %v", keyID, lane, err)
				}
				allowed[j] = d.Allowed
			}()
		}
		wg.Wait()
		if allowed[0] == allowed[1] {
			say("BAD key %s allowed on both or neither lane: %v", keyID, allowed)
		}
		say("KEY %s %s", keyID, text)
	}
}

// TestCrash kills a gateway taking payments and single-use keys with
// SIGKILL at random points, many times. After every restart nothing
// acknowledged is lost, nothing is applied twice, single-use keys stay
// used, and the event log's hash chain verifies.
func TestCrash(t *testing.T) {
	if os.Getenv("LOTGATE_CRASH_DIR") != "" {
		t.Skip("in the child")
	}
	rounds := 12
	if testing.Short() {
		rounds = 4
	}
	cfg := exampleSite(t, [2]string{"free_minutes: 15", "free_minutes: 0"})
	dir := filepath.Dir(cfg)
	ackedPath := filepath.Join(dir, "acked")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var pays, keyLines []string
	for round := 1; round <= rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "LOTGATE_CRASH_DIR="+dir, "LOTGATE_CRASH_RUN="+strconv.Itoa(round))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		// Wait for the child to be ready, then let it work for a random
		// while and kill it without warning.
		var killAt <-chan time.Time
		var ready bool
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				switch {
				case strings.HasPrefix(l, "READY"):
					ready = true
					killAt = time.After(time.Duration(20+rng.IntN(300)) * time.Millisecond)
				case strings.HasPrefix(l, "BAD"):
					t.Errorf("round %d: %s", round, l)
				case strings.HasPrefix(l, "PAY "):
					pays = append(pays, l)
				case strings.HasPrefix(l, "KEY "):
					keyLines = append(keyLines, l)
				}
			case <-killAt:
				_ = cmd.Process.Signal(syscall.SIGKILL)
				killAt = nil
			case <-time.After(60 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("round %d: child stuck", round)
			}
		}
		_ = cmd.Wait()
		if !ready {
			t.Fatalf("round %d: child never became ready", round)
		}
		if err := os.WriteFile(ackedPath, []byte(strings.Join(append(append([]string{}, pays...), keyLines...), "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if len(pays) == 0 || len(keyLines) == 0 {
		t.Fatalf("children acknowledged %d payments and %d keys; want some of each", len(pays), len(keyLines))
	}

	// Everything acknowledged is there, once.
	ctx := context.Background()
	f, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, f.Store.Path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(ctx, func(tx gateway.Tx) error {
		for _, l := range pays {
			fs := strings.Fields(l)
			p, err := tx.Payment(fs[1])
			if err != nil {
				t.Errorf("acknowledged payment %s lost: %v", fs[1], err)
				continue
			}
			s, err := tx.Session(p.SessionID)
			if err != nil {
				return err
			}
			ps, err := tx.PaymentsForSession(s.ID)
			if err != nil {
				return err
			}
			if len(ps) != 1 || s.Paid != 100 {
				t.Errorf("session %s: %d payments, paid %d; want 1 payment of 100", s.ID, len(ps), s.Paid)
			}
		}
		for _, l := range keyLines {
			id := strings.Fields(l)[1]
			st, err := tx.KeyState(id)
			if err != nil {
				return err
			}
			if st.Uses != 1 {
				t.Errorf("single-use key %s used %d times; want 1", id, st.Uses)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked, bad, err := db.VerifyChain(ctx); bad != 0 || err != nil {
		t.Fatalf("audit verify after crashes: bad seq %d after %d events: %v", bad, checked, err)
	}
	t.Logf("%d rounds: %d payments and %d single-use keys acknowledged, all intact", rounds, len(pays), len(keyLines))
}
