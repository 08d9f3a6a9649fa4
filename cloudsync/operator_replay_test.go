package cloudsync_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lotgate/lotgate/cloudsync"
	"github.com/lotgate/lotgate/cloudsync/demo"
	"github.com/lotgate/lotgate/gateway"
)

// TestOperatorRebuildsAfterRestart: the demo operator keeps nothing on
// disk, so a new one beside a gateway whose log the previous cloud
// acknowledged holds none of it. It asks for a replay from seq 1 as soon
// as the gateway's events do not continue what it holds, takes the whole
// log (the history flagged as such), acknowledges it, and keeps only the
// latest Keep events in memory.
func TestOperatorRebuildsAfterRestart(t *testing.T) {
	b := mochiBroker(t)
	e := newEnv(t, "", nil)
	before := appendEvents(t, e.db, 3000)
	op1 := e.operator(b.url)
	e.client(b.url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := op1.WaitContig(ctx, before); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the ack cursor", 10*time.Second, func() bool { return e.acked() == before })
	op1.Close()

	var mu sync.Mutex
	history, live := 0, 0
	op2 := e.operator(b.url, func(o *demo.OperatorOptions) {
		o.ClientID, o.Keep = "lotgate-cloud-restarted", 100
		o.OnEvent = func(_ cloudsync.Event, h bool) {
			mu.Lock()
			defer mu.Unlock()
			if h {
				history++
			} else {
				live++
			}
		}
	})
	last := appendEvents(t, e.db, 50) // the first events the new cloud sees: 3001..
	if err := op2.WaitContig(ctx, last); err != nil {
		t.Fatalf("the restarted cloud: %v", err)
	}
	waitFor(t, "the ack cursor after the replay", 10*time.Second, func() bool { return e.acked() == last })
	s := op2.Stats()
	if s.History != before || s.Replays != 1 {
		t.Errorf("restarted cloud: history %d, %d replay requests; want history %d, 1 request", s.History, s.Replays, before)
	}
	if len(s.ChainErrs) > 0 {
		t.Errorf("chain errors: %v", s.ChainErrs)
	}
	mu.Lock()
	if history != int(before) || live != int(last-before) {
		t.Errorf("OnEvent: %d history events, %d live; want %d and %d", history, live, before, last-before)
	}
	mu.Unlock()
	evs := op2.Events()
	if len(evs) < 100 || len(evs) >= 200 || evs[len(evs)-1].Seq != last || evs[0].Seq != last-uint64(len(evs))+1 {
		t.Errorf("kept events: %d, seqs %d..%d; want between 100 and 199, contiguous, ending at %d", len(evs), evs[0].Seq, evs[len(evs)-1].Seq, last)
	}
}

// TestOperatorAsksForReplay drives the operator with hand-published
// batches of a real log: a gap the sender never fills is asked for again
// once it has stayed open for GapWait (and not before); a new operator
// whose first event is not seq 1 asks for a replay from 1 at once.
func TestOperatorAsksForReplay(t *testing.T) {
	b := mochiBroker(t)
	e := newEnv(t, "", nil)
	appendEvents(t, e.db, 6)
	var log []gateway.Event
	if err := e.db.View(e.ctx, func(tx gateway.Tx) error {
		var err error
		log, err = tx.Events(1, 6)
		return err
	}); err != nil || len(log) != 6 {
		t.Fatalf("read the log: %d events, %v", len(log), err)
	}
	topics := cloudsync.TopicsFor(e.site.ID)
	replays := make(chan uint64, 16)
	gw := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.url).SetClientID("fake-gateway"))
	if tk := gw.Connect(); !tk.WaitTimeout(5*time.Second) || tk.Error() != nil {
		t.Fatalf("connect: %v", tk.Error())
	}
	t.Cleanup(func() { gw.Disconnect(0) })
	if tk := gw.Subscribe(topics.Replay, 1, func(_ mqtt.Client, m mqtt.Message) {
		var r cloudsync.Replay
		if err := json.Unmarshal(m.Payload(), &r); err != nil {
			t.Errorf("replay request %q: %v", m.Payload(), err)
		}
		replays <- r.From
	}); !tk.WaitTimeout(5*time.Second) || tk.Error() != nil {
		t.Fatalf("subscribe: %v", tk.Error())
	}
	publish := func(from, to uint64) {
		t.Helper()
		var batch cloudsync.Batch
		for _, ev := range log[from-1 : to] {
			batch.Events = append(batch.Events, cloudsync.EventFrom(e.site.ID, ev))
		}
		raw, err := json.Marshal(batch)
		if err != nil {
			t.Fatal(err)
		}
		if tk := gw.Publish(topics.Events, 1, false, raw); !tk.WaitTimeout(5*time.Second) || tk.Error() != nil {
			t.Fatalf("publish %d..%d: %v", from, to, tk.Error())
		}
	}
	noReplay := func(what string) {
		t.Helper()
		time.Sleep(100 * time.Millisecond) // twenty ticks of the operator's 5 ms loop
		select {
		case from := <-replays:
			t.Errorf("%s: a replay request from %d; want none", what, from)
		default:
		}
	}
	wantReplay := func(what string, want uint64) {
		t.Helper()
		select {
		case from := <-replays:
			if from != want {
				t.Errorf("%s: a replay request from %d; want from %d", what, from, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no replay request", what)
		}
	}

	clk := &fakeClock{now: time.Date(2025, 6, 11, 8, 0, 0, 0, time.UTC)}
	op := e.operator(b.url, func(o *demo.OperatorOptions) {
		o.AckInterval, o.GapWait, o.Now = 5*time.Millisecond, 2*time.Second, clk.Now
	})
	publish(1, 3)
	publish(5, 6)
	waitFor(t, "the events beyond the gap", 10*time.Second, func() bool { s := op.Stats(); return s.Contig == 3 && s.Pending == 2 })
	noReplay("a gap open for no time")
	clk.add(1900 * time.Millisecond)
	noReplay("a gap open for 1.9 s (GapWait 2 s)")
	clk.add(200 * time.Millisecond)
	wantReplay("a gap open for 2.1 s", 4)
	noReplay("just after a replay request")
	clk.add(2100 * time.Millisecond) // the replay did not come: ask again
	wantReplay("a gap still open 2.1 s after the request", 4)
	publish(4, 6)
	if err := op.WaitContig(context.Background(), 6); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Minute)
	noReplay("the gap mended")
	if s := op.Stats(); s.Replays != 2 || s.History != 0 || len(s.ChainErrs) > 0 || s.Duplicates != 2 {
		t.Errorf("stats: %d replay requests, history %d, chain errors %v, %d duplicates; want 2, 0, none, 2", s.Replays, s.History, s.ChainErrs, s.Duplicates)
	}
	checkTakenOnce(t, op.Events(), 6)

	// A new cloud whose first event is 4: it asks for 1.. at once.
	op2 := e.operator(b.url, func(o *demo.OperatorOptions) {
		o.ClientID, o.AckInterval, o.Now = "lotgate-cloud-2", 5*time.Millisecond, clk.Now
	})
	publish(4, 6)
	wantReplay("a new cloud's first event is 4", 1)
	publish(1, 6)
	if err := op2.WaitContig(context.Background(), 6); err != nil {
		t.Fatal(err)
	}
	if s := op2.Stats(); s.Replays != 1 || s.History != 3 || len(s.ChainErrs) > 0 {
		t.Errorf("new cloud: %d replay requests, history %d, chain errors %v; want 1, 3, none", s.Replays, s.History, s.ChainErrs)
	}
	checkTakenOnce(t, op2.Events(), 6)
}
