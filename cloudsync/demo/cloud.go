package demo

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/lotgate/lotgate/cloudsync"
	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/keys"
)

// Options configure the demo cloud.
type Options struct {
	Site     string
	SiteName string
	Currency string
	// BrokerListen and CheckoutListen are loopback host:ports (port 0
	// picks one).
	BrokerListen   string
	CheckoutListen string
	Kid            string
	Priv           ed25519.PrivateKey
	// Approve answers approval requests: "auto" approves, "refuse"
	// refuses, "ignore" lets the countdown run out.
	Approve string
	// TimeEvery is how often trusted time is sent (0: only on start).
	TimeEvery time.Duration
	Logger    *slog.Logger
}

// Bounds on what the demo cloud keeps in memory besides its open
// sessions: the latest events (for Operator().Events) and approval
// answers (for the page).
const (
	keepEvents   = 1000
	keepAnswered = 50
)

// Cloud is the demo cloud: broker, operator and checkout page. It keeps
// nothing on disk: started again beside a gateway with a history, its
// operator asks for a replay of the whole log and rebuilds the open
// sessions from it (see Operator).
type Cloud struct {
	o      Options
	log    *slog.Logger
	broker *Broker
	op     *Operator
	srv    *http.Server
	ln     net.Listener

	mu       sync.Mutex
	sessions map[string]*demoSession
	answered []string // approval answers, newest last

	stop chan struct{}
	wg   sync.WaitGroup
}

type demoSession struct {
	ID, Credential string
	QuoteID        string
	Amount         int64
	CheckoutID     string
	Opened         time.Time
	Paid           bool
}

// Start starts the broker, connects the operator and serves the checkout
// page.
func Start(o Options) (*Cloud, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Approve == "" {
		o.Approve = "auto"
	}
	c := &Cloud{o: o, log: o.Logger.With("component", "demo-cloud"), sessions: map[string]*demoSession{}, stop: make(chan struct{})}
	b, err := StartBroker(o.BrokerListen, o.Logger)
	if err != nil {
		return nil, err
	}
	c.broker = b
	c.op, err = StartOperator(OperatorOptions{Broker: b.URL(), Site: o.Site, Kid: o.Kid, Priv: o.Priv, OnEvent: c.onEvent,
		Keep: keepEvents, Logger: o.Logger})
	if err != nil {
		b.Close()
		return nil, err
	}
	if err := checkLoopback(o.CheckoutListen); err != nil {
		c.Close()
		return nil, err
	}
	c.ln, err = net.Listen("tcp", o.CheckoutListen)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("demo checkout page: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.page)
	mux.HandleFunc("POST /pay", c.pay)
	mux.HandleFunc("GET /receipt", c.receipt)
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		if err := c.srv.Serve(c.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("checkout page", "err", err)
		}
	}()
	go c.timeLoop()
	c.log.Info("demo cloud running", "broker", b.URL(), "checkout", c.CheckoutURL())
	return c, nil
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("demo checkout address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("demo checkout address %q: loopback only", addr)
	}
	return nil
}

// BrokerURL is the embedded broker's URL, for the gateway's client.
func (c *Cloud) BrokerURL() string { return c.broker.URL() }

// CheckoutURL is the checkout page's URL.
func (c *Cloud) CheckoutURL() string {
	if c.ln == nil {
		return ""
	}
	return "http://" + c.ln.Addr().String() + "/"
}

// Operator is the simulated operator (tests read its counters).
func (c *Cloud) Operator() *Operator { return c.op }

// Close stops the page, the operator and the broker.
func (c *Cloud) Close() error {
	select {
	case <-c.stop:
		return nil
	default:
	}
	close(c.stop)
	if c.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = c.srv.Shutdown(ctx)
		cancel()
	}
	c.wg.Wait()
	if c.op != nil {
		c.op.Close()
	}
	return c.broker.Close()
}

// timeLoop sends signed trusted time now and every TimeEvery.
func (c *Cloud) timeLoop() {
	defer c.wg.Done()
	send := func() {
		if _, err := c.op.Send(gateway.MsgTrustedTime, 0, map[string]any{"time": time.Now().UTC()}); err != nil {
			c.log.Warn("send trusted time", "err", err)
		}
	}
	send()
	if c.o.TimeEvery <= 0 {
		return
	}
	t := time.NewTicker(c.o.TimeEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			send()
		}
	}
}

// onEvent follows sessions, quotes and checkouts, and answers approval
// requests, except those in the history it replays at start (a cloud
// before it answered them, or let them run out). It runs in the MQTT
// handler: slow work goes to a goroutine.
func (c *Cloud) onEvent(e cloudsync.Event, history bool) {
	var d map[string]any
	if json.Unmarshal(e.Data, &d) != nil {
		return
	}
	str := func(k string) string { s, _ := d[k].(string); return s }
	num := func(k string) int64 { f, _ := d[k].(float64); return int64(f) }
	c.mu.Lock()
	defer c.mu.Unlock()
	switch gateway.EventType(e.Type) {
	case gateway.EvSessionOpened:
		c.sessions[str("session_id")] = &demoSession{ID: str("session_id"), Credential: str("credential"), Opened: e.Time}
	case gateway.EvSessionClosed:
		delete(c.sessions, str("session_id"))
	case gateway.EvQuote:
		if s := c.sessions[str("session_id")]; s != nil {
			s.QuoteID, s.Amount = str("quote_id"), num("amount")
		}
	case gateway.EvCheckout:
		if s := c.sessions[str("session_id")]; s != nil && str("checkout_id") != "" {
			s.CheckoutID = str("checkout_id")
		}
	case gateway.EvPayment:
		if s := c.sessions[str("session_id")]; s != nil {
			s.Paid = d["settled"] == true
		}
	case gateway.EvApprovalRequested:
		if history {
			return
		}
		id, who, nick := str("request_id"), str("requester"), str("nickname")
		if c.o.Approve == "ignore" {
			c.answer(fmt.Sprintf("%s: %s asked for %s; left unanswered", id, who, nick))
			return
		}
		approved := c.o.Approve == "auto"
		c.answer(fmt.Sprintf("%s: %s asked for %s (%s %s); approved=%v", id, who, nick, str("action"), str("resource"), approved))
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if _, err := c.op.Send(gateway.MsgApproval, time.Minute, map[string]any{"request_id": id, "approved": approved, "operator": "demo-owner"}); err != nil {
				c.log.Warn("answer approval request", "id", id, "err", err)
			}
		}()
	}
}

// answer records an approval answer for the page, keeping the latest
// keepAnswered (c.mu held).
func (c *Cloud) answer(line string) {
	c.answered = append(c.answered, line)
	if len(c.answered) > keepAnswered {
		c.answered = append([]string(nil), c.answered[len(c.answered)-keepAnswered:]...)
	}
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>lotgate demo checkout</title>
<style>body{font-family:sans-serif;max-width:46em;margin:2em auto}td,th{padding:.3em .6em;text-align:left}</style></head>
<body><h1>Demo operator cloud — {{.Site}}</h1>
<p>This is the <b>demo</b> cloud: it signs with the public DEMO key. Payments here are pretend.</p>
<h2>Open sessions</h2>
{{if .Sessions}}<table><tr><th>session</th><th>credential</th><th>quoted</th><th></th></tr>
{{range .Sessions}}<tr><td>{{.ID}}</td><td>{{.Credential}}</td><td>{{if .QuoteID}}{{.Amount}} (quote {{.QuoteID}}){{else}}no quote yet{{end}}</td>
<td>{{if .Paid}}paid{{else}}<form method="post" action="pay"><input type="hidden" name="session" value="{{.ID}}">
<input name="amount" size="6" value="{{.Amount}}"> <button>Pay</button></form>{{end}}</td></tr>{{end}}</table>
{{else}}<p>None yet. A session appears when a car enters (console: <code>car in-1</code>, <code>ticket in-1</code>).</p>{{end}}
<p>Amounts are minor units ({{.Currency}} cents). Quote a fee first (console: <code>fee</code>, <code>checkout</code>) so the amount shows here.</p>
<h2>Approval requests</h2>{{range .Answered}}<div>{{.}}</div>{{else}}<p>None.</p>{{end}}
</body></html>`))

func (c *Cloud) page(w http.ResponseWriter, _ *http.Request) {
	c.mu.Lock()
	var ss []demoSession
	for _, s := range c.sessions {
		ss = append(ss, *s)
	}
	answered := append([]string(nil), c.answered...)
	c.mu.Unlock()
	sort.Slice(ss, func(i, j int) bool { return ss[i].Opened.Before(ss[j].Opened) })
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pageTmpl.Execute(w, map[string]any{"Site": c.o.SiteName, "Sessions": ss, "Answered": answered, "Currency": c.o.Currency})
}

// completion builds a signed payment completion for a session.
func (c *Cloud) completion(sessionID string, amount int64) ([]byte, error) {
	c.mu.Lock()
	s := c.sessions[sessionID]
	var sc demoSession
	if s != nil {
		sc = *s
	}
	c.mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("no open session %q", sessionID)
	}
	if amount <= 0 {
		return nil, errors.New("the amount must be positive")
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	body := map[string]any{"payment_id": "demo-pay-" + hex.EncodeToString(rnd[:]), "ref": sc.ID, "amount": amount,
		"currency": c.o.Currency, "paid_at": time.Now().UTC()}
	if sc.QuoteID != "" {
		body["quote_id"] = sc.QuoteID
	}
	if sc.CheckoutID != "" {
		body["checkout_id"] = sc.CheckoutID
	}
	raw, _, err := c.op.Sign(gateway.MsgPayment, 0, body)
	return raw, err
}

func (c *Cloud) pay(w http.ResponseWriter, r *http.Request) {
	amount, err := strconv.ParseInt(r.FormValue("amount"), 10, 64)
	if err != nil {
		http.Error(w, "amount: want minor units", http.StatusBadRequest)
		return
	}
	raw, err := c.completion(r.FormValue("session"), amount)
	if err == nil {
		err = c.op.SendRaw(raw)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, "./", http.StatusSeeOther)
}

// receipt returns a signed completion as LGR1: text without sending it:
// what a driver's phone carries to a gateway with no uplink.
func (c *Cloud) receipt(w http.ResponseWriter, r *http.Request) {
	amount, err := strconv.ParseInt(r.FormValue("amount"), 10, 64)
	if err != nil {
		http.Error(w, "amount: want minor units", http.StatusBadRequest)
		return
	}
	raw, err := c.completion(r.FormValue("session"), amount)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, keys.EncodeReceiptText(raw))
}
