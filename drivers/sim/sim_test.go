package sim_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lotgate/lotgate/drivers/sim"
	"github.com/lotgate/lotgate/gateway"
)

// testSite is a small site with one device of every kind, two lanes, a
// space, a locker compartment, a door, a pay station, a fire alarm and one
// device driven by another driver.
func testSite() *gateway.Site {
	dev := func(id string, k gateway.DeviceKind) gateway.Device {
		return gateway.Device{ID: id, Kind: k, Driver: "sim"}
	}
	return &gateway.Site{
		ID: "test",
		Devices: []gateway.Device{
			dev("gate-in", gateway.KindBarrier),
			dev("loop-in", gateway.KindLoop),
			dev("scan-in", gateway.KindScanner),
			{ID: "tix-in", Kind: gateway.KindTicket}, // empty Driver means sim
			dev("gate-out", gateway.KindBarrier),
			dev("loop-out", gateway.KindLoop),
			dev("scan-out", gateway.KindScanner),
			dev("flap-1", gateway.KindFlap),
			dev("occ-1", gateway.KindOccupancy),
			dev("lock-a03", gateway.KindLock),
			dev("door-a03", gateway.KindDoorSensor),
			dev("lock-d1", gateway.KindLock),
			dev("ds-d1", gateway.KindDoorSensor),
			dev("pay", gateway.KindPayStation),
			dev("fire", gateway.KindFireAlarm),
			{ID: "gate-real", Kind: gateway.KindBarrier, Driver: "gpio"},
		},
		Lanes: []gateway.Lane{
			{ID: "entry-1", Direction: gateway.Entry, Barrier: "gate-in", Loop: "loop-in", Scanner: "scan-in", Ticket: "tix-in"},
			{ID: "exit-1", Direction: gateway.Exit, Barrier: "gate-out", Loop: "loop-out", Scanner: "scan-out"},
			{ID: "exit-2", Direction: gateway.Exit, Barrier: "gate-real", Loop: "loop-real"},
		},
		Spaces:     []gateway.Space{{ID: "P1", Flap: "flap-1", Sensor: "occ-1"}},
		Lockers:    []gateway.Locker{{ID: "L1", Compartments: []gateway.Compartment{{ID: "A-03", Lock: "lock-a03", DoorSensor: "door-a03"}}}},
		Doors:      []gateway.Door{{ID: "D1", Lock: "lock-d1", DoorSensor: "ds-d1"}},
		PayStation: &gateway.PayStation{Device: "pay"},
		FireAlarm:  &gateway.FireAlarm{Input: "fire", Opens: []string{"exit-1"}},
	}
}

// recorder is a gateway.Inputs that records every call as a line and runs
// optional hooks from inside the call, as the core may.
type recorder struct {
	mu    sync.Mutex
	calls []string

	onSensor func(ctx context.Context, id string, active bool)
	onTicket func(ctx context.Context, id string)
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *recorder) SensorChanged(ctx context.Context, id string, active bool) {
	r.add("sensor %s %v", id, active)
	if r.onSensor != nil {
		r.onSensor(ctx, id, active)
	}
}

func (r *recorder) Scanned(_ context.Context, id, text string) { r.add("scan %s %s", id, text) }

func (r *recorder) TicketRequested(ctx context.Context, id string) {
	r.add("ticket %s", id)
	if r.onTicket != nil {
		r.onTicket(ctx, id)
	}
}

func (r *recorder) CashPaid(_ context.Context, p gateway.CashPayment) {
	r.add("cash %s %s %d", p.ID, p.Ref, p.Amount)
}

func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// mustSim returns a sim.Site for testSite attached to a new recorder.
func mustSim(tb testing.TB, opts ...sim.Option) (*sim.Site, *recorder) {
	tb.Helper()
	s, err := sim.New(testSite(), nil, opts...)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	rec := &recorder{}
	s.Attach(rec)
	return s, rec
}

func wantKind(t *testing.T, what string, err error, want gateway.ErrorKind) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error; want a %s error", what, want)
		return
	}
	if got := gateway.KindOf(err); got != want {
		t.Errorf("%s: got error %q of kind %s; want kind %s", what, err, got, want)
	}
}

func TestNewSelectsDevices(t *testing.T) {
	s, err := sim.New(testSite(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Devices(); slices.Contains(got, "gate-real") || !slices.Contains(got, "tix-in") || len(got) != 15 {
		t.Errorf("default Devices() = %v; want the 15 sim or driverless devices, without gate-real", got)
	}
	all, err := sim.New(testSite(), nil, sim.All())
	if err != nil {
		t.Fatal(err)
	}
	if got := all.Devices(); len(got) != 16 || !slices.Contains(got, "gate-real") {
		t.Errorf("All() Devices() = %v; want all 16 devices", got)
	}
	only, err := sim.New(testSite(), nil, sim.Select(func(d gateway.Device) bool { return d.Kind == gateway.KindLock }))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := only.Devices(), []string{"lock-a03", "lock-d1"}; !slices.Equal(got, want) {
		t.Errorf("Select(locks) Devices() = %v; want %v", got, want)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name    string
		devices []gateway.Device
		want    string
	}{
		{"unknown kind", []gateway.Device{{ID: "x", Kind: "teleporter"}}, `unknown kind "teleporter"`},
		{"duplicate", []gateway.Device{{ID: "x", Kind: gateway.KindLoop}, {ID: "x", Kind: gateway.KindLock}}, "duplicate"},
		{"no id", []gateway.Device{{Kind: gateway.KindLoop}}, "no ID"},
		{"two pay stations", []gateway.Device{{ID: "p1", Kind: gateway.KindPayStation}, {ID: "p2", Kind: gateway.KindPayStation}}, "second pay station"},
	}
	for _, tt := range tests {
		_, err := sim.New(&gateway.Site{Devices: tt.devices}, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New(%v) error = %v; want one containing %q", tt.name, tt.devices, err, tt.want)
		}
	}
	if _, err := sim.New(nil, nil); err == nil {
		t.Errorf("New(nil site): got no error")
	}
	// An unknown kind on a device another driver handles is not the sim's business.
	if _, err := sim.New(&gateway.Site{Devices: []gateway.Device{{ID: "x", Kind: "teleporter", Driver: "modbus"}}}, nil); err != nil {
		t.Errorf("New with an unknown kind on a modbus device: %v; want no error", err)
	}
}

func TestActuators(t *testing.T) {
	s, _ := mustSim(t)
	a := s.Actuators()
	keys := func(m any) []string {
		var out []string
		switch m := m.(type) {
		case map[string]gateway.Barrier:
			for k := range m {
				out = append(out, k)
			}
		case map[string]gateway.Lock:
			for k := range m {
				out = append(out, k)
			}
		case map[string]gateway.Flap:
			for k := range m {
				out = append(out, k)
			}
		case map[string]gateway.TicketPrinter:
			for k := range m {
				out = append(out, k)
			}
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name string
		got  []string
		want []string
	}{
		{"barriers", keys(a.Barriers), []string{"gate-in", "gate-out"}},
		{"locks", keys(a.Locks), []string{"lock-a03", "lock-d1"}},
		{"flaps", keys(a.Flaps), []string{"flap-1"}},
		{"tickets", keys(a.Tickets), []string{"tix-in"}},
	}
	for _, tt := range tests {
		if !slices.Equal(tt.got, tt.want) {
			t.Errorf("Actuators().%s = %v; want %v", tt.name, tt.got, tt.want)
		}
	}
	if a.PayStation == nil {
		t.Errorf("Actuators().PayStation = nil; want the sim pay station")
	}
	none, err := sim.New(&gateway.Site{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ps := none.Actuators().PayStation; ps != nil {
		t.Errorf("Actuators().PayStation on a site without one = %v; want nil", ps)
	}
}

func TestActuatorSequences(t *testing.T) {
	ctx := context.Background()
	type step func(a gateway.Actuators) error
	raise := func(id string) step { return func(a gateway.Actuators) error { return a.Barriers[id].Raise(ctx) } }
	lower := func(id string) step { return func(a gateway.Actuators) error { return a.Barriers[id].Lower(ctx) } }
	halt := func(id string) step { return func(a gateway.Actuators) error { return a.Barriers[id].Halt(ctx) } }
	fRaise := func(id string) step { return func(a gateway.Actuators) error { return a.Flaps[id].Raise(ctx) } }
	fLower := func(id string) step { return func(a gateway.Actuators) error { return a.Flaps[id].Lower(ctx) } }
	fHalt := func(id string) step { return func(a gateway.Actuators) error { return a.Flaps[id].Halt(ctx) } }
	unlock := func(id string) step { return func(a gateway.Actuators) error { return a.Locks[id].Unlock(ctx) } }
	lock := func(id string) step { return func(a gateway.Actuators) error { return a.Locks[id].Lock(ctx) } }
	lHalt := func(id string) step { return func(a gateway.Actuators) error { return a.Locks[id].Halt(ctx) } }

	tests := []struct {
		name    string
		id      string
		steps   []step
		state   func(s *sim.Site) (bool, error)
		want    bool
		history []string
	}{
		{"barrier starts down", "gate-in", nil, barrierUp("gate-in"), false, nil},
		{"barrier raise", "gate-in", []step{raise("gate-in")}, barrierUp("gate-in"), true, []string{"raise"}},
		{"barrier raise twice is idempotent", "gate-in", []step{raise("gate-in"), raise("gate-in")}, barrierUp("gate-in"), true, []string{"raise", "raise"}},
		{"barrier raise lower", "gate-in", []step{raise("gate-in"), lower("gate-in")}, barrierUp("gate-in"), false, []string{"raise", "lower"}},
		{"barrier halt leaves it up", "gate-out", []step{raise("gate-out"), halt("gate-out"), halt("gate-out")}, barrierUp("gate-out"), true, []string{"raise", "halt", "halt"}},
		{"barrier halt leaves it down", "gate-out", []step{halt("gate-out")}, barrierUp("gate-out"), false, []string{"halt"}},
		{"flap starts down", "flap-1", nil, flapUp("flap-1"), false, nil},
		{"flap raise", "flap-1", []step{fRaise("flap-1")}, flapUp("flap-1"), true, []string{"raise"}},
		{"flap raise lower", "flap-1", []step{fRaise("flap-1"), fLower("flap-1")}, flapUp("flap-1"), false, []string{"raise", "lower"}},
		{"flap halt lowers", "flap-1", []step{fRaise("flap-1"), fHalt("flap-1")}, flapUp("flap-1"), false, []string{"raise", "halt"}},
		{"lock starts locked", "lock-d1", nil, locked("lock-d1"), true, nil},
		{"lock unlock", "lock-d1", []step{unlock("lock-d1")}, locked("lock-d1"), false, []string{"unlock"}},
		{"lock unlock lock", "lock-d1", []step{unlock("lock-d1"), lock("lock-d1")}, locked("lock-d1"), true, []string{"unlock", "lock"}},
		{"lock halt engages", "lock-a03", []step{unlock("lock-a03"), lHalt("lock-a03")}, locked("lock-a03"), true, []string{"unlock", "halt"}},
	}
	for _, tt := range tests {
		s, _ := mustSim(t)
		a := s.Actuators()
		for i, st := range tt.steps {
			if err := st(a); err != nil {
				t.Fatalf("%s: step %d: %v", tt.name, i, err)
			}
		}
		got, err := tt.state(s)
		if err != nil {
			t.Fatalf("%s: state: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: state of %s = %v; want %v", tt.name, tt.id, got, tt.want)
		}
		if h := s.History(tt.id); !slices.Equal(h, tt.history) {
			t.Errorf("%s: History(%s) = %q; want %q", tt.name, tt.id, h, tt.history)
		}
	}
}

func barrierUp(id string) func(*sim.Site) (bool, error) {
	return func(s *sim.Site) (bool, error) { return s.BarrierUp(id) }
}
func flapUp(id string) func(*sim.Site) (bool, error) {
	return func(s *sim.Site) (bool, error) { return s.FlapUp(id) }
}
func locked(id string) func(*sim.Site) (bool, error) {
	return func(s *sim.Site) (bool, error) { return s.Locked(id) }
}

func TestTicketPrinter(t *testing.T) {
	ctx := context.Background()
	s, _ := mustSim(t)
	p := s.Actuators().Tickets["tix-in"]
	if got := s.LastTicket("tix-in"); got != "" {
		t.Errorf("LastTicket before printing = %q; want empty", got)
	}
	for _, text := range []string{"LG1:AAA", "LG1:BBB"} {
		if err := p.Print(ctx, text); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := s.LastTicket("tix-in"), "LG1:BBB"; got != want {
		t.Errorf("LastTicket = %q; want %q", got, want)
	}
	if got, want := s.Printed("tix-in"), 2; got != want {
		t.Errorf("Printed = %d; want %d", got, want)
	}
	if got, want := s.History("tix-in"), []string{"print LG1:AAA", "print LG1:BBB"}; !slices.Equal(got, want) {
		t.Errorf("History = %q; want %q", got, want)
	}
	if got := s.LastTicket("gate-in"); got != "" {
		t.Errorf("LastTicket(barrier) = %q; want empty", got)
	}
}

func TestPayStationLink(t *testing.T) {
	ctx := context.Background()
	s, _ := mustSim(t)
	ps := s.Actuators().PayStation
	if _, ok := s.PayStationFee("T1"); ok {
		t.Errorf("PayStationFee before ShowFee: got ok; want none")
	}
	for _, amt := range []int64{250, 400} {
		if err := ps.ShowFee(ctx, "T1", amt); err != nil {
			t.Fatal(err)
		}
	}
	if got, ok := s.PayStationFee("T1"); !ok || got != 400 {
		t.Errorf("PayStationFee(T1) = %d, %v; want 400, true", got, ok)
	}
	if s.PayStationSettled("T1") {
		t.Errorf("PayStationSettled(T1) before Settled = true; want false")
	}
	if err := ps.Settled(ctx, "T1"); err != nil {
		t.Fatal(err)
	}
	if !s.PayStationSettled("T1") || s.PayStationSettled("T2") {
		t.Errorf("PayStationSettled(T1, T2) = %v, %v; want true, false", s.PayStationSettled("T1"), s.PayStationSettled("T2"))
	}
	wantKind(t, "ShowFee negative", ps.ShowFee(ctx, "T1", -1), gateway.Invalid)
	wantKind(t, "ShowFee empty ref", ps.ShowFee(ctx, "", 1), gateway.Invalid)
	wantKind(t, "Settled empty ref", ps.Settled(ctx, ""), gateway.Invalid)
	if got, want := s.History("pay"), []string{"show_fee T1 250", "show_fee T1 400", "settled T1"}; !slices.Equal(got, want) {
		t.Errorf("History(pay) = %q; want %q", got, want)
	}
}

func TestSetSensorReportsChangesOnly(t *testing.T) {
	ctx := context.Background()
	s, rec := mustSim(t)
	for _, step := range []struct {
		id string
		on bool
	}{
		{"loop-in", true}, {"loop-in", true}, {"occ-1", true}, {"loop-in", false},
		{"loop-in", false}, {"door-a03", true}, {"fire", true}, {"fire", false},
	} {
		if err := s.SetSensor(ctx, step.id, step.on); err != nil {
			t.Fatalf("SetSensor(%s, %v): %v", step.id, step.on, err)
		}
	}
	want := []string{
		"sensor loop-in true", "sensor occ-1 true", "sensor loop-in false",
		"sensor door-a03 true", "sensor fire true", "sensor fire false",
	}
	if got := rec.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls = %q; want %q", got, want)
	}
	for id, want := range map[string]bool{"loop-in": false, "occ-1": true, "door-a03": true, "fire": false, "ds-d1": false} {
		if got, err := s.Sensor(id); err != nil || got != want {
			t.Errorf("Sensor(%s) = %v, %v; want %v", id, got, err, want)
		}
	}
	if got, want := s.History("loop-in"), []string{"on", "off"}; !slices.Equal(got, want) {
		t.Errorf("History(loop-in) = %q; want %q", got, want)
	}
}

func TestUnknownAndWrongKind(t *testing.T) {
	ctx := context.Background()
	s, rec := mustSim(t)
	a := func(_ bool, err error) error { return err }
	tests := []struct {
		name string
		err  error
		want gateway.ErrorKind
	}{
		{"SetSensor unknown", s.SetSensor(ctx, "nope", true), gateway.NotFound},
		{"SetSensor real device", s.SetSensor(ctx, "gate-real", true), gateway.NotFound},
		{"SetSensor barrier", s.SetSensor(ctx, "gate-in", true), gateway.Invalid},
		{"SetSensor scanner", s.SetSensor(ctx, "scan-in", true), gateway.Invalid},
		{"Scan unknown", s.Scan(ctx, "nope", "x"), gateway.NotFound},
		{"Scan loop", s.Scan(ctx, "loop-in", "x"), gateway.Invalid},
		{"Scan empty text", s.Scan(ctx, "scan-in", ""), gateway.Invalid},
		{"PressTicket unknown", s.PressTicket(ctx, "nope"), gateway.NotFound},
		{"PressTicket barrier", s.PressTicket(ctx, "gate-in"), gateway.Invalid},
		{"RedeliverCash unknown tx", s.RedeliverCash(ctx, "tx-nope"), gateway.NotFound},
		{"BarrierUp unknown", a(s.BarrierUp("nope")), gateway.NotFound},
		{"BarrierUp flap", a(s.BarrierUp("flap-1")), gateway.Invalid},
		{"FlapUp barrier", a(s.FlapUp("gate-in")), gateway.Invalid},
		{"Locked loop", a(s.Locked("loop-in")), gateway.Invalid},
		{"Sensor lock", a(s.Sensor("lock-d1")), gateway.Invalid},
		{"SetOffline unknown", s.SetOffline("nope", true), gateway.NotFound},
		{"SetDelay unknown", s.SetDelay("nope", time.Second), gateway.NotFound},
		{"SetDelay negative", s.SetDelay("gate-in", -time.Second), gateway.Invalid},
	}
	for _, tt := range tests {
		wantKind(t, tt.name, tt.err, tt.want)
	}
	_, err := s.PayCash(ctx, "T1", 0)
	wantKind(t, "PayCash zero", err, gateway.Invalid)
	_, err = s.PayCash(ctx, "", 100)
	wantKind(t, "PayCash empty ref", err, gateway.Invalid)
	if h := s.History("nope"); h != nil {
		t.Errorf("History(nope) = %q; want nil", h)
	}
	if got := rec.Calls(); len(got) != 0 {
		t.Errorf("calls after failed driving = %q; want none", got)
	}

	none, err := sim.New(&gateway.Site{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	none.Attach(rec)
	_, err = none.PayCash(ctx, "T1", 100)
	wantKind(t, "PayCash without pay station", err, gateway.NotFound)
	if fee, ok := none.PayStationFee("T1"); ok || fee != 0 || none.PayStationSettled("T1") {
		t.Errorf("pay station observation without one = %d, %v, %v; want 0, false, false", fee, ok, none.PayStationSettled("T1"))
	}
}

func TestNotAttached(t *testing.T) {
	ctx := context.Background()
	s, err := sim.New(testSite(), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantKind(t, "SetSensor", s.SetSensor(ctx, "loop-in", true), gateway.Unavailable)
	wantKind(t, "Scan", s.Scan(ctx, "scan-in", "x"), gateway.Unavailable)
	wantKind(t, "PressTicket", s.PressTicket(ctx, "tix-in"), gateway.Unavailable)
	_, err = s.PayCash(ctx, "T1", 100)
	wantKind(t, "PayCash", err, gateway.Unavailable)
	if on, _ := s.Sensor("loop-in"); on {
		t.Errorf("Sensor(loop-in) after a refused SetSensor = true; want false")
	}
}

func TestScanTicketCash(t *testing.T) {
	ctx := context.Background()
	s, rec := mustSim(t)
	if err := s.Scan(ctx, "scan-out", "LG1:KEY with spaces"); err != nil {
		t.Fatal(err)
	}
	if err := s.PressTicket(ctx, "tix-in"); err != nil {
		t.Fatal(err)
	}
	tx1, err := s.PayCash(ctx, "T1", 250)
	if err != nil {
		t.Fatal(err)
	}
	tx2, err := s.PayCash(ctx, "T2", 100)
	if err != nil {
		t.Fatal(err)
	}
	if tx1 == "" || tx1 == tx2 {
		t.Fatalf("PayCash transaction IDs %q, %q; want two distinct non-empty IDs", tx1, tx2)
	}
	if err := s.RedeliverCash(ctx, tx1); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"scan scan-out LG1:KEY with spaces",
		"ticket tix-in",
		"cash " + tx1 + " T1 250",
		"cash " + tx2 + " T2 100",
		"cash " + tx1 + " T1 250",
	}
	if got := rec.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls = %q; want %q", got, want)
	}
	if got, want := s.History("pay"), []string{"cash T1 250 " + tx1, "cash T2 100 " + tx2, "redeliver " + tx1}; !slices.Equal(got, want) {
		t.Errorf("History(pay) = %q; want %q", got, want)
	}

	// Another simulator (a restart) must not reuse the transaction IDs.
	s2, _ := mustSim(t)
	tx3, err := s2.PayCash(ctx, "T1", 250)
	if err != nil {
		t.Fatal(err)
	}
	if tx3 == tx1 || tx3 == tx2 {
		t.Errorf("a second simulator's first tx %q repeats the first's (%q, %q)", tx3, tx1, tx2)
	}
}

func TestOffline(t *testing.T) {
	ctx := context.Background()
	s, rec := mustSim(t)
	a := s.Actuators()
	for _, id := range []string{"gate-in", "flap-1", "lock-d1", "tix-in", "pay", "loop-in", "scan-in"} {
		if err := s.SetOffline(id, true); err != nil {
			t.Fatal(err)
		}
	}
	calls := []struct {
		name string
		err  error
	}{
		{"Barrier.Raise", a.Barriers["gate-in"].Raise(ctx)},
		{"Barrier.Halt", a.Barriers["gate-in"].Halt(ctx)},
		{"Flap.Raise", a.Flaps["flap-1"].Raise(ctx)},
		{"Lock.Unlock", a.Locks["lock-d1"].Unlock(ctx)},
		{"Print", a.Tickets["tix-in"].Print(ctx, "x")},
		{"ShowFee", a.PayStation.ShowFee(ctx, "T1", 100)},
		{"Settled", a.PayStation.Settled(ctx, "T1")},
		{"SetSensor", s.SetSensor(ctx, "loop-in", true)},
		{"Scan", s.Scan(ctx, "scan-in", "x")},
	}
	for _, c := range calls {
		wantKind(t, c.name+" offline", c.err, gateway.Unavailable)
	}
	_, err := s.PayCash(ctx, "T1", 100)
	wantKind(t, "PayCash offline", err, gateway.Unavailable)
	if up, _ := s.BarrierUp("gate-in"); up {
		t.Errorf("offline barrier raised")
	}
	if l, _ := s.Locked("lock-d1"); !l {
		t.Errorf("offline lock unlocked")
	}
	for _, id := range []string{"gate-in", "flap-1", "lock-d1", "tix-in", "pay", "loop-in", "scan-in"} {
		if h := s.History(id); len(h) != 0 {
			t.Errorf("History(%s) after offline calls = %q; want nothing", id, h)
		}
	}
	if got := rec.Calls(); len(got) != 0 {
		t.Errorf("calls from offline devices = %q; want none", got)
	}

	if err := s.SetOffline("gate-in", false); err != nil {
		t.Fatal(err)
	}
	if err := a.Barriers["gate-in"].Raise(ctx); err != nil {
		t.Errorf("Raise back online: %v", err)
	}
	if up, _ := s.BarrierUp("gate-in"); !up {
		t.Errorf("barrier back online not raised")
	}
}

func TestDelay(t *testing.T) {
	s, _ := mustSim(t)
	b := s.Actuators().Barriers["gate-in"]
	if err := s.SetDelay("gate-in", time.Hour); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := b.Raise(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Raise with a 1h delay and a 20ms deadline: got %v; want DeadlineExceeded", err)
	}
	wantKind(t, "Raise past deadline", err, gateway.Unavailable)
	if up, _ := s.BarrierUp("gate-in"); up {
		t.Errorf("barrier raised although the call timed out")
	}

	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if err := s.SetDelay("gate-in", 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Raise(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Raise with a cancelled context: got %v; want Canceled", err)
	}
	if h := s.History("gate-in"); len(h) != 0 {
		t.Errorf("History after failed calls = %q; want nothing", h)
	}

	// A short delay within the deadline lets the call through.
	if err := s.SetDelay("gate-in", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := b.Raise(context.Background()); err != nil {
		t.Errorf("Raise with a 1ms delay: %v", err)
	}
	if up, _ := s.BarrierUp("gate-in"); !up {
		t.Errorf("barrier not raised after a delayed call")
	}
}

// A delayed actuator call must not block other devices nor observation.
func TestDelayDoesNotBlockOthers(t *testing.T) {
	s, _ := mustSim(t)
	a := s.Actuators()
	if err := s.SetDelay("gate-in", time.Hour); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Barriers["gate-in"].Raise(ctx) }()
	if err := a.Barriers["gate-out"].Raise(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BarrierUp("gate-in"); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("delayed Raise after cancel: got %v; want Canceled", err)
	}
}

// The core calls actuators from inside its Inputs callbacks; that must not
// deadlock.
func TestCallbackIntoActuators(t *testing.T) {
	s, rec := mustSim(t)
	a := s.Actuators()
	rec.onSensor = func(ctx context.Context, id string, active bool) {
		if id == "loop-in" && active {
			if err := a.Barriers["gate-in"].Raise(ctx); err != nil {
				t.Errorf("Raise from SensorChanged: %v", err)
			}
			// Observation from the callback, too.
			if up, err := s.BarrierUp("gate-in"); err != nil || !up {
				t.Errorf("BarrierUp from SensorChanged = %v, %v; want true", up, err)
			}
			// Driving another device from the callback is allowed.
			if err := s.SetSensor(ctx, "occ-1", true); err != nil {
				t.Errorf("SetSensor(occ-1) from SensorChanged: %v", err)
			}
		}
	}
	rec.onTicket = func(ctx context.Context, id string) {
		if err := a.Tickets[id].Print(ctx, "LG1:T"); err != nil {
			t.Errorf("Print from TicketRequested: %v", err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx := context.Background()
		if err := s.SetSensor(ctx, "loop-in", true); err != nil {
			t.Errorf("SetSensor: %v", err)
		}
		if err := s.PressTicket(ctx, "tix-in"); err != nil {
			t.Errorf("PressTicket: %v", err)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("deadlock: driving calls did not return")
	}
	want := []string{"sensor loop-in true", "sensor occ-1 true", "ticket tix-in"}
	if got := rec.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls = %q; want %q", got, want)
	}
	if got := s.LastTicket("tix-in"); got != "LG1:T" {
		t.Errorf("LastTicket = %q; want LG1:T", got)
	}
}

func TestWait(t *testing.T) {
	s, _ := mustSim(t)
	b := s.Actuators().Barriers["gate-out"]
	go func() {
		if err := b.Raise(context.Background()); err != nil {
			t.Errorf("Raise: %v", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Wait(ctx, func() bool { up, _ := s.BarrierUp("gate-out"); return up }); err != nil {
		t.Fatalf("Wait for the barrier: %v", err)
	}

	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if err := s.Wait(cctx, func() bool { return false }); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a cancelled context: got %v; want Canceled", err)
	}
}

// Concurrent driving and commanding, for the race detector, and the order
// the core sees matches the final state.
func TestConcurrent(t *testing.T) {
	s, rec := mustSim(t)
	a := s.Actuators()
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				on := (i+j)%2 == 0
				if err := s.SetSensor(ctx, "loop-out", on); err != nil {
					t.Errorf("SetSensor: %v", err)
				}
				if err := a.Barriers["gate-out"].Raise(ctx); err != nil {
					t.Errorf("Raise: %v", err)
				}
				_ = s.History("gate-out")
			}
		})
	}
	wg.Wait()
	var last string
	for _, c := range rec.Calls() {
		if strings.HasPrefix(c, "sensor loop-out ") {
			last = c
		}
	}
	on, _ := s.Sensor("loop-out")
	if want := fmt.Sprintf("sensor loop-out %v", on); last != want {
		t.Errorf("last delivered change %q; want %q (the final state)", last, want)
	}
	if got := len(s.History("gate-out")); got != 400 {
		t.Errorf("len(History(gate-out)) = %d; want 400", got)
	}
}
