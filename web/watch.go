package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lotgate/lotgate/gateway"
)

// The session watch, GET /api/v1/sessions/{ref}/watch: a websocket that
// sends the session as it is, then a message for every event that
// concerns it (a quote, a checkout, a payment applied, the exit decided,
// the session closed or reopened) with the session as it is after it, and
// the session again whenever what it owes changes with time. The driver
// pages subscribe to it to show "paid, gate opening" live.
//
// Each watch has one writer (the handler's goroutine) and one reader
// (which only answers pings and notices the client leaving), write
// deadlines, pings, and a read limit. A watch whose hub queue fills (the
// client or its link is too slow) is dropped: it is told why, then
// closed. The gateway never waits for a watch.

// Watch message types (watchMessage.Type).
const (
	msgSession = "session" // the session as it is now
	msgEvent   = "event"   // an event that concerns the session, and the session after it
	msgError   = "error"   // why the server is about to close the watch
)

// watchMessage is one websocket text message (JSON).
type watchMessage struct {
	Type    string       `json:"type"`
	Event   *watchEvent  `json:"event,omitempty"`
	Session *sessionView `json:"session,omitempty"`
	Error   string       `json:"error,omitempty"`
	Message string       `json:"message,omitempty"`
}

// watchEvent is what a watch tells of an event: its type (the sync
// contract's, docs/asyncapi.yaml) and the fields of its data a driver's
// page may show. Credentials are left out.
type watchEvent struct {
	Seq        uint64     `json:"seq"`
	Time       time.Time  `json:"time"`
	Type       string     `json:"type"`
	Lane       string     `json:"lane,omitempty"`
	Allowed    *bool      `json:"allowed,omitempty"` // entry and exit decisions
	Reason     string     `json:"reason,omitempty"`
	Due        int64      `json:"due,omitempty"` // a decision's amount due
	PaymentID  string     `json:"payment_id,omitempty"`
	Method     string     `json:"method,omitempty"`
	Amount     int64      `json:"amount,omitempty"`
	Settled    *bool      `json:"settled,omitempty"`
	DueAfter   *int64     `json:"due_after,omitempty"`
	QuoteID    string     `json:"quote_id,omitempty"`
	CheckoutID string     `json:"checkout_id,omitempty"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	Cancelled  bool       `json:"cancelled,omitempty"`
	How        string     `json:"how,omitempty"` // how a session closed
}

// eventData is the part of an event's data a watch reads.
type eventData struct {
	Resource   string     `json:"resource"`
	Lane       string     `json:"lane"`
	Allowed    *bool      `json:"allowed"`
	Reason     any        `json:"reason"`
	Due        int64      `json:"due"`
	PaymentID  string     `json:"payment_id"`
	Method     string     `json:"method"`
	Amount     int64      `json:"amount"`
	Settled    *bool      `json:"settled"`
	DueAfter   *int64     `json:"due_after"`
	QuoteID    string     `json:"quote_id"`
	CheckoutID string     `json:"checkout_id"`
	ExpiresAt  *time.Time `json:"expires_at"`
	Cancelled  bool       `json:"cancelled"`
	How        string     `json:"how"`
}

// toWatchEvent maps an event to the wire.
func toWatchEvent(e gateway.Event) *watchEvent {
	var d eventData
	_ = json.Unmarshal(e.Data, &d) // fields it cannot read stay empty
	we := &watchEvent{Seq: e.Seq, Time: e.Time.UTC(), Type: string(e.Type), Lane: d.Lane, Allowed: d.Allowed,
		Due: d.Due, PaymentID: d.PaymentID, Method: d.Method, Amount: d.Amount, Settled: d.Settled, DueAfter: d.DueAfter,
		QuoteID: d.QuoteID, CheckoutID: d.CheckoutID, ExpiresAt: d.ExpiresAt, Cancelled: d.Cancelled, How: d.How}
	if r, ok := d.Reason.(string); ok {
		we.Reason = r
	}
	if l, ok := strings.CutPrefix(d.Resource, "gate:"); ok && we.Lane == "" {
		we.Lane = l
	}
	return we
}

// upgrader: same-origin only (gorilla's default origin check), small
// buffers (a message is a session view).
var upgrader = websocket.Upgrader{
	HandshakeTimeout: 5 * time.Second,
	ReadBufferSize:   512,
	WriteBufferSize:  4096,
}

// watchReadLimit bounds what a client may send; it has nothing to say.
const watchReadLimit = 512

// track counts a goroutine Shutdown waits for; false once shutting down.
func (s *Server) track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping.Load() {
		return false
	}
	s.wg.Add(1)
	return true
}

// watch is GET /api/v1/sessions/{ref}/watch.
func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
	if s.o.Hub == nil {
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "this gateway has no session watch")
		return
	}
	if !s.track() {
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "the gateway is shutting down")
		return
	}
	defer s.wg.Done()
	v, err := s.o.Gateway.LookupSession(r.Context(), r.PathValue("ref"))
	if err != nil {
		s.fail(w, r, "watch session", err)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		writeError(w, http.StatusBadRequest, codeWebsocket, "this path is a websocket: send an upgrade request")
		return
	}
	// Subscribe before taking the view the watch starts from, so nothing
	// happens unseen between the two.
	id := v.Session.ID
	sub, err := s.o.Hub.Subscribe(id)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "the gateway is shutting down")
		return
	}
	defer sub.Close()
	first, err := s.view(r.Context(), id)
	if err != nil {
		s.fail(w, r, "watch session", err)
		return
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered the client
	}
	defer conn.Close()
	log := s.log.With("session", id, "remote", r.RemoteAddr)
	log.Debug("watch opened")

	pongWait := 2 * s.o.PingInterval
	readDone := make(chan struct{})
	if !s.track() {
		s.goodbye(conn, websocket.CloseGoingAway, DropShutdown, "the gateway is shutting down")
		return
	}
	go func() {
		defer s.wg.Done()
		defer close(readDone)
		conn.SetReadLimit(watchReadLimit)
		_ = conn.SetReadDeadline(time.Now().Add(pongWait))
		conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(pongWait)) })
		for {
			if _, _, err := conn.NextReader(); err != nil {
				return
			}
		}
	}()
	defer func() {
		conn.Close()
		<-readDone
	}()

	send := func(m watchMessage) bool {
		_ = conn.SetWriteDeadline(time.Now().Add(s.o.WriteTimeout))
		if err := conn.WriteJSON(m); err != nil {
			log.Debug("watch write", "err", err)
			return false
		}
		return true
	}
	if !send(watchMessage{Type: msgSession, Session: &first}) {
		return
	}
	last := first.Due
	refresh := time.NewTicker(s.o.WatchRefresh)
	defer refresh.Stop()
	ping := time.NewTicker(s.o.PingInterval)
	defer ping.Stop()
	ended := func() bool {
		select {
		case <-sub.Done():
			s.dropped(conn, log, sub.Reason())
			return true
		case <-s.watchStop:
			s.goodbye(conn, websocket.CloseGoingAway, DropShutdown, "the gateway is shutting down")
			return true
		default:
			return false
		}
	}
	for {
		// A dropped watch is told so before anything still queued.
		if ended() {
			return
		}
		select {
		case <-readDone:
			log.Debug("watch closed by the client")
			return
		case <-sub.Done():
		case <-s.watchStop:
		case e := <-sub.Events():
			v, err := s.view(r.Context(), id)
			if err != nil {
				s.lookupFailed(r.Context(), conn, log, err)
				return
			}
			if ended() {
				return
			}
			last = v.Due
			if !send(watchMessage{Type: msgEvent, Event: toWatchEvent(e), Session: &v}) {
				return
			}
		case <-refresh.C:
			v, err := s.view(r.Context(), id)
			if err != nil {
				s.lookupFailed(r.Context(), conn, log, err)
				return
			}
			if sameDue(v.Due, last) {
				continue
			}
			last = v.Due
			if !send(watchMessage{Type: msgSession, Session: &v}) {
				return
			}
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.o.WriteTimeout)); err != nil {
				return
			}
		}
	}
}

// lookupFailed closes a watch whose session could not be read: an
// internal error, unless the server is going away.
func (s *Server) lookupFailed(ctx context.Context, conn *websocket.Conn, log *slog.Logger, err error) {
	if ctx.Err() != nil {
		s.goodbye(conn, websocket.CloseGoingAway, DropShutdown, "the gateway is shutting down")
		return
	}
	log.Error("watch: look up session", "err", err)
	s.goodbye(conn, websocket.CloseInternalServerErr, codeInternal, internalMessageText)
}

// dropped tells a watch the hub dropped it, and why.
func (s *Server) dropped(conn *websocket.Conn, log *slog.Logger, reason string) {
	switch reason {
	case DropSlow:
		log.Warn("watch dropped: the client did not keep up")
		s.goodbye(conn, websocket.ClosePolicyViolation, DropSlow,
			"the connection did not keep up with the session's events; reconnect to get the session as it is now")
	default:
		s.goodbye(conn, websocket.CloseGoingAway, DropShutdown, "the gateway is shutting down")
	}
}

// goodbye sends an error message and a close frame with the code, each
// within a second, before the caller closes the connection.
func (s *Server) goodbye(conn *websocket.Conn, code int, errCode, message string) {
	deadline := time.Now().Add(time.Second)
	_ = conn.SetWriteDeadline(deadline)
	_ = conn.WriteJSON(watchMessage{Type: msgError, Error: errCode, Message: message})
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, errCode), deadline)
}

// sameDue reports whether a and b say the same about what is owed.
func sameDue(a, b dueJSON) bool {
	ga, gb := a.GraceUntil, b.GraceUntil
	if (ga == nil) != (gb == nil) || ga != nil && !ga.Equal(*gb) {
		return false
	}
	a.GraceUntil, b.GraceUntil = nil, nil
	return a == b
}
