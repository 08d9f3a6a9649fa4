package config

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// base is a small valid site with every section, one key per line, so
// that each bad case below edits one or two lines and the problem's line
// is unambiguous.
const base = `version: 1
site:
  id: t
  name: Test
  time_zone: Europe/Berlin
  geofence:
    center: {lat: 52.5, lon: 13.4}
    radius_m: 150
  capacity:
    spaces: 10
devices:
  - id: in-bar
    kind: barrier
  - id: in-loop
    kind: loop
  - id: in-scan
    kind: scanner
  - id: in-ticket
    kind: ticket
  - id: out-bar
    kind: barrier
  - id: out-loop
    kind: loop
  - id: flap
    kind: flap
  - id: occ
    kind: occupancy
  - id: c1-lock
    kind: lock
  - id: c1-door
    kind: door_sensor
  - id: lobby-lock
    kind: lock
  - id: lobby-door
    kind: door_sensor
  - id: pay
    kind: pay_station
  - id: fire
    kind: fire_alarm
    driver: sim
    sim: {}
lanes:
  - id: in
    direction: entry
    barrier: in-bar
    loop: in-loop
    scanner: in-scan
    ticket: in-ticket
  - id: out
    direction: exit
    barrier: out-bar
    loop: out-loop
spaces:
  - id: P1
    flap: flap
    sensor: occ
    raise_after: 60s
lockers:
  - id: box
    compartments:
      - id: C1
        lock: c1-lock
        door_sensor: c1-door
doors:
  - id: lobby
    lock: lobby-lock
    door_sensor: lobby-door
pay_station:
  device: pay
fire_alarm:
  input: fire
  opens: [out]
  doors: [lobby]
tariff:
  version: v1
  currency: EUR
  lost_ticket_fee: 2500
  bands:
    - name: day
      from: "08:00"
      to: "20:00"
      unit_minutes: 30
      unit_price: 150
    - name: night
      from: "20:00"
      to: "08:00"
      unit_minutes: 60
      unit_price: 100
      cap: 400
trusted_keys:
  - kid: k1
    public_key: PeRzyr8PPfR6tA4EyuZsq24CWqRmsZJEDcchYKHZ5Rw=
policy:
  clock_skew: 2m
store:
  path: test.db
cloud:
  mode: "off"
http:
  listen: "127.0.0.1:0"
log:
  level: info
`

// edit applies old→new replacements to base, each old matching exactly
// once.
func edit(tb testing.TB, pairs ...string) string {
	tb.Helper()
	s := base
	for i := 0; i+1 < len(pairs); i += 2 {
		if n := strings.Count(s, pairs[i]); n != 1 {
			tb.Fatalf("edit: %q occurs %d times; want once", pairs[i], n)
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

// wantLine is the line of s marked "# want".
func wantLine(tb testing.TB, s string) int {
	tb.Helper()
	line := 0
	for i, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "# want") {
			if line != 0 {
				tb.Fatalf("two lines marked # want: %d and %d", line, i+1)
			}
			line = i + 1
		}
	}
	if line == 0 {
		tb.Fatal("no line marked # want")
	}
	return line
}

func TestBaseIsValid(t *testing.T) {
	f, err := Parse("site.yaml", []byte(base))
	if err != nil {
		t.Fatalf("Parse(base):\n%v", err)
	}
	if got := len(f.Site.Devices); got != 14 {
		t.Errorf("devices: got %d; want 14", got)
	}
}

// TestProblems checks one bad file per kind of problem: exactly one
// problem, on the line marked "# want", at the given path.
func TestProblems(t *testing.T) {
	// A second exit lane and its devices, for cases that need a spare.
	spareDevices := "  - id: fire\n"
	spareDevicesNew := "  - id: spare-bar\n    kind: barrier\n  - id: spare-loop\n    kind: loop\n  - id: fire\n"
	tests := []struct {
		name  string
		edits []string
		path  string
		msg   string
	}{
		// Version.
		{"missing version", []string{"version: 1\nsite:\n", "site: # want\n"}, "version", `missing; a site file starts with "version: 1"`},
		{"unsupported version", []string{"version: 1\n", "version: 2 # want\n"}, "version", "unsupported version 2; this lotgate reads version 1"},
		{"version not a number", []string{"version: 1\n", "version: one # want\n"}, "version", `must be an integer, got "one"`},

		// Unknown keys, duplicate keys.
		{"unknown root key", []string{"log:\n", "colour: red # want\nlog:\n"}, "colour", `unknown key "colour"`},
		{"unknown nested key", []string{"    radius_m: 150\n", "    radius_m: 150\n    radius: 10 # want\n"}, "site.geofence.radius", `unknown key "radius"; known keys here: center, radius_m, polygon`},
		{"unknown lane key", []string{"    loop: out-loop\n", "    loop: out-loop\n    barrier_2: x # want\n"}, "lanes[1].barrier_2", `unknown key "barrier_2"`},
		{"unknown sim setting", []string{"    sim: {}\n", "    sim: {speed: 2} # want\n"}, "devices[13].sim.speed", `unknown key "speed"; devices[13].sim takes no keys`},
		{"settings of another driver", []string{"    sim: {}\n", "    gpio: {pin: 17} # want\n"}, "devices[13].gpio", `unknown key "gpio"`},
		{"duplicate key", []string{"  name: Test\n", "  name: Test\n  name: Again # want\n"}, "site.name", "duplicate key (first at line 4)"},

		// Missing required fields.
		{"missing lane barrier", []string{"  - id: out\n    direction: exit\n    barrier: out-bar\n", "  - id: out # want\n    direction: exit\n"}, "lanes[1].barrier", "missing (required)"},
		{"missing time zone", []string{"site:\n", "site: # want\n", "  time_zone: Europe/Berlin\n", ""}, "site.time_zone", "missing (required)"},
		{"empty required value", []string{"    direction: exit\n", "    direction: # want\n"}, "lanes[1].direction", "must not be empty"},
		{"missing cloud", []string{"cloud:\n  mode: \"off\"\n", "", "version: 1\n", "version: 1 # want\n"}, "cloud", "missing (required)"},
		{"no trusted keys", []string{"trusted_keys:\n  - kid: k1\n    public_key: PeRzyr8PPfR6tA4EyuZsq24CWqRmsZJEDcchYKHZ5Rw=\n", "", "version: 1\n", "version: 1 # want\n"}, "trusted_keys", "missing; list the operator's public keys"},
		{"empty trusted keys", []string{"trusted_keys:\n  - kid: k1\n    public_key: PeRzyr8PPfR6tA4EyuZsq24CWqRmsZJEDcchYKHZ5Rw=\n", "trusted_keys: [] # want\n"}, "trusted_keys", "must not be empty"},

		// Wrong types.
		{"capacity not a number", []string{"    spaces: 10\n", "    spaces: ten # want\n"}, "site.capacity.spaces", `must be an integer, got "ten"`},
		{"closed not a bool", []string{"    spaces: 10\n", "    spaces: 10\n    closed: \"no\" # want\n"}, "site.capacity.closed", `must be true or false, got "no"`},
		{"section not a mapping", []string{"pay_station:\n  device: pay\n", "pay_station: pay # want\n", "  - id: pay\n    kind: pay_station\n", ""}, "pay_station", `must be a mapping (key: value), got "pay"`},
		{"list not a list", []string{"  opens: [out]\n", "  opens: out # want\n"}, "fire_alarm.opens", `must be a list, got "out"`},
		{"id not text", []string{"    flap: flap\n", "    flap: [flap] # want\n"}, "spaces[0].flap", "must be a text value, got a list"},
		{"bad device kind", []string{"    kind: pay_station\n", "    kind: till # want\n", "pay_station:\n  device: pay\n", ""}, "devices[12].kind", `unknown value "till"; want one of barrier, loop`},
		{"bad direction", []string{"    direction: exit\n", "    direction: out # want\n"}, "lanes[1].direction", `unknown value "out"; want one of entry, exit`},
		{"bad id", []string{"  - id: P1\n", "  - id: P 1 # want\n"}, "spaces[0].id", `bad id "P 1"`},
		{"bad device id referenced", []string{"  - id: occ\n", "  - id: occ/1 # want\n", "    sensor: occ\n", "    sensor: occ/1\n"}, "devices[7].id", `bad id "occ/1"`},
		{"unknown driver", []string{"    driver: sim\n    sim: {}\n", "    driver: zigbee # want\n    zigbee: {pin: GPIO17}\n"}, "devices[13].driver", `unknown driver "zigbee"; known drivers: sim, gpio, modbus, scanner`},
		{"bad cloud mode", []string{"  mode: \"off\"\n", "  mode: sky # want\n"}, "cloud.mode", `unknown value "sky"; want one of demo, mqtt, off`},
		{"bad log level", []string{"  level: info\n", "  level: loud # want\n"}, "log.level", `unknown value "loud"`},
		{"bad listen", []string{"  listen: \"127.0.0.1:0\"\n", "  listen: localhost # want\n"}, "http.listen", `bad address "localhost"`},
		{"empty store path", []string{"  path: test.db\n", "  path: \"\" # want\n"}, "store.path", "must not be empty"},

		// Dangling references and devices of the wrong kind or role.
		{"dangling device", []string{"    barrier: out-bar\n", "    barrier: bar-9 # want\n"}, "lanes[1].barrier", `device "bar-9" does not exist`},
		{"wrong kind", []string{spareDevices, spareDevicesNew, "    barrier: out-bar\n", "    barrier: spare-loop # want\n"}, "lanes[1].barrier", `device "spare-loop" is a loop, not a barrier`},
		{"device in two roles", []string{"    loop: out-loop\n", "    loop: in-loop # want\n"}, "lanes[1].loop", `device "in-loop" is already used by lanes[0].loop (line 46)`},
		{"ticket on an exit", []string{"    scanner: in-scan\n    ticket: in-ticket\n", "    scanner: in-scan\n", "    loop: out-loop\n", "    loop: out-loop\n    ticket: in-ticket # want\n"}, "lanes[1].ticket", "a ticket dispenser belongs on an entry lane"},
		{"fire alarm opens unknown lane", []string{"  opens: [out]\n", "  opens: [out, gone] # want\n"}, "fire_alarm.opens[1]", `lane "gone" does not exist`},
		{"fire alarm opens an entry", []string{"  opens: [out]\n", "  opens:\n    - in # want\n    - out\n"}, "fire_alarm.opens[0]", `lane "in" is an entry; the fire alarm holds exit lanes open`},
		{"fire alarm opens unknown door", []string{"  doors: [lobby]\n", "  doors: [lobby, back] # want\n"}, "fire_alarm.doors[1]", `door "back" does not exist`},
		{"fire alarm opens nothing", []string{"  opens: [out]\n  doors: [lobby]\n", "", "fire_alarm:\n", "fire_alarm: # want\n"}, "fire_alarm", "the fire alarm opens nothing"},
		{"pay station dangling", []string{"  device: pay\n", "  device: till # want\n", "  - id: pay\n    kind: pay_station\n", ""}, "pay_station.device", `device "till" does not exist`},

		// Duplicate IDs.
		{"duplicate device", []string{spareDevices, "  - id: occ # want\n    kind: occupancy\n" + spareDevices}, "devices[13].id", `duplicate device id "occ" (first at devices[7].id, line 26)`},
		{"duplicate lane", []string{spareDevices, spareDevicesNew, "spaces:\n", "  - id: out # want\n    direction: exit\n    barrier: spare-bar\n    loop: spare-loop\nspaces:\n"}, "lanes[2].id", `duplicate lane id "out" (first at lanes[1].id`},
		{"duplicate space", []string{spareDevices, "  - id: f2\n    kind: flap\n  - id: o2\n    kind: occupancy\n" + spareDevices, "lockers:\n", "  - {id: P1, flap: f2, sensor: o2} # want\nlockers:\n"}, "spaces[1].id", `duplicate space id "P1"`},
		{"duplicate compartment across lockers", []string{spareDevices, "  - id: c2-lock\n    kind: lock\n  - id: c2-door\n    kind: door_sensor\n" + spareDevices, "doors:\n", "  - id: box2\n    compartments:\n      - {id: C1, lock: c2-lock, door_sensor: c2-door} # want\ndoors:\n"}, "lockers[1].compartments[0].id", `duplicate compartment id "C1" (first at lockers[0].compartments[0].id`},
		{"duplicate door", []string{spareDevices, "  - id: d2-lock\n    kind: lock\n  - id: d2-door\n    kind: door_sensor\n" + spareDevices, "pay_station:\n", "  - {id: lobby, lock: d2-lock, door_sensor: d2-door} # want\npay_station:\n"}, "doors[1].id", `duplicate door id "lobby"`},
		{"duplicate kid", []string{"policy:\n", "  - kid: k1 # want\n    public_key: PeRzyr8PPfR6tA4EyuZsq24CWqRmsZJEDcchYKHZ5Rw=\npolicy:\n"}, "trusted_keys[1].kid", `duplicate key id "k1"`},

		// Durations.
		{"duration without unit", []string{"    raise_after: 60s\n", "    raise_after: 60 # want\n"}, "spaces[0].raise_after", `must be a duration with a unit, such as "90s" or "5m", got the number 60`},
		{"bad duration", []string{"  clock_skew: 2m\n", "  clock_skew: 2 minutes # want\n"}, "policy.clock_skew", `bad duration "2 minutes"`},
		{"negative duration", []string{"  clock_skew: 2m\n", "  unlock_for: -5s # want\n"}, "policy.unlock_for", "must be positive, got -5s"},
		{"bad pin attempts", []string{"  clock_skew: 2m\n", "  pin_max_attempts: 0 # want\n"}, "policy.pin_max_attempts", "must be at least 1, got 0"},
		{"zero actuator timeout", []string{"  clock_skew: 2m\n", "  actuator_timeout: 0s # want\n"}, "policy.actuator_timeout", "must be positive, got 0s"},

		// Tariff.
		{"bad time of day", []string{"      from: \"08:00\"\n", "      from: 8am # want\n"}, "tariff.bands[0].from", `bad time of day "8am": want "HH:MM" from 00:00 to 24:00`},
		{"time of day out of range", []string{"      to: \"20:00\"\n", "      to: \"24:30\" # want\n"}, "tariff.bands[0].to", `bad time of day "24:30"`},
		{"band starting at 24:00", []string{"      from: \"08:00\"\n", "      from: \"24:00\" # want\n"}, "tariff.bands[0].from", "a band cannot start at 24:00"},
		{"empty band", []string{"      to: \"20:00\"\n", "      to: \"08:00\" # want\n"}, "tariff.bands[0].to", "the band starts and ends at 08:00"},
		{"overlapping bands", []string{"      to: \"20:00\"\n", "      to: \"21:00\"\n", "  bands:\n", "  bands: # want\n"}, "tariff.bands", "bands[0] and bands[1] overlap at 20:00–21:00"},
		{"overlap across midnight", []string{"      to: \"08:00\"\n", "      to: \"09:30\"\n", "  bands:\n", "  bands: # want\n"}, "tariff.bands", "bands[0] and bands[1] overlap at 08:00–09:30"},
		{"gap between bands", []string{"      from: \"20:00\"\n", "      from: \"21:15\"\n", "  bands:\n", "  bands: # want\n"}, "tariff.bands", "bands leave 20:00–21:15 uncovered"},
		{"gap across midnight", []string{"      to: \"08:00\"\n", "      to: \"23:00\"\n", "      from: \"08:00\"\n", "      from: \"01:00\"\n", "  bands:\n", "  bands: # want\n"}, "tariff.bands", "bands leave 23:00–01:00 uncovered"},
		{"duplicate band name", []string{"    - name: night\n", "    - name: day # want\n"}, "tariff.bands[1].name", `duplicate band id "day"`},
		{"negative money", []string{"  lost_ticket_fee: 2500\n", "  lost_ticket_fee: -1 # want\n"}, "tariff.lost_ticket_fee", "must not be negative, got -1"},
		{"negative cap", []string{"      cap: 400\n", "      cap: -400 # want\n"}, "tariff.bands[1].cap", "must not be negative"},
		{"money with decimals", []string{"      unit_price: 150\n", "      unit_price: 1.50 # want\n"}, "tariff.bands[0].unit_price", "must be an integer amount in minor units (150 for 1.50), got the number 1.50"},
		{"unit longer than a year", []string{"      unit_minutes: 30\n", "      unit_minutes: 600000 # want\n"}, "tariff.bands[0].unit_minutes", "600000 is more than 527040 (366 days)"},
		{"empty tariff version", []string{"  version: v1\n", "  version: \"\" # want\n"}, "tariff.version", "is required"},
		{"zero unit", []string{"      unit_minutes: 30\n", "      unit_minutes: 0 # want\n"}, "tariff.bands[0].unit_minutes", "must be at least 1, got 0"},
		{"bad currency", []string{"  currency: EUR\n", "  currency: euro # want\n"}, "tariff.currency", `bad currency "euro"`},
		{"negative free minutes", []string{"  currency: EUR\n", "  currency: EUR\n  free_minutes: -15 # want\n"}, "tariff.free_minutes", "must be at least 0, got -15"},

		// Geofence.
		{"latitude out of range", []string{"    center: {lat: 52.5, lon: 13.4}\n", "    center: {lat: 95, lon: 13.4} # want\n"}, "site.geofence.center.lat", "latitude must be from -90 to 90, got 95"},
		{"longitude out of range", []string{"    center: {lat: 52.5, lon: 13.4}\n", "    center: {lat: 52.5, lon: -181} # want\n"}, "site.geofence.center.lon", "longitude must be from -180 to 180, got -181"},
		{"radius zero", []string{"    radius_m: 150\n", "    radius_m: 0 # want\n"}, "site.geofence.radius_m", "must be positive, got 0"},
		{"radius missing", []string{"    radius_m: 150\n", "", "  geofence:\n", "  geofence: # want\n"}, "site.geofence.radius_m", "missing (required)"},
		{"polygon too small", []string{"    center: {lat: 52.5, lon: 13.4}\n    radius_m: 150\n", "    polygon: # want\n      - {lat: 52.5, lon: 13.4}\n      - {lat: 52.6, lon: 13.4}\n"}, "site.geofence.polygon", "a polygon needs at least 3 points, got 2"},
		{"polygon point bad", []string{"    center: {lat: 52.5, lon: 13.4}\n    radius_m: 150\n", "    polygon:\n      - {lat: 52.5, lon: 13.4}\n      - {lat: 52.6, lon: 200} # want\n      - {lat: 52.6, lon: 13.5}\n"}, "site.geofence.polygon[1].lon", "longitude must be from -180 to 180"},
		{"circle and polygon", []string{"  geofence:\n", "  geofence: # want\n", "    radius_m: 150\n", "    radius_m: 150\n    polygon: [{lat: 1, lon: 1}, {lat: 1, lon: 2}, {lat: 2, lon: 2}]\n"}, "site.geofence", "give either center and radius_m (a circle) or polygon, not both"},
		{"neither circle nor polygon", []string{"  geofence:\n    center: {lat: 52.5, lon: 13.4}\n    radius_m: 150\n", "  geofence: {} # want\n"}, "site.geofence", "give center and radius_m (a circle) or polygon"},

		// Site.
		{"unknown time zone", []string{"  time_zone: Europe/Berlin\n", "  time_zone: Europe/Berln # want\n"}, "site.time_zone", `unknown time zone "Europe/Berln"`},
		{"local time zone", []string{"  time_zone: Europe/Berlin\n", "  time_zone: Local # want\n"}, "site.time_zone", `unknown time zone "Local"`},
		{"capacity zero", []string{"    spaces: 10\n", "    spaces: 0 # want\n"}, "site.capacity.spaces", "must be at least 1, got 0"},
		{"capacity negative", []string{"    spaces: 10\n", "    spaces: -3 # want\n"}, "site.capacity.spaces", "must be at least 1, got -3"},

		// Trusted keys.
		{"key not base64", []string{"    public_key: PeRzyr8PPfR6tA4EyuZsq24CWqRmsZJEDcchYKHZ5Rw=\n", "    public_key: not-base64! # want\n"}, "trusted_keys[0].public_key", "not valid base64"},
		{"key wrong length", []string{"    public_key: PeRzyr8PPfR6tA4EyuZsq24CWqRmsZJEDcchYKHZ5Rw=\n", "    public_key: PeRzyr8PPfR6tA4EyuZsq24CWqRmsZJE # want\n"}, "trusted_keys[0].public_key", "decodes to 24 bytes; an Ed25519 public key is 32 bytes"},
		{"kid with a space", []string{"  - kid: k1\n", "  - kid: k 1 # want\n"}, "trusted_keys[0].kid", `bad kid "k 1"`},
		{"key missing kid", []string{"  - kid: k1\n    public_key: PeRzyr8PPfR6tA4EyuZsq24CWqRmsZJEDcchYKHZ5Rw=\n", "  - public_key: PeRzyr8PPfR6tA4EyuZsq24CWqRmsZJEDcchYKHZ5Rw= # want\n"}, "trusted_keys[0].kid", "missing (required)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := edit(t, tt.edits...)
			line := wantLine(t, src)
			f, err := Parse("site.yaml", []byte(src))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Parse: got %v, %v; want Problems", f, err)
			}
			if f != nil {
				t.Errorf("Parse: got a *File with problems; want nil")
			}
			if len(ps) != 1 {
				t.Fatalf("got %d problems; want 1:\n%v", len(ps), ps)
			}
			p := ps[0]
			if p.File != "site.yaml" || p.Line != line || p.Path != tt.path || !strings.Contains(p.Msg, tt.msg) {
				t.Errorf("got  %s\nwant site.yaml:%d: %s: …%s…", p, line, tt.path, tt.msg)
			}
		})
	}
}

// TestYAMLProblems covers what the YAML layer itself rejects.
func TestYAMLProblems(t *testing.T) {
	tests := []struct {
		name, src string
		want      string
	}{
		{"empty", "", `site.yaml: empty file; a site file starts with "version: 1"`},
		{"comments only", "# nothing\n", `site.yaml: empty file; a site file starts with "version: 1"`},
		{"not a mapping", "- version: 1\n", `site.yaml:1: must be a mapping (key: value) starting with "version: 1", got a list`},
		{"syntax", "version: 1\nsite:\n  id: t\n   name: x\n", "site.yaml:4: YAML syntax: mapping values are not allowed in this context"},
		{"tab", "version: 1\nsite:\n\tid: t\n", "site.yaml:3: YAML syntax: tabs are not allowed for indentation; indent with spaces (the parser said: line 3: found character that cannot start any token)"},
		{"tab lines below the parser's complaint", "version: 1\nsite:\n  id: t\n  name: x\n  geofence:\n    radius_m: 5\n\t  center: {lat: 1, lon: 1}\n", "site.yaml:7: YAML syntax: tabs are not allowed for indentation; indent with spaces (the parser said: line 6: found a tab character that violates indentation)"},
		{"tab before a comment", "version: 1\n\t# note\nsite: {id: t}\n", "site.yaml:2: YAML syntax: tabs are not allowed for indentation; indent with spaces (the parser said: line 2: found a tab character that violates indentation)"},
		{"no tab: the parser's own line", "version: 1\nsite: [\n", "site.yaml:2: YAML syntax: did not find expected node content"},
		{"tab after spaces", "version: 1\nsite:\n  id: t\n  \tname: x\n", "site.yaml:4: YAML syntax: tabs are not allowed for indentation; indent with spaces (the parser said: line 3: found a tab character that violates indentation)"},
		{"two documents", "version: 1\n---\nversion: 1\n", "site.yaml:2: more than one YAML document (---); a site file is one document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("site.yaml", []byte(tt.src))
			if err == nil || err.Error() != tt.want {
				t.Errorf("Parse(%q):\ngot  %v\nwant %s", tt.src, err, tt.want)
			}
		})
	}
}

func TestAliasRefused(t *testing.T) {
	src := edit(t, "  id: t\n  name: Test\n", "  id: &site t\n  name: *site # want\n")
	_, err := Parse("site.yaml", []byte(src))
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 {
		t.Fatalf("got %v; want one problem", err)
	}
	if want := wantLine(t, src); ps[0].Line != want || !strings.Contains(ps[0].Msg, "aliases") {
		t.Errorf("got %s; want line %d about aliases", ps[0], want)
	}
}

// TestManyProblems checks that every problem in a file is reported at
// once, in line order.
func TestManyProblems(t *testing.T) {
	_, err := Load("testdata/many-problems.yaml")
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Load: got %v; want Problems", err)
	}
	want := []string{
		"3 site.id",
		"4 site.time_zone",
		"5 site.geofence",
		"9 site.capacity.spaces",
		"10 site.colour",
		"13 devices[1].id",
		"14 devices[2].driver",
		"15 devices[3].sim.foo",
		"17 lanes[0].barrier",
		"17 lanes[0].loop",
		"18 lanes[1].ticket",
		"18 lanes[1].loop",
		"18 lanes[1].ticket",
		"19 lanes[2].id",
		"19 lanes[2].barrier",
		"19 lanes[2].loop",
		"20 lanes[2].direction",
		"22 spaces[0].raise_after",
		"22 spaces[0].empty_for",
		"22 spaces[0].flap",
		"22 spaces[0].sensor",
		"25 tariff.currency",
		"26 tariff.lost_ticket_fee",
		"27 tariff.cap_24h",
		"31 tariff.bands[2].from",
		"31 tariff.bands[2].unit_minutes",
		"32 fire_alarm.input",
		"32 fire_alarm.input",
		"32 fire_alarm.opens[0]",
		"32 fire_alarm.opens[1]",
		"32 fire_alarm.doors[0]",
		"34 trusted_keys[0].public_key",
		"35 trusted_keys[1].kid",
		"35 trusted_keys[1].public_key",
		"36 policy.clock_skew",
		"36 policy.pin_max_attempts",
		"37 cloud.mode",
		"38 http.listen",
	}
	var got []string
	for _, p := range ps {
		if p.File != "testdata/many-problems.yaml" {
			t.Errorf("problem file: got %q; want testdata/many-problems.yaml", p.File)
		}
		got = append(got, strconv.Itoa(p.Line)+" "+p.Path)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got problems:\n%s\nwant:\n%s\nfull:\n%v", strings.Join(got, "\n"), strings.Join(want, "\n"), ps)
	}
	if lines := strings.Count(err.Error(), "\n") + 1; lines != len(want) {
		t.Errorf("Error(): got %d lines; want %d", lines, len(want))
	}
}
