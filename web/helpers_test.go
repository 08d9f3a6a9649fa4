package web

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lotgate/lotgate/config"
	"github.com/lotgate/lotgate/drivers/sim"
	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/keys"
	"github.com/lotgate/lotgate/gateway/sqlite"
)

// manualClock is a clock the test moves.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness is a real gateway on a real SQLite store in a temporary
// directory, on the example site with simulated devices, its cloud sync
// side (no MQTT), and the web server in front of it in an httptest
// server.
type harness struct {
	t     *testing.T
	ctx   context.Context
	clock *manualClock
	site  *gateway.Site
	db    *sqlite.DB
	devs  *sim.Site
	gw    *gateway.Gateway
	sync  *gateway.Sync
	hub   *Hub
	srv   *Server
	ts    *httptest.Server
	priv  ed25519.PrivateKey
	kid   string
}

// start is 10:00 in Berlin on a Monday: the day band, 1.50 per 30 min
// after 15 free minutes.
var start = time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)

// newHarness builds the harness; edit, when given, changes the server's
// options before it is built, and site the site before the gateway is.
func newHarness(t *testing.T, edit func(*Options), hubOpts ...HubOptions) *harness {
	t.Helper()
	ctx := context.Background()
	f, err := config.Load(filepath.Join("..", "configs", "site.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ctx: ctx, clock: &manualClock{t: start}, site: f.Site}
	h.db, err = sqlite.Open(ctx, filepath.Join(t.TempDir(), "lotgate.db"), sqlite.Options{GroupCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.db.Close() })
	if h.devs, err = sim.New(f.Site, nil); err != nil {
		t.Fatal(err)
	}
	ho := HubOptions{}
	if len(hubOpts) > 0 {
		ho = hubOpts[0]
	}
	h.hub = NewHub(ho)
	h.gw, err = gateway.New(gateway.Options{Site: f.Site, Store: h.db, Actuators: h.devs.Actuators(), Clock: h.clock,
		Observers: []gateway.Observer{h.hub}})
	if err != nil {
		t.Fatal(err)
	}
	h.devs.Attach(h.gw)
	if err := h.gw.Open(ctx); err != nil {
		t.Fatal(err)
	}
	h.sync = gateway.NewSync(h.gw, gateway.SyncOptions{})
	seed, err := os.ReadFile(filepath.Join("..", "configs", "demo-operator.seed"))
	if err != nil {
		t.Fatal(err)
	}
	if h.priv, err = keys.ParsePrivateKey(strings.TrimSpace(string(seed))); err != nil {
		t.Fatal(err)
	}
	h.kid = keys.DeriveKID(h.priv.Public().(ed25519.PublicKey))
	o := Options{Gateway: h.gw, Store: h.db, Receipts: h.sync, Hub: h.hub, Clock: h.clock, Version: "test",
		ReceiptRate: 1000, ReceiptBurst: 1000}
	if edit != nil {
		edit(&o)
	}
	if h.srv, err = New(o); err != nil {
		t.Fatal(err)
	}
	h.ts = httptest.NewServer(h.srv.Handler())
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := h.srv.Shutdown(sctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		h.ts.Close()
	})
	return h
}

// enter lets a car in at in-1 with a ticket and returns the ticket text
// and the session ID.
func (h *harness) enter() (string, string) {
	h.t.Helper()
	h.sensor("in-1-loop", true)
	d, ticket, err := h.gw.IssueTicket(h.ctx, "in-1")
	if err != nil || !d.Allowed {
		h.t.Fatalf("IssueTicket: %v %v", d, err)
	}
	h.sensor("in-1-loop", false)
	v, err := h.gw.LookupSession(h.ctx, ticket)
	if err != nil {
		h.t.Fatal(err)
	}
	return ticket, v.Session.ID
}

func (h *harness) sensor(id string, on bool) {
	h.t.Helper()
	if err := h.devs.SetSensor(h.ctx, id, on); err != nil {
		h.t.Fatal(err)
	}
}

// due is what a session owes now.
func (h *harness) due(ref string) int64 {
	h.t.Helper()
	v, err := h.gw.LookupSession(h.ctx, ref)
	if err != nil {
		h.t.Fatal(err)
	}
	return v.Due.Amount
}

// receipt is a payment completion signed by the demo operator, as LGR1:
// text.
func (h *harness) receipt(msgID, site, paymentID, ref string, amount int64) string {
	h.t.Helper()
	return h.receiptBy(h.priv, msgID, site, paymentID, ref, amount)
}

func (h *harness) receiptBy(priv ed25519.PrivateKey, msgID, site, paymentID, ref string, amount int64) string {
	h.t.Helper()
	body, err := json.Marshal(map[string]any{"payment_id": paymentID, "ref": ref, "amount": amount, "currency": "EUR",
		"paid_at": h.clock.Now().UTC()})
	if err != nil {
		h.t.Fatal(err)
	}
	raw, err := keys.SignMessage(keys.Message{ID: msgID, Type: gateway.MsgPayment, Site: site,
		IssuedAt: h.clock.Now().Truncate(time.Second), Body: body}, keys.DeriveKID(priv.Public().(ed25519.PublicKey)), priv)
	if err != nil {
		h.t.Fatal(err)
	}
	return keys.EncodeReceiptText(raw)
}

// do sends a request to the server and returns the answer and its body.
func (h *harness) do(method, path, contentType string, body io.Reader) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.ts.URL+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, string(b)
}

// jsonOf decodes a JSON answer.
func jsonOf[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	return v
}
