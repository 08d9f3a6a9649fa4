package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lotgate/lotgate/config"
	"github.com/lotgate/lotgate/drivers/sim"
	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/sqlite"
)

// offsetClock is the wall clock moved forward by the test.
type offsetClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *offsetClock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// TestDemoCloudEndToEnd runs the example site with the built-in demo
// cloud: an e-payment from the checkout page opens the exit; a receipt
// carried by a phone is applied with the broker stopped; a delegation is
// approved by the demo owner.
func TestDemoCloudEndToEnd(t *testing.T) {
	ctx := context.Background()
	f, err := config.Load(filepath.Join("..", "..", "configs", "site.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Cloud.Mode != config.CloudDemo {
		t.Fatalf("example cloud mode %q; want demo", f.Cloud.Mode)
	}
	f.Cloud.Demo.CheckoutListen = "127.0.0.1:0"
	f.Cloud.Demo.TimeEvery = 0
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lotgate.db"), sqlite.Options{GroupCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	devs, err := sim.New(f.Site, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := &offsetClock{}
	gw, err := gateway.New(gateway.Options{Site: f.Site, Store: db, Actuators: devs.Actuators(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	devs.Attach(gw)
	if err := gw.Open(ctx); err != nil {
		t.Fatal(err)
	}
	rt, err := startCloudRuntime(ctx, f, gw, db, slog.New(slog.DiscardHandler), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			rt.stop(ctx)
		}
	}()
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait("the link", rt.Client.Online)

	enter := func() string {
		t.Helper()
		if err := devs.SetSensor(ctx, "in-1-loop", true); err != nil {
			t.Fatal(err)
		}
		d, ticket, err := gw.IssueTicket(ctx, "in-1")
		if err != nil || !d.Allowed {
			t.Fatalf("ticket: %v %v", d, err)
		}
		if err := devs.SetSensor(ctx, "in-1-loop", false); err != nil {
			t.Fatal(err)
		}
		return ticket
	}

	// Delegation, approved by the demo owner within the countdown (before
	// the test moves the gateway's clock: the demo cloud signs by the wall
	// clock, and its decisions expire in a minute).
	a, err := rt.Sync.RequestApproval(ctx, gateway.ApprovalRequest{Nickname: "Anna", Requester: "valet", Action: gateway.ActionOpen, Resource: "locker:A-01"})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	a, err = rt.Sync.WaitApproval(wctx, a.ID)
	cancel()
	if err != nil || a.State != gateway.ApprovalApproved {
		t.Errorf("delegation: %s %v; want approved", a.State, err)
	}

	// E-payment from the demo checkout page.
	ticket := enter()
	clock.advance(2 * time.Hour)
	co, q, err := gw.BeginCheckout(ctx, ticket)
	if err != nil {
		t.Fatal(err)
	}
	page := rt.Demo.CheckoutURL()
	wait("the quote at the cloud", func() bool { return strings.Contains(get(t, page), co.SessionID) })
	resp, err := http.PostForm(page+"pay", url.Values{"session": {q.SessionID}, "amount": {itoa(q.Amount)}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wait("the payment to be applied", func() bool {
		v, err := gw.LookupSession(ctx, ticket)
		return err == nil && v.Due.Amount == 0
	})
	if !devs.PayStationSettled(ticket) {
		t.Errorf("the pay station was not told the session is settled")
	}
	if err := devs.SetSensor(ctx, "out-1-loop", true); err != nil {
		t.Fatal(err)
	}
	if d, err := gw.PresentAtLane(ctx, "out-1", ticket); err != nil || !d.Allowed {
		t.Errorf("exit after the e-payment: %v %v", d, err)
	}
	_ = devs.SetSensor(ctx, "out-1-loop", false)

	// A phone-relayed receipt with the broker stopped.
	ticket2 := enter()
	clock.advance(time.Hour)
	if _, _, err := gw.Quote(ctx, ticket2); err != nil {
		t.Fatal(err)
	}
	v, _ := gw.LookupSession(ctx, ticket2)
	wait("the second session at the cloud", func() bool { return strings.Contains(get(t, page), v.Session.ID) })
	receipt := strings.TrimSpace(get(t, page+"receipt?session="+v.Session.ID+"&amount="+itoa(v.Due.Amount)))
	if err := rt.Demo.Close(); err != nil { // the broker and the cloud go away
		t.Fatal(err)
	}
	wait("the link to drop", func() bool { return !rt.Client.Online() })
	if err := devs.SetSensor(ctx, "out-2-loop", true); err != nil {
		t.Fatal(err)
	}
	d, out, err := rt.Sync.PresentReceiptAtLane(ctx, "out-2", receipt)
	if err != nil || !d.Allowed || out.State != gateway.InboxApplied {
		t.Errorf("receipt at the exit: %v %+v %v", d, out, err)
	}
	// Offline, delegation is refused at once.
	off, err := rt.Sync.RequestApproval(ctx, gateway.ApprovalRequest{Nickname: "Anna", Requester: "valet", Action: gateway.ActionOpen, Resource: "locker:A-02"})
	if err != nil || off.State != gateway.ApprovalRefused {
		t.Errorf("offline delegation: %s %v; want refused", off.State, err)
	}
	stopped = true
	if err := rt.stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
	if _, bad, err := db.VerifyChain(ctx); bad != 0 || err != nil {
		t.Errorf("VerifyChain: %d %v", bad, err)
	}
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestRunDiskCap: with cloud mode off, a store over cloud.disk_cap has
// its routine events redacted at start, and the chain still verifies.
func TestRunDiskCap(t *testing.T) {
	ctx := context.Background()
	f, err := config.Load(filepath.Join("..", "..", "configs", "site.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	f.Cloud.Mode = config.CloudOff
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lotgate.db"), sqlite.Options{GroupCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	gw, err := gateway.New(gateway.Options{Site: f.Site, Store: db})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Open(ctx); err != nil {
		t.Fatal(err)
	}
	// 2 MB of device reports, and a cap of 1 MiB.
	pad := strings.Repeat("d", 1000)
	if err := db.Update(ctx, func(tx gateway.Tx) error {
		for range 2000 {
			e := gateway.Event{Time: time.Now(), Type: gateway.EvDevice, Data: []byte(`{"pad":"` + pad + `"}`)}
			if err := tx.AppendEvent(&e); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f.Cloud.DiskCap = 1 << 20
	rt, err := startCloudRuntime(ctx, f, gw, db, slog.New(slog.DiscardHandler), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var a sqlite.AuditReport
	for {
		if a, err = db.Audit(ctx); err != nil || a.Redacted > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := rt.stop(ctx); err != nil {
		t.Fatal(err)
	}
	if a.Redacted == 0 || a.BadSeq != 0 {
		t.Errorf("Audit with a 1 MiB cap over 2 MB of device reports: got %+v, %v; want some redacted, the chain whole", a, err)
	}
}
