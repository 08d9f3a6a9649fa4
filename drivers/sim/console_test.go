package sim_test

import (
	"context"
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/lotgate/lotgate/drivers/sim"
	"github.com/lotgate/lotgate/gateway"
)

// console runs input through a fresh simulator's console and returns its
// output lines and the calls the gateway saw.
func console(t *testing.T, input string, setup func(*sim.Site, *recorder), opts ...sim.Option) ([]string, []string) {
	t.Helper()
	s, rec := mustSim(t, opts...)
	if setup != nil {
		setup(s, rec)
	}
	var out strings.Builder
	if err := s.RunConsole(context.Background(), strings.NewReader(input), &out); err != nil {
		t.Fatalf("RunConsole(%q): %v", input, err)
	}
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"), rec.Calls()
}

// printOnPress makes the recorder print a ticket synchronously, as the core
// may, from inside TicketRequested.
func printOnPress(s *sim.Site, rec *recorder) {
	p := s.Actuators().Tickets
	rec.onTicket = func(ctx context.Context, id string) { _ = p[id].Print(ctx, "LG1:T-"+id) }
}

func TestConsoleCommands(t *testing.T) {
	offline := func(id string) func(*sim.Site, *recorder) {
		return func(s *sim.Site, _ *recorder) { _ = s.SetOffline(id, true) }
	}
	tests := []struct {
		in    string
		setup func(*sim.Site, *recorder)
		reply string
		calls []string
	}{
		{"status gate-in", nil, "gate-in barrier down", nil},
		{"status tix-in", nil, "tix-in ticket printed=0", nil},
		{"status pay", nil, "pay pay_station fees=0 settled=0 payments=0", nil},
		{"status gate-in", offline("gate-in"), "gate-in barrier down offline", nil},
		{"status nope", nil, `error: sim: no simulated device "nope"`, nil},
		{"car entry-1", nil, "car on lane entry-1 (loop loop-in on)", []string{"sensor loop-in true"}},
		{"gone entry-1", nil, "car gone from lane entry-1 (loop loop-in off)", nil}, // already clear: no change reported
		{"car nowhere", nil, `error: no lane "nowhere"`, nil},
		{"car exit-2", nil, `error: sim: no simulated device "loop-real"`, nil},
		{"car", nil, "error: usage: car <lane>", nil},
		{"car loop-in", nil, `error: no lane "loop-in"`, nil},
		{"scan exit-1 LG1:ABC DEF  G", nil, "scanned at scan-out", []string{"scan scan-out LG1:ABC DEF  G"}},
		{"scan scan-in hello", nil, "scanned at scan-in", []string{"scan scan-in hello"}},
		{"scan exit-2 hello", nil, "error: exit-2 has no scanner", nil},
		{"scan entry-1", nil, "error: usage: scan <scanner|lane> <text…>", nil},
		{"scan gate-in x", nil, `error: no scanner for "gate-in"`, nil},
		{"ticket entry-1", printOnPress, "ticket tix-in: LG1:T-tix-in", []string{"ticket tix-in"}},
		{"ticket tix-in", printOnPress, "ticket tix-in: LG1:T-tix-in", []string{"ticket tix-in"}},
		{"ticket exit-1", nil, "error: exit-1 has no ticket", nil},
		{"ticket entry-1", offline("tix-in"), "error: sim: press ticket button tix-in: device tix-in offline", nil},
		{"pay T1 abc", nil, `error: amount "abc": want an integer in minor units`, nil},
		{"pay T1 -5", nil, `error: sim: pay -5 for "T1": need a ref and a positive amount`, nil},
		{"pay T1", nil, "error: usage: pay <ref> <amount in minor units>", nil},
		{"redeliver tx-9", nil, `error: sim: redeliver "tx-9": no such cash payment`, nil},
		{"fire on", nil, "fire alarm on (fire)", []string{"sensor fire true"}},
		{"fire maybe", nil, `error: "maybe": want on or off`, nil},
		{"park P1", nil, "P1 occupied (occ-1 on)", []string{"sensor occ-1 true"}},
		{"park occ-1", nil, "occ-1 occupied (occ-1 on)", []string{"sensor occ-1 true"}},
		{"leave P9", nil, `error: no occupancy for "P9"`, nil},
		{"door A-03 open", nil, "A-03 open (door-a03 on)", []string{"sensor door-a03 true"}},
		{"door D1 open", nil, "D1 open (ds-d1 on)", []string{"sensor ds-d1 true"}},
		{"door ds-d1 open", nil, "ds-d1 open (ds-d1 on)", []string{"sensor ds-d1 true"}},
		{"door D1 ajar", nil, `error: "ajar": want open or close`, nil},
		{"sensor loop-out on", nil, "loop-out on", []string{"sensor loop-out true"}},
		{"sensor gate-in on", nil, `error: sim: device "gate-in" is a barrier, not a loop, occupancy, door_sensor or fire_alarm`, nil},
		{"offline gate-in on", nil, "gate-in offline", nil},
		{"offline gate-in off", offline("gate-in"), "gate-in online", nil},
		{"offline nope on", nil, `error: sim: no simulated device "nope"`, nil},
		{"delay gate-out 2s", nil, "gate-out delay 2s", nil},
		{"delay gate-out soon", nil, `error: duration "soon": time: invalid duration "soon"`, nil},
		{"history gate-in", nil, "gate-in: (nothing yet)", nil},
		{"history nope", nil, `error: sim: no simulated device "nope"`, nil},
		{"frobnicate now", nil, `error: unknown command "frobnicate"; commands: help, status, car, gone, scan, ticket, pay, redeliver, fire, park, leave, door, sensor, offline, delay, history, quit`, nil},
	}
	for _, tt := range tests {
		out, calls := console(t, tt.in+"\n", tt.setup)
		if len(out) != 1 || out[0] != tt.reply {
			t.Errorf("%q: got reply %q; want %q", tt.in, out, tt.reply)
		}
		if !slices.Equal(calls, tt.calls) {
			t.Errorf("%q: got calls %q; want %q", tt.in, calls, tt.calls)
		}
	}
}

func TestConsoleScript(t *testing.T) {
	script := `
# an entry, then a car leaves through the exit
car entry-1
ticket entry-1

status gate-in
pay T-1 250
history pay
quit
car exit-1
`
	var s *sim.Site
	out, calls := console(t, script, func(ss *sim.Site, rec *recorder) {
		s = ss
		a := ss.Actuators()
		rec.onSensor = func(ctx context.Context, id string, on bool) {
			if id == "loop-in" && on {
				_ = a.Barriers["gate-in"].Raise(ctx)
			}
		}
		printOnPress(ss, rec)
	})
	hist := s.History("pay")
	if len(hist) != 1 {
		t.Fatalf("History(pay) = %q; want one payment", hist)
	}
	tx := strings.Fields(hist[0])[3]
	if !regexp.MustCompile(`^sim-[0-9a-f]{8}-1$`).MatchString(tx) {
		t.Errorf("transaction ID %q; want sim-<8 hex>-1", tx)
	}
	wantOut := []string{
		"car on lane entry-1 (loop loop-in on)",
		"ticket tix-in: LG1:T-tix-in",
		"gate-in barrier up",
		"paid 250 for T-1: tx " + tx,
		"pay: cash T-1 250 " + tx,
		"bye",
	}
	if !slices.Equal(out, wantOut) {
		t.Errorf("output:\n%s\nwant:\n%s", strings.Join(out, "\n"), strings.Join(wantOut, "\n"))
	}
	wantCalls := []string{"sensor loop-in true", "ticket tix-in", "cash " + tx + " T-1 250"}
	if !slices.Equal(calls, wantCalls) {
		t.Errorf("calls = %q; want %q", calls, wantCalls)
	}
}

func TestConsoleStatusAndHelp(t *testing.T) {
	out, _ := console(t, "status\n", nil)
	s, _ := mustSim(t)
	if len(out) != len(s.Devices()) {
		t.Errorf("status wrote %d lines; want one per device (%d): %q", len(out), len(s.Devices()), out)
	}
	want := map[string]bool{
		"gate-in barrier down":    true,
		"lock-d1 lock locked":     true,
		"flap-1 flap down":        true,
		"loop-in loop off":        true,
		"scan-in scanner ready":   true,
		"fire fire_alarm off":     true,
		"ds-d1 door_sensor off":   true,
		"occ-1 occupancy off":     true,
		"tix-in ticket printed=0": true,
	}
	for _, l := range out {
		delete(want, l)
	}
	if len(want) > 0 {
		t.Errorf("status output %q lacks %v", out, want)
	}

	help, _ := console(t, "help\n", nil)
	if len(help) < 10 || !strings.HasPrefix(help[0], "help") || !strings.Contains(strings.Join(help, "\n"), "scan <scanner|lane> <text…>") {
		t.Errorf("help = %q; want one line per command, scan usage among them", help)
	}
}

func TestConsoleTicketAsyncAndTimeout(t *testing.T) {
	out, _ := console(t, "ticket entry-1\n", func(s *sim.Site, rec *recorder) {
		p := s.Actuators().Tickets["tix-in"]
		rec.onTicket = func(context.Context, string) {
			go func() { _ = p.Print(context.Background(), "LG1:LATER") }()
		}
	})
	if want := "ticket tix-in: LG1:LATER"; len(out) != 1 || out[0] != want {
		t.Errorf("asynchronous print: reply %q; want %q", out, want)
	}

	out, calls := console(t, "ticket entry-1\n", nil, sim.TicketWait(10*time.Millisecond))
	if want := "error: ticket tix-in: nothing printed within 10ms (the entry was refused or the printer is down: see the last events)"; len(out) != 1 || out[0] != want {
		t.Errorf("no print: reply %q; want %q", out, want)
	}
	if want := []string{"ticket tix-in"}; !slices.Equal(calls, want) {
		t.Errorf("no print: calls %q; want %q", calls, want)
	}
}

func TestConsoleStopsOnCancel(t *testing.T) {
	s, _ := mustSim(t)
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out strings.Builder
	go func() { done <- s.RunConsole(ctx, pr, &out) }()
	if _, err := io.WriteString(pw, "car entry-1\n"); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := s.Wait(wctx, func() bool { on, _ := s.Sensor("loop-in"); return on }); err != nil {
		t.Fatalf("console did not run the command: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunConsole after cancel = %v; want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunConsole did not return after cancel")
	}
}

func TestConsoleReadError(t *testing.T) {
	s, _ := mustSim(t)
	boom := errors.New("boom")
	err := s.RunConsole(context.Background(), iotest.ErrReader(boom), io.Discard)
	if !errors.Is(err, boom) {
		t.Errorf("RunConsole on a failing reader = %v; want it to wrap %v", err, boom)
	}
}

func TestConsoleRedeliver(t *testing.T) {
	s, rec := mustSim(t)
	tx, err := s.PayCash(context.Background(), "T1", 300)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := s.RunConsole(context.Background(), strings.NewReader("redeliver "+tx+"\n"), &out); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "redelivered "+tx+"\n"; got != want {
		t.Errorf("reply %q; want %q", got, want)
	}
	want := []string{"cash " + tx + " T1 300", "cash " + tx + " T1 300"}
	if got := rec.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls = %q; want %q", got, want)
	}
}

// Without a fire alarm in the site model, fire uses the only fire-alarm
// device, and refuses when there is none.
func TestConsoleFireWithoutModel(t *testing.T) {
	tests := []struct {
		devices []gateway.Device
		reply   string
		calls   []string
	}{
		{[]gateway.Device{{ID: "fa", Kind: gateway.KindFireAlarm}}, "fire alarm on (fa)", []string{"sensor fa true"}},
		{nil, "error: site has no fire alarm input (use sensor <id> on|off)", nil},
		{[]gateway.Device{{ID: "fa1", Kind: gateway.KindFireAlarm}, {ID: "fa2", Kind: gateway.KindFireAlarm}}, "error: site has no fire alarm input (use sensor <id> on|off)", nil},
	}
	for _, tt := range tests {
		s, err := sim.New(&gateway.Site{Devices: tt.devices}, nil)
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		s.Attach(rec)
		var out strings.Builder
		if err := s.RunConsole(context.Background(), strings.NewReader("fire on\n"), &out); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSuffix(out.String(), "\n"); got != tt.reply {
			t.Errorf("devices %v: reply %q; want %q", tt.devices, got, tt.reply)
		}
		if got := rec.Calls(); !slices.Equal(got, tt.calls) {
			t.Errorf("devices %v: calls %q; want %q", tt.devices, got, tt.calls)
		}
	}
}
