package demo

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/lotgate/lotgate/cloudsync"
	"github.com/lotgate/lotgate/gateway"
)

// TestCloudRebuildsFromHistory: events replayed to a restarted demo cloud
// rebuild its open sessions, quotes and payments, but an approval request
// in that history is not answered again (it was answered or ran out long
// ago); approval answers on the page are bounded.
func TestCloudRebuildsFromHistory(t *testing.T) {
	c := &Cloud{o: Options{Approve: "ignore"}, log: slog.New(slog.DiscardHandler), sessions: map[string]*demoSession{}}
	ev := func(seq uint64, typ gateway.EventType, data map[string]any) cloudsync.Event {
		b, err := json.Marshal(data)
		if err != nil {
			t.Fatal(err)
		}
		return cloudsync.Event{Seq: seq, Time: time.Date(2026, 3, 2, 10, 0, int(seq), 0, time.UTC), Type: string(typ), Data: b}
	}
	c.onEvent(ev(1, gateway.EvSessionOpened, map[string]any{"session_id": "s-A", "credential": "ticket:A"}), true)
	c.onEvent(ev(2, gateway.EvSessionOpened, map[string]any{"session_id": "s-B", "credential": "ticket:B"}), true)
	c.onEvent(ev(3, gateway.EvQuote, map[string]any{"session_id": "s-A", "quote_id": "q-1", "amount": 450}), true)
	c.onEvent(ev(4, gateway.EvSessionClosed, map[string]any{"session_id": "s-B"}), true)
	c.onEvent(ev(5, gateway.EvApprovalRequested, map[string]any{"request_id": "r-old", "requester": "x", "nickname": "y"}), true)
	c.onEvent(ev(6, gateway.EvSessionOpened, map[string]any{"session_id": "s-C", "credential": "ticket:C"}), false)
	if got := len(c.sessions); got != 2 || c.sessions["s-A"] == nil || c.sessions["s-C"] == nil {
		t.Fatalf("sessions: got %d (%v); want s-A and s-C", got, c.sessions)
	}
	if s := c.sessions["s-A"]; s.QuoteID != "q-1" || s.Amount != 450 {
		t.Errorf("s-A: got quote %q amount %d; want q-1, 450", s.QuoteID, s.Amount)
	}
	if len(c.answered) != 0 {
		t.Errorf("an approval request from the history was answered: %v", c.answered)
	}
	for i := 0; i < keepAnswered+10; i++ {
		c.onEvent(ev(uint64(7+i), gateway.EvApprovalRequested, map[string]any{"request_id": fmt.Sprintf("r-%d", i)}), false)
	}
	if got := len(c.answered); got != keepAnswered {
		t.Errorf("approval answers kept: got %d; want %d", got, keepAnswered)
	}
}
