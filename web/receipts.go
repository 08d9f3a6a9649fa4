package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/lotgate/lotgate/gateway"
)

// Phone-carried receipts: when the site has no uplink but the driver's
// phone has the internet, the phone carries the cloud-signed payment
// completion (an LGR1: text) to the gateway, through POST
// /api/v1/receipts or the /r page. The gateway verifies and applies it as
// if it had come over MQTT (gateway.Sync.ApplyReceipt): at most once by
// message ID, and a payment at most once by payment ID.

// receiptSource is how the inbox and the events name where a receipt
// posted here came from.
const receiptSource = "web"

// Outcomes of a receipt (receiptResult.Outcome).
const (
	outcomeApplied   = "applied"   // the payment was applied now
	outcomeDuplicate = "duplicate" // it was applied before; nothing changed
	outcomeRefused   = "refused"   // it was refused (now or before), Reason says why
	outcomePending   = "pending"   // stored, not applied yet
)

// receiptResult is the answer to a posted receipt.
type receiptResult struct {
	Outcome   string `json:"outcome"`
	Reason    string `json:"reason"`  // "ok" or a refusal's stable code
	Message   string `json:"message"` // the reason in words
	MessageID string `json:"message_id,omitempty"`
	// Duplicate is set when the message or its payment was seen before;
	// Outcome then says what became of it the first time (duplicate when
	// it was applied, refused when it was refused).
	Duplicate bool `json:"duplicate"`
	// For a payment applied now or before (when known).
	SessionID string `json:"session_id,omitempty"`
	Amount    int64  `json:"amount,omitempty"` // what this payment paid, minor units
	Due       *int64 `json:"due,omitempty"`    // what is still due after it
	Settled   *bool  `json:"settled,omitempty"`
	Currency  string `json:"currency,omitempty"`
	// Seq is the event that recorded the outcome.
	Seq uint64 `json:"seq,omitempty"`
}

// result maps what the core said to the wire.
func result(out gateway.Outcome) receiptResult {
	res := receiptResult{Reason: string(out.Reason), Message: out.Message, MessageID: out.MessageID,
		Duplicate: out.Duplicate, Seq: out.Seq}
	if res.Reason == "" {
		res.Reason = string(gateway.ReasonOK)
	}
	if res.Message == "" {
		res.Message = gateway.ReasonText(out.Reason)
	}
	switch out.State {
	case gateway.InboxApplied:
		res.Outcome, res.Message = outcomeApplied, "the payment was applied"
		if out.Duplicate {
			res.Outcome = outcomeDuplicate
			res.Message = "this payment was already applied"
		}
	case gateway.InboxRefused:
		res.Outcome = outcomeRefused
	default:
		res.Outcome = outcomePending
	}
	if p := out.Payment; p != nil && out.State == gateway.InboxApplied {
		res.SessionID, res.Amount, res.Currency = p.SessionID, p.Payment.Amount, p.Due.Currency
		due, settled := p.Due.Amount, p.Settled
		res.Due, res.Settled = &due, &settled
		if p.Duplicate {
			// A new message carrying a payment ID applied before.
			res.Outcome, res.Duplicate = outcomeDuplicate, true
			res.Message = "this payment was already applied"
		}
	}
	return res
}

// receiptBody is the JSON form of POST /api/v1/receipts.
type receiptBody struct {
	Receipt string `json:"receipt"`
}

// bodyProblem is why a request's body is not a receipt.
type bodyProblem struct {
	status        int
	code, message string
}

// readReceipt reads a receipt text from a request body: text/plain (or no
// Content-Type) is the text itself; application/json is {"receipt":
// "..."}; application/x-www-form-urlencoded is the field receipt, or the
// raw body when it has no such field (curl --data sends a file so).
func readReceipt(r *http.Request) (string, *bodyProblem) {
	mt := "text/plain"
	if ct := r.Header.Get("Content-Type"); ct != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return "", &bodyProblem{http.StatusUnsupportedMediaType, codeUnsupported, "unreadable Content-Type: " + err.Error()}
		}
	}
	switch mt {
	case "text/plain", "application/json", "application/x-www-form-urlencoded":
	default:
		return "", &bodyProblem{http.StatusUnsupportedMediaType, codeUnsupported,
			"Content-Type " + mt + " is not taken; send text/plain, application/json or a form"}
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", &bodyProblem{http.StatusRequestEntityTooLarge, codeTooLarge, "the body is larger than the limit of " + itoa(mbe.Limit) + " bytes"}
		}
		return "", &bodyProblem{http.StatusBadRequest, codeMalformedBody, "reading the body: " + err.Error()}
	}
	var text string
	switch mt {
	case "application/json":
		var b receiptBody
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&b); err != nil {
			return "", &bodyProblem{http.StatusBadRequest, codeMalformedBody, `want {"receipt": "LGR1:…"}: ` + err.Error()}
		}
		if dec.More() {
			return "", &bodyProblem{http.StatusBadRequest, codeMalformedBody, `want one JSON object {"receipt": "LGR1:…"}`}
		}
		text = b.Receipt
	case "application/x-www-form-urlencoded":
		if gateway.IsReceipt(string(raw)) {
			text = string(raw)
			break
		}
		// No receipt field: the body itself, which then says why it is
		// not a receipt.
		text = string(raw)
		if v, err := url.ParseQuery(string(raw)); err == nil && v.Has("receipt") {
			text = v.Get("receipt")
		}
	default:
		text = string(raw)
	}
	return checkReceiptText(text)
}

// checkReceiptText trims a receipt text and refuses what is not one.
func checkReceiptText(text string) (string, *bodyProblem) {
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		return "", &bodyProblem{http.StatusBadRequest, codeMalformedBody, "no receipt: the receipt text is empty"}
	case !gateway.IsReceipt(text):
		return "", &bodyProblem{http.StatusBadRequest, codeNotAReceipt, "this is not a payment receipt: a receipt starts with LGR1:"}
	}
	return text, nil
}

// postReceipt is POST /api/v1/receipts.
func (s *Server) postReceipt(w http.ResponseWriter, r *http.Request) {
	if s.o.Receipts == nil {
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "this gateway takes no receipts")
		return
	}
	if !s.limit.allow() {
		s.stats.receipt("limited")
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, codeTooMany, "too many receipts at once; try again in a second")
		return
	}
	text, bp := readReceipt(r)
	if bp != nil {
		s.stats.receipt("rejected")
		writeError(w, bp.status, bp.code, bp.message)
		return
	}
	res, err := s.applyReceipt(r, text)
	if err != nil {
		s.fail(w, r, "apply receipt", err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// applyReceipt applies a receipt, counts and logs its outcome.
func (s *Server) applyReceipt(r *http.Request, text string) (receiptResult, error) {
	out, err := s.o.Receipts.ApplyReceipt(r.Context(), text, receiptSource)
	if err != nil {
		s.stats.receipt("error")
		return receiptResult{}, err
	}
	res := result(out)
	s.stats.receipt(res.Outcome)
	s.log.Info("receipt posted", "outcome", res.Outcome, "reason", res.Reason, "message_id", res.MessageID,
		"session", res.SessionID, "remote", r.RemoteAddr)
	return res, nil
}
