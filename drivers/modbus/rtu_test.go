package modbus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	goburrow "github.com/goburrow/modbus"
	mbserver "github.com/simonvetter/modbus"

	"github.com/lotgate/lotgate/drivers/ptytest"
	"github.com/lotgate/lotgate/gateway"
)

// ptyPair links two pseudo-terminals and returns their paths (stable
// symlinks in a temp dir) and a function that unplugs both ends; see
// ptytest.
func ptyPair(tb testing.TB) (master, slave string, unplug func()) {
	tb.Helper()
	socat := ptytest.Socat(tb)
	dir := tb.TempDir()
	master, slave = filepath.Join(dir, "master"), filepath.Join(dir, "slave")
	return master, slave, ptytest.Link(tb, socat, master, slave)
}

// rtuSlave answers RTU frames on a pty as the simulator's units. With a
// charTime it plays the line's timing: the response is complete only when
// the request, the 3.5-character silence and the response would have
// crossed a real line at that speed.
type rtuSlave struct {
	f        *os.File
	sim      *Simulator
	h        *simHandler
	charTime time.Duration

	silent   atomic.Bool  // answer nothing (a dead device)
	garbage  atomic.Bool  // answer with a bad CRC
	served   atomic.Int32 // frames answered
	overlaps atomic.Int32 // requests that arrived while one was being answered
	done     chan struct{}
}

func startSlave(tb testing.TB, path string, sim *Simulator, charTime time.Duration) *rtuSlave {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		tb.Fatalf("open slave pty: %v", err)
	}
	s := &rtuSlave{f: f, sim: sim, h: &simHandler{s: sim}, charTime: charTime, done: make(chan struct{})}
	go s.run()
	tb.Cleanup(func() {
		f.Close()
		<-s.done
	})
	return s
}

func (s *rtuSlave) run() {
	defer close(s.done)
	var buf []byte
	tmp := make([]byte, 512)
	var first time.Time // when the current request's first byte came
	for {
		n := rtuRequestLength(buf)
		if n == 0 || len(buf) < n {
			s.f.SetReadDeadline(time.Time{})
			m, err := s.f.Read(tmp)
			if err != nil {
				return
			}
			if len(buf) == 0 {
				first = time.Now()
			}
			buf = append(buf, tmp[:m]...)
			continue
		}
		frame := buf[:n]
		buf = append([]byte(nil), buf[n:]...)
		resp := s.answer(frame)
		if s.charTime > 0 {
			wire := time.Duration(2*len(frame)+7+2*len(resp)) * s.charTime / 2
			preciseWait(first.Add(wire))
		}
		// Anything already waiting was sent before the answer: two
		// requests in flight on a half-duplex line.
		s.f.SetReadDeadline(time.Now())
		if m, _ := s.f.Read(tmp); m > 0 {
			s.overlaps.Add(1)
			buf = append(buf, tmp[:m]...)
		}
		if len(buf) > 0 {
			first = time.Now()
		}
		if resp == nil || s.silent.Load() {
			continue
		}
		if s.garbage.Load() {
			resp[len(resp)-1] ^= 0xff
		}
		if _, err := s.f.Write(resp); err != nil {
			return
		}
		s.served.Add(1)
	}
}

// preciseWait waits until t. Go's timers wake up to a millisecond late
// (the runtime's poller sleeps in whole milliseconds), which would be
// charged to the driver under test: sleep to just before t, then spin.
func preciseWait(t time.Time) {
	if d := time.Until(t) - 1500*time.Microsecond; d > 0 {
		time.Sleep(d)
	}
	for time.Now().Before(t) {
		runtime.Gosched()
	}
}

// rtuRequestLength is the length of the request at the start of b, or 0
// when b is too short to say.
func rtuRequestLength(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case goburrow.FuncCodeWriteMultipleRegisters, goburrow.FuncCodeWriteMultipleCoils:
		if len(b) < 7 {
			return 0
		}
		return 9 + int(b[6])
	}
	return 8
}

// answer builds the response to one request frame, or nil for no answer
// (bad CRC, unknown unit).
func (s *rtuSlave) answer(frame []byte) []byte {
	body := frame[:len(frame)-2]
	if crc16(body) != binary.LittleEndian.Uint16(frame[len(frame)-2:]) {
		return nil
	}
	unit, fn := body[0], body[1]
	addr := binary.BigEndian.Uint16(body[2:])
	qty := binary.BigEndian.Uint16(body[4:])
	var data []byte
	var err error
	switch fn {
	case goburrow.FuncCodeReadCoils, goburrow.FuncCodeReadDiscreteInputs:
		t := Coil
		if fn == goburrow.FuncCodeReadDiscreteInputs {
			t = DiscreteInput
		}
		var bits []bool
		if bits, err = s.h.bits(t, unit, addr, qty, false, nil); err == nil {
			data = make([]byte, 1+(len(bits)+7)/8)
			data[0] = byte(len(data) - 1)
			for i, v := range bits {
				if v {
					data[1+i/8] |= 1 << (i % 8)
				}
			}
		}
	case goburrow.FuncCodeReadHoldingRegisters, goburrow.FuncCodeReadInputRegisters:
		t := HoldingRegister
		if fn == goburrow.FuncCodeReadInputRegisters {
			t = InputRegister
		}
		var regs []uint16
		if regs, err = s.h.regs(t, unit, addr, qty, false, nil); err == nil {
			data = append([]byte{byte(2 * len(regs))}, registerBytes(regs)...)
		}
	case goburrow.FuncCodeWriteSingleCoil:
		if _, err = s.h.bits(Coil, unit, addr, 1, true, []bool{qty == 0xFF00}); err == nil {
			data = body[2:6]
		}
	case goburrow.FuncCodeWriteSingleRegister:
		if _, err = s.h.regs(HoldingRegister, unit, addr, 1, true, []uint16{qty}); err == nil {
			data = body[2:6]
		}
	case goburrow.FuncCodeWriteMultipleRegisters:
		if _, err = s.h.regs(HoldingRegister, unit, addr, qty, true, registers(body[7:])); err == nil {
			data = body[2:6]
		}
	default:
		err = mbserver.ErrIllegalFunction
	}
	if errors.Is(err, mbserver.ErrGWTargetFailedToRespond) {
		return nil // no such unit on the line: silence
	}
	out := []byte{unit, fn}
	if err != nil {
		out = []byte{unit, fn | 0x80, exceptionCode(err)}
	} else {
		out = append(out, data...)
	}
	return binary.LittleEndian.AppendUint16(out, crc16(out))
}

func exceptionCode(err error) byte {
	switch err {
	case mbserver.ErrIllegalFunction:
		return 1
	case mbserver.ErrIllegalDataAddress:
		return 2
	case mbserver.ErrIllegalDataValue:
		return 3
	case mbserver.ErrServerDeviceBusy:
		return 6
	}
	return 4
}

// crc16 is CRC-16/MODBUS, written here independently of goburrow's.
func crc16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, x := range b {
		crc ^= uint16(x)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

// rtuSite is a simulator behind an RTU slave on a pty, and a driver on the
// other end.
func rtuSite(tb testing.TB, devs []Device, charTime time.Duration, bus func(*BusConfig)) (*testSite, *rtuSlave, func()) {
	tb.Helper()
	master, slavePath, unplug := ptyPair(tb)
	cfg := Config{Devices: devs}
	for i := range cfg.Devices {
		cfg.Devices[i].Bus = "rs485"
	}
	sim, err := NewSimulator(SimUnits(cfg, "rs485"), SimOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	slave := startSlave(tb, slavePath, sim, charTime)
	bc := BusConfig{ID: "rs485", RTU: &RTUConfig{Device: master, Baud: 19200}, Timeout: 200 * time.Millisecond,
		OfflineAfter: 2, PollInterval: 20 * time.Millisecond, ProbeInterval: 40 * time.Millisecond,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}
	if bus != nil {
		bus(&bc)
	}
	cfg.Buses = []BusConfig{bc}
	r := newRecorder()
	d, err := Open(cfg, Options{Inputs: r, Health: r})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close(context.Background()) })
	return &testSite{sim: sim, d: d, r: r, bus: d.buses["rs485"]}, slave, unplug
}

// Every operation over RTU, four units sharing the line under concurrent
// calls, the line's timing played by the slave.
func TestRTU(t *testing.T) {
	noLeaks(t)
	devs := siteDevices()
	lb := devs[1].Profile
	devs = append(devs, Device{ID: "B-01-lock", Kind: gateway.KindLock, Unit: 5, Channel: 1, Profile: lb})
	s, slave, _ := rtuSite(t, devs, 0, nil)
	ctx := ctxFor(t, 10*time.Second)
	a := s.d.Actuators()
	if err := a.PayStation.ShowFee(ctx, "T-7Q2", 1250); err != nil {
		t.Fatalf("ShowFee: %v", err)
	}
	if ref, amount, _ := s.sim.Shown(1); ref != "T-7Q2" || amount != 1250 {
		t.Errorf("pay station shows %q %d; want T-7Q2 1250", ref, amount)
	}
	if err := a.Locks["A-03-lock"].Unlock(ctx); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	s.r.wait(t, 2*time.Second, "A-03-door on", func() bool { return strings.Contains(strings.Join(s.r.sensors, ","), "A-03-door on") })
	tx, _ := s.sim.Pay(1, "T-7Q2", 1250)
	s.r.wait(t, 2*time.Second, "the payment", func() bool { return len(s.r.payments) == 1 })
	if p := s.r.payments[0]; p.ID != fmt.Sprintf("pay-%d", tx) || p.Amount != 1250 {
		t.Errorf("payment %+v; want pay-%d of 1250", p, tx)
	}

	var wg sync.WaitGroup
	for _, id := range []string{"A-01-lock", "A-03-lock", "B-01-lock"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if err := a.Locks[id].Lock(ctx); err != nil {
					t.Errorf("%s: %v", id, err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 5 {
			if err := a.Flaps["P02-flap"].Raise(ctx); err != nil {
				t.Errorf("P02-flap: %v", err)
				return
			}
		}
	}()
	wg.Wait()
	if n := slave.overlaps.Load(); n != 0 {
		t.Errorf("requests sent while another was being answered: %d; want 0", n)
	}
	if n := s.bus.maxInflight.Load(); n != 1 {
		t.Errorf("most transactions in flight: %d; want 1", n)
	}
}

// A dead unit (silence), garbled answers, and the adapter unplugged and
// plugged back: the line recovers each time without leaking.
func TestRTUFaults(t *testing.T) {
	noLeaks(t)
	socat := ptytest.Socat(t)
	s, slave, unplug := rtuSite(t, siteDevices(), 0, nil)
	ctx := ctxFor(t, 10*time.Second)
	lock := s.d.Actuators().Locks["A-01-lock"]
	if err := lock.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	base := countResources(t)

	for _, fault := range []*atomic.Bool{&slave.silent, &slave.garbage} {
		fault.Store(true)
		if err := lock.Lock(ctx); err == nil {
			t.Fatal("Lock with a faulty line: nil error")
		}
		s.r.wait(t, 3*time.Second, "A-01-lock offline", func() bool { h := s.r.healthOf("A-01-lock"); return len(h) > 0 && !h[len(h)-1] })
		fault.Store(false)
		s.r.wait(t, 3*time.Second, "A-01-lock online", func() bool { h := s.r.healthOf("A-01-lock"); return h[len(h)-1] })
		if err := lock.Lock(ctx); err != nil {
			t.Fatalf("Lock after the fault: %v", err)
		}
		settle(t, "a line fault", base)
	}

	// Unplug: socat goes, the ptys vanish; a new socat makes new ones at
	// the same paths (a USB adapter plugged back, by its by-id path).
	master, slavePath := s.bus.cfg.RTU.Device, filepath.Join(filepath.Dir(s.bus.cfg.RTU.Device), "slave")
	unplug()
	slave.f.Close()
	<-slave.done
	s.r.wait(t, 3*time.Second, "A-01-lock offline after unplug", func() bool { h := s.r.healthOf("A-01-lock"); return !h[len(h)-1] })
	ptytest.Link(t, socat, master, slavePath)
	slave2 := startSlave(t, slavePath, s.sim, 0)
	s.r.wait(t, 3*time.Second, "A-01-lock online after replug", func() bool { h := s.r.healthOf("A-01-lock"); return h[len(h)-1] })
	if err := lock.Lock(ctx); err != nil {
		t.Fatalf("Lock after replug: %v", err)
	}
	if slave2.served.Load() == 0 {
		t.Error("the new slave answered nothing")
	}
}
