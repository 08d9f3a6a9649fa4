package cloudsync_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lotgate/lotgate/cloudsync"
	"github.com/lotgate/lotgate/cloudsync/demo"
	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/keys"
)

// broker is a broker the conformance suite runs against.
type broker struct {
	url     string
	restart func(hard bool) // stop (SIGKILL when hard) and start again on the same port
}

func mochiBroker(t *testing.T) broker {
	b, err := demo.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := b.Addr()
	t.Cleanup(func() { b.Close() })
	return broker{url: b.URL(), restart: func(bool) {
		b.Close()
		nb, err := demo.StartBroker(addr, nil)
		if err != nil {
			t.Fatalf("restart mochi: %v", err)
		}
		b = nb
	}}
}

func mosquittoBroker(t *testing.T) broker {
	m := startMosquitto(t)
	return broker{url: m.url(), restart: func(hard bool) {
		if hard {
			m.kill(syscall.SIGKILL)
		} else {
			m.kill(syscall.SIGTERM)
		}
		m.start()
	}}
}

// TestConformance runs the same sync checks against the embedded broker
// and against mosquitto: queued events drain gap-free with an intact
// chain; signed messages are applied once, duplicates and forgeries
// answered; replays and out-of-order acks; a broker restart mid-stream; a
// silent cloud.
func TestConformance(t *testing.T) {
	for _, bk := range []struct {
		name string
		make func(*testing.T) broker
	}{{"mochi", mochiBroker}, {"mosquitto", mosquittoBroker}} {
		t.Run(bk.name, func(t *testing.T) {
			b := bk.make(t)
			conformance(t, b)
		})
	}
}

func conformance(t *testing.T, b broker) {
	e := newEnv(t, "", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	pre := appendEvents(t, e.db, 2000) // queued while offline
	c := e.client(b.url)
	op := e.operator(b.url)
	if err := op.WaitContig(ctx, pre); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the ack cursor", 10*time.Second, func() bool { return e.acked() >= pre })

	// Signed messages: applied once, a duplicate delivery answered, a
	// forgery refused, an expired command refused.
	kid := "k-cloud-1"
	raw, id, err := op.Sign(gateway.MsgRevocation, 0, map[string]any{"key_id": kid, "reason": "lost"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := op.SendRaw(raw); err != nil {
			t.Fatal(err)
		}
	}
	_, _, other, _ := keys.GenerateKey(rand.Reader)
	forged, err := keys.SignMessage(keys.Message{ID: "forged-1", Type: gateway.MsgCommand, Site: e.site.ID, IssuedAt: time.Now(),
		Expires: time.Now().Add(time.Minute), Body: []byte(`{"command":"open_barrier","lane":"out-1","operator":"x","reason":"y"}`)}, e.kid, other)
	if err != nil {
		t.Fatal(err)
	}
	if err := op.SendRaw(forged); err != nil {
		t.Fatal(err)
	}
	cmd, cmdID, _ := op.Sign(gateway.MsgCommand, 30*time.Second, map[string]any{"command": "open_barrier", "lane": "out-2", "operator": "attendant", "reason": "driver called"})
	if err := op.SendRaw(cmd); err != nil {
		t.Fatal(err)
	}
	if err := op.SendRaw(cmd); err != nil { // replayed command
		t.Fatal(err)
	}
	waitFor(t, "the outcomes to reach the cloud", 15*time.Second, func() bool {
		applied, refused, dup := outcomes(op.Events())
		return applied[id] == 1 && dup[id] == 1 && applied[cmdID] == 1 && dup[cmdID] == 1 && len(refused) >= 1
	})
	if n := e.bars.count("out-2-barrier"); n != 1 {
		t.Errorf("remote open: barrier raised %d times; want 1", n)
	}
	if n := e.bars.count("out-1-barrier"); n != 0 {
		t.Errorf("forged command: barrier out-1 raised %d times; want 0", n)
	}

	// The disk cap (here 1 byte: everything routine) redacts the queued
	// device reports, which the cloud has acknowledged.
	red, err := e.gw.EnforceDiskCap(e.ctx, 1)
	if err != nil || red.Acked < int(pre)-10 {
		t.Fatalf("EnforceDiskCap: got %+v, %v; want the %d acknowledged device reports redacted", red, err, pre)
	}

	// The cloud lost everything from seq 100 and asks for a replay: it
	// gets it all again, in order, with the chain intact, the redacted
	// events without their data.
	have := op.Stats().Contig
	op.Forget(100)
	if err := op.Replay(100); err != nil {
		t.Fatal(err)
	}
	if err := op.WaitContig(ctx, have); err != nil {
		t.Fatalf("replay: %v", err)
	}
	nred := 0
	for _, ev := range op.Events()[99:] {
		if ev.Redacted {
			nred++
			if string(ev.Data) != "null" || len(ev.DataSHA256) != 64 || !gateway.EventType(ev.Type).Routine() {
				t.Errorf("replayed event %d: got %s redacted with data %s, data_sha256 %q; want a routine event with data null and a digest", ev.Seq, ev.Type, ev.Data, ev.DataSHA256)
			}
		}
	}
	if a, err := e.db.Audit(e.ctx); err != nil || nred == 0 || a.Redacted-99 != uint64(nred) {
		t.Errorf("replay: got %d redacted events; want those of the store from seq 100 (%d in all, %v)", nred, a.Redacted, err)
	}
	// An ack out of order (lower than the cursor) changes nothing.
	acked := e.acked()
	if err := op.SendAck(3); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if got := e.acked(); got < acked {
		t.Errorf("an old ack moved the cursor back: %d -> %d", acked, got)
	}

	// The broker restarts (hard) while events keep coming.
	done := make(chan uint64)
	go func() {
		var last uint64
		for i := 0; i < 20; i++ {
			last = appendEvents(t, e.db, 100)
			time.Sleep(10 * time.Millisecond)
		}
		done <- last
	}()
	time.Sleep(50 * time.Millisecond)
	b.restart(true)
	last := <-done
	if err := op.WaitContig(ctx, last); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the ack cursor after the restart", 15*time.Second, func() bool { return e.acked() >= last })

	// A silent cloud: named, then healed.
	op.SetAcking(false)
	appendEvents(t, e.db, 10)
	waitFor(t, "cloud_silent", 10*time.Second, func() bool { return slices.Contains(c.Degraded(), cloudsync.DegradedCloudSilent) })
	if c.Online() {
		t.Errorf("Online() is true while the cloud is silent")
	}
	op.SetAcking(true)
	waitFor(t, "the cloud to recover", 10*time.Second, func() bool { return len(c.Degraded()) == 0 })
	waitFor(t, "an online up/state", 10*time.Second, func() bool {
		st := op.Stats().State
		return st.State == "online" && st.Site == e.site.ID && st.TariffVersion != ""
	})

	s := op.Stats()
	if len(s.ChainErrs) > 0 {
		t.Errorf("hash chain errors at the cloud: %v", s.ChainErrs)
	}
	if _, bad, err := e.db.VerifyChain(e.ctx); bad != 0 || err != nil {
		t.Errorf("VerifyChain: bad %d, %v", bad, err)
	}
	checkTakenOnce(t, op.Events(), s.Contig)
	t.Logf("received %d events in %d messages, %d duplicates, %d out of order", s.Contig, s.Messages, s.Duplicates, s.OutOfOrder)
}

// TestDrain100kIntoMosquitto reconnects a gateway with 100,000 queued
// events to a mosquitto limited to 1,000 queued messages per client, with
// the cloud's consumer away for part of the drain: every event arrives,
// gap-free, with the chain intact, and the outbox empties.
func TestDrain100kIntoMosquitto(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	m := startMosquitto(t)
	e := newEnv(t, "", nil)
	last := appendEvents(t, e.db, n)
	op := e.operator(m.url())
	op.Close() // the cloud's session stays on the broker, its queue capped at 1000
	start := time.Now()
	c := e.client(m.url(), func(o *cloudsync.Options) { o.Window = 500 })
	time.Sleep(300 * time.Millisecond) // the gateway fills its window while the cloud is away
	op = e.operator(m.url())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	if err := op.WaitContig(ctx, last); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	waitFor(t, "the outbox to empty", 10*time.Second, func() bool { return e.acked() == last })
	s := op.Stats()
	if len(s.ChainErrs) > 0 {
		t.Errorf("chain errors: %v", s.ChainErrs[:min(5, len(s.ChainErrs))])
	}
	checkTakenOnce(t, op.Events(), last) // none lost, none taken twice
	for _, l := range strings.Split(metricsText(t, c), "\n") {
		if strings.HasPrefix(l, "lotgate_cloud_events_resent_total") || strings.HasPrefix(l, "lotgate_cloud_connects_total") {
			t.Log(l)
		}
	}
	t.Logf("%d events in %v (%.0f events/s), in %d messages (%.0f messages/s), %d duplicates", last, took.Round(time.Millisecond),
		float64(last)/took.Seconds(), s.Messages, float64(s.Messages)/took.Seconds(), s.Duplicates)
}

// TestAckStoredLazily: acks move the window at once (100 events pass a
// window of 10 while nothing is stored) and the cursor is stored when the
// client closes.
func TestAckStoredLazily(t *testing.T) {
	b := mochiBroker(t)
	e := newEnv(t, "", nil)
	last := appendEvents(t, e.db, 100)
	op := e.operator(b.url)
	c := e.client(b.url, func(o *cloudsync.Options) { o.Window, o.AckStoreInterval = 10, time.Hour })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := op.WaitContig(ctx, last); err != nil {
		t.Fatal(err)
	}
	if got := e.acked(); got != 0 {
		t.Errorf("stored ack cursor before Close: got %d; want 0 (stored every hour)", got)
	}
	waitFor(t, "the last ack to reach the gateway", 10*time.Second, func() bool {
		return strings.Contains(metricsText(t, c), fmt.Sprintf("lotgate_cloud_acked_seq %d", last))
	})
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := e.acked(); got != last {
		t.Errorf("stored ack cursor after Close: got %d; want %d", got, last)
	}
}

func metricsText(t *testing.T, c *cloudsync.Client) string {
	t.Helper()
	var b strings.Builder
	if err := c.WriteMetrics(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestStateShowsDeviceHealth: a device going offline shows in up/state at
// once (not at the next state timer), with its last error.
func TestStateShowsDeviceHealth(t *testing.T) {
	b := mochiBroker(t)
	e := newEnv(t, "", nil)
	op := e.operator(b.url)
	e.client(b.url, func(o *cloudsync.Options) { o.StateInterval = time.Hour })
	waitFor(t, "an online up/state", 10*time.Second, func() bool { return op.Stats().State.State == "online" })
	since := time.Date(2025, 6, 11, 8, 0, 0, 0, time.UTC)
	e.gw.DeviceHealthChanged(e.ctx, gateway.DeviceHealth{Device: "out-1-barrier", Online: false, LastError: "modbus: timeout", Since: since})
	want := cloudsync.DeviceHealth{Device: "out-1-barrier", Online: false, LastError: "modbus: timeout", Since: since}
	waitFor(t, "the device in up/state", 10*time.Second, func() bool {
		ds := op.Stats().State.Devices
		return len(ds) == 1 && ds[0].Device == want.Device && ds[0].Online == want.Online && ds[0].LastError == want.LastError && ds[0].Since.Equal(since)
	})
	e.gw.DeviceHealthChanged(e.ctx, gateway.DeviceHealth{Device: "out-1-barrier", Online: true, Since: since.Add(time.Minute)})
	waitFor(t, "the device back online in up/state", 10*time.Second, func() bool {
		ds := op.Stats().State.Devices
		return len(ds) == 1 && ds[0].Online && ds[0].LastError == ""
	})
}
