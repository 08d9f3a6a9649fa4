package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/keys"
)

// startGatewayLogged is startGateway keeping the logs, where the web
// server says where it listens.
func startGatewayLogged(t *testing.T, cfg string) (*gatewayProcess, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	logs := &syncBuffer{}
	p := &gatewayProcess{t: t, in: pw, out: &syncBuffer{}, done: make(chan error, 1), cancel: cancel}
	go func() {
		p.done <- run(ctx, []string{"run", "--config", cfg}, func(string) string { return "" }, pr, p.out, logs)
	}()
	p.expect(`Type help`)
	t.Cleanup(func() {
		cancel()
		pw.Close()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Error("gateway did not stop")
		}
	})
	return p, logs
}

// httpAddr finds the address the web server logged ("http listening").
func httpAddr(t *testing.T, logs *syncBuffer) string {
	t.Helper()
	rx := regexp.MustCompile(`msg="http listening".* addr=(\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := rx.FindStringSubmatch(logs.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no http listening line in the logs:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond) // polling another goroutine's output
	}
}

func httpDo(t *testing.T, method, u, ctype, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestWebReceiptOffline: the site has no uplink (its broker cannot be
// reached), the driver's phone has. The phone carries the cloud-signed
// payment completion to the gateway's local API; it lifts the exit
// restriction, so the car leaves at the exit lane. The same receipt
// posted again is a duplicate, not a second payment.
func TestWebReceiptOffline(t *testing.T) {
	cfg := exampleSite(t, [2]string{"free_minutes: 15", "free_minutes: 0"})
	// A real MQTT cloud whose broker is not there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	offline := regexp.MustCompile(`mode: demo\n  demo: \{[^}]*\}`).ReplaceAllString(string(text), "mode: mqtt\n  broker: tcp://"+dead)
	if offline == string(text) {
		t.Fatal("the example site's cloud section was not found")
	}
	if err := os.WriteFile(cfg, []byte(offline), 0o644); err != nil {
		t.Fatal(err)
	}

	p, logs := startGatewayLogged(t, cfg)
	base := "http://" + httpAddr(t, logs)
	if code, body := httpDo(t, "GET", base+"/readyz", "", ""); code != 200 {
		t.Fatalf("GET /readyz: %d %s", code, body)
	}

	// A car enters and owes its first unit.
	p.do("car in-1", `car on lane in-1`)
	ticket := regexp.MustCompile(`LGT1:\w+`).FindString(p.do("ticket in-1", `ticket in-1-ticket: LGT1:\w+`))
	p.do("gone in-1", `car gone`)
	code, body := httpDo(t, "GET", base+"/api/v1/sessions/"+url.PathEscape(ticket), "", "")
	if code != 200 {
		t.Fatalf("GET session: %d %s", code, body)
	}
	var v struct {
		Session struct{ ID, State string }
		Due     struct{ Amount, Paid int64 }
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Due.Amount <= 0 {
		t.Fatalf("session %s: %v; want something due", body, err)
	}
	p.do("car out-1", `car on lane out-1`)
	p.do("present out-1 "+ticket, `denied: payment_due`)

	// The cloud signed the completion; the phone carries it.
	priv, err := readSeed(filepath.Join(filepath.Dir(cfg), "demo-operator.seed"))
	if err != nil {
		t.Fatal(err)
	}
	pay, err := json.Marshal(map[string]any{"payment_id": "phone-pay-1", "ref": v.Session.ID, "amount": v.Due.Amount,
		"currency": "EUR", "paid_at": time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := keys.SignMessage(keys.Message{ID: "phone-msg-1", Type: gateway.MsgPayment, Site: "demo-lot",
		IssuedAt: time.Now().Truncate(time.Second), Body: pay}, keys.DeriveKID(priv.Public().(ed25519.PublicKey)), priv)
	if err != nil {
		t.Fatal(err)
	}
	receipt := keys.EncodeReceiptText(raw)
	var res struct {
		Outcome string
		Settled *bool
	}
	code, body = httpDo(t, "POST", base+"/api/v1/receipts", "text/plain", receipt)
	if code != 200 {
		t.Fatalf("POST receipt: %d %s", code, body)
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil || res.Outcome != "applied" || res.Settled == nil || !*res.Settled {
		t.Fatalf("POST receipt: %s; want applied and settled", body)
	}

	// The exit opens for the ticket and the car leaves.
	p.do("present out-1 "+ticket, `allowed \(ok\)`)
	p.do("lanes", `out-1 exit occupied=true barrier_up=true`)
	p.do("gone out-1", `car gone`)
	p.do("sessions", `no open sessions`)

	// The same receipt again: a duplicate, and no second payment.
	code, body = httpDo(t, "POST", base+"/api/v1/receipts", "application/json", `{"receipt": "`+receipt+`"}`)
	if err := json.Unmarshal([]byte(body), &res); code != 200 || err != nil || res.Outcome != "duplicate" {
		t.Errorf("POST the receipt again: %d %s; want 200 duplicate", code, body)
	}
	_, body = httpDo(t, "GET", base+"/api/v1/sessions/"+v.Session.ID, "", "")
	var after struct {
		Session struct{ State string }
		Due     struct{ Paid int64 }
	}
	if err := json.Unmarshal([]byte(body), &after); err != nil || after.Session.State != "closed" || after.Due.Paid != v.Due.Amount {
		t.Errorf("session after the duplicate: %s; want closed, paid %d once", body, v.Due.Amount)
	}

	// The degraded mode and the receipts are in /metrics.
	_, body = httpDo(t, "GET", base+"/metrics", "", "")
	for _, want := range []string{`lotgate_cloud_degraded{mode="broker_unreachable"} 1`, `lotgate_cloud_connected 0`,
		`lotgate_http_receipts_total{result="applied"} 1`, `lotgate_http_receipts_total{result="duplicate"} 1`,
		`lotgate_build_info{version="` + version + `",site="demo-lot"} 1`} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	p.do("events 30", `cloud.duplicate .*"message_id":"phone-msg-1".*"source":"web"`)
	p.do("verify", `hash chain intact`)
	p.stop()
	if !strings.Contains(logs.String(), `msg="receipt posted"`) {
		t.Errorf("the logs do not tell of the receipt:\n%s", logs.String())
	}
}
