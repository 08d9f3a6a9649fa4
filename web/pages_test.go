package web

import (
	"html"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// postForm posts the /r form.
func (h *harness) postForm(receipt string) (int, string) {
	h.t.Helper()
	resp, body := h.do("POST", "/r", "application/x-www-form-urlencoded", strings.NewReader(url.Values{"receipt": {receipt}}.Encode()))
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		h.t.Errorf("POST /r: Content-Type %q; want HTML", ct)
	}
	return resp.StatusCode, body
}

func TestReceiptPage(t *testing.T) {
	h := newHarness(t, nil)
	_, id := h.enter()
	h.sensor("P01-sensor", true)
	h.clock.advance(61 * time.Second)
	h.gw.Tick(h.ctx, h.clock.Now()) // the flap rises, a space session opens
	h.clock.advance(time.Hour)
	space, err := h.gw.LookupSession(h.ctx, "space:P01")
	if err != nil {
		t.Fatal(err)
	}

	resp, body := h.do("GET", "/r", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `<form method="post" action="r">`) || !strings.Contains(body, `name="receipt"`) {
		t.Errorf("GET /r: got %d %s; want the form", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("GET /r: CSP %q; want default-src 'none'", csp)
	}
	if strings.Contains(body, "<script") {
		t.Errorf("GET /r has a script: %s", body)
	}

	paid := h.receipt("m-1", "demo-lot", "pay-1", id, 450) // 1h01: three units
	tests := []struct {
		name    string
		receipt string
		status  int
		want    []string
	}{
		{"paid", paid, 200, []string{"Paid. The gate will open.", "We received 4.50 EUR.", "show your ticket", "Please leave before 11:16."}},
		{"again", paid, 200, []string{"Already paid", "You do not pay twice."}},
		{"a space", h.receipt("m-2", "demo-lot", "pay-2", space.Session.ID, 450), 200, []string{"Paid. The gate will open.", "The lock on space P01 lowers"}},
		{"refused", h.receipt("m-4", "other-lot", "pay-4", id, 300), 200, []string{"Refused: The key is for another site", "Code: wrong_site", `name="receipt"`}},
		{"not a receipt", "hello", 400, []string{"This is not a payment receipt", "Code: not_a_receipt"}},
		{"too long", "LGR1:" + strings.Repeat("A", 20<<10), 413, []string{"too long to be a payment receipt"}},
	}
	for _, tt := range tests {
		status, body := h.postForm(tt.receipt)
		if status != tt.status {
			t.Errorf("%s: got %d; want %d\n%s", tt.name, status, tt.status, body)
		}
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: the page lacks %q:\n%s", tt.name, w, body)
			}
		}
	}
	if d := h.due(id); d != 0 {
		t.Errorf("due after the page: got %d; want 0", d)
	}
}

func TestReceiptPagePartial(t *testing.T) {
	h := newHarness(t, nil)
	_, id := h.enter()
	h.clock.advance(time.Hour)
	_, body := h.postForm(h.receipt("m-1", "demo-lot", "pay-1", id, 100))
	for _, w := range []string{"Payment received, but something is still due", "We received 1.00 EUR.", "Still due: 2.00 EUR."} {
		if !strings.Contains(body, w) {
			t.Errorf("1.00 of 3.00: the page lacks %q:\n%s", w, body)
		}
	}
}

func TestReceiptPageEscapes(t *testing.T) {
	h := newHarness(t, nil)
	h.site.Name = `<b>Lot & "Co"</b>`
	evil := `LGR1:</textarea><script>alert(1)</script>`
	resp, body := h.do("GET", "/r?receipt="+url.QueryEscape(evil), "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /r?receipt=…: got %d", resp.StatusCode)
	}
	for _, bad := range []string{"<script>", "</textarea><", "<b>Lot"} {
		if strings.Contains(body, bad) {
			t.Errorf("the page carries %q unescaped:\n%s", bad, body)
		}
	}
	for _, want := range []string{"LGR1:&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;b&gt;Lot &amp; &#34;Co&#34;&lt;/b&gt;",
		"Tap the button below to send it to the gate."} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q:\n%s", want, body)
		}
	}
	// A prefilled link changes nothing until the driver sends the form.
	_, id := h.enter()
	h.clock.advance(time.Hour)
	link := h.receipt("m-1", "demo-lot", "pay-1", id, 300)
	_, body = h.do("GET", "/r?receipt="+url.QueryEscape(link), "", nil)
	if !strings.Contains(html.UnescapeString(body), link) {
		t.Errorf("GET /r?receipt=: the form is not filled in:\n%s", body)
	}
	if d := h.due(id); d != 300 {
		t.Errorf("due after following the link: got %d; want 300 (a GET applies nothing)", d)
	}
	status, body := h.postForm(link)
	if status != 200 || !strings.Contains(body, "Paid. The gate will open.") {
		t.Errorf("sending the prefilled form: got %d\n%s", status, body)
	}
}

func TestAssets(t *testing.T) {
	h := newHarness(t, nil)
	resp, body := h.do("GET", "/assets/style.css", "", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") || !strings.Contains(body, "body") {
		t.Errorf("GET /assets/style.css: got %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp, _ := h.do("PUT", "/r", "", nil); resp.StatusCode != 405 {
		t.Errorf("PUT /r: got %d; want 405", resp.StatusCode)
	}
}

// The page's result for each outcome, without a server.
func TestDescribe(t *testing.T) {
	h := newHarness(t, nil)
	yes, no := true, false
	due := int64(50)
	tests := []struct {
		res      receiptResult
		class    string
		headline string
	}{
		{receiptResult{Outcome: outcomeApplied, Amount: 100, Currency: "EUR", Settled: &yes}, "ok", "Paid. The gate will open."},
		{receiptResult{Outcome: outcomeApplied, Amount: 100, Currency: "EUR", Settled: &no, Due: &due}, "warn", "Payment received, but something is still due"},
		{receiptResult{Outcome: outcomeDuplicate}, "info", "Already paid"},
		{receiptResult{Outcome: outcomeRefused, Reason: "expired", Message: gateway.ReasonText(gateway.ReasonExpired)}, "bad", "Refused: The key has expired"},
		{receiptResult{Outcome: outcomePending}, "info", "Received"},
	}
	for _, tt := range tests {
		p := h.srv.describe(h.ctx, tt.res)
		if p.Class != tt.class || p.Headline != tt.headline {
			t.Errorf("describe(%+v): got %s %q; want %s %q", tt.res, p.Class, p.Headline, tt.class, tt.headline)
		}
	}
}
