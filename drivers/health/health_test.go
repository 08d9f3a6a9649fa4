package health

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// sink records what it is told; block, when set, holds every call until
// it is closed.
type sink struct {
	mu    sync.Mutex
	got   []gateway.DeviceHealth
	block chan struct{}
}

func (s *sink) DeviceHealthChanged(_ context.Context, h gateway.DeviceHealth) {
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, h)
}

func (s *sink) notes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return describe(s.got)
}

// describe formats health as "device online|offline since failures/successes lastError".
func describe(hs []gateway.DeviceHealth) []string {
	var out []string
	for _, h := range hs {
		state := "offline"
		if h.Online {
			state = "online"
		}
		out = append(out, fmt.Sprintf("%s %s @%d %d/%d %q", h.Device, state, h.Since.Unix(), h.Failures, h.Successes, h.LastError))
	}
	return out
}

// clock is a manual clock: every call to now returns t, which tests move.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestRecord(t *testing.T) {
	fail := errors.New("timeout")
	tests := []struct {
		name         string
		offlineAfter int
		results      []error // one exchange per second, from t=1
		want         []string
		wantAll      []string
	}{
		{"answers only", 3, []error{nil, nil}, nil,
			[]string{`a online @0 0/2 ""`, `b online @0 0/2 ""`}},
		{"fewer failures than the threshold", 3, []error{fail, fail, nil, fail, fail}, nil,
			[]string{`a online @0 4/1 "timeout"`, `b online @0 4/1 "timeout"`}},
		{"threshold reached, then an answer", 3, []error{fail, fail, fail, fail, nil},
			[]string{`a offline @3 3/0 "timeout"`, `b offline @3 3/0 "timeout"`, `a online @5 4/1 ""`, `b online @5 4/1 ""`},
			[]string{`a online @5 4/1 ""`, `b online @5 4/1 ""`}},
		{"threshold 1: the first failure", 1, []error{nil, fail, nil, fail},
			[]string{`a offline @2 1/1 "timeout"`, `b offline @2 1/1 "timeout"`, `a online @3 1/2 ""`, `b online @3 1/2 ""`, `a offline @4 2/2 "timeout"`, `b offline @4 2/2 "timeout"`},
			[]string{`a offline @4 2/2 "timeout"`, `b offline @4 2/2 "timeout"`}},
		{"threshold 0 is 1", 0, []error{fail},
			[]string{`a offline @1 1/0 "timeout"`, `b offline @1 1/0 "timeout"`},
			[]string{`a offline @1 1/0 "timeout"`, `b offline @1 1/0 "timeout"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: time.Unix(0, 0)}
			s := &sink{}
			b := New[string](s, c.now)
			b.Add("unit1", tt.offlineAfter, "a")
			b.Add("unit1", 99, "b") // the first Add sets the threshold
			for i, err := range tt.results {
				c.t = time.Unix(int64(i+1), 0)
				b.Record("unit1", err)
			}
			gotAll := describe(b.All())
			b.Close()
			if got := s.notes(); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("results %v: sink told %q; want %q", tt.results, got, tt.want)
			}
			if fmt.Sprint(gotAll) != fmt.Sprint(tt.wantAll) {
				t.Errorf("results %v: All() = %q; want %q", tt.results, gotAll, tt.wantAll)
			}
		})
	}
}

func TestLinksAreSeparate(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	s := &sink{}
	b := New[int](s, c.now)
	b.Add(2, 1, "z")
	b.Add(1, 1, "y")
	c.t = time.Unix(7, 0)
	b.Record(1, errors.New("crc"))
	b.Record(3, errors.New("nobody")) // no device: not tracked
	if !b.Online(2) || b.Online(1) || !b.Online(3) {
		t.Errorf("Online(2, 1, 3) = %v, %v, %v; want true, false, true", b.Online(2), b.Online(1), b.Online(3))
	}
	want := []string{`z online @0 0/0 ""`, `y offline @7 1/0 "crc"`}
	if got := describe(b.All()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("All() = %q; want %q (in the order added)", got, want)
	}
	b.Close()
	if got, want := s.notes(), []string{`y offline @7 1/0 "crc"`}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sink told %q; want %q", got, want)
	}
}

// TestSlowSink checks that a sink that does not return holds up neither
// Record nor All, and that Close delivers every transition, in order.
func TestSlowSink(t *testing.T) {
	s := &sink{block: make(chan struct{})}
	b := New[string](s, time.Now)
	b.Add("k", 1, "dev")
	for i := range 5 {
		if i%2 == 0 {
			b.Record("k", errors.New("down"))
		} else {
			b.Record("k", nil)
		}
	}
	if h := b.All(); len(h) != 1 || h[0].Online || h[0].Failures != 3 || h[0].Successes != 2 {
		t.Errorf("All() = %+v; want dev offline, 3 failures, 2 successes", h)
	}
	closed := make(chan struct{})
	go func() {
		b.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while the sink still held transitions")
	default:
	}
	close(s.block)
	<-closed
	var online []bool
	s.mu.Lock()
	for _, h := range s.got {
		online = append(online, h.Online)
	}
	s.mu.Unlock()
	if want := []bool{false, true, false, true, false}; fmt.Sprint(online) != fmt.Sprint(want) {
		t.Errorf("sink told online = %v; want %v", online, want)
	}
	b.Close() // idempotent
}

func TestNilSink(t *testing.T) {
	b := New[string](nil, time.Now)
	b.Add("k", 1, "dev")
	b.Record("k", errors.New("down"))
	b.Close()
	if b.Online("k") {
		t.Errorf("Online(k) after a failure with threshold 1 = true; want false")
	}
}
