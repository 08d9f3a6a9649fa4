package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"

	"github.com/lotgate/lotgate/gateway"
)

// Why the hub ended a subscription (Subscription.Reason).
const (
	DropSlow     = "slow_client"   // its queue was full: it did not keep up
	DropShutdown = "shutting_down" // the hub closed
)

// ErrHubClosed is returned by Subscribe after Close.
var ErrHubClosed = errors.New("web: the watch hub is closed")

// HubOptions configure a Hub.
type HubOptions struct {
	// Queue bounds the events waiting for one subscriber (default 16).
	// A subscriber whose queue is full is dropped, never waited for.
	Queue  int
	Logger *slog.Logger // discarded when nil
}

// Hub fans the gateway's committed events out to the watches of the
// sessions they concern. It is a gateway.Observer: give it to
// gateway.Options.Observers. EventCommitted never blocks the gateway:
// each subscriber has a bounded queue, and one that is full is dropped
// (Subscription.Done, Reason DropSlow). Safe for concurrent use.
type Hub struct {
	queue int
	log   *slog.Logger

	mu        sync.Mutex
	subs      map[string]map[*Subscription]struct{} // by session ID
	n         int
	closed    bool
	dropped   uint64
	delivered uint64
}

// NewHub returns an empty hub.
func NewHub(o HubOptions) *Hub {
	if o.Queue <= 0 {
		o.Queue = 16
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Hub{queue: o.Queue, log: o.Logger.With("component", "web-hub"), subs: map[string]map[*Subscription]struct{}{}}
}

// Subscription receives the events of one session.
type Subscription struct {
	hub     *Hub
	session string
	ch      chan gateway.Event
	done    chan struct{}
	reason  string // set before done is closed
}

// Subscribe starts receiving the events that name sessionID (their data's
// "session_id"). Close the subscription when done with it.
func (h *Hub) Subscribe(sessionID string) (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrHubClosed
	}
	s := &Subscription{hub: h, session: sessionID, ch: make(chan gateway.Event, h.queue), done: make(chan struct{})}
	m := h.subs[sessionID]
	if m == nil {
		m = map[*Subscription]struct{}{}
		h.subs[sessionID] = m
	}
	m[s] = struct{}{}
	h.n++
	return s, nil
}

// Events delivers the session's events in commit order. It is never
// closed: watch Done as well.
func (s *Subscription) Events() <-chan gateway.Event { return s.ch }

// Done is closed when the hub ended the subscription: the subscriber did
// not keep up (DropSlow) or the hub closed (DropShutdown). Events still
// queued are not to be trusted as complete after it.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Reason says why Done was closed ("" while it is not).
func (s *Subscription) Reason() string {
	select {
	case <-s.done:
		return s.reason
	default:
		return ""
	}
}

// Session is the session ID the subscription follows.
func (s *Subscription) Session() string { return s.session }

// Close ends the subscription. Calling it again, or after the hub ended
// it, does nothing.
func (s *Subscription) Close() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(s)
}

// removeLocked takes s out of the hub; it reports whether s was in it.
func (h *Hub) removeLocked(s *Subscription) bool {
	m := h.subs[s.session]
	if _, ok := m[s]; !ok {
		return false
	}
	delete(m, s)
	if len(m) == 0 {
		delete(h.subs, s.session)
	}
	h.n--
	return true
}

// endLocked removes s and tells it why.
func (h *Hub) endLocked(s *Subscription, reason string) {
	if h.removeLocked(s) {
		s.reason = reason
		close(s.done)
	}
}

// sessionField is the part of an event's data the hub reads.
type sessionField struct {
	SessionID string `json:"session_id"`
}

var sessionKey = []byte(`"session_id"`)

// EventCommitted implements gateway.Observer. It costs nothing when no
// session is watched, and never blocks.
func (h *Hub) EventCommitted(e gateway.Event) {
	h.mu.Lock()
	none := h.n == 0
	h.mu.Unlock()
	if none || !bytes.Contains(e.Data, sessionKey) {
		return
	}
	var f sessionField
	if err := json.Unmarshal(e.Data, &f); err != nil || f.SessionID == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[f.SessionID] {
		select {
		case s.ch <- e:
			h.delivered++
		default:
			h.dropped++
			h.endLocked(s, DropSlow)
			h.log.Warn("session watch dropped: it did not keep up", "session", f.SessionID, "queue", h.queue)
		}
	}
}

// Close ends every subscription (DropShutdown) and refuses new ones.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, m := range h.subs {
		for s := range m {
			h.endLocked(s, DropShutdown)
		}
	}
}

// HubStats are the hub's figures.
type HubStats struct {
	Subscribers int    // subscriptions open
	Dropped     uint64 // subscriptions dropped for not keeping up
	Delivered   uint64 // events queued to subscribers
}

// Stats returns the hub's figures.
func (h *Hub) Stats() HubStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return HubStats{Subscribers: h.n, Dropped: h.dropped, Delivered: h.delivered}
}

// Interface guards
var _ gateway.Observer = (*Hub)(nil)
