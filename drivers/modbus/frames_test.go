package modbus

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	goburrow "github.com/goburrow/modbus"

	"github.com/lotgate/lotgate/gateway"
)

// exchange is one request the driver must send, exactly, and the response
// played back; an empty resp plays a transport failure.
type exchange struct {
	req, resp string
}

// script is a goburrow Transporter that plays back exchanges: the seam
// between goburrow's client and the wire.
type script struct {
	t     testing.TB
	mu    sync.Mutex
	steps []exchange
	i     int
}

var errScripted = errors.New("scripted transport failure")

func (s *script) Send(req []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	got := hex.EncodeToString(req)
	if s.i >= len(s.steps) {
		s.t.Errorf("unexpected request %s after the %d scripted ones", spaced(got), len(s.steps))
		return nil, errScripted
	}
	st := s.steps[s.i]
	s.i++
	if want := strings.ReplaceAll(st.req, " ", ""); got != want {
		s.t.Errorf("request %d: got %s; want %s", s.i, spaced(got), st.req)
	}
	if st.resp == "" {
		return nil, errScripted
	}
	b, err := hex.DecodeString(strings.ReplaceAll(st.resp, " ", ""))
	if err != nil {
		s.t.Fatalf("bad scripted response %q: %v", st.resp, err)
	}
	return b, nil
}

// finish checks that every scripted exchange was played.
func (s *script) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.i != len(s.steps) {
		s.t.Errorf("%d of %d scripted requests sent; next expected: %s", s.i, len(s.steps), s.steps[s.i].req)
	}
}

func spaced(h string) string {
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// scriptedRTU dials links that frame with goburrow's RTU packager and
// send through s. dials counts the links opened.
func scriptedRTU(s *script, dials *int) dialFunc {
	return func(time.Duration) (*link, error) {
		*dials++
		pk := goburrow.NewRTUClientHandler("")
		return &link{
			client:     goburrow.NewClient2(pk, s),
			setUnit:    func(u uint8) { pk.SlaveId = u },
			setTimeout: func(time.Duration) {},
			close:      func() error { return nil },
		}, nil
	}
}

// openScripted opens a driver of devs on one scripted RTU bus, without
// pollers.
func openScripted(tb testing.TB, s *script, in *recorder, devs ...Device) (*Driver, *int) {
	tb.Helper()
	dials := new(int)
	for i := range devs {
		devs[i].Bus = "rs485"
	}
	d, err := Open(Config{
		Buses:   []BusConfig{{ID: "rs485", dial: scriptedRTU(s, dials), Retries: -1}},
		Devices: devs,
	}, Options{Inputs: in, Health: in, noPoll: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close(context.Background()) })
	return d, dials
}

// The exact frames of every profile operation, played back at goburrow's
// transporter seam. Frames are RTU: unit, function, data, CRC-16 (low byte
// first); they were computed independently of goburrow.
func TestFrames(t *testing.T) {
	noLeaks(t)
	pay := Device{ID: "pay", Kind: gateway.KindPayStation, Unit: 1, Profile: refPayStation()}
	lock3 := Device{ID: "A-03-lock", Kind: gateway.KindLock, Unit: 3, Channel: 3, Profile: refLockerBoard()}
	flap2 := Device{ID: "P02-flap", Kind: gateway.KindFlap, Unit: 4, Channel: 2, Profile: refFlapController()}
	tests := []struct {
		name    string
		dev     Device
		do      func(ctx context.Context, a gateway.Actuators) error
		frames  []exchange
		wantErr string
	}{
		{
			name: "pay station show fee",
			dev:  pay,
			do: func(ctx context.Context, a gateway.Actuators) error {
				return a.PayStation.ShowFee(ctx, "space:P01", 350)
			},
			frames: []exchange{
				{"01 10 00 0a 00 10 20 73 70 61 63 65 3a 50 30 31 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 eb cf", "01 10 00 0a 00 10 e1 c7"}, // ref "space:P01" in 16 registers
				{"01 10 00 01 00 02 04 00 00 01 5e b2 0b", "01 10 00 01 00 02 10 08"},                                                                                     // fee 350, high word first
				{"01 06 00 00 00 01 48 0a", "01 06 00 00 00 01 48 0a"},                                                                                                    // command 1: show
				{"01 03 00 00 00 01 84 0a", "01 03 02 00 01 79 84"},                                                                                                       // read-back: not taken yet
				{"01 03 00 00 00 01 84 0a", "01 03 02 00 00 b8 44"},                                                                                                       // taken
			},
		},
		{
			name: "pay station settled",
			dev:  pay,
			do:   func(ctx context.Context, a gateway.Actuators) error { return a.PayStation.Settled(ctx, "T-ABC") },
			frames: []exchange{
				{"01 10 00 0a 00 10 20 54 2d 41 42 43 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 35 2e", "01 10 00 0a 00 10 e1 c7"},
				{"01 06 00 00 00 02 08 0b", "01 06 00 00 00 02 08 0b"}, // command 2: settled
				{"01 03 00 00 00 01 84 0a", "01 03 02 00 00 b8 44"},
			},
		},
		{
			name: "pay station refuses the ref (exception 2)",
			dev:  pay,
			do:   func(ctx context.Context, a gateway.Actuators) error { return a.PayStation.Settled(ctx, "T-ABC") },
			frames: []exchange{
				{"01 10 00 0a 00 10 20 54 2d 41 42 43 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 35 2e", "01 90 02 cd c1"},
			},
			wantErr: "exception '2' (illegal data address)",
		},
		{
			name: "locker unlock compartment 3",
			dev:  lock3,
			do:   func(ctx context.Context, a gateway.Actuators) error { return a.Locks["A-03-lock"].Unlock(ctx) },
			frames: []exchange{
				{"03 05 00 02 ff 00 2c 18", "03 05 00 02 ff 00 2c 18"}, // coil 2 on
				{"03 02 00 02 00 01 19 e8", "03 02 01 01 61 f0"},       // door 3 open
			},
		},
		{
			name: "locker lock compartment 3",
			dev:  lock3,
			do:   func(ctx context.Context, a gateway.Actuators) error { return a.Locks["A-03-lock"].Lock(ctx) },
			frames: []exchange{
				{"03 05 00 02 00 00 6d e8", "03 05 00 02 00 00 6d e8"},
			},
		},
		{
			name: "locker halt: secure locks",
			dev:  lock3,
			do:   func(ctx context.Context, a gateway.Actuators) error { return a.Locks["A-03-lock"].Halt(ctx) },
			frames: []exchange{
				{"03 05 00 02 00 00 6d e8", "03 05 00 02 00 00 6d e8"},
			},
		},
		{
			name: "flap raise space 2",
			dev:  flap2,
			do:   func(ctx context.Context, a gateway.Actuators) error { return a.Flaps["P02-flap"].Raise(ctx) },
			frames: []exchange{
				{"04 05 00 01 ff 00 dd af", "04 05 00 01 ff 00 dd af"},
				{"04 02 00 01 00 01 e8 5f", "04 02 01 00 a1 44"}, // no longer down
			},
		},
		{
			name: "flap lower space 2",
			dev:  flap2,
			do:   func(ctx context.Context, a gateway.Actuators) error { return a.Flaps["P02-flap"].Lower(ctx) },
			frames: []exchange{
				{"04 05 00 01 00 00 9c 5f", "04 05 00 01 00 00 9c 5f"},
				{"04 02 00 01 00 01 e8 5f", "04 02 01 00 a1 44"}, // still on its way down
				{"04 02 00 01 00 01 e8 5f", "04 02 01 01 60 84"}, // down
			},
		},
		{
			name: "flap halt: open lowers, without waiting for the read-back",
			dev:  flap2,
			do:   func(ctx context.Context, a gateway.Actuators) error { return a.Flaps["P02-flap"].Halt(ctx) },
			frames: []exchange{
				{"04 05 00 01 00 00 9c 5f", "04 05 00 01 00 00 9c 5f"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{t: t, steps: tt.frames}
			d, _ := openScripted(t, s, newRecorder(), tt.dev)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := tt.do(ctx, d.Actuators())
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got error %v; want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got error %v; want one containing %q", err, tt.wantErr)
			}
			s.finish()
		})
	}
}

// A poll round reads the sensors of a unit in one request when their
// channels are close, and reads, delivers and acknowledges a payment.
func TestFramesPoll(t *testing.T) {
	noLeaks(t)
	tests := []struct {
		name   string
		devs   []Device
		frames []exchange
		check  func(t *testing.T, r *recorder)
	}{
		{
			name: "door sensors 1 and 3 in one read",
			devs: []Device{
				{ID: "A-01-door", Kind: gateway.KindDoorSensor, Unit: 3, Channel: 1, Profile: refLockerBoard()},
				{ID: "A-03-door", Kind: gateway.KindDoorSensor, Unit: 3, Channel: 3, Profile: refLockerBoard()},
			},
			frames: []exchange{
				{"03 02 00 00 00 03 39 e9", "03 02 01 04 a1 f3"},       // doors 1..3: 3 open
				{"03 06 00 64 00 0a 49 f0", "03 06 00 64 00 0a 49 f0"}, // watchdog 10s, once the unit answered
			},
			check: func(t *testing.T, r *recorder) {
				if got := strings.Join(r.sensors, ","); got != "A-03-door on" {
					t.Errorf("sensor changes %q; want A-03-door on", got)
				}
			},
		},
		{
			name: "vehicle on space 2, and the watchdog programmed for its flap",
			devs: []Device{
				{ID: "P02-flap", Kind: gateway.KindFlap, Unit: 4, Channel: 2, Profile: refFlapController(), Fail: FailPolicy{OnCommLoss: FailOpen}},
				{ID: "P02-sensor", Kind: gateway.KindOccupancy, Unit: 4, Channel: 2, Profile: refFlapController()},
			},
			frames: []exchange{
				{"04 02 00 11 00 01 e9 9a", "04 02 01 01 60 84"},       // vehicle 2 present
				{"04 06 00 32 00 0a a8 57", "04 06 00 32 00 0a a8 57"}, // watchdog 10s
				{"04 06 00 34 00 02 49 90", "04 06 00 34 00 02 49 90"}, // space 2 fails open
			},
			check: func(t *testing.T, r *recorder) {
				if got := strings.Join(r.sensors, ","); got != "P02-sensor on" {
					t.Errorf("sensor changes %q; want P02-sensor on", got)
				}
			},
		},
		{
			name: "cash payment read, delivered, acknowledged",
			devs: []Device{{ID: "pay", Kind: gateway.KindPayStation, Unit: 1, Profile: refPayStation()}},
			frames: []exchange{
				{"01 01 00 00 00 01 fd ca", "01 01 01 01 90 48"},          // flag set
				{"01 03 00 65 00 02 d4 14", "01 03 04 01 5e 00 00 9a 1d"}, // amount 350, low word first
				{"01 03 00 6e 00 10 25 db", "01 03 20 73 70 61 63 65 3a 50 30 31 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 7a dc"},
				{"01 03 00 67 00 02 75 d4", "01 03 04 00 01 11 71 67 87"}, // tx 70001
				{"01 05 00 00 00 00 cd ca", "01 05 00 00 00 00 cd ca"},    // ack: clear the flag
			},
			check: func(t *testing.T, r *recorder) {
				want := gateway.CashPayment{ID: "pay-70001", Ref: "space:P01", Amount: 350}
				if len(r.payments) != 1 || r.payments[0] != want {
					t.Errorf("payments %+v; want [%+v]", r.payments, want)
				}
			},
		},
		{
			name: "no payment waiting",
			devs: []Device{{ID: "pay", Kind: gateway.KindPayStation, Unit: 1, Profile: refPayStation()}},
			frames: []exchange{
				{"01 01 00 00 00 01 fd ca", "01 01 01 00 51 88"},
			},
			check: func(t *testing.T, r *recorder) {
				if len(r.payments) != 0 {
					t.Errorf("payments %+v; want none", r.payments)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{t: t, steps: tt.frames}
			r := newRecorder()
			d, _ := openScripted(t, s, r, tt.devs...)
			p := newPoller(d, d.buses["rs485"])
			p.poll(context.Background(), p.units[0])
			s.finish()
			r.mu.Lock()
			defer r.mu.Unlock()
			tt.check(t, r)
		})
	}
}

// An exception is an answer: no reconnect, no retry, and the device stays
// online. A transport failure closes the link and the call is retried on
// a new one.
func TestFramesErrors(t *testing.T) {
	noLeaks(t)
	lock := Device{ID: "A-03-lock", Kind: gateway.KindLock, Unit: 3, Channel: 3, Profile: refLockerBoard()}
	s := &script{t: t, steps: []exchange{
		{"03 05 00 02 00 00 6d e8", "03 85 02 62 91"}, // exception 2
	}}
	r := newRecorder()
	dials := new(int)
	d, err := Open(Config{
		Buses:   []BusConfig{{ID: "rs485", dial: scriptedRTU(s, dials), Retries: 2, OfflineAfter: 1}},
		Devices: []Device{func() Device { lock.Bus = "rs485"; return lock }()},
	}, Options{Inputs: r, Health: r, noPoll: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	ctx := context.Background()
	err = d.Actuators().Locks["A-03-lock"].Lock(ctx)
	if !isException(err) || gateway.KindOf(err) != gateway.Unavailable {
		t.Errorf("got %v (kind %s); want a Modbus exception of kind unavailable", err, gateway.KindOf(err))
	}
	if *dials != 1 {
		t.Errorf("dials after an exception: got %d; want 1", *dials)
	}
	if h := d.Health(); !h[0].Online {
		t.Errorf("health after an exception: %+v; want online", h[0])
	}
	s.finish()

	// Two transport failures, then an answer: 3 links, one call.
	s2 := &script{t: t, steps: []exchange{
		{"03 05 00 02 00 00 6d e8", ""},
		{"03 05 00 02 00 00 6d e8", ""},
		{"03 05 00 02 00 00 6d e8", "03 05 00 02 00 00 6d e8"},
	}}
	*dials = 0
	s.steps, s.i = s2.steps, 0
	if err := d.Actuators().Locks["A-03-lock"].Lock(ctx); err != nil {
		t.Errorf("lock after two transport failures: %v; want the third try to succeed", err)
	}
	if *dials != 2 {
		t.Errorf("new links after two failures: got %d; want 2", *dials)
	}
	s.finish()
}

// The same seam with Modbus TCP framing (MBAP header: transaction ID,
// protocol 0, length, unit). Each new connection starts its transaction
// IDs again at 1, so no reply to an abandoned request can match.
func TestFramesTCP(t *testing.T) {
	noLeaks(t)
	s := &script{t: t, steps: []exchange{
		{"00 01 00 00 00 06 03 05 00 02 ff 00", "00 01 00 00 00 06 03 05 00 02 ff 00"}, // unlock compartment 3
		{"00 02 00 00 00 06 03 02 00 02 00 01", "00 02 00 00 00 04 03 02 01 01"},       // door 3 open
		{"00 03 00 00 00 06 03 05 00 02 00 00", ""},                                    // lock: no answer
		{"00 01 00 00 00 06 03 05 00 02 00 00", "00 01 00 00 00 06 03 05 00 02 00 00"}, // again, on a new connection
	}}
	dials := 0
	dial := func(time.Duration) (*link, error) {
		dials++
		h := goburrow.NewTCPClientHandler("")
		return &link{client: goburrow.NewClient2(h, s), setUnit: func(u uint8) { h.SlaveId = u },
			setTimeout: func(time.Duration) {}, close: func() error { return nil }}, nil
	}
	d, err := Open(Config{
		Buses:   []BusConfig{{ID: "tcp", dial: dial}},
		Devices: []Device{{ID: "A-03-lock", Kind: gateway.KindLock, Bus: "tcp", Unit: 3, Channel: 3, Profile: refLockerBoard()}},
	}, Options{noPoll: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	lock := d.Actuators().Locks["A-03-lock"]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := lock.Unlock(ctx); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if err := lock.Lock(ctx); err != nil {
		t.Fatalf("Lock after one lost reply: %v; want the retry to succeed", err)
	}
	if dials != 2 {
		t.Errorf("connections: %d; want 2", dials)
	}
	s.finish()
}
