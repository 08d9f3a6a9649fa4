package cloudsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lotgate/lotgate/cloudsync"
	"github.com/lotgate/lotgate/gateway"
)

// upMessage is one message seen on up/events.
type upMessage struct {
	first, last uint64
	bytes       int
}

func (m upMessage) String() string { return fmt.Sprintf("%d..%d (%d B)", m.first, m.last, m.bytes) }

// spans lists the messages' seq ranges.
func spans(ms []upMessage) string {
	var b strings.Builder
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d..%d", m.first, m.last)
	}
	return b.String()
}

// recorder records every message on a site's up/events, as a second
// consumer beside the cloud.
type recorder struct {
	t   testing.TB
	mu  sync.Mutex
	msg []upMessage
	bad []string
}

func record(t testing.TB, url, site string) *recorder {
	t.Helper()
	r := &recorder{t: t}
	cli := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("recorder-" + site).SetOrderMatters(true))
	if tk := cli.Connect(); !tk.WaitTimeout(5*time.Second) || tk.Error() != nil {
		t.Fatalf("recorder: connect: %v", tk.Error())
	}
	t.Cleanup(func() { cli.Disconnect(0) })
	tk := cli.Subscribe(cloudsync.TopicsFor(site).Events, 1, func(_ mqtt.Client, m mqtt.Message) {
		first, last, err := cloudsync.DecodeBatchSeqs(m.Payload())
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.bad = append(r.bad, err.Error())
			return
		}
		r.msg = append(r.msg, upMessage{first: first, last: last, bytes: len(m.Payload())})
	})
	if !tk.WaitTimeout(5*time.Second) || tk.Error() != nil {
		t.Fatalf("recorder: subscribe: %v", tk.Error())
	}
	return r
}

func (r *recorder) messages() []upMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) > 0 {
		r.t.Errorf("malformed up/events messages: %v", r.bad)
	}
	return append([]upMessage(nil), r.msg...)
}

// events is how many events the messages carried, duplicates included.
func (r *recorder) events() int {
	n := 0
	for _, m := range r.messages() {
		n += int(m.last - m.first + 1)
	}
	return n
}

// fakeClock is the client's clock for the silence timer.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestWindowCountsMessages: the window bounds messages, not events; an
// ack in the middle of a message frees it only when it covers its last
// event; a resend after a silent cloud starts at the first unacknowledged
// event, never with a batch whose head was acknowledged; the duplicates
// are counted as such by the cloud and nothing is lost or taken twice.
func TestWindowCountsMessages(t *testing.T) {
	b := mochiBroker(t)
	e := newEnv(t, "", nil)
	last := appendEvents(t, e.db, 100)
	op := e.operator(b.url)
	op.SetAcking(false) // a silent cloud: nothing leaves the window
	rec := record(t, b.url, e.site.ID)
	clk := &fakeClock{now: time.Date(2025, 6, 11, 8, 0, 0, 0, time.UTC)}
	c := e.client(b.url, func(o *cloudsync.Options) {
		o.Window, o.MessageEvents, o.AckTimeout, o.Now = 3, 10, time.Minute, clk.Now
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := op.WaitContig(ctx, 30); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // ten polls of the drain: nothing more may go out
	if got := op.Stats().Contig; got != 30 {
		t.Errorf("window 3 of 10-event messages, nothing acked: the cloud got %d events; want 30", got)
	}
	if got, want := spans(rec.messages()), "1..10 11..20 21..30"; got != want {
		t.Errorf("messages: got %s; want %s", got, want)
	}

	// An ack in the middle of the first message frees it; the second
	// (11..20) is still outstanding from 16 on.
	if err := op.SendAck(15); err != nil {
		t.Fatal(err)
	}
	if err := op.WaitContig(ctx, 40); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if got := op.Stats().Contig; got != 40 {
		t.Errorf("after an ack of 15: the cloud got %d events; want 40 (one message freed)", got)
	}

	// The cloud stays silent past AckTimeout: everything from 16 is sent
	// again, cut afresh from 16.
	n := len(rec.messages())
	clk.add(2 * time.Minute)
	waitFor(t, "the resend", 10*time.Second, func() bool { return len(rec.messages()) >= n+3 })
	if got, want := spans(rec.messages()[n:n+3]), "16..25 26..35 36..45"; got != want {
		t.Errorf("resent after the silence: got %s; want %s", got, want)
	}

	op.SetAcking(true)
	if err := op.WaitContig(ctx, last); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the outbox to empty", 10*time.Second, func() bool { return e.acked() == last })
	msgs := rec.messages()
	for i, m := range msgs {
		if m.last-m.first+1 > 10 {
			t.Errorf("message %d: %v holds more than 10 events", i, m)
		}
		if i > 3 && m.first <= 15 {
			t.Errorf("message %d: %v resends events acknowledged up to 15", i, m)
		}
	}
	s := op.Stats()
	if s.Malformed != 0 {
		t.Errorf("the cloud could not decode %d messages", s.Malformed)
	}
	if s.Messages != len(msgs) {
		t.Errorf("the cloud counted %d messages; the recorder %d", s.Messages, len(msgs))
	}
	if got := uint64(rec.events()); got != s.Contig+uint64(s.Duplicates) {
		t.Errorf("events received %d; want every event once (%d) plus the duplicates the cloud counted (%d)", got, s.Contig, s.Duplicates)
	}
	if s.Duplicates < 25 { // 16..40 at least, sent twice
		t.Errorf("duplicates: got %d; want at least 25 (16..40 sent again)", s.Duplicates)
	}
	checkTakenOnce(t, op.Events(), last)
	if len(s.ChainErrs) > 0 {
		t.Errorf("chain errors: %v", s.ChainErrs)
	}
	if m := metricsText(t, c); !strings.Contains(m, fmt.Sprintf("lotgate_cloud_messages_published_total %d", len(msgs))) {
		t.Errorf("metrics: want lotgate_cloud_messages_published_total %d in\n%s", len(msgs), m)
	}
}

// checkTakenOnce: the cloud holds events 1..last, each once, in order.
func checkTakenOnce(t *testing.T, evs []cloudsync.Event, last uint64) {
	t.Helper()
	if uint64(len(evs)) != last {
		t.Errorf("the cloud holds %d events; want %d", len(evs), last)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Errorf("the cloud's event %d has seq %d; want %d", i, ev.Seq, i+1)
			return
		}
	}
}

// TestBatchLimits: queued events go in messages within the event and
// byte caps; an event bigger than the byte cap goes alone; a live event,
// with nothing else queued, goes at once, alone.
func TestBatchLimits(t *testing.T) {
	b := mochiBroker(t)
	e := newEnv(t, "", nil)
	queued := appendEvents(t, e.db, 200)
	op := e.operator(b.url)
	rec := record(t, b.url, e.site.ID)
	const maxBytes = 2000
	e.client(b.url, func(o *cloudsync.Options) { o.MessageEvents, o.MessageBytes = 64, maxBytes })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := op.WaitContig(ctx, queued); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the outbox to empty", 10*time.Second, func() bool { return e.acked() == queued })
	msgs := rec.messages()
	multi := 0
	for _, m := range msgs {
		if m.bytes > maxBytes {
			t.Errorf("message %v: %d bytes; want at most %d", m, m.bytes, maxBytes)
		}
		if m.last > m.first {
			multi++
		}
	}
	if multi == 0 || len(msgs) >= int(queued) {
		t.Errorf("200 queued events went in %d messages, %d with more than one event; want them batched", len(msgs), multi)
	}

	// One event over the cap, then a live one on a quiet site.
	big := gateway.Event{Time: time.Now().UTC(), Type: gateway.EvDevice, Data: json.RawMessage(`{"note":"` + strings.Repeat("x", 3*maxBytes) + `"}`)}
	if err := e.db.Update(ctx, func(tx gateway.Tx) error { return tx.AppendEvent(&big) }); err != nil {
		t.Fatal(err)
	}
	if err := op.WaitContig(ctx, big.Seq); err != nil {
		t.Fatal(err)
	}
	live := appendEvents(t, e.db, 1)
	if err := op.WaitContig(ctx, live); err != nil {
		t.Fatal(err)
	}
	msgs = rec.messages()
	if got := msgs[len(msgs)-2]; got.first != big.Seq || got.last != big.Seq || got.bytes <= maxBytes {
		t.Errorf("the big event: got message %v; want %d alone, over %d bytes", got, big.Seq, maxBytes)
	}
	if got := msgs[len(msgs)-1]; got.first != live || got.last != live {
		t.Errorf("the live event: got message %v; want %d alone", got, live)
	}
	checkTakenOnce(t, op.Events(), live)
}

// TestAckBeyondSent: an ack above what the gateway has sent (a cloud bug,
// or anyone who may publish on down/ack) is taken only up to what was
// sent: the drain skips nothing, the stored cursor never passes what the
// cloud can have, and the cloud ends with every event once.
func TestAckBeyondSent(t *testing.T) {
	b := mochiBroker(t)
	e := newEnv(t, "", nil)
	last := appendEvents(t, e.db, 100)
	op := e.operator(b.url)
	op.SetAcking(false)
	c := e.client(b.url, func(o *cloudsync.Options) {
		o.Window, o.MessageEvents, o.AckStoreInterval = 3, 10, time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := op.WaitContig(ctx, 30); err != nil {
		t.Fatal(err)
	}
	if err := op.SendAck(90); err != nil { // 31..90 were never sent
		t.Fatal(err)
	}
	waitFor(t, "the ack beyond what was sent to be counted", 10*time.Second, func() bool {
		return strings.Contains(metricsText(t, c), "lotgate_cloud_acks_beyond_sent_total 1\n")
	})
	// Taken as an ack of 30: the window moves by three messages at most.
	if got := e.acked(); got > 60 {
		t.Errorf("stored ack cursor %d after an ack of 90 with 30 sent; want at most what was sent (60 by now)", got)
	}
	op.SetAcking(true)
	if err := op.WaitContig(ctx, last); err != nil {
		t.Fatalf("the cloud's contiguous events: %d; want %d (nothing skipped): %v", op.Stats().Contig, last, err)
	}
	waitFor(t, "the outbox to empty", 10*time.Second, func() bool { return e.acked() == last })
	checkTakenOnce(t, op.Events(), last)
}
