package web

import (
	"crypto/ed25519"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestGetSession(t *testing.T) {
	h := newHarness(t, nil)
	ticket, id := h.enter()
	h.clock.advance(time.Hour) // two day units: 3.00

	ticketID := strings.TrimPrefix(ticket, "LGT1:")
	for _, ref := range []string{ticket, id, "ticket:" + ticketID} {
		resp, body := h.do("GET", "/api/v1/sessions/"+url.PathEscape(ref), "", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET session %q: got %d %s; want 200", ref, resp.StatusCode, body)
		}
		v := jsonOf[sessionView](t, body)
		if v.Session.ID != id || v.Session.Kind != "ticket" || v.Session.State != "open" || v.Session.Lane != "in-1" {
			t.Errorf("GET session %q: got %+v; want open ticket session %s from in-1", ref, v.Session, id)
		}
		if v.Due.Amount != 300 || v.Due.Fee != 300 || v.Due.Currency != "EUR" || v.Due.MayLeave {
			t.Errorf("GET session %q: got due %+v; want 300 EUR due, not free to leave", ref, v.Due)
		}
		if v.Quote != nil || v.Checkout != nil {
			t.Errorf("GET session %q: got quote %+v checkout %+v; want none", ref, v.Quote, v.Checkout)
		}
		if strings.Contains(body, ticketID) {
			t.Errorf("GET session %q: the answer shows the ticket's ID: %s", ref, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("Content-Type: got %q; want JSON", ct)
		}
	}

	// A checkout in progress shows with the quote it holds.
	co, q, err := h.gw.BeginCheckout(h.ctx, ticket)
	if err != nil {
		t.Fatal(err)
	}
	_, body := h.do("GET", "/api/v1/sessions/"+id, "", nil)
	v := jsonOf[sessionView](t, body)
	if v.Checkout == nil || v.Checkout.ID != co.ID || v.Quote == nil || v.Quote.ID != q.ID || v.Quote.Amount != 300 {
		t.Errorf("GET session with a checkout: got checkout %+v quote %+v; want %s holding %s for 300", v.Checkout, v.Quote, co.ID, q.ID)
	}
}

func TestGetSessionErrors(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/api/v1/sessions/s-NOSUCHSESSION", 404, "not_found"},
		{"GET", "/api/v1/sessions/" + url.PathEscape("LGT1:NOPE"), 404, "not_found"},
		{"POST", "/api/v1/sessions/s-X", 405, "method_not_allowed"},
		{"DELETE", "/api/v1/sessions/s-X", 405, "method_not_allowed"},
		{"GET", "/api/v1/nothing", 404, "not_found"},
		{"GET", "/api/v1/sessions/", 404, "not_found"},
		{"GET", "/api/v1/receipts", 405, "method_not_allowed"},
		{"POST", "/healthz", 405, "method_not_allowed"},
		{"GET", "/api/v1/sessions/s-NOSUCHSESSION/watch", 404, "not_found"},
	}
	for _, tt := range tests {
		resp, body := h.do(tt.method, tt.path, "", nil)
		e := jsonOf[apiError](t, body)
		if resp.StatusCode != tt.status || e.Error != tt.code || e.Message == "" {
			t.Errorf("%s %s: got %d %+v; want %d %s with a message", tt.method, tt.path, resp.StatusCode, e, tt.status, tt.code)
		}
		if tt.status == 405 && resp.Header.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", tt.method, tt.path)
		}
	}
}

func TestPostReceipt(t *testing.T) {
	h := newHarness(t, nil)
	ticket, id := h.enter()
	_, other := h.enter()
	h.clock.advance(time.Hour)

	_, stranger, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	paid := h.receipt("m-1", "demo-lot", "pay-1", id, 300)
	tests := []struct {
		name, ctype, body string
		status            int
		outcome, reason   string // or the error code
		duplicate         bool
	}{
		{"applied", "text/plain", paid, 200, "applied", "ok", false},
		{"same message again", "text/plain; charset=utf-8", paid, 200, "duplicate", "ok", true},
		{"same payment in a new message, as JSON", "application/json",
			`{"receipt": "` + h.receipt("m-2", "demo-lot", "pay-1", id, 300) + `"}`, 200, "duplicate", "ok", true},
		{"form field", "application/x-www-form-urlencoded",
			"receipt=" + url.QueryEscape(h.receipt("m-3", "demo-lot", "pay-2", other, 100)), 200, "applied", "ok", false},
		{"raw text sent as a form (curl --data)", "application/x-www-form-urlencoded",
			h.receipt("m-4", "demo-lot", "pay-3", other, 100), 200, "applied", "ok", false},
		{"no Content-Type", "", h.receipt("m-5", "demo-lot", "pay-4", other, 50), 200, "applied", "ok", false},
		{"another site", "text/plain", h.receipt("m-6", "other-lot", "pay-5", id, 300), 200, "refused", "wrong_site", false},
		{"unknown session", "text/plain", h.receipt("m-7", "demo-lot", "pay-6", "s-NOSUCH", 300), 200, "refused", "no_session", false},
		{"signed by a stranger", "text/plain", h.receiptBy(stranger, "m-8", "demo-lot", "pay-7", id, 300), 200, "refused", "unknown_kid", false},
		{"not base45", "text/plain", "LGR1:!!!!", 200, "refused", "malformed", false},
		{"not a receipt", "text/plain", ticket, 400, "", "not_a_receipt", false},
		{"empty", "text/plain", "  \n", 400, "", "malformed_body", false},
		{"a form without a receipt", "application/x-www-form-urlencoded", "hello", 400, "", "not_a_receipt", false},
		{"a form with an empty receipt", "application/x-www-form-urlencoded", "receipt=&x=1", 400, "", "malformed_body", false},
		{"bad JSON", "application/json", `{"receipt": `, 400, "", "malformed_body", false},
		{"unknown JSON field", "application/json", `{"receipt": "` + paid + `", "tip": 1}`, 400, "", "malformed_body", false},
		{"two JSON objects", "application/json", `{"receipt": "` + paid + `"} {}`, 400, "", "malformed_body", false},
		{"JSON without a receipt", "application/json", `{}`, 400, "", "malformed_body", false},
		{"unsupported type", "image/png", paid, 415, "", "unsupported_media_type", false},
		{"unreadable type", "text/plain; ===", paid, 415, "", "unsupported_media_type", false},
		{"too big", "text/plain", "LGR1:" + strings.Repeat("A", 20<<10), 413, "", "body_too_large", false},
	}
	for _, tt := range tests {
		resp, body := h.do("POST", "/api/v1/receipts", tt.ctype, strings.NewReader(tt.body))
		if resp.StatusCode != tt.status {
			t.Errorf("%s: got %d %s; want %d", tt.name, resp.StatusCode, body, tt.status)
			continue
		}
		if tt.status != 200 {
			e := jsonOf[apiError](t, body)
			if e.Error != tt.reason || e.Message == "" {
				t.Errorf("%s: got error %+v; want %s with a message", tt.name, e, tt.reason)
			}
			continue
		}
		r := jsonOf[receiptResult](t, body)
		if r.Outcome != tt.outcome || r.Reason != tt.reason || r.Duplicate != tt.duplicate || r.Message == "" {
			t.Errorf("%s: got %+v; want outcome %s reason %s duplicate %v, with a message", tt.name, r, tt.outcome, tt.reason, tt.duplicate)
		}
	}

	// One payment of 3.00, applied once: the session owes nothing.
	if d := h.due(id); d != 0 {
		t.Errorf("due after the receipt: got %d; want 0", d)
	}
	v, err := h.gw.LookupSession(h.ctx, id)
	if err != nil || v.Session.Paid != 300 {
		t.Errorf("paid after the receipt and its duplicates: got %d %v; want 300", v.Session.Paid, err)
	}
	_, body := h.do("POST", "/api/v1/receipts", "text/plain", strings.NewReader(h.receipt("m-9", "demo-lot", "pay-9", ticket, 100)))
	r := jsonOf[receiptResult](t, body)
	if r.Outcome != "applied" || r.SessionID != id || r.Amount != 100 || r.Due == nil || *r.Due != 0 || r.Settled == nil || !*r.Settled || r.Currency != "EUR" {
		t.Errorf("a receipt by ticket text: got %+v; want applied to %s, 100 EUR, nothing due", r, id)
	}
}

func TestPostReceiptPartial(t *testing.T) {
	h := newHarness(t, nil)
	_, id := h.enter()
	h.clock.advance(time.Hour)
	_, body := h.do("POST", "/api/v1/receipts", "text/plain", strings.NewReader(h.receipt("m-1", "demo-lot", "pay-1", id, 100)))
	r := jsonOf[receiptResult](t, body)
	if r.Outcome != "applied" || r.Settled == nil || *r.Settled || r.Due == nil || *r.Due != 200 {
		t.Errorf("1.00 of 3.00: got %+v; want applied, not settled, 200 due", r)
	}
}

func TestPostReceiptRateLimit(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.ReceiptRate, o.ReceiptBurst = 1, 2 })
	_, id := h.enter()
	text := h.receipt("m-1", "demo-lot", "pay-1", id, 100)
	var got []int
	for range 3 {
		resp, _ := h.do("POST", "/api/v1/receipts", "text/plain", strings.NewReader(text))
		got = append(got, resp.StatusCode)
	}
	resp, body := h.do("POST", "/api/v1/receipts", "text/plain", strings.NewReader(text))
	if e := jsonOf[apiError](t, body); resp.StatusCode != 429 || e.Error != "too_many_requests" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("over the limit: got %d %+v; want 429 too_many_requests with Retry-After", resp.StatusCode, e)
	}
	if got[0] != 200 || got[1] != 200 || got[2] != 429 {
		t.Errorf("three receipts at once with a burst of 2: got %v; want 200 200 429", got)
	}
	h.clock.advance(time.Second) // one more token
	if resp, _ := h.do("POST", "/api/v1/receipts", "text/plain", strings.NewReader(text)); resp.StatusCode != 200 {
		t.Errorf("a second later: got %d; want 200", resp.StatusCode)
	}
}

func TestPostReceiptWithoutSync(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Receipts = nil })
	resp, body := h.do("POST", "/api/v1/receipts", "text/plain", strings.NewReader("LGR1:X"))
	if e := jsonOf[apiError](t, body); resp.StatusCode != 503 || e.Error != "unavailable" {
		t.Errorf("no receipts: got %d %+v; want 503 unavailable", resp.StatusCode, e)
	}
}
