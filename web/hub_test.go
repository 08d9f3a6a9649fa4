package web

import (
	"errors"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

func event(t *testing.T, seq uint64, typ gateway.EventType, data any) gateway.Event {
	t.Helper()
	e, err := gateway.NewEvent(time.Unix(int64(seq), 0), typ, data)
	if err != nil {
		t.Fatal(err)
	}
	e.Seq = seq
	return e
}

func TestHub(t *testing.T) {
	h := NewHub(HubOptions{Queue: 2})
	a, err := h.Subscribe("s-A")
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Subscribe("s-B")
	if err != nil {
		t.Fatal(err)
	}
	h.EventCommitted(event(t, 1, gateway.EvPayment, map[string]any{"session_id": "s-A", "amount": 100}))
	h.EventCommitted(event(t, 2, gateway.EvDevice, map[string]any{"device": "out-1-loop"}))         // no session
	h.EventCommitted(event(t, 3, gateway.EvQuote, map[string]any{"session_id": "s-B"}))             // B's
	h.EventCommitted(gateway.Event{Seq: 4, Type: gateway.EvAlarm, Data: []byte(`{"session_id": `)}) // unreadable
	select {
	case e := <-a.Events():
		if e.Seq != 1 {
			t.Errorf("A got event %d; want 1", e.Seq)
		}
	default:
		t.Fatal("A got nothing; want its payment")
	}
	select {
	case e := <-a.Events():
		t.Errorf("A got event %d (%s); want nothing more", e.Seq, e.Type)
	default:
	}
	if e := <-b.Events(); e.Seq != 3 {
		t.Errorf("B got event %d; want 3", e.Seq)
	}

	// A stops reading: the third event for it finds its queue full, and
	// it is dropped, without EventCommitted waiting.
	for seq := uint64(10); seq < 110; seq++ {
		h.EventCommitted(event(t, seq, gateway.EvQuote, map[string]any{"session_id": "s-A"}))
	}
	select {
	case <-a.Done():
	default:
		t.Fatal("A was not dropped with its queue full")
	}
	if a.Reason() != DropSlow {
		t.Errorf("A's reason: got %q; want %q", a.Reason(), DropSlow)
	}
	if b.Reason() != "" {
		t.Errorf("B's reason: got %q; want none", b.Reason())
	}
	if st := h.Stats(); st.Subscribers != 1 || st.Dropped != 1 || st.Delivered != 4 {
		t.Errorf("Stats: got %+v; want 1 subscriber, 1 dropped, 4 delivered", st)
	}
	a.Close() // after the drop: nothing happens
	a.Close()

	h.Close()
	select {
	case <-b.Done():
	default:
		t.Fatal("B not ended by Close")
	}
	if b.Reason() != DropShutdown {
		t.Errorf("B's reason: got %q; want %q", b.Reason(), DropShutdown)
	}
	if _, err := h.Subscribe("s-C"); !errors.Is(err, ErrHubClosed) {
		t.Errorf("Subscribe after Close: got %v; want ErrHubClosed", err)
	}
	if st := h.Stats(); st.Subscribers != 0 {
		t.Errorf("Stats after Close: got %+v; want no subscriber", st)
	}
}

// BenchmarkHubEventCommitted is what every event costs the gateway when no
// session is watched, and when one other session is.
func BenchmarkHubEventCommitted(b *testing.B) {
	e, _ := gateway.NewEvent(time.Now(), gateway.EvPayment, map[string]any{"session_id": "s-A", "payment_id": "p-1", "amount": 100,
		"method": "epayment", "currency": "EUR", "paid_total": 100, "due_after": 0, "settled": true})
	b.Run("unwatched", func(b *testing.B) {
		h := NewHub(HubOptions{})
		for b.Loop() {
			h.EventCommitted(e)
		}
	})
	b.Run("another session watched", func(b *testing.B) {
		h := NewHub(HubOptions{})
		if _, err := h.Subscribe("s-B"); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			h.EventCommitted(e)
		}
	})
}
