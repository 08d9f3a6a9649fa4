package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lotgate/lotgate/gateway"
)

// watcher is a websocket client of a session watch.
type watcher struct {
	t *testing.T
	c *websocket.Conn
}

func (h *harness) dial(base, ref string) *watcher {
	h.t.Helper()
	u := "ws" + strings.TrimPrefix(base, "http") + "/api/v1/sessions/" + url.PathEscape(ref) + "/watch"
	c, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		h.t.Fatalf("dial %s: %v", u, err)
	}
	resp.Body.Close()
	h.t.Cleanup(func() { c.Close() })
	return &watcher{t: h.t, c: c}
}

// next reads the next message, and its raw text. The deadline only bounds
// a test that fails.
func (w *watcher) next() (watchMessage, string) {
	w.t.Helper()
	_ = w.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := w.c.ReadMessage()
	if err != nil {
		w.t.Fatalf("read watch: %v", err)
	}
	var m watchMessage
	if err := json.Unmarshal(b, &m); err != nil {
		w.t.Fatalf("decode %s: %v", b, err)
	}
	return m, string(b)
}

// until reads until an event of type typ.
func (w *watcher) until(typ gateway.EventType) watchMessage {
	w.t.Helper()
	for {
		m, _ := w.next()
		if m.Type == msgEvent && m.Event != nil && m.Event.Type == string(typ) {
			return m
		}
	}
}

func TestWatch(t *testing.T) {
	h := newHarness(t, nil)
	ticketA, idA := h.enter()
	_, idB := h.enter()
	h.clock.advance(time.Hour)

	a := h.dial(h.ts.URL, ticketA)
	m, _ := a.next()
	if m.Type != msgSession || m.Session == nil || m.Session.Session.ID != idA || m.Session.Due.Amount != 300 {
		t.Fatalf("A's first message: got %+v; want session %s owing 300", m, idA)
	}
	b := h.dial(h.ts.URL, idB)
	if m, _ := b.next(); m.Type != msgSession || m.Session.Session.ID != idB {
		t.Fatalf("B's first message: got %+v; want session %s", m, idB)
	}

	// A's payment reaches A's watch, with the session as it is after it.
	if resp, body := h.do("POST", "/api/v1/receipts", "text/plain", strings.NewReader(h.receipt("m-1", "demo-lot", "pay-1", idA, 300))); resp.StatusCode != 200 {
		t.Fatalf("POST receipt: %d %s", resp.StatusCode, body)
	}
	m = a.until(gateway.EvPayment)
	if e := m.Event; e.PaymentID != "pay-1" || e.Amount != 300 || e.Settled == nil || !*e.Settled || e.Method != "epayment" {
		t.Errorf("A's payment event: got %+v; want pay-1, 300, settled", e)
	}
	if s := m.Session; s == nil || s.Due.Amount != 0 || !s.Due.MayLeave || s.Due.Paid != 300 {
		t.Errorf("A's session after the payment: got %+v; want nothing due, free to leave", m.Session)
	}

	// …and not B's: the next thing B hears of is its own quote.
	if _, _, err := h.gw.Quote(h.ctx, idB); err != nil {
		t.Fatal(err)
	}
	if m, raw := b.next(); m.Type != msgEvent || m.Event.Type != string(gateway.EvQuote) || m.Session.Session.ID != idB {
		t.Errorf("B's next message: got %s; want its own quote.issued", raw)
	}

	// A leaves at out-1: the exit decision, then the session closed.
	h.sensor("out-1-loop", true)
	if d, err := h.gw.PresentAtLane(h.ctx, "out-1", ticketA); err != nil || !d.Allowed {
		t.Fatalf("exit: %v %v", d, err)
	}
	// The session is closed in the exit decision's transaction, and its
	// event comes first.
	m = a.until(gateway.EvSessionClosed)
	if e := m.Event; e.How != "exit:out-1" {
		t.Errorf("A's session.closed: got %+v; want how exit:out-1", e)
	}
	if m, raw := a.next(); m.Type != msgEvent || m.Event.Type != string(gateway.EvExit) {
		t.Errorf("after session.closed: got %s; want exit.decision", raw)
	} else if e := m.Event; e.Allowed == nil || !*e.Allowed || e.Lane != "out-1" || e.Reason != "ok" {
		t.Errorf("A's exit event: got %+v; want allowed at out-1", e)
	} else if m.Session.Session.State != "closed" || m.Session.Session.ExitAt == nil {
		t.Errorf("A's session after the exit: got %+v; want closed with an exit time", m.Session.Session)
	}
}

func TestWatchLeavesCredentialsOut(t *testing.T) {
	h := newHarness(t, nil)
	ticket, id := h.enter()
	a := h.dial(h.ts.URL, id)
	a.next()
	h.sensor("out-1-loop", true)
	if _, err := h.gw.PresentAtLane(h.ctx, "out-1", ticket); err != nil { // nothing due: free minutes
		t.Fatal(err)
	}
	for range 2 { // exit.decision (with the credential in its data), session.closed
		if _, raw := a.next(); strings.Contains(raw, strings.TrimPrefix(ticket, "LGT1:")) {
			t.Errorf("a watch message shows the ticket: %s", raw)
		}
	}
}

func TestWatchDueChanges(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.WatchRefresh = 5 * time.Millisecond })
	_, id := h.enter()
	a := h.dial(h.ts.URL, id)
	if m, _ := a.next(); m.Session.Due.Amount != 0 {
		t.Fatalf("first message: due %d; want 0 within the free minutes", m.Session.Due.Amount)
	}
	h.clock.advance(time.Hour)
	m, _ := a.next()
	if m.Type != msgSession || m.Session.Due.Amount != 300 {
		t.Errorf("after an hour: got %+v; want the session owing 300", m)
	}
}

func TestWatchNotWebsocket(t *testing.T) {
	h := newHarness(t, nil)
	_, id := h.enter()
	resp, body := h.do("GET", "/api/v1/sessions/"+id+"/watch", "", nil)
	if e := jsonOf[apiError](t, body); resp.StatusCode != 400 || e.Error != "websocket_required" {
		t.Errorf("plain GET of a watch: got %d %s; want 400 websocket_required", resp.StatusCode, body)
	}
	if st := h.hub.Stats(); st.Subscribers != 0 {
		t.Errorf("subscribers after a plain GET: got %d; want 0", st.Subscribers)
	}
}

// blockingGateway holds LookupSession while armed: a watch whose writer
// is stuck, as one writing to a client that does not read.
type blockingGateway struct {
	Gateway
	armed   atomic.Bool
	release chan struct{}
}

func (g *blockingGateway) LookupSession(ctx context.Context, ref string) (gateway.SessionView, error) {
	if g.armed.Load() {
		<-g.release
	}
	return g.Gateway.LookupSession(ctx, ref)
}

func TestWatchSlowClientDropped(t *testing.T) {
	bg := &blockingGateway{release: make(chan struct{})}
	h := newHarness(t, func(o *Options) { bg.Gateway = o.Gateway; o.Gateway = bg }, HubOptions{Queue: 2})
	_, id := h.enter()
	a := h.dial(h.ts.URL, id)
	a.next()

	// The watch's writer gets stuck on the first event; the gateway goes
	// on deciding: six quotes, each an event for the session.
	bg.armed.Store(true)
	done := make(chan error, 1)
	go func() {
		for range 6 {
			if _, _, err := h.gw.Quote(h.ctx, id); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway is blocked by a slow watch")
	}
	if st := h.hub.Stats(); st.Dropped != 1 || st.Subscribers != 0 {
		t.Errorf("hub after six events for a stuck watch with a queue of 2: got %+v; want it dropped", st)
	}
	bg.armed.Store(false)
	close(bg.release)

	// The client is told why, then the watch closes.
	m, raw := a.next()
	if m.Type != msgError || m.Error != DropSlow || m.Message == "" {
		t.Errorf("after the drop: got %s; want an error message saying slow_client", raw)
	}
	_ = a.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := a.c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || ce.Text != DropSlow {
		t.Errorf("after the error message: got %v; want a close 1008 slow_client", err)
	}
	if _, body := h.do("GET", "/metrics", "", nil); !strings.Contains(body, "lotgate_http_watch_dropped_total 1\n") {
		t.Errorf("/metrics does not count the drop:\n%s", body)
	}

	// A client that reconnects gets the session as it is.
	b := h.dial(h.ts.URL, id)
	if m, _ := b.next(); m.Type != msgSession || m.Session.Session.ID != id {
		t.Errorf("reconnected: got %+v; want the session", m)
	}
}

func TestShutdownClosesWatches(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Listen = "127.0.0.1:0" })
	if err := h.srv.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	_, id := h.enter()
	a := h.dial("http://"+h.srv.Addr(), id)
	a.next()
	ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a watch open: %v", err)
	}
	if m, raw := a.next(); m.Type != msgError || m.Error != DropShutdown {
		t.Errorf("at shutdown: got %s; want shutting_down", raw)
	}
	_, _, err := a.c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Errorf("after the error message: got %v; want a close 1001", err)
	}
}
