package cloudsync_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// TestKillChild is the child of TestGatewayKilledMidStream: a gateway
// that syncs with the broker while writing events, until it is killed.
func TestKillChild(t *testing.T) {
	dir := os.Getenv("LOTGATE_CLOUD_CHILD_DIR")
	if dir == "" {
		t.Skip("child of TestGatewayKilledMidStream only")
	}
	seed, err := hex.DecodeString(os.Getenv("LOTGATE_CLOUD_CHILD_SEED"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(os.Getenv("LOTGATE_CLOUD_CHILD_EVENTS"))
	e := newEnv(t, dir, ed25519.NewKeyFromSeed(seed))
	e.client(os.Getenv("LOTGATE_CLOUD_CHILD_BROKER"))
	out := bufio.NewWriter(os.Stdout)
	var last uint64
	for i := 0; i < n; i += 50 {
		last = appendEvents(t, e.db, 50)
		time.Sleep(2 * time.Millisecond)
	}
	fmt.Fprintf(out, "LAST %d\n", last)
	out.Flush()
	select {} // keep syncing until killed
}

// TestGatewayKilledMidStream kills the gateway (SIGKILL) twice while it
// drains events and receives signed messages, and restarts it on the same
// store: the cloud ends with every event, gap-free, chain intact, and
// every signed message applied exactly once.
func TestGatewayKilledMidStream(t *testing.T) {
	if os.Getenv("LOTGATE_CLOUD_CHILD_DIR") != "" {
		t.Skip("in the child")
	}
	m := startMosquitto(t)
	dir := t.TempDir()
	e := newEnv(t, dir, nil) // the parent's view: the site and the key
	e.db.Close()
	op := e.operator(m.url())
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()

	var ids []string
	send := func(k int) {
		for i := 0; i < k; i++ {
			raw, id, err := op.Sign(gateway.MsgRevocation, 0, map[string]any{"key_id": fmt.Sprintf("k-%d", len(ids)), "reason": "test"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
			for j := 0; j < 2; j++ { // every message delivered twice
				if err := op.SendRaw(raw); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	run := func(events int) (*exec.Cmd, *bufio.Scanner) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.v")
		cmd.Env = append(os.Environ(), "LOTGATE_CLOUD_CHILD_DIR="+dir, "LOTGATE_CLOUD_CHILD_SEED="+hex.EncodeToString(e.priv.Seed()),
			"LOTGATE_CLOUD_CHILD_BROKER="+m.url(), fmt.Sprintf("LOTGATE_CLOUD_CHILD_EVENTS=%d", events))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd, bufio.NewScanner(stdout)
	}
	for round := 0; round < 2; round++ {
		cmd, _ := run(100_000)
		before := op.Stats().Contig
		// Kill it mid-stream: once the cloud has seen some of this run's
		// events (and the gateway's session exists on the broker, so
		// messages for it are queued while it is dead).
		waitFor(t, "events from the child", 20*time.Second, func() bool { return op.Stats().Contig > before+300 })
		send(10)
		time.Sleep(time.Duration(20+round*30) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		send(5) // while the gateway is dead: the broker keeps them for its session
	}
	cmd, sc := run(2000)
	var last uint64
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "LAST" {
			last, _ = strconv.ParseUint(f[1], 10, 64)
			break
		}
	}
	if last == 0 {
		t.Fatalf("the last child did not report its last event")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		applied, _, _ := outcomes(op.Events())
		if len(applied) >= len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages answered as applied", len(applied), len(ids))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Everything the final child wrote, and every outcome, reached the cloud.
	if err := op.WaitContig(ctx, last); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	applied, refused, _ := outcomes(op.Events())
	for _, id := range ids {
		if applied[id] != 1 {
			t.Errorf("message %s applied %d times; want 1", id, applied[id])
		}
	}
	if len(refused) > 0 {
		t.Errorf("refused: %v", refused)
	}
	s := op.Stats()
	if len(s.ChainErrs) > 0 {
		t.Errorf("chain errors at the cloud: %v", s.ChainErrs)
	}
	checkTakenOnce(t, op.Events(), s.Contig)
	t.Logf("cloud received %d events in %d messages (%d duplicates, %d out of order); %d signed messages applied once each", s.Contig, s.Messages, s.Duplicates, s.OutOfOrder, len(ids))
}
