package cloudsync_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lotgate/lotgate/cloudsync"
	"github.com/lotgate/lotgate/cloudsync/demo"
	"github.com/lotgate/lotgate/gateway"
)

func pct(d []time.Duration, p float64) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// TestCloudFigures measures against mosquitto, each with its baseline in
// the same run (docs/PERFORMANCE.md, "Cloud sync"). Run with
// LOTGATE_CLOUD_FIGURES=1 go test -run CloudFigures -v ./cloudsync/.
func TestCloudFigures(t *testing.T) {
	if os.Getenv("LOTGATE_CLOUD_FIGURES") == "" {
		t.Skip("set LOTGATE_CLOUD_FIGURES=1 to measure")
	}
	m := startMosquitto(t, "set_tcp_nodelay true")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Baseline 1: a raw QoS 1 publish and its delivery to a subscriber.
	got := make(chan time.Time, 1)
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(m.url()).SetClientID("bench-sub"))
	if tk := sub.Connect(); !tk.WaitTimeout(5*time.Second) || tk.Error() != nil {
		t.Fatal(tk.Error())
	}
	defer sub.Disconnect(0)
	if tk := sub.Subscribe("bench/rt", 1, func(mqtt.Client, mqtt.Message) { got <- time.Now() }); !tk.WaitTimeout(5 * time.Second) {
		t.Fatal("subscribe")
	}
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(m.url()).SetClientID("bench-pub"))
	if tk := pub.Connect(); !tk.WaitTimeout(5*time.Second) || tk.Error() != nil {
		t.Fatal(tk.Error())
	}
	defer pub.Disconnect(0)
	const rounds = 300
	var raw []time.Duration
	for i := 0; i < rounds; i++ {
		start := time.Now()
		pub.Publish("bench/rt", 1, false, make([]byte, 300))
		raw = append(raw, (<-got).Sub(start))
	}

	// Payment completion published → pay station told "settled", and a
	// signed remote open → barrier raised.
	e := newEnv(t, "", nil)
	// The ack cursor stored within 1 ms, so that quiet() below sees it.
	c1 := e.client(m.url(), func(o *cloudsync.Options) { o.AckStoreInterval = time.Millisecond })
	op := e.operator(m.url(), func(o *demo.OperatorOptions) { o.AckEvery, o.AckInterval = 1, 2*time.Millisecond })
	waitFor(t, "link", 5*time.Second, func() bool { return e.acked() > 0 || op.Stats().Contig > 0 })
	// Each round starts with the site quiet (every event acknowledged by
	// the cloud, so no ack or outbox write is in flight), as payments and
	// remote opens come seconds apart at a real site.
	quiet := func() {
		waitFor(t, "a quiet outbox", 10*time.Second, func() bool {
			last, err := e.db.LastSeq(ctx)
			return err == nil && e.acked() == last
		})
	}
	var open []time.Duration
	for i := 0; i < rounds; i++ {
		quiet()
		raw, _, err := op.Sign(gateway.MsgCommand, 30*time.Second, map[string]any{"command": "open_barrier", "lane": "out-1", "operator": "bench", "reason": "bench"})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := op.SendRaw(raw); err != nil {
			t.Fatal(err)
		}
		<-e.bars.notify
		open = append(open, time.Since(start))
	}
	// A payment completion for an open session → the pay station told
	// the session is settled (the first device command of the release).
	var paid []time.Duration
	for i := 0; i < rounds; i++ {
		quiet()
		id := fmt.Sprintf("s-bench-%d", i)
		if err := e.db.Update(ctx, func(tx gateway.Tx) error {
			return tx.PutSession(gateway.Session{ID: id, Credential: "ticket:B" + id, EntryAt: time.Now(), State: gateway.SessionOpen,
				TariffVersion: e.gw.CurrentTariff().Version})
		}); err != nil {
			t.Fatal(err)
		}
		raw, _, err := op.Sign(gateway.MsgPayment, 0, map[string]any{"payment_id": "p-" + id, "ref": id, "amount": 100, "currency": "EUR"})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := op.SendRaw(raw); err != nil {
			t.Fatal(err)
		}
		<-e.pay.notify
		paid = append(paid, time.Since(start))
	}
	t.Logf("raw QoS1 publish→delivery: p50 %v p99 %v", pct(raw, .5), pct(raw, .99))
	t.Logf("signed open_barrier published→barrier raised: p50 %v p99 %v (%.1f× / raw p50)", pct(open, .5), pct(open, .99),
		float64(pct(open, .5))/float64(pct(raw, .5)))
	t.Logf("signed payment.completed published→pay station told settled: p50 %v p99 %v (%.1f× / raw p50)", pct(paid, .5), pct(paid, .99),
		float64(pct(paid, .5))/float64(pct(raw, .5)))

	// Drain rate against a raw paho QoS 1 publish loop of single ~300 B
	// messages, same broker. The drain batches what is queued (up to
	// Options.MessageEvents events a message); the baseline does not: its
	// rate is in messages/s, the drain's in events/s and messages/s.
	const n = 20000
	var mu sync.Mutex
	count := 0
	done := make(chan struct{})
	cons := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(m.url()).SetClientID("bench-cons"))
	if tk := cons.Connect(); !tk.WaitTimeout(5*time.Second) || tk.Error() != nil {
		t.Fatal(tk.Error())
	}
	defer cons.Disconnect(0)
	cons.Subscribe("bench/drain", 1, func(mqtt.Client, mqtt.Message) {
		mu.Lock()
		count++
		if count == n {
			close(done)
		}
		mu.Unlock()
	}).Wait()
	start := time.Now()
	var last mqtt.Token
	for i := 0; i < n; i++ {
		last = pub.Publish("bench/drain", 1, false, make([]byte, 300))
	}
	last.WaitTimeout(30 * time.Second) // every PUBACK back
	rawRate := float64(n) / time.Since(start).Seconds()
	select { // the consumer may never see them all: the broker drops past its queue
	case <-done:
	case <-time.After(2 * time.Second):
	}
	mu.Lock()
	delivered := count
	mu.Unlock()

	c1.Close(ctx) // the same site: one gateway at a time
	op.Close()
	t.Logf("raw paho QoS1 loop: %.0f msg/s (PUBACKed), %d of %d delivered", rawRate, delivered, n)
	// The drain, to a cloud that checks the hash chain of every event, and
	// to one that reads only seq (as cheap as the baseline's subscriber,
	// which only counts): the consumer shares the 2 cores with the gateway
	// and the broker.
	for i, light := range []bool{false, true} {
		e2 := newEnv(t, "", nil)
		lastSeq := appendEvents(t, e2.db, n)
		op2 := e2.operator(m.url(), func(o *demo.OperatorOptions) { o.ClientID, o.Light = fmt.Sprintf("bench-cloud-%d", i), light })
		start = time.Now()
		c := e2.client(m.url(), func(o *cloudsync.Options) { o.ClientID = fmt.Sprintf("bench-gw-%d", i); o.Window = 500 })
		if err := op2.WaitContig(ctx, lastSeq); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start).Seconds()
		drainRate := float64(lastSeq) / took
		msgs := op2.Stats().Messages
		c.Close(ctx)
		op2.Close()
		t.Logf("outbox drain (window 500 messages, consumer light=%v): %.0f events/s in %.0f messages/s (%d messages, %.1f events each), all %d delivered (%.2f× the raw loop's messages/s)",
			light, drainRate, float64(msgs)/took, msgs, float64(lastSeq)/float64(msgs), lastSeq, drainRate/rawRate)
	}
}
