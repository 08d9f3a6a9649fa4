package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway/tariff"
)

// minimal is the smallest valid file: every default applies.
const minimal = `version: 1
site:
  id: m
  time_zone: America/New_York
  geofence: {polygon: [{lat: 1, lon: 1}, {lat: 1, lon: 2}, {lat: 2, lon: 2}]}
  capacity: {spaces: 5}
devices:
  - {id: b1, kind: barrier}
  - {id: l1, kind: loop}
lanes:
  - {id: x, direction: exit, barrier: b1, loop: l1}
trusted_keys:
  - {kid: k, public_key: PeRzyr8PPfR6tA4EyuZsq24CWqRmsZJEDcchYKHZ5Rw=}
cloud: {mode: mqtt, broker: "tcp://broker.example:1883"}
`

func TestDefaults(t *testing.T) {
	f, err := Parse(filepath.Join("etc", "lotgate", "site.yaml"), []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	s := f.Site
	if s.Policy != DefaultPolicy() {
		t.Errorf("policy: got %+v; want %+v", s.Policy, DefaultPolicy())
	}
	if got := s.Policy.ActuatorTimeout; got != 10*time.Second {
		t.Errorf("policy.actuator_timeout: got %v; want 10s", got)
	}
	checks := []struct{ what, got, want string }{
		{"name", s.Name, "m"},
		{"location", s.Location.String(), "America/New_York"},
		{"driver", s.Devices[0].Driver, "sim"},
		{"store", f.Store.Path, filepath.Join("etc", "lotgate", "lotgate.db")},
		{"listen", f.HTTP.Listen, "127.0.0.1:8080"},
		{"log", f.Log.Level, "info"},
		{"cloud", f.Cloud.Mode, "mqtt"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q; want %q", c.what, c.got, c.want)
		}
	}
	if s.Capacity.Closed || s.Tariff != nil || s.PayStation != nil || s.FireAlarm != nil {
		t.Errorf("got closed %v, tariff %v, pay station %v, fire alarm %v; want false and nils",
			s.Capacity.Closed, s.Tariff, s.PayStation, s.FireAlarm)
	}
	if len(s.Geofence.Polygon) != 3 || s.Geofence.RadiusM != 0 {
		t.Errorf("geofence: got %+v; want a 3-point polygon", s.Geofence)
	}
	if dc := f.Devices["b1"]; dc.Driver != "sim" || dc.Sim == nil {
		t.Errorf("device config b1: got %+v; want sim settings", dc)
	}
	if len(s.TrustedKeys["k"]) != 32 {
		t.Errorf("trusted key k: got %d bytes; want 32", len(s.TrustedKeys["k"]))
	}
}

func TestSpaceAndTariffDefaults(t *testing.T) {
	f, err := Parse("site.yaml", []byte(edit(t,
		"    raise_after: 60s\n", "",
		"  lost_ticket_fee: 2500\n", "")))
	if err != nil {
		t.Fatal(err)
	}
	sp := f.Site.Spaces[0]
	if sp.RaiseAfter != 60*time.Second || sp.EmptyFor != 30*time.Second {
		t.Errorf("space: got raise_after %v, empty_for %v; want 1m0s, 30s", sp.RaiseAfter, sp.EmptyFor)
	}
	tr := f.Site.Tariff
	want := tariff.Tariff{Version: "v1", Currency: "EUR", Location: f.Site.Location, ExitGraceMinutes: 15,
		Bands: []tariff.Band{
			{Name: "day", From: 480, To: 1200, UnitMinutes: 30, UnitPrice: 150},
			{Name: "night", From: 1200, To: 480, UnitMinutes: 60, UnitPrice: 100, Cap: 400},
		}}
	if tr.Version != want.Version || tr.Currency != want.Currency || tr.Location != want.Location ||
		tr.FreeMinutes != 0 || tr.ExitGraceMinutes != 15 || tr.LostTicketFee != 0 || tr.Cap24h != 0 || tr.CapDay != 0 ||
		len(tr.Bands) != 2 || tr.Bands[0] != want.Bands[0] || tr.Bands[1] != want.Bands[1] {
		t.Errorf("tariff:\ngot  %+v\nwant %+v", *tr, want)
	}
}

func TestOverrides(t *testing.T) {
	f, err := Parse("site.yaml", []byte(edit(t,
		"  clock_skew: 2m\n", "  clock_skew: 30s\n  pin_max_attempts: 3\n  door_open_alarm: 2m30s\n  actuator_timeout: 15s\n",
		"  path: test.db\n", "  path: /var/lib/lotgate/site.db\n",
		"    spaces: 10\n", "    spaces: 10\n    closed: true\n")))
	if err != nil {
		t.Fatal(err)
	}
	p := f.Site.Policy
	if p.ClockSkew != 30*time.Second || p.PINMaxAttempts != 3 || p.DoorOpenAlarm != 150*time.Second || p.QuoteHold != 10*time.Minute || p.ActuatorTimeout != 15*time.Second {
		t.Errorf("policy: got %+v", p)
	}
	if f.Store.Path != "/var/lib/lotgate/site.db" {
		t.Errorf("store: got %q; want the absolute path unchanged", f.Store.Path)
	}
	if !f.Site.Capacity.Closed {
		t.Errorf("capacity closed: got false; want true")
	}
}

func TestStoreMemory(t *testing.T) {
	f, err := Parse("dir/site.yaml", []byte(edit(t, "  path: test.db\n", "  path: \":memory:\"\n")))
	if err != nil {
		t.Fatal(err)
	}
	if f.Store.Path != ":memory:" {
		t.Errorf("store: got %q; want :memory:", f.Store.Path)
	}
}

func TestUnsupportedVersionStopsEarly(t *testing.T) {
	_, err := Parse("site.yaml", []byte("version: 2\nsomething_new: {}\n"))
	if err == nil || err.Error() != "site.yaml:1: version: unsupported version 2; this lotgate reads version 1" {
		t.Errorf("got %v; want only the version problem", err)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{"site.yaml", 42, "lanes[1].barrier", `device "bar-9" does not exist`}, `site.yaml:42: lanes[1].barrier: device "bar-9" does not exist`},
		{Problem{"site.yaml", 0, "", "empty file"}, "site.yaml: empty file"},
		{Problem{"site.yaml", 3, "", "YAML syntax: x"}, "site.yaml:3: YAML syntax: x"},
		{Problem{"", 0, "a", "b"}, "a: b"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%#v.String(): got %q; want %q", tt.p, got, tt.want)
		}
	}
	ps := Problems{tests[0].p, tests[1].p}
	if got, want := ps.Error(), tests[0].want+"\n"+tests[1].want; got != want {
		t.Errorf("Problems.Error(): got %q; want %q", got, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "load config") {
		t.Errorf("got %v; want a load config error", err)
	}
	if _, ok := err.(Problems); ok {
		t.Errorf("got Problems for a missing file; want a plain error")
	}
}
