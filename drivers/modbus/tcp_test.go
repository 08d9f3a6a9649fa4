package modbus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	goburrow "github.com/goburrow/modbus"

	"github.com/lotgate/lotgate/gateway"
)

// resources is a goroutine and file-descriptor count.
type resources struct{ goroutines, fds int }

func countResources(tb testing.TB) resources {
	tb.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Skipf("cannot count file descriptors: %v", err)
	}
	return resources{goroutines: runtime.NumGoroutine(), fds: len(fds)}
}

// settle waits (polling briefly: goroutines and sockets end asynchronously
// after Close) until the counts are back to base, and fails if they do
// not come back. Counts below base pass: base may include the previous
// test's runner goroutine, still on its way out.
func settle(tb testing.TB, what string, base resources) {
	tb.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		now := countResources(tb)
		if now.goroutines <= base.goroutines && now.fds <= base.fds {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			tb.Fatalf("after %s: goroutines %d, fds %d; want %d and %d as before\n%s", what, now.goroutines, now.fds, base.goroutines, base.fds, buf[:n])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testSite is a simulator on loopback and a driver on it.
type testSite struct {
	sim *Simulator
	d   *Driver
	r   *recorder
	bus *Bus
}

// The test site's devices: a pay station (unit 1), a locker board (unit 3,
// compartments 1-3) and a flap controller (unit 4, space 2).
func siteDevices() []Device {
	lb, fc, ps := refLockerBoard(), refFlapController(), refPayStation()
	return []Device{
		{ID: "pay", Kind: gateway.KindPayStation, Unit: 1, Profile: ps},
		{ID: "A-01-lock", Kind: gateway.KindLock, Unit: 3, Channel: 1, Profile: lb},
		{ID: "A-01-door", Kind: gateway.KindDoorSensor, Unit: 3, Channel: 1, Profile: lb},
		{ID: "A-03-lock", Kind: gateway.KindLock, Unit: 3, Channel: 3, Profile: lb},
		{ID: "A-03-door", Kind: gateway.KindDoorSensor, Unit: 3, Channel: 3, Profile: lb},
		{ID: "P02-flap", Kind: gateway.KindFlap, Unit: 4, Channel: 2, Profile: fc},
		{ID: "P02-sensor", Kind: gateway.KindOccupancy, Unit: 4, Channel: 2, Profile: fc, Fail: FailPolicy{OnCommLoss: FailActive}},
	}
}

// fastBus is a TCP bus with short timings for tests.
func fastBus(addr string) BusConfig {
	return BusConfig{ID: "tcp", TCP: addr, Timeout: 150 * time.Millisecond, OfflineAfter: 2,
		PollInterval: 10 * time.Millisecond, ProbeInterval: 30 * time.Millisecond,
		BackoffMin: 5 * time.Millisecond, BackoffMax: 40 * time.Millisecond}
}

// noLeaks checks, after everything else the test cleans up, that the test
// left no goroutine or descriptor behind, so the next test's counts start
// clean. Call it first.
func noLeaks(tb testing.TB) {
	tb.Helper()
	before := countResources(tb)
	tb.Cleanup(func() { settle(tb, "the test's cleanup", before) })
}

func startSite(tb testing.TB, devs []Device, bus func(addr string) BusConfig, opts ...func(*Options)) *testSite {
	tb.Helper()
	cfg := Config{Devices: devs}
	for i := range cfg.Devices {
		cfg.Devices[i].Bus = "tcp"
	}
	sim, err := NewSimulator(SimUnits(cfg, "tcp"), SimOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sim.Stop() })
	bc := bus(sim.Addr())
	bc.ID = "tcp"
	cfg.Buses = []BusConfig{bc}
	r := newRecorder()
	o := Options{Inputs: r, Health: r}
	for _, f := range opts {
		f(&o)
	}
	d, err := Open(cfg, o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close(context.Background()) })
	return &testSite{sim: sim, d: d, r: r, bus: d.buses["tcp"]}
}

func ctxFor(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// Every operation against the simulator over loopback, with the poller
// delivering sensors and payments.
func TestTCPSimulator(t *testing.T) {
	noLeaks(t)
	s := startSite(t, siteDevices(), fastBus)
	ctx := ctxFor(t, 5*time.Second)
	a := s.d.Actuators()

	if err := a.PayStation.ShowFee(ctx, "space:P02", 450); err != nil {
		t.Fatalf("ShowFee: %v", err)
	}
	if ref, amount, ok := s.sim.Shown(1); !ok || ref != "space:P02" || amount != 450 {
		t.Errorf("pay station shows %q %d (%v); want space:P02 450", ref, amount, ok)
	}
	if err := a.PayStation.Settled(ctx, "T-XYZ"); err != nil || !s.sim.Settled(1, "T-XYZ") {
		t.Errorf("Settled: %v, simulator settled %v; want nil, true", err, s.sim.Settled(1, "T-XYZ"))
	}

	// Unlock pops the door open (the read-back); the poller reports it.
	if err := a.Locks["A-03-lock"].Unlock(ctx); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	s.r.wait(t, 2*time.Second, "A-03-door on", func() bool { return strings.Contains(strings.Join(s.r.sensors, ","), "A-03-door on") })
	if err := a.Locks["A-03-lock"].Lock(ctx); err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if err := s.sim.SetInput(3, InputDoorOpen, 3, false); err != nil {
		t.Fatal(err)
	}
	s.r.wait(t, 2*time.Second, "A-03-door off", func() bool { return strings.Contains(strings.Join(s.r.sensors, ","), "A-03-door off") })

	// Flap: raise, lower, each confirmed by the down position.
	if err := a.Flaps["P02-flap"].Raise(ctx); err != nil {
		t.Fatalf("Raise: %v", err)
	}
	if down, _ := s.sim.Value(4, "down", 2); down != 0 {
		t.Errorf("flap down after Raise: %d; want 0", down)
	}
	if err := a.Flaps["P02-flap"].Lower(ctx); err != nil {
		t.Fatalf("Lower: %v", err)
	}

	// A car on space 2; a cash payment.
	if err := s.sim.SetInput(4, InputVehiclePresent, 2, true); err != nil {
		t.Fatal(err)
	}
	s.r.wait(t, 2*time.Second, "P02-sensor on", func() bool { return strings.Contains(strings.Join(s.r.sensors, ","), "P02-sensor on") })
	tx, err := s.sim.Pay(1, "space:P02", 450)
	if err != nil {
		t.Fatal(err)
	}
	s.r.wait(t, 2*time.Second, "the cash payment", func() bool { return len(s.r.payments) > 0 })
	want := gateway.CashPayment{ID: fmt.Sprintf("pay-%d", tx), Ref: "space:P02", Amount: 450}
	if s.r.payments[0] != want {
		t.Errorf("payment %+v; want %+v", s.r.payments[0], want)
	}
	// Acknowledged: the flag is clear and the simulator takes a new one.
	if err := s.sim.Wait(ctx, func() bool { v, _ := s.sim.Value(1, "paid_flag", 0); return v == 0 }); err != nil {
		t.Fatalf("payment flag never cleared: %v", err)
	}
	if len(s.r.payments) != 1 {
		t.Errorf("payments delivered: %d; want 1", len(s.r.payments))
	}
	if got := s.bus.maxInflight.Load(); got != 1 {
		t.Errorf("most transactions in flight at once: %d; want 1", got)
	}
}

// An unconfirmed actuation fails with gateway.ErrUnconfirmed and says what the
// sensor read.
func TestTCPUnconfirmed(t *testing.T) {
	noLeaks(t)
	devs := siteDevices()
	devs[3].Profile.Actions[ActUnlock].Confirm.Within = 60 * time.Millisecond
	s := startSite(t, devs, fastBus)
	s.sim.SetJammed(3, true) // the latch does not release: the door stays shut
	err := s.d.Actuators().Locks["A-03-lock"].Unlock(ctxFor(t, time.Second))
	if !errors.Is(err, gateway.ErrUnconfirmed) || gateway.KindOf(err) != gateway.Unavailable {
		t.Fatalf("got %v; want an unavailable error wrapping gateway.ErrUnconfirmed", err)
	}
	if !strings.Contains(err.Error(), "door did not read 1 within 60ms (door reads 0)") {
		t.Errorf("error %q does not say what the sensor read", err)
	}
}

// The server stopped and restarted: calls fail while it is gone, the bus
// reconnects on its own when it is back, and nothing leaks.
func TestTCPServerRestart(t *testing.T) {
	noLeaks(t)
	s := startSite(t, siteDevices(), fastBus)
	lock := s.d.Actuators().Locks["A-01-lock"]
	if err := lock.Lock(ctxFor(t, time.Second)); err != nil {
		t.Fatal(err)
	}
	base := countResources(t)
	addr := s.sim.Addr()
	for round := range 3 {
		if err := s.sim.Stop(); err != nil {
			t.Fatal(err)
		}
		err := lock.Lock(ctxFor(t, time.Second))
		if err == nil || gateway.KindOf(err) != gateway.Unavailable {
			t.Fatalf("round %d: Lock with the server down: %v; want an unavailable error", round, err)
		}
		s.r.wait(t, 2*time.Second, "A-01-lock offline", func() bool { h := s.r.healthOf("A-01-lock"); return len(h) > 0 && !h[len(h)-1] })
		if err := s.sim.Start(addr); err != nil {
			t.Fatal(err)
		}
		s.r.wait(t, 2*time.Second, "A-01-lock online", func() bool { h := s.r.healthOf("A-01-lock"); return len(h) > 0 && h[len(h)-1] })
		if err := lock.Lock(ctxFor(t, time.Second)); err != nil {
			t.Fatalf("round %d: Lock after the restart: %v", round, err)
		}
		settle(t, fmt.Sprintf("server restart %d", round), base)
	}
	if got := s.r.healthOf("A-01-lock"); len(got) != 6 {
		t.Errorf("health transitions of A-01-lock: %v; want offline, online three times", got)
	}
}

// A reply slower than the deadline: goburrow's client alone would read
// that late reply as the answer to its next request; the bus starts a new
// connection and the next call succeeds.
func TestTCPSlowReply(t *testing.T) {
	noLeaks(t)
	s := startSite(t, siteDevices(), fastBus, func(o *Options) { o.noPoll = true })
	ctx := ctxFor(t, 5*time.Second)
	flap := s.d.Actuators().Flaps["P02-flap"]
	if err := flap.Lower(ctx); err != nil {
		t.Fatal(err)
	}
	base := countResources(t)
	for round := range 3 {
		s.sim.SetDelay(4, 400*time.Millisecond)
		start := time.Now()
		err := flap.Lower(ctxFor(t, 200*time.Millisecond))
		if err == nil {
			t.Fatalf("round %d: Lower with a slow device: nil error", round)
		}
		if took := time.Since(start); took > 350*time.Millisecond {
			t.Errorf("round %d: a call with a 200ms deadline took %v", round, took)
		}
		s.sim.SetDelay(4, 0)
		if err := flap.Lower(ctx); err != nil {
			t.Fatalf("round %d: Lower after the slow reply: %v", round, err)
		}
		// The late replies reached closed connections; the server's
		// handlers end once they have written them.
		settle(t, fmt.Sprintf("slow reply %d", round), base)
	}
}

// What goburrow's TCP client does on its own after a timeout: the late
// reply answers the next request. This documents why the bus reconnects;
// if goburrow ever fixes it, this test says so.
func TestGoburrowStaleReply(t *testing.T) {
	noLeaks(t)
	sim, err := NewSimulator([]SimUnit{{Unit: 3, Profile: refLockerBoard()}}, SimOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer sim.Stop()
	h := goburrow.NewTCPClientHandler(sim.Addr())
	h.SlaveId = 3
	h.Timeout = 50 * time.Millisecond
	h.IdleTimeout = 0
	defer h.Close()
	c := goburrow.NewClient(h)
	sim.SetDelay(3, 150*time.Millisecond)
	if _, err := c.ReadDiscreteInputs(0, 1); err == nil {
		t.Fatal("read with a slow server: nil error; want a timeout")
	}
	sim.SetDelay(3, 0)
	time.Sleep(200 * time.Millisecond) // let the late reply arrive: the point of the test
	_, err = c.ReadDiscreteInputs(0, 1)
	if err == nil || !strings.Contains(err.Error(), "transaction id") {
		t.Errorf("next read on the same handler: %v; want goburrow's transaction id mismatch", err)
	}
}

// Exceptions are answers: the connection stays, the device stays online.
// Exception 11 (a TCP gateway's "target failed to respond") is a dead
// device: offline after OfflineAfter, probed, back online when it answers.
func TestTCPExceptions(t *testing.T) {
	noLeaks(t)
	s := startSite(t, siteDevices(), fastBus)
	ctx := ctxFor(t, 5*time.Second)
	lock := s.d.Actuators().Locks["A-01-lock"]
	if err := lock.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	dials := s.bus.dials.Load()
	base := countResources(t)

	s.sim.SetException(3, 2)
	err := lock.Lock(ctx)
	var me *goburrow.ModbusError
	if !errors.As(err, &me) || me.ExceptionCode != 2 {
		t.Fatalf("Lock: %v; want exception 2", err)
	}
	if got := s.bus.dials.Load(); got != dials {
		t.Errorf("connections opened after an exception: %d; want none", got-dials)
	}
	if h := s.r.healthOf("A-01-lock"); len(h) != 0 {
		t.Errorf("health transitions after exception 2: %v; want none", h)
	}

	s.sim.SetException(3, 11)
	s.r.wait(t, 2*time.Second, "A-01-lock offline", func() bool { h := s.r.healthOf("A-01-lock"); return len(h) == 1 && !h[0] })
	if err := lock.Lock(ctx); !errors.Is(err, ErrOffline) {
		t.Errorf("Lock on an offline device: %v; want ErrOffline at once", err)
	}
	s.sim.SetException(3, 0)
	s.r.wait(t, 2*time.Second, "A-01-lock online", func() bool { h := s.r.healthOf("A-01-lock"); return len(h) == 2 && h[1] })
	if err := lock.Lock(ctx); err != nil {
		t.Errorf("Lock after recovery: %v", err)
	}
	if got := s.bus.dials.Load(); got != dials {
		t.Errorf("connections opened for exceptions: %d; want none", got-dials)
	}
	settle(t, "exceptions", base)
}

// A server that answers garbage: each call fails and its connection is
// dropped; when a real server takes the address the bus recovers.
func TestTCPGarbage(t *testing.T) {
	noLeaks(t)
	base := countResources(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	var wg sync.WaitGroup
	garbage := [][]byte{
		{0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0x01, 0x02},                   // length 65535
		{0x00, 0x09, 0x00, 0x00, 0x00, 0x03, 0x03, 0x01, 0x00},             // wrong transaction and unit
		{0x00, 0x01, 0x00, 0x00, 0x00, 0x00},                               // short, then closed
		{0x00, 0x01, 0x00, 0x00, 0x00, 0x04, 0x03, 0x02, 0x05, 0x00, 0x00}, // byte count lies
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func(c net.Conn, g []byte) {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 260)
				if _, err := c.Read(buf); err != nil {
					return
				}
				c.Write(g)
			}(c, garbage[i%len(garbage)])
		}
	}()
	r := newRecorder()
	lb := refLockerBoard()
	d, err := Open(Config{
		Buses:   []BusConfig{fastBus(addr)},
		Devices: []Device{{ID: "A-01-lock", Kind: gateway.KindLock, Bus: "tcp", Unit: 3, Channel: 1, Profile: lb}},
	}, Options{Inputs: r, Health: r, noPoll: true})
	if err != nil {
		t.Fatal(err)
	}
	lock := d.Actuators().Locks["A-01-lock"]
	for i := range len(garbage) {
		if err := lock.Lock(ctxFor(t, time.Second)); err == nil {
			t.Errorf("call %d against garbage: nil error", i)
		}
	}
	dials := d.buses["tcp"].dials.Load()
	if dials < int32(len(garbage)) {
		t.Errorf("connections opened for %d garbage replies: %d; want one per failed try", len(garbage), dials)
	}
	l.Close()
	wg.Wait()
	sim, err := NewSimulator([]SimUnit{{Unit: 3, Profile: lb}}, SimOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(addr); err != nil {
		t.Fatal(err)
	}
	// The device went offline; a probe brings it back (no poller here, so
	// probe by hand as the poller would).
	dev := d.devices["A-01-lock"]
	deadline := time.Now().Add(2 * time.Second)
	for !d.health.Online(unitKey{"tcp", 3}) && time.Now().Before(deadline) {
		dev.readRaw(ctxFor(t, time.Second), lb.Points["release"], true)
	}
	if err := lock.Lock(ctxFor(t, time.Second)); err != nil {
		t.Fatalf("Lock against the real server: %v", err)
	}
	d.Close(context.Background())
	sim.Stop()
	// Every connection the garbage broke was closed: nothing is left once
	// the driver and the server are gone.
	settle(t, "garbage frames", base)
}

// Four unit IDs on one bus under concurrent calls: never two requests in
// flight, every call answered, and the silence between frames kept.
func TestTCPSharedBus(t *testing.T) {
	noLeaks(t)
	lb := refLockerBoard()
	var devs []Device
	for unit := uint8(1); unit <= 4; unit++ {
		for ch := 1; ch <= 2; ch++ {
			devs = append(devs, Device{ID: fmt.Sprintf("u%d-c%d", unit, ch), Kind: gateway.KindLock, Unit: unit, Channel: ch, Profile: lb})
		}
	}
	s := startSite(t, devs, func(addr string) BusConfig {
		b := fastBus(addr)
		b.FrameGap = time.Millisecond
		b.QueueSize = 64
		return b
	})
	for unit := uint8(1); unit <= 4; unit++ {
		s.sim.SetDelay(unit, 200*time.Microsecond) // widen the window an overlap would show in
	}
	a := s.d.Actuators()
	var wg sync.WaitGroup
	errs := make(chan error, 8*25)
	start := time.Now()
	for _, dev := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := a.Locks[dev.ID]
			for i := range 25 {
				var err error
				if i%2 == 0 {
					err = l.Lock(ctxFor(t, 5*time.Second))
				} else {
					_, err = s.d.devices[dev.ID].readRaw(ctxFor(t, 5*time.Second), lb.Points["release"], false)
				}
				if err != nil {
					errs <- fmt.Errorf("%s call %d: %w", dev.ID, i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := s.bus.maxInflight.Load(); got != 1 {
		t.Errorf("client side: most transactions in flight at once %d; want 1", got)
	}
	if got := s.sim.maxBusy.Load(); got != 1 {
		t.Errorf("server side: most requests answered at once %d; want 1", got)
	}
	// 200 transactions with at least 1ms of silence between them.
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("200 transactions with a 1ms frame gap took %v; want at least 200ms", took)
	}
}

// A full queue fails at once; a caller that gives up while queued sends
// nothing; a stuck device does not hold the line for the others once it
// is offline.
func TestTCPQueueAndStuckDevice(t *testing.T) {
	noLeaks(t)
	s := startSite(t, siteDevices(), func(addr string) BusConfig {
		b := fastBus(addr)
		b.QueueSize = 2
		b.ProbeInterval = time.Hour // keep the stuck unit offline
		return b
	})
	a := s.d.Actuators()
	if err := a.Locks["A-01-lock"].Lock(ctxFor(t, time.Second)); err != nil {
		t.Fatal(err)
	}
	// The flap controller hangs: every request to it times out.
	s.sim.SetDelay(4, time.Second)
	s.r.wait(t, 3*time.Second, "P02-flap offline", func() bool { h := s.r.healthOf("P02-flap"); return len(h) == 1 && !h[0] })
	// Its occupancy sensor reports its comm-loss policy: active.
	s.r.wait(t, time.Second, "P02-sensor on (comm loss)", func() bool { return strings.Contains(strings.Join(s.r.sensors, ","), "P02-sensor on") })
	start := time.Now()
	if err := a.Flaps["P02-flap"].Lower(ctxFor(t, time.Second)); !errors.Is(err, ErrOffline) {
		t.Errorf("Lower on the stuck flap: %v; want ErrOffline", err)
	}
	for range 10 {
		if err := a.Locks["A-01-lock"].Lock(ctxFor(t, time.Second)); err != nil {
			t.Fatalf("Lock next to a stuck device: %v", err)
		}
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("11 calls next to an offline stuck device took %v; want them not to wait for it", took)
	}

	// Fill the queue behind a slow call.
	s.sim.SetDelay(3, 300*time.Millisecond)
	var wg sync.WaitGroup
	results := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- a.Locks["A-01-lock"].Lock(ctxFor(t, 2*time.Second))
		}()
	}
	wg.Wait()
	close(results)
	full := 0
	for err := range results {
		if errors.Is(err, ErrQueueFull) {
			full++
		}
	}
	if full == 0 {
		t.Errorf("8 concurrent calls on a queue of 2 behind a slow device: none refused with ErrQueueFull")
	}
}

// Close ends every goroutine and closes every connection it opened.
func TestCloseLeavesNothing(t *testing.T) {
	noLeaks(t)
	base := countResources(t)
	sim, err := NewSimulator([]SimUnit{{Unit: 3, Profile: refLockerBoard()}}, SimOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	lb := refLockerBoard()
	d, err := Open(Config{
		Buses:   []BusConfig{fastBus(sim.Addr())},
		Devices: []Device{{ID: "A-01-door", Kind: gateway.KindDoorSensor, Bus: "tcp", Unit: 3, Channel: 1, Profile: lb}},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Sensor(ctxFor(t, time.Second), "A-01-door"); err != nil {
		t.Fatal(err)
	}
	d.Close(context.Background())
	d.Close(context.Background()) // idempotent
	sim.Stop()
	settle(t, "Close", base)
	if _, err := d.Sensor(ctxFor(t, time.Second), "A-01-door"); err == nil {
		t.Error("Sensor after Close: nil error")
	}
}

// A simulator whose devices take time to move: back-to-back commands end
// in the last one's position, whatever order the movements' timers fire
// in.
func TestSimulatorLastCommandWins(t *testing.T) {
	noLeaks(t)
	fc := refFlapController()
	sim, err := NewSimulator([]SimUnit{{Unit: 4, Profile: fc}}, SimOptions{Move: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer sim.Stop()
	d, err := Open(Config{
		Buses:   []BusConfig{fastBus(sim.Addr())},
		Devices: []Device{{ID: "P02-flap", Kind: gateway.KindFlap, Bus: "tcp", Unit: 4, Channel: 2, Profile: fc}},
	}, Options{noPoll: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	flap := d.Actuators().Flaps["P02-flap"]
	for i := range 5 {
		for _, step := range []struct {
			name string
			do   func(context.Context) error
		}{{"raise", flap.Raise}, {"raise again", flap.Raise}, {"lower", flap.Lower}, {"lower again", flap.Lower}} {
			if err := step.do(ctxFor(t, 2*time.Second)); err != nil {
				t.Fatalf("round %d, %s: %v", i, step.name, err)
			}
		}
	}
}
