package web

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/lotgate/lotgate/gateway"
)

// Error codes of the API: the "error" of every error answer. They are
// part of the contract (docs/openapi.yaml) and never change meaning.
const (
	codeMalformedBody   = "malformed_body"         // the body cannot be read as the path wants
	codeNotAReceipt     = "not_a_receipt"          // the text does not start with LGR1:
	codeTooLarge        = "body_too_large"         // more than the server's body limit
	codeUnsupported     = "unsupported_media_type" // a Content-Type the path does not take
	codeMethod          = "method_not_allowed"
	codeNotFound        = "not_found"
	codeTooMany         = "too_many_requests" // the receipt rate limit
	codeUnavailable     = "unavailable"       // a part of the gateway is not there (try later)
	codeNotReady        = "not_ready"
	codeWebsocket       = "websocket_required" // a watch asked for without a websocket upgrade
	codeInvalid         = "invalid"
	codeConflict        = "conflict"
	codeInternal        = "internal"
	internalMessageText = "internal error; the gateway logged it"
)

// apiError is the body of every error answer.
type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	// Reasons lists what is not ready (/readyz only).
	Reasons []string `json:"reasons,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v) // the client went away: nothing to do
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, apiError{Error: code, Message: message})
}

// methodNotAllowed answers 405 with the methods the path takes.
func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, codeMethod, r.Method+" is not allowed here; use "+allow)
	})
}

// errorStatus maps an error of the core to a status, a code and a message
// safe to show: the one place gateway.ErrorKind meets HTTP. The message
// of a *gateway.Error is meant for users; anything else is logged and
// answered as internal.
func errorStatus(err error) (int, string, string) {
	var ge *gateway.Error
	msg := internalMessageText
	if errors.As(err, &ge) {
		msg = ge.Message
	}
	switch gateway.KindOf(err) {
	case gateway.Invalid:
		return http.StatusBadRequest, codeInvalid, msg
	case gateway.NotFound:
		return http.StatusNotFound, codeNotFound, msg
	case gateway.Conflict:
		return http.StatusConflict, codeConflict, msg
	case gateway.Unavailable:
		return http.StatusServiceUnavailable, codeUnavailable, msg
	}
	return http.StatusInternalServerError, codeInternal, internalMessageText
}

// fail answers an error of the core, logging what is not the caller's
// doing.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	status, code, msg := errorStatus(err)
	lvl := slog.LevelDebug
	if status >= 500 {
		lvl = slog.LevelError
	}
	s.log.Log(r.Context(), lvl, what, "path", r.URL.Path, "status", status, "err", err)
	writeError(w, status, code, msg)
}

// bodyError answers a body that could not be read: 413 when it was too
// big, else 400.
func bodyError(w http.ResponseWriter, err error, what string) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge, "the body is larger than the limit of "+itoa(mbe.Limit)+" bytes")
		return
	}
	writeError(w, http.StatusBadRequest, codeMalformedBody, what+": "+err.Error())
}
