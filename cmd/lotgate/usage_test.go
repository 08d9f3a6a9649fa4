package main

import (
	"strings"
	"testing"
	"time"
)

// A site-local time the clocks skip or show twice is refused: which instant
// was meant cannot be guessed (keys issue --until "2026-03-29 02:30" was
// silently taken as 03:30).
func TestParseTimeDST(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in, want, err string
	}{
		{in: "2026-03-29 01:59", want: "2026-03-29T01:59:00+01:00"},
		{in: "2026-03-29 02:30", err: `does not exist in Europe/Berlin (the clocks skip it); give an instant with its UTC offset, e.g. "2026-03-29T03:30:00+02:00"`},
		{in: "2026-03-29 03:00", want: "2026-03-29T03:00:00+02:00"},
		{in: "2026-10-25 01:59:59", want: "2026-10-25T01:59:59+02:00"},
		{in: "2026-10-25 02:00", err: `occurs twice in Europe/Berlin (the clocks go back); give its UTC offset: "2026-10-25T02:00:00+02:00" or "2026-10-25T02:00:00+01:00"`},
		{in: "2026-10-25T02:30", err: `occurs twice`},
		{in: "2026-10-25 03:00", want: "2026-10-25T03:00:00+01:00"},
		{in: "2026-10-25T02:30:00+01:00", want: "2026-10-25T02:30:00+01:00"}, // an offset says which
		{in: "2026-03-29T02:30:00+01:00", want: "2026-03-29T02:30:00+01:00"}, // an instant, whatever the wall clock
		{in: "0001-01-01 00:00", want: "0001-01-01T00:00:00+00:53"},          // local mean time
		{in: "9999-12-31 23:59", want: "9999-12-31T23:59:00+01:00"},
		{in: "yesterday", err: `want RFC 3339`},
	}
	for _, tt := range tests {
		got, err := parseTime(tt.in, berlin)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("parseTime(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.err)
		case tt.err == "" && err != nil:
			t.Errorf("parseTime(%q): %v; want %s", tt.in, err, tt.want)
		case tt.err == "" && got.Format(time.RFC3339) != tt.want:
			t.Errorf("parseTime(%q) = %s; want %s", tt.in, got.Format(time.RFC3339), tt.want)
		}
	}
}

func TestKeysIssueRefusesDSTTimes(t *testing.T) {
	for _, tt := range []struct{ flag, at, want string }{
		{"--until", "2026-03-29 02:30", "does not exist in Europe/Berlin"},
		{"--until", "2026-10-25 02:30", "occurs twice in Europe/Berlin"},
		{"--from", "2026-10-25 02:30", "occurs twice in Europe/Berlin"},
	} {
		out, stderr, code := lotgate(t, "", "keys", "issue", "--seed-file", "../../configs/demo-operator.seed", "--site", "demo-lot",
			"--resource", "gate:out-*", "--action", "exit", "--tz", "Europe/Berlin", tt.flag, tt.at)
		if code != ExitUsage || !strings.Contains(stderr, tt.flag+": time \""+tt.at+"\" "+tt.want) || out != "" {
			t.Errorf("keys issue %s %q: exit %d, out %q, err %q; want exit %d, %s, no key", tt.flag, tt.at, code, out, stderr, ExitUsage, tt.want)
		}
	}
}

// keys check took --lat 999, read a missing --lon as 0, and ignored
// --lat/--lon without --remote.
func TestKeysCheckPositionFlags(t *testing.T) {
	cfg := exampleSite(t)
	base := []string{"keys", "check", "--config", cfg, "--resource", "gate:out-1", "--action", "exit"}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--remote", "--lat", "999", "--lon", "13.4"}, "--lat 999 is out of range: want -90 to 90"},
		{[]string{"--remote", "--lat", "52.5", "--lon", "-181"}, "--lon -181 is out of range: want -180 to 180"},
		{[]string{"--remote", "--lat", "NaN", "--lon", "13.4"}, "--lat NaN is out of range"},
		{[]string{"--remote", "--lat", "52.5"}, "--lat needs --lon"},
		{[]string{"--remote", "--lon", "13.4"}, "--lon needs --lat"},
		{[]string{"--lat", "52.5", "--lon", "13.4"}, "--lat applies to a remote request; add --remote"},
		{[]string{"--pin", "1234"}, "--pin applies to a remote request; add --remote"},
	} {
		args := append(append(append([]string{}, base...), tt.args...), "LG1:X")
		out, stderr, code := lotgate(t, "", args...)
		if code != ExitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("keys check %v: exit %d, out %q, err %q; want exit %d, %q", tt.args, code, out, stderr, ExitUsage, tt.want)
		}
	}
	// 0, 0 is a place, and with --remote it is given as one: the key is
	// decided (refused as malformed here), not refused as usage.
	args := append(append([]string{}, base...), "--remote", "--lat", "0", "--lon", "0", "LG1:X")
	if _, stderr, code := lotgate(t, "", args...); code == ExitUsage {
		t.Errorf("keys check --remote --lat 0 --lon 0: usage error %q; want a decision", stderr)
	}
}

func TestReportUsage(t *testing.T) {
	_, stderr, code := lotgate(t, "", "report", "paid")
	if code != ExitUsage || !strings.Contains(stderr, `unknown report subcommand "paid"; want unpaid`) {
		t.Errorf("report paid: exit %d, %q; want exit %d, unknown report subcommand", code, stderr, ExitUsage)
	}
	_, stderr, code = lotgate(t, "", "report")
	if code != ExitUsage || !strings.Contains(stderr, "report needs a subcommand: unpaid") {
		t.Errorf("report: exit %d, %q; want exit %d, needs a subcommand", code, stderr, ExitUsage)
	}
	cfg := exampleSite(t)
	_, stderr, code = lotgate(t, "", "report", "unpaid", "--config", cfg, "--from", "2026-03-10 10:00", "--to", "2026-03-01 10:00")
	if code != ExitUsage || !strings.Contains(stderr, "--from 2026-03-10T10:00:00+01:00 is after --to 2026-03-01T10:00:00+01:00") {
		t.Errorf("report unpaid --from after --to: exit %d, %q; want exit %d, --from is after --to", code, stderr, ExitUsage)
	}
	if _, stderr, code := lotgate(t, "", "report", "unpaid", "--config", cfg, "--from", "2026-03-01 10:00", "--to", "2026-03-10 10:00"); code != 0 {
		t.Errorf("report unpaid --from before --to: exit %d, %q; want 0", code, stderr)
	}
}
