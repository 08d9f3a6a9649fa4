package web

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/keys"
)

// The pages are HTML with no script, rendered by html/template (which
// escapes everything it is given) from templates embedded in the binary;
// static files are served under /assets/. The driver pages (/x/{exit})
// and the installer UI (/admin/) will be added the same way.

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// pageCSP lets the pages load their stylesheet and post their forms to
// the gateway, and nothing else.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

type pages struct {
	receipt *template.Template
	assets  http.Handler
}

func newPages() (*pages, error) {
	t, err := template.ParseFS(templateFS, "templates/receipt.html")
	if err != nil {
		return nil, fmt.Errorf("web: parse page templates: %w", err)
	}
	sub, err := fs.Sub(assetFS, "assets")
	if err != nil {
		return nil, fmt.Errorf("web: assets: %w", err)
	}
	return &pages{receipt: t, assets: assetHandler(sub)}, nil
}

// assetHandler serves the embedded static files (the request path is the
// file's name, /assets/ already stripped). A directory, the listing
// http.FileServer would print, and a missing file answer the API's JSON
// 404: the assets are files, never an index.
func assetHandler(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if name == "" {
			name = "."
		}
		if st, err := fs.Stat(fsys, name); err != nil || st.IsDir() {
			writeError(w, http.StatusNotFound, codeNotFound, "no such asset: /assets/"+r.URL.Path)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// receiptPageData fills templates/receipt.html.
type receiptPageData struct {
	Title    string
	SiteName string
	Result   *pageResult
	ShowForm bool
	Hint     string
	Receipt  string // the text the form shows
	MaxLen   int
}

// pageResult is what the page says happened.
type pageResult struct {
	Class    string // ok, info, warn or bad (the stylesheet's colours)
	Headline string
	Lines    []string
	Code     string // the stable reason code, for the attendant
}

const formHint = "Paste the receipt your payment app gave you. It starts with LGR1:."

// render writes a page; a template that fails is an internal error.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, d receiptPageData) {
	site := s.o.Gateway.Site()
	d.SiteName = site.Name
	if d.SiteName == "" {
		d.SiteName = site.ID
	}
	if d.Title == "" {
		d.Title = "Pay with a receipt"
	}
	d.MaxLen = keys.MaxReceiptTextLen
	var b bytes.Buffer
	if err := s.pages.receipt.Execute(&b, d); err != nil {
		s.log.Error("render page", "path", r.URL.Path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// receiptPage is GET /r: the form, filled in when the link carries the
// receipt (/r?receipt=LGR1:…, percent-encoded), so a cloud checkout page
// can link straight to it. It is applied only when the driver sends the
// form: a GET changes nothing (link previews and prefetches follow
// links).
func (s *Server) receiptPage(w http.ResponseWriter, r *http.Request) {
	d := receiptPageData{ShowForm: true, Hint: formHint}
	if text := strings.TrimSpace(r.URL.Query().Get("receipt")); text != "" {
		if len(text) > keys.MaxReceiptTextLen+64 {
			text = text[:keys.MaxReceiptTextLen+64]
		}
		d.Receipt = text
		d.Result = &pageResult{Class: "info", Headline: "Your payment receipt is here",
			Lines: []string{"Tap the button below to send it to the gate."}}
	}
	s.render(w, r, http.StatusOK, d)
}

// receiptPagePost is POST /r: the receipt applied, and what came of it in
// plain words.
func (s *Server) receiptPagePost(w http.ResponseWriter, r *http.Request) {
	d := receiptPageData{Title: "Payment", ShowForm: true, Hint: formHint}
	if s.o.Receipts == nil {
		d.Result = &pageResult{Class: "bad", Headline: "This gate takes no receipts", Lines: []string{"Please pay at the pay station."}}
		s.render(w, r, http.StatusServiceUnavailable, d)
		return
	}
	if !s.limit.allow() {
		s.stats.receipt("limited")
		w.Header().Set("Retry-After", "1")
		d.Result = &pageResult{Class: "warn", Headline: "Too busy right now", Lines: []string{"Please send it again in a moment."}}
		s.render(w, r, http.StatusTooManyRequests, d)
		return
	}
	text, bp := readReceipt(r)
	if bp != nil {
		s.stats.receipt("rejected")
		d.Result = &pageResult{Class: "bad", Headline: "This is not a payment receipt", Lines: []string{bp.message}, Code: bp.code}
		if bp.code == codeTooLarge {
			d.Result.Headline = "This is too long to be a payment receipt"
		}
		s.render(w, r, bp.status, d)
		return
	}
	res, err := s.applyReceipt(r, text)
	if err != nil {
		status, _, _ := errorStatus(err)
		s.log.Error("apply receipt from the page", "err", err)
		d.Receipt = text
		d.Result = &pageResult{Class: "bad", Headline: "Something went wrong",
			Lines: []string{"The payment was not taken into account. Please try again, or call the attendant."}}
		s.render(w, r, status, d)
		return
	}
	d.Result = s.describe(r.Context(), res)
	d.ShowForm = res.Outcome == outcomeRefused
	if d.ShowForm {
		d.Hint = "You can paste another receipt."
	}
	s.render(w, r, http.StatusOK, d)
}

// describe says in plain words what came of a receipt.
func (s *Server) describe(ctx context.Context, res receiptResult) *pageResult {
	switch res.Outcome {
	case outcomeApplied:
		p := &pageResult{Class: "ok", Headline: "Paid. The gate will open."}
		if res.Amount > 0 {
			p.Lines = append(p.Lines, "We received "+money(res.Amount, res.Currency)+".")
		}
		if res.Settled != nil && !*res.Settled {
			p.Class, p.Headline = "warn", "Payment received, but something is still due"
			if res.Due != nil {
				p.Lines = append(p.Lines, "Still due: "+money(*res.Due, res.Currency)+". Pay the rest at the pay station or with your payment app.")
			}
			return p
		}
		return s.exitLines(ctx, p, res.SessionID)
	case outcomeDuplicate:
		p := &pageResult{Class: "info", Headline: "Already paid",
			Lines: []string{"This payment was already received. You do not pay twice."}}
		return s.exitLines(ctx, p, res.SessionID)
	case outcomeRefused:
		return &pageResult{Class: "bad", Headline: "Refused: " + sentence(res.Message),
			Lines: []string{"This receipt does not pay for parking here. Please pay at the pay station, or call the attendant."},
			Code:  res.Reason}
	}
	return &pageResult{Class: "info", Headline: "Received", Lines: []string{"The payment will be applied in a moment."}}
}

// exitLines adds how to leave to a paid session's result.
func (s *Server) exitLines(ctx context.Context, p *pageResult, sessionID string) *pageResult {
	if sessionID == "" {
		return p
	}
	v, err := s.o.Gateway.LookupSession(ctx, sessionID)
	if err != nil {
		return p
	}
	if v.Session.State != gateway.SessionOpen {
		p.Lines = append(p.Lines, "This parking session has already ended.")
		return p
	}
	if v.Session.Space != "" {
		p.Lines = append(p.Lines, "The lock on space "+v.Session.Space+" lowers: you may drive off.")
	} else {
		p.Lines = append(p.Lines, "Drive to the exit and show your ticket there: the barrier opens.")
	}
	if v.Due.Amount == 0 && !v.Due.GraceUntil.IsZero() {
		p.Lines = append(p.Lines, "Please leave before "+s.localTime(v.Due.GraceUntil)+".")
	}
	return p
}

// localTime formats t as the site's clock shows it.
func (s *Server) localTime(t time.Time) string {
	if loc := s.o.Gateway.Site().Location; loc != nil {
		t = t.In(loc)
	}
	return t.Format("15:04")
}

// sentence capitalises the first letter of a reason's text.
func sentence(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// money formats minor units with two decimals, and the currency.
func money(v int64, currency string) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	out := fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
	if currency != "" {
		out += " " + currency
	}
	return out
}
