package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

func TestInbox(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		m := gateway.InboxMessage{ID: "m-1", Type: "payment.completed", Kid: "k", Raw: []byte{1, 2}, Source: "mqtt",
			ReceivedAt: t0, State: gateway.InboxPending, Reason: gateway.ReasonOK}
		mustUpdate(t, db, func(tx gateway.Tx) error { return tx.InsertInboxMessage(m) })
		err := db.Update(context.Background(), func(tx gateway.Tx) error { return tx.InsertInboxMessage(m) })
		if gateway.KindOf(err) != gateway.Conflict {
			t.Errorf("second insert: got %v; want a Conflict", err)
		}
		var pending []gateway.InboxMessage
		mustView(t, db, func(tx gateway.Tx) error {
			var err error
			pending, err = tx.PendingInbox(10)
			return err
		})
		if len(pending) != 1 || pending[0].ID != "m-1" || string(pending[0].Raw) != "\x01\x02" || !pending[0].ReceivedAt.Equal(t0) {
			t.Errorf("pending: got %+v; want m-1", pending)
		}
		m.State, m.Reason, m.DoneAt, m.Seq = gateway.InboxRefused, gateway.ReasonExpired, t0.Add(time.Second), 7
		mustUpdate(t, db, func(tx gateway.Tx) error { return tx.UpdateInboxMessage(m) })
		mustView(t, db, func(tx gateway.Tx) error {
			got, err := tx.InboxMessage("m-1")
			if err != nil {
				return err
			}
			if got.State != gateway.InboxRefused || got.Reason != gateway.ReasonExpired || got.Seq != 7 || !got.DoneAt.Equal(m.DoneAt) {
				t.Errorf("got %+v; want %+v", got, m)
			}
			if p, err := tx.PendingInbox(10); err != nil || len(p) != 0 {
				t.Errorf("pending after refusal: got %v, %v; want none", p, err)
			}
			if _, err := tx.InboxMessage("nope"); gateway.KindOf(err) != gateway.NotFound {
				t.Errorf("missing: got %v; want NotFound", err)
			}
			return nil
		})
		err = db.Update(context.Background(), func(tx gateway.Tx) error {
			return tx.UpdateInboxMessage(gateway.InboxMessage{ID: "nope", Type: "x", Raw: []byte{1}, ReceivedAt: t0, State: gateway.InboxApplied})
		})
		if gateway.KindOf(err) != gateway.NotFound {
			t.Errorf("update of a missing message: got %v; want NotFound", err)
		}
	})
}

func TestCloudAckCursor(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		mustUpdate(t, db, func(tx gateway.Tx) error {
			for i := 0; i < 5; i++ {
				e := gateway.Event{Time: t0, Type: "test", Data: []byte(`{}`)}
				if err := tx.AppendEvent(&e); err != nil {
					return err
				}
			}
			return nil
		})
		steps := []struct {
			seq   uint64
			moved bool
			kind  gateway.ErrorKind // "" for no error
			want  uint64
		}{
			{3, true, "", 3},
			{2, false, "", 3}, // out of order: ignored
			{3, false, "", 3},
			{5, true, "", 5},
			{6, false, gateway.Invalid, 5}, // beyond the log
		}
		for _, s := range steps {
			var moved bool
			err := db.Update(context.Background(), func(tx gateway.Tx) error {
				var err error
				moved, err = tx.AckCloud(s.seq)
				return err
			})
			if s.kind != "" && gateway.KindOf(err) != s.kind || s.kind == "" && err != nil {
				t.Errorf("AckCloud(%d): got %v; want kind %q", s.seq, err, s.kind)
			}
			if moved != s.moved {
				t.Errorf("AckCloud(%d): moved %v; want %v", s.seq, moved, s.moved)
			}
			last, acked, err := db.OutboxDepth(context.Background())
			if err != nil || last != 5 || acked != s.want {
				t.Errorf("after AckCloud(%d): OutboxDepth = %d, %d, %v; want 5, %d", s.seq, last, acked, err, s.want)
			}
		}
	})
}

func TestApprovals(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		a := gateway.Approval{ID: "a-1", Nickname: "Anna", Requester: "valet-7", RequesterKind: "person", Action: gateway.ActionExit,
			Resource: "gate:out-1", Place: "Lot", RequestedAt: t0, Deadline: t0.Add(time.Minute), State: gateway.ApprovalPending}
		mustUpdate(t, db, func(tx gateway.Tx) error { return tx.PutApproval(a) })
		a.State, a.Token, a.DecidedAt, a.DecisionID, a.Operator = gateway.ApprovalApproved, "tok-1", t0.Add(10*time.Second), "m-9", "owner"
		mustUpdate(t, db, func(tx gateway.Tx) error { return tx.PutApproval(a) })
		mustView(t, db, func(tx gateway.Tx) error {
			got, err := tx.ApprovalByToken("tok-1")
			if err != nil {
				return err
			}
			if got != a {
				t.Errorf("got %+v; want %+v", got, a)
			}
			if _, err := tx.Approval("a-2"); gateway.KindOf(err) != gateway.NotFound {
				t.Errorf("missing: got %v; want NotFound", err)
			}
			return nil
		})
		b := a
		b.ID = "a-2"
		err := db.Update(context.Background(), func(tx gateway.Tx) error { return tx.PutApproval(b) })
		if gateway.KindOf(err) != gateway.Conflict {
			t.Errorf("same token twice: got %v; want a Conflict", err)
		}
	})
}

func TestOverriddenSessions(t *testing.T) {
	forEachStrategy(t, func(t *testing.T, db *DB) {
		t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		mk := func(id string, exit time.Time, overridden bool, state gateway.SessionState) gateway.Session {
			s := gateway.Session{ID: id, Credential: "ticket:" + id, EntryAt: t0, State: state, TariffVersion: "v", Overridden: overridden}
			if state == gateway.SessionClosed {
				s.ExitAt = exit
			}
			return s
		}
		mustUpdate(t, db, func(tx gateway.Tx) error {
			for _, s := range []gateway.Session{
				mk("a", t0.Add(2*time.Hour), true, gateway.SessionClosed),
				mk("b", t0.Add(time.Hour), true, gateway.SessionClosed),
				mk("c", t0.Add(time.Hour), false, gateway.SessionClosed),
				mk("d", time.Time{}, true, gateway.SessionOpen),
				mk("e", t0.Add(5*time.Hour), true, gateway.SessionClosed),
			} {
				if err := tx.PutSession(s); err != nil {
					return err
				}
			}
			return nil
		})
		mustView(t, db, func(tx gateway.Tx) error {
			ss, err := tx.OverriddenSessions(t0, t0.Add(3*time.Hour))
			if err != nil {
				return err
			}
			var ids []string
			for _, s := range ss {
				ids = append(ids, s.ID)
			}
			if len(ids) != 2 || ids[0] != "b" || ids[1] != "a" {
				t.Errorf("got %v; want [b a]", ids)
			}
			all, err := tx.OverriddenSessions(time.Time{}, time.Time{})
			if err != nil || len(all) != 3 {
				t.Errorf("open range: got %d sessions, %v; want 3", len(all), err)
			}
			return nil
		})
	})
}
