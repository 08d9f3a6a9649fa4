package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// driverSite is a valid site whose devices use every driver, one key per
// line where cases edit it.
const driverSite = `version: 1
site:
  id: t
  time_zone: Europe/Berlin
  geofence: {center: {lat: 52.5, lon: 13.4}, radius_m: 150}
  capacity: {spaces: 10}
devices:
  - id: bar
    kind: barrier
    driver: gpio
    gpio:
      pin: GPIO17
      active_low: true
      lower_pin: GPIO27
      position_pin: GPIO22
  - id: loop
    kind: loop
    driver: gpio
    gpio:
      pin: GPIO5
      pull: up
  - id: scan
    kind: scanner
    driver: scanner
    scanner:
      serial: {device: /dev/ttyACM0}
  - id: c1-lock
    kind: lock
    driver: modbus
    modbus:
      bus: rs485
      unit: 3
      profile: ref-locker16
      channel: 1
    fail_policy:
      on_comm_loss: secure
  - id: c1-door
    kind: door_sensor
    driver: modbus
    modbus: {bus: rs485, unit: 3, profile: ref-locker16, channel: 1}
  - id: flap
    kind: flap
    driver: modbus
    modbus: {bus: lan, unit: 4, profile: ref-flap8, channel: 2}
  - id: occ
    kind: occupancy
    driver: modbus
    modbus: {bus: lan, unit: 4, profile: ref-flap8, channel: 2}
  - id: pay
    kind: pay_station
    driver: modbus
    modbus: {bus: lan, unit: 1, profile: ref-paystation}
buses:
  - id: rs485
    rtu:
      device: /dev/ttyUSB0
    timeout: 300ms
  - id: lan
    tcp: {address: "127.0.0.1:1502"}
    simulate: true
lanes:
  - {id: out, direction: exit, barrier: bar, loop: loop, scanner: scan}
spaces:
  - {id: P1, flap: flap, sensor: occ}
lockers:
  - id: box
    compartments:
      - {id: C1, lock: c1-lock, door_sensor: c1-door}
pay_station: {device: pay}
trusted_keys:
  - {kid: k1, public_key: PeRzyr8PPfR6tA4EyuZsq24CWqRmsZJEDcchYKHZ5Rw=}
cloud: {mode: "off"}
`

// siteDir makes a directory with the shipped profiles in devices/ and
// returns the path a site file there would have.
func siteDir(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "devices"), 0o755); err != nil {
		tb.Fatal(err)
	}
	for _, name := range []string{"ref-locker16", "ref-flap8", "ref-paystation"} {
		data, err := os.ReadFile(filepath.Join("..", "configs", "devices", name+".yaml"))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "devices", name+".yaml"), data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return filepath.Join(dir, "site.yaml")
}

func editSrc(tb testing.TB, src string, pairs ...string) string {
	tb.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if n := strings.Count(src, pairs[i]); n != 1 {
			tb.Fatalf("edit: %q occurs %d times; want once", pairs[i], n)
		}
		src = strings.Replace(src, pairs[i], pairs[i+1], 1)
	}
	return src
}

func TestDriverSettings(t *testing.T) {
	name := siteDir(t)
	f, err := Parse(name, []byte(driverSite))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	g := f.Devices["bar"].GPIO
	wantG := GPIOConfig{Pin: "GPIO17", ActiveLow: true, Pull: PullNone, Debounce: DefaultDebounce, Mode: ModePulse,
		Pulse: DefaultPulse, LowerPin: "GPIO27", PositionPin: "GPIO22", ConfirmWithin: DefaultConfirmWithin}
	if g == nil || *g != wantG {
		t.Errorf("bar gpio: got %+v; want %+v", g, wantG)
	}
	if g := f.Devices["loop"].GPIO; g == nil || g.Pin != "GPIO5" || g.Pull != PullUp || g.Debounce != DefaultDebounce || g.Mode != "" {
		t.Errorf("loop gpio: got %+v; want pin GPIO5, pull up, default debounce, no mode", g)
	}
	if s := f.Devices["scan"].Scanner; s == nil || s.Serial == nil || *s.Serial != (SerialPort{Device: "/dev/ttyACM0", Baud: 9600, DataBits: 8, Parity: "N", StopBits: 1}) || s.MaxLine != DefaultMaxLine {
		t.Errorf("scanner: got %+v", s)
	}
	if m := f.Devices["c1-lock"].Modbus; m == nil || *m != (ModbusConfig{Bus: "rs485", Unit: 3, Profile: "ref-locker16", Channel: 1}) {
		t.Errorf("c1-lock modbus: got %+v", m)
	}
	policies := []struct {
		id   string
		want FailPolicy
	}{
		{"bar", FailPolicy{OnShutdown: FailHold}},
		{"loop", FailPolicy{OnCommLoss: FailHold}},
		{"c1-lock", FailPolicy{OnCommLoss: FailSecure, OnShutdown: FailSecure}},
		{"c1-door", FailPolicy{OnCommLoss: FailHold}},
		{"flap", FailPolicy{OnCommLoss: FailHold, OnShutdown: FailOpen}},
		{"pay", FailPolicy{}},
		{"scan", FailPolicy{}},
	}
	for _, p := range policies {
		if got := f.Devices[p.id].Fail; got != p.want {
			t.Errorf("%s fail policy: got %+v; want %+v", p.id, got, p.want)
		}
	}
	if len(f.Buses) != 2 {
		t.Fatalf("buses: got %d; want 2", len(f.Buses))
	}
	rtu := f.Buses[0]
	if rtu.RTU == nil || *rtu.RTU != (SerialPort{Device: "/dev/ttyUSB0", Baud: 19200, DataBits: 8, Parity: "E", StopBits: 1}) ||
		rtu.Timeout != 300*time.Millisecond || rtu.Retries != DefaultRetries || rtu.OfflineAfter != DefaultOfflineAfter ||
		rtu.ProbeInterval != DefaultProbeInterval || rtu.PollInterval != DefaultPollInterval || rtu.QueueSize != DefaultQueueSize || rtu.FrameGap != 0 {
		t.Errorf("rtu bus: got %+v (line %+v)", rtu, rtu.RTU)
	}
	if lan := f.Buses[1]; lan.TCP != "127.0.0.1:1502" || !lan.Simulate || lan.Timeout != DefaultBusTimeout {
		t.Errorf("tcp bus: got %+v", lan)
	}
	if want := filepath.Join(filepath.Dir(name), "devices"); f.ProfilesDir != want {
		t.Errorf("profiles dir: got %q; want %q", f.ProfilesDir, want)
	}
	if len(f.Profiles) != 3 {
		t.Fatalf("profiles: got %d; want 3", len(f.Profiles))
	}
	ps := f.Profiles["ref-paystation"]
	if ps.Kind != ProfilePayStation || ps.Channels != 0 || ps.Payment == nil || ps.Payment.Ack != "ack_payment" {
		t.Errorf("ref-paystation: got %+v", ps)
	}
	if pt := ps.Points["paid_amount"]; *pt != (ProfilePoint{Table: "holding", Address: 101, Type: "uint32", Bit: -1, WordOrder: "low_first"}) {
		t.Errorf("paid_amount: got %+v", pt)
	}
	if pt := ps.Points["ref"]; *pt != (ProfilePoint{Table: "holding", Address: 10, Type: "string", Length: 16, Bit: -1, WordOrder: "high_first"}) {
		t.Errorf("ref: got %+v", pt)
	}
	show := ps.Actions["show_fee"]
	if len(show.Writes) != 3 || show.Writes[0] != (ProfileWrite{Point: "ref", Arg: "ref"}) || show.Writes[2] != (ProfileWrite{Point: "command", Value: 1}) ||
		*show.Confirm != (ProfileConfirm{Point: "command", Value: 0, Within: time.Second}) {
		t.Errorf("show_fee: got %+v confirm %+v", show.Writes, show.Confirm)
	}
	lb := f.Profiles["ref-locker16"]
	if lb.Channels != 16 || lb.Inputs["door_open"] != "door" || lb.FailState == nil || lb.FailState.Values[FailSecure] != 1 ||
		*lb.Points["release"] != (ProfilePoint{Table: "coil", Address: 0, Stride: 1, Type: "bool", Bit: -1, WordOrder: "high_first"}) {
		t.Errorf("ref-locker16: got %+v", lb)
	}
	if w := lb.Actions["unlock"].Writes[0]; w != (ProfileWrite{Point: "release", Value: 1}) {
		t.Errorf("unlock write: got %+v; want release 1 (true)", w)
	}
}

// One problem per case, on the line marked # want, at the given path.
func TestDriverProblems(t *testing.T) {
	tests := []struct {
		name  string
		edits []string
		path  string
		msg   string
	}{
		// gpio
		{"gpio without pin", []string{"    gpio:\n      pin: GPIO5\n      pull: up\n", "    gpio: # want\n      pull: up\n"}, "devices[1].gpio.pin", "missing (required)"},
		{"gpio pin used twice", []string{"      pin: GPIO5\n", "      pin: GPIO22 # want\n"}, "devices[1].gpio.pin", "GPIO pin GPIO22 is already used by devices[0].gpio.position_pin"},
		{"gpio pull on an output", []string{"      active_low: true\n", "      active_low: true\n      pull: up # want\n"}, "devices[0].gpio.pull", "pull is for inputs"},
		{"gpio pulse on an input", []string{"      pull: up\n", "      pull: up\n      pulse: 1s # want\n"}, "devices[1].gpio.pulse", "pulse is for barriers, locks and flaps"},
		{"gpio bad pull", []string{"      pull: up\n", "      pull: sideways # want\n"}, "devices[1].gpio.pull", `unknown value "sideways"; want one of none, up, down`},
		{"gpio lower pin in level mode", []string{"      active_low: true\n", "      active_low: true\n      mode: level\n", "      lower_pin: GPIO27\n", "      lower_pin: GPIO27 # want\n"}, "devices[0].gpio.lower_pin", "lower_pin is for a barrier in mode: pulse"},
		{"gpio kind it cannot drive", []string{"    driver: scanner\n    scanner:\n      serial: {device: /dev/ttyACM0}\n", "    driver: gpio\n    gpio: # want\n      pin: GPIO6\n"}, "devices[2].gpio", "the gpio driver cannot drive a scanner"},
		{"gpio comm loss", []string{"      pull: up\n", "      pull: up\n    fail_policy: {on_comm_loss: active} # want\n"}, "devices[1].fail_policy.on_comm_loss", "a gpio device cannot lose communication"},
		{"gpio debounce not a duration", []string{"      pull: up\n", "      pull: up\n      debounce: 50 # want\n"}, "devices[1].gpio.debounce", "must be a duration with a unit"},

		// fail policy
		{"shutdown policy on a sensor", []string{"    modbus: {bus: rs485, unit: 3, profile: ref-locker16, channel: 1}\n", "    modbus: {bus: rs485, unit: 3, profile: ref-locker16, channel: 1}\n    fail_policy: {on_shutdown: open} # want\n"}, "devices[4].fail_policy.on_shutdown", "a sensor has nothing to do at shutdown"},
		{"sensor policy on an actuator", []string{"      on_comm_loss: secure\n", "      on_comm_loss: active # want\n"}, "devices[3].fail_policy.on_comm_loss", `unknown value "active"; want one of secure, open, hold`},
		{"policy on a pay station", []string{"    modbus: {bus: lan, unit: 1, profile: ref-paystation}\n", "    modbus: {bus: lan, unit: 1, profile: ref-paystation}\n    fail_policy: {on_shutdown: secure} # want\n"}, "devices[7].fail_policy", "a pay_station has no fail-safe policy"},
		{"unknown policy key", []string{"      on_comm_loss: secure\n", "      on_comm_loss: secure\n      on_fire: open # want\n"}, "devices[3].fail_policy.on_fire", `unknown key "on_fire"`},

		// modbus devices
		{"modbus unknown bus", []string{"      bus: rs485\n", "      bus: rs-485 # want\n"}, "devices[3].modbus.bus", `no bus "rs-485"; buses: rs485, lan`},
		{"modbus unit too high", []string{"      unit: 3\n", "      unit: 300 # want\n"}, "devices[3].modbus.unit", "must be from 1 to 247"},
		{"modbus no such profile", []string{"      profile: ref-locker16\n", "      profile: acme-l32 # want\n"}, "devices[3].modbus.profile", `no profile "acme-l32"`},
		{"modbus profile of another kind", []string{"    modbus: {bus: lan, unit: 4, profile: ref-flap8, channel: 2}\n  - id: occ\n", "    modbus: {bus: lan, unit: 5, profile: ref-locker16, channel: 2} # want\n  - id: occ\n"}, "devices[5].modbus.profile", "profile ref-locker16 is a locker_board, which drives lock, door_sensor, not a flap"},
		{"modbus channel out of range", []string{"      channel: 1\n", "      channel: 17 # want\n"}, "devices[3].modbus.channel", "profile ref-locker16 has channels 1 to 16, got 17"},
		{"modbus channel missing", []string{"      channel: 1\n", "", "    modbus:\n      bus: rs485\n", "    modbus: # want\n      bus: rs485\n"}, "devices[3].modbus.channel", "missing (required): profile ref-locker16 has channels 1 to 16"},
		{"modbus channel on a pay station", []string{"    modbus: {bus: lan, unit: 1, profile: ref-paystation}\n", "    modbus: {bus: lan, unit: 1, profile: ref-paystation, channel: 1} # want\n"}, "devices[7].modbus.channel", "profile ref-paystation has no channels"},
		{"modbus two roles on a channel", []string{"    modbus: {bus: rs485, unit: 3, profile: ref-locker16, channel: 1}\n", "    modbus: {bus: rs485, unit: 3, profile: ref-locker16, channel: 1}\n  - id: c9-door\n    kind: door_sensor\n    driver: modbus\n    modbus: {bus: rs485, unit: 3, profile: ref-locker16, channel: 1} # want\n"}, "devices[5].modbus", "unit 3 channel 1 on bus rs485 already drives a door_sensor"},
		{"modbus one unit two profiles", []string{"    modbus: {bus: lan, unit: 1, profile: ref-paystation}\n", "    modbus: {bus: lan, unit: 4, profile: ref-paystation} # want\n"}, "devices[7].modbus.profile", "unit 4 on bus lan is a ref-flap8"},
		{"comm loss without a watchdog", []string{"    modbus: {bus: lan, unit: 1, profile: ref-paystation}\n", "    modbus: {bus: lan, unit: 1, profile: ref-paystation}\n  - id: lock2\n    kind: lock\n    driver: modbus\n    modbus: {bus: lan, unit: 9, profile: nowd, channel: 1}\n    fail_policy: {on_comm_loss: open} # want\n"}, "devices[8].fail_policy.on_comm_loss", "profile nowd has no fail_state watchdog"},
		{"modbus settings missing", []string{"    modbus: {bus: lan, unit: 1, profile: ref-paystation}\n", "", "  - id: pay\n", "  - id: pay # want\n"}, "devices[7].modbus", "missing (required)"},
		{"modbus kind it cannot drive", []string{"    driver: gpio\n    gpio:\n      pin: GPIO5\n      pull: up\n", "    driver: modbus\n    modbus: {bus: lan, unit: 7, profile: ref-flap8} # want\n"}, "devices[1].modbus", "the modbus driver cannot drive a loop"},

		// buses
		{"bus without transport", []string{"    tcp: {address: \"127.0.0.1:1502\"}\n", "", "  - id: lan\n", "  - id: lan # want\n"}, "buses[1]", "give tcp: {address: host:port} or rtu: {device: /dev/...}"},
		{"bus with both", []string{"    tcp: {address: \"127.0.0.1:1502\"}\n", "    tcp: {address: \"127.0.0.1:1502\"}\n    rtu: {device: /dev/ttyS0}\n", "  - id: lan\n", "  - id: lan # want\n"}, "buses[1]", "give either tcp"},
		{"simulated bus off loopback", []string{"    tcp: {address: \"127.0.0.1:1502\"}\n    simulate: true\n", "    tcp: {address: \"10.0.0.5:502\"}\n    simulate: true # want\n"}, "buses[1].simulate", "must be on loopback"},
		{"simulated rtu", []string{"    timeout: 300ms\n", "    timeout: 300ms\n    simulate: true # want\n"}, "buses[0].simulate", "only a tcp bus can be simulated"},
		{"bad baud", []string{"      device: /dev/ttyUSB0\n", "      device: /dev/ttyUSB0\n      baud: 19201 # want\n"}, "buses[0].rtu.baud", "unsupported baud rate 19201"},
		{"bad parity", []string{"      device: /dev/ttyUSB0\n", "      device: /dev/ttyUSB0\n      parity: even # want\n"}, "buses[0].rtu.parity", `unknown value "even"; want one of N, E, O`},
		{"bad tcp address", []string{"    tcp: {address: \"127.0.0.1:1502\"}\n    simulate: true\n", "    tcp: {address: \"plc\"} # want\n"}, "buses[1].tcp.address", `bad address "plc"`},
		{"duplicate bus", []string{"    simulate: true\n", "    simulate: true\n  - id: lan # want\n    tcp: {address: \"127.0.0.1:1503\"}\n"}, "buses[2].id", `duplicate bus id "lan"`},
		{"serial port used twice", []string{"      serial: {device: /dev/ttyACM0}\n", "      serial: {device: /dev/ttyUSB0}\n", "      device: /dev/ttyUSB0\n", "      device: /dev/ttyUSB0 # want\n"}, "buses[0].rtu.device", "device file /dev/ttyUSB0 is already used by devices[2].scanner.serial.device"},
		{"zero timeout", []string{"    timeout: 300ms\n", "    timeout: 0s # want\n"}, "buses[0].timeout", "must be positive"},

		// scanner
		{"scanner with two sources", []string{"      serial: {device: /dev/ttyACM0}\n", "      serial: {device: /dev/ttyACM0}\n      stdin: true\n", "    scanner:\n", "    scanner: # want\n"}, "devices[2].scanner", "give exactly one of serial"},
		{"scanner max line too small", []string{"      serial: {device: /dev/ttyACM0}\n", "      serial: {device: /dev/ttyACM0}\n      max_line: 4 # want\n"}, "devices[2].scanner.max_line", "must be at least 16"},
		{"scanner driver on a loop", []string{"    driver: gpio\n    gpio:\n      pin: GPIO5\n      pull: up\n", "    driver: scanner\n    scanner: {stdin: true} # want\n"}, "devices[1].scanner", "the scanner driver drives scanners, not a loop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := siteDir(t)
			if strings.Contains(tt.name, "watchdog") {
				data, _ := os.ReadFile(filepath.Join(filepath.Dir(name), "devices", "ref-locker16.yaml"))
				src := strings.Replace(string(data), "profile: ref-locker16", "profile: nowd", 1)
				src = src[:strings.Index(src, "fail_state:\n  timeout")]
				os.WriteFile(filepath.Join(filepath.Dir(name), "devices", "nowd.yaml"), []byte(src), 0o644)
			}
			src := editSrc(t, driverSite, tt.edits...)
			line := wantLine(t, src)
			f, err := Parse(name, []byte(src))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Parse: got %v, %v; want Problems", f, err)
			}
			if len(ps) != 1 {
				t.Fatalf("got %d problems; want 1:\n%v", len(ps), ps)
			}
			p := ps[0]
			if p.File != name || p.Line != line || p.Path != tt.path || !strings.Contains(p.Msg, tt.msg) {
				t.Errorf("got  %s\nwant %s:%d: %s: …%s…", p, name, line, tt.path, tt.msg)
			}
		})
	}
}

// Problems in a profile are reported against the profile's file and line.
func TestProfileProblems(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "configs", "devices", "ref-locker16.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	locker := string(data)
	data, err = os.ReadFile(filepath.Join("..", "configs", "devices", "ref-paystation.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pay := string(data)
	tests := []struct {
		name  string
		src   string
		edits []string
		path  string
		msg   string
	}{
		{"name is not the file's", locker, []string{"profile: ref-locker16\n", "profile: locker # want\n"}, "profile", `the profile is named "locker" but its file is ref-locker16.yaml`},
		{"unknown kind", locker, []string{"kind: locker_board\n", "kind: lockers # want\n"}, "kind", `unknown value "lockers"; want one of pay_station, locker_board, flap_controller`},
		{"unknown table", locker, []string{"  door:       {table: discrete_input, address: 0, stride: 1}", "  door:       {table: inputs, address: 0, stride: 1} # want"}, "points.door.table", `unknown value "inputs"`},
		{"coil not a bool", locker, []string{"  release:    {table: coil, address: 0, stride: 1}", "  release:    {table: coil, address: 0, stride: 1, type: uint16} # want"}, "points.release.type", "a coil holds a bool, not a uint16"},
		{"address out of range", locker, []string{"  watchdog_s: {table: holding, address: 100, type: uint16}", "  watchdog_s: {table: holding, address: 70000, type: uint16} # want"}, "points.watchdog_s.address", "must be from 0 to 65535"},
		{"channels past the end", locker, []string{"  fail_state: {table: holding, address: 101, stride: 1, type: uint16}", "  fail_state: {table: holding, address: 65530, stride: 1, type: uint16} # want"}, "points.fail_state", "ends at address 65545, past 65535"},
		{"stride narrower than the point", locker, []string{"  fail_state: {table: holding, address: 101, stride: 1, type: uint16}\n", "  fail_state: {table: holding, address: 101, stride: 1, type: uint16}\n  extra:      {table: holding, address: 200, stride: 1, type: uint32} # want\n"}, "points.extra.stride", "stride 1 is less than the point's width 2"},
		{"write to an input", locker, []string{"    write: [{point: release, value: true}]\n    confirm", "    write: [{point: door, value: true}] # want\n    confirm"}, "actions.unlock.write[0].point", `point "door" is in the discrete_input table, which cannot be written`},
		{"write to a missing point", locker, []string{"    write: [{point: release, value: false}]\n", "    write: [{point: latch, value: false}] # want\n"}, "actions.lock.write[0].point", `no point "latch"`},
		{"value does not fit", locker, []string{"  values: {hold: 0, secure: 1, open: 2}", "  values: {hold: 0, secure: 1, open: 70000} # want"}, "fail_state.values.open", "70000 does not fit a uint16"},
		{"missing action", locker, []string{"  lock:\n    write: [{point: release, value: false}]\n", "", "actions:\n", "actions: # want\n"}, "actions", "a locker_board needs the action lock"},
		{"unknown input", locker, []string{"  door_open: door\n", "  door_open: door\n  vehicle_present: door # want\n"}, "inputs.vehicle_present", `unknown input "vehicle_present"; a locker_board has door_open`},
		{"confirm of a missing point", locker, []string{"    confirm: {point: door, value: true, within: 2s}", "    confirm: {point: dor, value: true, within: 2s} # want"}, "actions.unlock.confirm.point", `no point "dor"`},
		{"ref into a number", pay, []string{"      - {point: ref, arg: ref}\n      - {point: fee, arg: amount}\n", "      - {point: fee, arg: ref} # want\n"}, "actions.show_fee.write[0].arg", `the ref goes in a string point; "fee" is a uint32`},
		{"value and arg", pay, []string{"      - {point: command, value: 2}\n", "      - {point: command, value: 2, arg: ref} # want\n"}, "actions.settled.write[1]", "give either value or arg, not both"},
		{"payment without ack action", pay, []string{"  ack: ack_payment\n", "  ack: clear # want\n"}, "payment.ack", `no action "clear"`},
		{"payment amount a string", pay, []string{"  amount: paid_amount\n", "  amount: paid_ref # want\n"}, "payment.amount", `point "paid_ref" is a string`},
		{"word order on a 16-bit value", pay, []string{"  command:     {table: holding, address: 0, type: uint16}", "  command:     {table: holding, address: 0, type: uint16, word_order: low_first} # want"}, "points.command.word_order", "only a 32-bit value has a word order"},
		{"string without length", pay, []string{"  ref:         {table: holding, address: 10, type: string, length: 16}", "  ref:         {table: holding, address: 10, type: string} # want"}, "points.ref.length", "missing (required)"},
		{"pay station without payment", pay, []string{"\npayment:\n  flag: paid_flag\n  amount: paid_amount\n  ref: paid_ref\n  id: paid_tx\n  ack: ack_payment\n", "\n", "profile: ref-paystation\n", "profile: ref-paystation # want\n"}, "payment", "missing (required)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := editSrc(t, tt.src, tt.edits...)
			line := wantLine(t, src)
			name := "ref-locker16"
			if tt.src == pay {
				name = "ref-paystation"
			}
			file := filepath.Join("devices", name+".yaml")
			_, err := ParseProfile(file, name, []byte(src))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("ParseProfile: got %v; want Problems", err)
			}
			if len(ps) != 1 {
				t.Fatalf("got %d problems; want 1:\n%v", len(ps), ps)
			}
			p := ps[0]
			if p.File != file || p.Line != line || p.Path != tt.path || !strings.Contains(p.Msg, tt.msg) {
				t.Errorf("got  %s\nwant %s:%d: %s: …%s…", p, file, line, tt.path, tt.msg)
			}
		})
	}
}

// A site naming a bad profile reports the profile's problems against the
// profile file, after the site's own.
func TestProfileProblemsThroughSite(t *testing.T) {
	name := siteDir(t)
	path := filepath.Join(filepath.Dir(name), "devices", "ref-flap8.yaml")
	data, _ := os.ReadFile(path)
	bad := strings.Replace(string(data), "  up:         {table: coil, address: 0, stride: 1}", "  up:         {table: coil, address: -1, stride: 1}", 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Parse(name, []byte(editSrc(t, driverSite, "  capacity: {spaces: 10}\n", "  capacity: {spaces: 0}\n")))
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 2 {
		t.Fatalf("Parse: got %v; want 2 problems", err)
	}
	if ps[0].File != name || ps[0].Path != "site.capacity.spaces" {
		t.Errorf("first problem: got %s; want the site's capacity", ps[0])
	}
	if ps[1].File != path || ps[1].Path != "points.up.address" || !strings.Contains(ps[1].Msg, "must be from 0 to 65535, got -1") {
		t.Errorf("second problem: got %s; want %s: points.up.address", ps[1], path)
	}
}

// The table of profile kinds and the device kinds they serve.
func TestProfileServes(t *testing.T) {
	if got := ProfileServes(ProfileLockerBoard); len(got) != 2 || got[0] != gateway.KindLock || got[1] != gateway.KindDoorSensor {
		t.Errorf("ProfileServes(locker_board): got %v; want [lock door_sensor]", got)
	}
	if got := InputRole(gateway.KindOccupancy); got != "vehicle_present" {
		t.Errorf("InputRole(occupancy): got %q; want vehicle_present", got)
	}
}

// Each actuator's read-back must fit in policy.actuator_timeout, the
// deadline the core puts on a command; otherwise the timeout, not the
// device, decides that it was unconfirmed.
func TestReadBackFitsActuatorTimeout(t *testing.T) {
	// driverSite's read-backs: the gpio barrier pulses 500ms and waits 2s;
	// on bus lan (timeout 500ms) the flap's raise and lower have one write
	// and the shipped profile's confirm, the pay station's settled two
	// writes and show_fee three, each with a 1s confirm; on bus rs485
	// (300ms) the lock's unlock has one write and a 2s confirm.
	flap := f0(t).Profiles["ref-flap8"].Actions["lower"].Confirm.Within
	tests := []struct {
		name    string
		timeout string
		want    []string // path: message fragment, in order
	}{
		{"default", "", nil},
		{"just enough for the flap", (flap + time.Second).String(), nil},
		{"too short for the flap", flap.String(), []string{
			"devices[5].modbus.profile: profile ref-flap8's lower waits " + flap.String() + " for its confirm, and 2 exchanges of up to 500ms on bus lan: " + (flap + time.Second).String() + " does not fit in policy.actuator_timeout (" + flap.String() + ")",
			"devices[5].modbus.profile: profile ref-flap8's raise waits",
		}},
		{"too short for all", "2s", []string{
			"devices[0].gpio.confirm_within: the read-back (pulse 500ms + confirm_within 2s) does not fit in policy.actuator_timeout (2s)",
			"devices[3].modbus.profile: profile ref-locker16's unlock waits 2s for its confirm, and 2 exchanges of up to 300ms on bus rs485: 2.6s does not fit",
			"devices[5].modbus.profile: profile ref-flap8's lower",
			"devices[5].modbus.profile: profile ref-flap8's raise",
			"devices[7].modbus.profile: profile ref-paystation's settled waits 1s for its confirm, and 3 exchanges of up to 500ms on bus lan: 2.5s does not fit",
			"devices[7].modbus.profile: profile ref-paystation's show_fee waits 1s for its confirm, and 4 exchanges",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := driverSite
			if tt.timeout != "" {
				src += "policy: {actuator_timeout: " + tt.timeout + "}\n"
			}
			f, err := Parse(siteDir(t), []byte(src))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v; want no problem", err)
				}
				return
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Parse: got %v, %v; want Problems", f, err)
			}
			if len(ps) != len(tt.want) {
				t.Fatalf("got %d problems; want %d:\n%v", len(ps), len(tt.want), ps)
			}
			for i, w := range tt.want {
				if got := ps[i].Path + ": " + ps[i].Msg; !strings.HasPrefix(got, w) {
					t.Errorf("problem %d:\ngot  %s\nwant %s…", i, got, w)
				}
				if ps[i].Line == 0 {
					t.Errorf("problem %d has no line: %s", i, ps[i])
				}
			}
		})
	}
}

// f0 parses driverSite as it is.
func f0(tb testing.TB) *File {
	tb.Helper()
	f, err := Parse(siteDir(tb), []byte(driverSite))
	if err != nil {
		tb.Fatal(err)
	}
	return f
}
