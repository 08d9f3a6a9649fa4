package modbus

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mbserver "github.com/simonvetter/modbus"
)

// SimUnit is one simulated device on a simulator: a unit ID and the
// profile it answers as.
type SimUnit struct {
	Unit    uint8
	Profile *Profile
}

// SimOptions configures a Simulator.
type SimOptions struct {
	// Logger receives the server's messages (discarded when nil).
	Logger *slog.Logger
	// Move is how long a simulated actuator takes to reach the state its
	// command asks for; 0 means at once.
	Move time.Duration
}

// Simulator is a Modbus TCP server (github.com/simonvetter/modbus) that
// answers as the devices its profiles describe. It keeps each unit's
// coils, discrete inputs and registers, refuses addresses no point covers
// (exception 2), and plays the device's part of each action: when the
// last write of an action arrives, the action's read-back point takes its
// confirm value after Move (a lock's door pops open, a flap goes down, the
// pay station clears its command register). Tests and the console play
// the world with SetInput and Pay, observe with History, Shown, Settled
// and Value, and inject faults with SetDelay, SetException and Stop.
//
// It serves the tests and a site whose bus says simulate: true, so that
// `make run` exercises real Modbus TCP over loopback.
type Simulator struct {
	log  *slog.Logger
	move time.Duration

	mu      sync.Mutex
	units   map[uint8]*simUnit
	server  *mbserver.ModbusServer
	addr    string
	changed chan struct{}
	txSeq   uint32

	quit     chan struct{} // closed by Stop: ends the delays of requests in progress
	handlers sync.WaitGroup

	// busy counts requests being answered; maxBusy is the most at once.
	// Tests check that one bus never has two requests in flight.
	busy, maxBusy atomic.Int32
}

type simUnit struct {
	profile   *Profile
	valid     map[Table]map[uint16]bool
	bits      map[Table]map[uint16]bool
	regs      map[Table]map[uint16]uint16
	history   []string
	delay     time.Duration
	exception error
	jammed    bool
	shown     map[int]shown // by channel
	settled   []string
	// moves counts the movements started per read-back point and channel:
	// a movement lands only if no later command started one (the last
	// command wins, whatever order the timers fire in).
	moves map[string]uint64
}

type shown struct {
	ref    string
	amount int64
}

// NewSimulator builds a simulator of units. Start serves it.
func NewSimulator(units []SimUnit, opts SimOptions) (*Simulator, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Simulator{
		log:     log.With("component", "modbus-sim"),
		move:    opts.Move,
		units:   make(map[uint8]*simUnit),
		changed: make(chan struct{}),
		// Transaction IDs differ from run to run, as a real pay station's
		// counter would not restart at 1 for a store that remembers.
		txSeq: uint32(time.Now().Unix()%1_000_000) * 1000,
	}
	for _, su := range units {
		if su.Profile == nil {
			return nil, fmt.Errorf("modbus sim: unit %d: no profile", su.Unit)
		}
		if err := su.Profile.Validate(); err != nil {
			return nil, fmt.Errorf("modbus sim: unit %d: %w", su.Unit, err)
		}
		if _, dup := s.units[su.Unit]; dup {
			return nil, fmt.Errorf("modbus sim: unit %d: duplicate", su.Unit)
		}
		s.units[su.Unit] = newSimUnit(su.Profile)
	}
	return s, nil
}

func newSimUnit(p *Profile) *simUnit {
	u := &simUnit{
		profile: p,
		valid:   make(map[Table]map[uint16]bool),
		bits:    make(map[Table]map[uint16]bool),
		regs:    make(map[Table]map[uint16]uint16),
		shown:   make(map[int]shown),
		moves:   make(map[string]uint64),
	}
	for _, t := range []Table{Coil, DiscreteInput, HoldingRegister, InputRegister} {
		u.valid[t] = make(map[uint16]bool)
		u.bits[t] = make(map[uint16]bool)
		u.regs[t] = make(map[uint16]uint16)
	}
	channels := max(p.Channels, 1)
	for _, pt := range p.Points {
		for ch := 1; ch <= channels; ch++ {
			a := pt.address(ch)
			for i := range pt.width() {
				u.valid[pt.Table][a+uint16(i)] = true
			}
		}
	}
	// Start at rest: flaps down, locks locked.
	rest := map[ProfileKind]string{FlapControllerProfile: ActLower, LockerBoardProfile: ActLock}[p.Kind]
	if act := p.Actions[rest]; act != nil {
		for ch := 1; ch <= channels; ch++ {
			for _, st := range act.Steps {
				if st.Arg == "" {
					u.set(p.Points[st.Point], ch, st.Value)
				}
			}
			if c := act.Confirm; c != nil {
				u.set(p.Points[c.Point], ch, c.Value)
			}
		}
	}
	return u
}

// SimUnits returns the units a simulator of bus must answer as: one per
// unit ID that cfg's devices use on it.
func SimUnits(cfg Config, bus string) []SimUnit {
	var out []SimUnit
	for _, d := range cfg.Devices {
		if d.Bus != bus || slices.ContainsFunc(out, func(u SimUnit) bool { return u.Unit == d.Unit }) {
			continue
		}
		out = append(out, SimUnit{Unit: d.Unit, Profile: d.Profile})
	}
	return out
}

// Start serves on addr ("127.0.0.1:0" picks a free port; see Addr). Start
// after Stop serves again, keeping the devices' state: a restarted server.
func (s *Simulator) Start(addr string) error {
	var err error
	for range 3 {
		bound := addr
		if host, port, perr := net.SplitHostPort(addr); perr == nil && port == "0" {
			// The server does not tell which port it bound: pick one.
			l, lerr := net.Listen("tcp", net.JoinHostPort(host, "0"))
			if lerr != nil {
				return fmt.Errorf("modbus sim: listen on %s: %w", addr, lerr)
			}
			bound = l.Addr().String()
			l.Close()
		}
		var srv *mbserver.ModbusServer
		srv, err = mbserver.NewServer(&mbserver.ServerConfiguration{
			URL:        "tcp://" + bound,
			Timeout:    time.Minute,
			MaxClients: 16,
			Logger:     slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		}, &simHandler{s: s})
		if err != nil {
			return fmt.Errorf("modbus sim: %w", err)
		}
		if err = srv.Start(); err != nil {
			if bound != addr {
				continue // someone took the port in between: pick another
			}
			break
		}
		s.mu.Lock()
		s.server = srv
		s.addr = bound
		s.quit = make(chan struct{})
		s.mu.Unlock()
		return nil
	}
	return fmt.Errorf("modbus sim: listen on %s: %w", addr, err)
}

// Addr is the address the simulator listens on.
func (s *Simulator) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Stop closes the listener and every client connection, and waits for
// the requests being answered (a delayed answer is cut short).
func (s *Simulator) Stop() error {
	s.mu.Lock()
	srv := s.server
	s.server = nil
	if srv != nil {
		close(s.quit)
	}
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Stop()
	s.handlers.Wait()
	return err
}

func (s *Simulator) unit(unit uint8) (*simUnit, error) {
	u, ok := s.units[unit]
	if !ok {
		return nil, fmt.Errorf("modbus sim: no unit %d", unit)
	}
	return u, nil
}

// SetDelay makes unit answer d late (0 for at once).
func (s *Simulator) SetDelay(unit uint8, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.unit(unit)
	if err != nil {
		return err
	}
	u.delay = d
	return nil
}

// SetException makes unit answer every request with exception code (0 to
// answer normally again). Code 11 is what a TCP gateway answers for a
// device that does not respond.
func (s *Simulator) SetException(unit uint8, code byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.unit(unit)
	if err != nil {
		return err
	}
	u.exception = exceptionError(code)
	return nil
}

func exceptionError(code byte) error {
	switch code {
	case 0:
		return nil
	case 1:
		return mbserver.ErrIllegalFunction
	case 2:
		return mbserver.ErrIllegalDataAddress
	case 3:
		return mbserver.ErrIllegalDataValue
	case 5:
		return mbserver.ErrAcknowledge
	case 6:
		return mbserver.ErrServerDeviceBusy
	case 10:
		return mbserver.ErrGWPathUnavailable
	case 11:
		return mbserver.ErrGWTargetFailedToRespond
	}
	return mbserver.ErrServerDeviceFailure
}

// SetJammed makes unit take commands without carrying them out: writes
// are accepted, but no action's read-back point changes (a jammed flap, a
// latch that does not release).
func (s *Simulator) SetJammed(unit uint8, jammed bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.unit(unit)
	if err != nil {
		return err
	}
	u.jammed = jammed
	return nil
}

// SetInput sets an input of unit (InputDoorOpen, InputVehiclePresent) for
// a channel (0 when the profile has none).
func (s *Simulator) SetInput(unit uint8, role string, channel int, active bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.unit(unit)
	if err != nil {
		return err
	}
	name, ok := u.profile.Inputs[role]
	if !ok {
		return fmt.Errorf("modbus sim: unit %d (%s) has no input %s", unit, u.profile.Name, role)
	}
	v := int64(0)
	if active {
		v = 1
	}
	u.set(u.profile.Points[name], channel, v)
	u.history = append(u.history, fmt.Sprintf("%s %d %s", role, channel, onOff(active)))
	s.notifyLocked()
	return nil
}

// Input reads an input of unit for a channel.
func (s *Simulator) Input(unit uint8, role string, channel int) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.unit(unit)
	if err != nil {
		return false, err
	}
	name, ok := u.profile.Inputs[role]
	if !ok {
		return false, fmt.Errorf("modbus sim: unit %d (%s) has no input %s", unit, u.profile.Name, role)
	}
	return u.get(u.profile.Points[name], channel) != 0, nil
}

// Value reads a number or bool point of unit for a channel (raw).
func (s *Simulator) Value(unit uint8, point string, channel int) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.unit(unit)
	if err != nil {
		return 0, err
	}
	pt, ok := u.profile.Points[point]
	if !ok || pt.Type == String {
		return 0, fmt.Errorf("modbus sim: unit %d has no number point %q", unit, point)
	}
	return u.get(pt, channel), nil
}

// Pay makes pay station unit report a cash payment of amount (gateway
// units) for ref, and returns the payment ID the driver will report
// (without its device prefix). It fails while an earlier payment has not
// been taken.
func (s *Simulator) Pay(unit uint8, ref string, amount int64) (uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.unit(unit)
	if err != nil {
		return 0, err
	}
	pay := u.profile.Payment
	if pay == nil {
		return 0, fmt.Errorf("modbus sim: unit %d is not a pay station", unit)
	}
	pts := u.profile.Points
	if u.get(pts[pay.Flag], 0) != 0 {
		return 0, fmt.Errorf("modbus sim: unit %d: the previous payment has not been taken", unit)
	}
	raw, err := toRaw(pts[pay.Amount], amount)
	if err != nil {
		return 0, fmt.Errorf("modbus sim: %w", err)
	}
	regs, err := stringRegisters(pts[pay.Ref], ref)
	if err != nil {
		return 0, fmt.Errorf("modbus sim: %w", err)
	}
	s.txSeq++
	u.setRegs(pts[pay.Ref], 0, regs)
	u.set(pts[pay.Amount], 0, raw)
	u.set(pts[pay.ID], 0, int64(s.txSeq))
	u.set(pts[pay.Flag], 0, 1)
	u.history = append(u.history, fmt.Sprintf("pay %s %d tx %d", ref, amount, s.txSeq))
	s.notifyLocked()
	return s.txSeq, nil
}

// Shown returns what pay station unit last showed (ref and amount) and
// whether it showed anything.
func (s *Simulator) Shown(unit uint8) (string, int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.unit(unit)
	if err != nil {
		return "", 0, false
	}
	sh, ok := u.shown[0]
	return sh.ref, sh.amount, ok
}

// Settled reports whether pay station unit was told ref was settled.
func (s *Simulator) Settled(unit uint8, ref string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.unit(unit)
	return err == nil && slices.Contains(u.settled, ref)
}

// History returns what happened to unit, oldest first: each completed
// action ("unlock 3", "raise 2", "show_fee space:P01 350",
// "settled space:P01") and each driving call ("door_open 3 on",
// "pay space:P01 350 tx 17").
func (s *Simulator) History(unit uint8) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.unit(unit)
	if err != nil {
		return nil
	}
	return slices.Clone(u.history)
}

// Wait blocks until cond holds or ctx ends, waking on every change.
func (s *Simulator) Wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Simulator) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// get reads a number or bool point for a channel.
func (u *simUnit) get(pt *Point, channel int) int64 {
	a := pt.address(channel)
	if pt.Table.bits() {
		if u.bits[pt.Table][a] {
			return 1
		}
		return 0
	}
	regs := make([]uint16, pt.width())
	for i := range regs {
		regs[i] = u.regs[pt.Table][a+uint16(i)]
	}
	return rawInt(pt, regs)
}

// set writes a number or bool point for a channel.
func (u *simUnit) set(pt *Point, channel int, v int64) {
	a := pt.address(channel)
	if pt.Table.bits() {
		u.bits[pt.Table][a] = v != 0
		return
	}
	if pt.Type == Bool {
		v = min(v, 1)
		if pt.Mask != 0 && v != 0 {
			v = int64(pt.Mask)
		}
	}
	u.setRegs(pt, channel, intRegisters(pt, v))
}

func (u *simUnit) setRegs(pt *Point, channel int, regs []uint16) {
	a := pt.address(channel)
	for i, r := range regs {
		u.regs[pt.Table][a+uint16(i)] = r
	}
}

func (u *simUnit) getString(pt *Point, channel int) string {
	a := pt.address(channel)
	regs := make([]uint16, pt.Length)
	for i := range regs {
		regs[i] = u.regs[pt.Table][a+uint16(i)]
	}
	return rawString(regs)
}

// wrote is called after a client wrote table at addr..addr+n-1: it
// completes the actions whose last step this write was.
func (s *Simulator) wroteLocked(u *simUnit, t Table, addr uint16, n int) {
	p := u.profile
	channels := max(p.Channels, 1)
	for _, name := range slices.Sorted(maps.Keys(p.Actions)) {
		act := p.Actions[name]
		last := act.Steps[len(act.Steps)-1]
		pt := p.Points[last.Point]
		if pt.Table != t {
			continue
		}
		for ch := 1; ch <= channels; ch++ {
			a := pt.address(ch)
			if a < addr || int(a) >= int(addr)+n {
				continue
			}
			if last.Arg == "" && u.get(pt, ch) != last.Value {
				continue
			}
			s.completeLocked(u, name, act, ch)
		}
	}
}

// completeLocked records action name on channel ch and plays the device's
// part: the read-back point takes its value after Move, a pay station
// remembers what it was shown, an acknowledged payment clears its flag.
func (s *Simulator) completeLocked(u *simUnit, name string, act *Action, ch int) {
	p := u.profile
	entry := name
	if p.Channels > 0 {
		entry += " " + strconv.Itoa(ch)
	}
	var ref string
	var amount int64
	for _, st := range act.Steps {
		switch st.Arg {
		case ArgRef:
			ref = u.getString(p.Points[st.Point], ch)
			entry += " " + ref
		case ArgAmount:
			pt := p.Points[st.Point]
			amount = fromRaw(pt, u.get(pt, ch))
			entry += " " + strconv.FormatInt(amount, 10)
		}
	}
	u.history = append(u.history, entry)
	switch name {
	case ActShowFee:
		u.shown[0] = shown{ref: ref, amount: amount}
	case ActSettled:
		u.settled = append(u.settled, ref)
	}
	if pay := p.Payment; pay != nil && name == pay.Ack {
		u.set(p.Points[pay.Flag], 0, 0)
	}
	if c := act.Confirm; c != nil && !u.jammed {
		pt := p.Points[c.Point]
		key := c.Point + "/" + strconv.Itoa(ch)
		u.moves[key]++
		seq := u.moves[key]
		if s.move <= 0 {
			u.set(pt, ch, c.Value)
		} else {
			time.AfterFunc(s.move, func() {
				s.mu.Lock()
				defer s.mu.Unlock()
				if u.moves[key] == seq {
					u.set(pt, ch, c.Value)
					s.notifyLocked()
				}
			})
		}
	}
	s.notifyLocked()
}

// simHandler answers the server's requests from the simulator's state.
type simHandler struct{ s *Simulator }

// begin looks up the unit, applies its delay (outside the lock) and its
// exception fault, and returns it locked.
func (h *simHandler) begin(unit uint8) (*simUnit, error) {
	s := h.s
	if n := s.busy.Add(1); n > s.maxBusy.Load() {
		s.maxBusy.Store(n)
	}
	defer s.busy.Add(-1)
	s.mu.Lock()
	u, ok := s.units[unit]
	if !ok {
		s.mu.Unlock()
		return nil, mbserver.ErrGWTargetFailedToRespond
	}
	if d := u.delay; d > 0 {
		// A slow device: the answer comes late, on purpose.
		quit := s.quit
		s.handlers.Add(1)
		s.mu.Unlock()
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-quit:
			t.Stop()
		}
		s.handlers.Done()
		s.mu.Lock()
	}
	if u.exception != nil {
		err := u.exception
		s.mu.Unlock()
		return nil, err
	}
	return u, nil
}

func (u *simUnit) check(t Table, addr, qty uint16) error {
	for i := range qty {
		if !u.valid[t][addr+i] {
			return mbserver.ErrIllegalDataAddress
		}
	}
	return nil
}

// serve answers a request for table t of unit: a write of args from addr,
// or a read of qty cells from addr. cells picks the unit's bits or
// registers. An address the profile does not map is refused, as a real
// device would.
func serve[V bool | uint16](h *simHandler, t Table, unit uint8, addr, qty uint16, write bool, args []V, cells func(*simUnit) map[Table]map[uint16]V) ([]V, error) {
	u, err := h.begin(unit)
	if err != nil {
		return nil, err
	}
	defer h.s.mu.Unlock()
	if err := u.check(t, addr, qty); err != nil {
		return nil, err
	}
	table := cells(u)[t]
	if write {
		for i, v := range args {
			table[addr+uint16(i)] = v
		}
		h.s.wroteLocked(u, t, addr, len(args))
		return nil, nil
	}
	out := make([]V, qty)
	for i := range out {
		out[i] = table[addr+uint16(i)]
	}
	return out, nil
}

func (h *simHandler) bits(t Table, unit uint8, addr, qty uint16, write bool, args []bool) ([]bool, error) {
	return serve(h, t, unit, addr, qty, write, args, func(u *simUnit) map[Table]map[uint16]bool { return u.bits })
}

func (h *simHandler) regs(t Table, unit uint8, addr, qty uint16, write bool, args []uint16) ([]uint16, error) {
	return serve(h, t, unit, addr, qty, write, args, func(u *simUnit) map[Table]map[uint16]uint16 { return u.regs })
}

func (h *simHandler) HandleCoils(r *mbserver.CoilsRequest) ([]bool, error) {
	return h.bits(Coil, r.UnitId, r.Addr, r.Quantity, r.IsWrite, r.Args)
}

func (h *simHandler) HandleDiscreteInputs(r *mbserver.DiscreteInputsRequest) ([]bool, error) {
	return h.bits(DiscreteInput, r.UnitId, r.Addr, r.Quantity, false, nil)
}

func (h *simHandler) HandleHoldingRegisters(r *mbserver.HoldingRegistersRequest) ([]uint16, error) {
	return h.regs(HoldingRegister, r.UnitId, r.Addr, r.Quantity, r.IsWrite, r.Args)
}

func (h *simHandler) HandleInputRegisters(r *mbserver.InputRegistersRequest) ([]uint16, error) {
	return h.regs(InputRegister, r.UnitId, r.Addr, r.Quantity, false, nil)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
