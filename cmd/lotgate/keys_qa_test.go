package main

// Regression tests from the fresh-eyes QA pass: keys check on damaged,
// foreign and borderline key texts, and lotgate fee at the edges of the
// example tariff.

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestQAKeysCheckDamagedAndForeignTexts(t *testing.T) {
	const cfg = "../../configs/site.example.yaml"
	issue := func(site, until string) string {
		t.Helper()
		args := []string{"keys", "issue", "--seed-file", "../../configs/demo-operator.seed", "--site", site,
			"--resource", "gate:out-*", "--action", "exit", "--key-id", "qa-k1"}
		if until != "" {
			args = append(args, "--until", until, "--tz", "Europe/Berlin")
		}
		out, stderr, code := lotgate(t, "", args...)
		if code != 0 {
			t.Fatalf("keys issue: exit %d, %s", code, stderr)
		}
		return strings.TrimSpace(out)
	}
	key := issue("demo-lot", "")
	until := issue("demo-lot", "2026-06-02 08:00")
	tests := []struct {
		name string
		text string
		at   string
		code int
		want string
	}{
		{"intact", key, "", 0, "allowed: key qa-k1 may exit gate:out-1"},
		{"spaces around", "  " + key + "\t\r\n", "", 0, "allowed"},
		{"last character cut", key[:len(key)-1], "", ExitDenied, "denied: malformed"},
		{"cut in half", key[:len(key)/2], "", ExitDenied, "denied: malformed"},
		{"lowercased", strings.ToLower(key), "", ExitDenied, "denied: malformed"},
		{"newline inside", key[:40] + "\n" + key[40:], "", ExitDenied, "denied: malformed"},
		{"a ticket", "LGT1:ABCDEFGHIJ", "", ExitDenied, "denied: malformed"},
		{"another site's key", issue("other-lot", ""), "", ExitDenied, "denied: wrong_site"},
		{"before expiry", until, "2026-06-02 07:59", 0, "allowed"},
		{"within the clock skew after expiry", until, "2026-06-02 08:01", 0, "allowed"},
		{"past the clock skew", until, "2026-06-02 08:03", ExitDenied, "denied: expired"},
	}
	for _, tt := range tests {
		args := []string{"keys", "check", "--config", cfg, "--resource", "gate:out-1", "--action", "exit"}
		if tt.at != "" {
			args = append(args, "--at", tt.at)
		}
		out, stderr, code := lotgate(t, "", append(args, tt.text)...)
		if code != tt.code || !strings.Contains(out, tt.want) {
			t.Errorf("%s: exit %d, out %q, err %q; want exit %d and %q", tt.name, code, out, stderr, tt.code, tt.want)
		}
	}
}

func TestQAFeeEdges(t *testing.T) {
	const cfg = "../../configs/site.example.yaml"
	tests := []struct {
		entry, exit string
		want        int64
	}{
		{"2026-03-10 10:00", "2026-03-10 10:00", 0},                                   // no stay at all
		{"2026-03-10T10:00:00+01:00", "2026-03-10T10:15:00+01:00", 0},                 // exactly the free minutes
		{"2026-03-10T10:00:00+01:00", "2026-03-10T10:15:01+01:00", 150},               // one second more: charged from entry
		{"2026-03-01 10:00", "2026-04-10 10:00", 40 * 2000},                           // 40 days, the 24 h cap each day
		{"2026-03-29T01:30:00+01:00", "2026-03-29T03:40:00+02:00", 200},               // spring forward: 70 real minutes
		{"2026-10-25T01:30:00+02:00", "2026-10-25T02:45:00+01:00", 300},               // fall back: 2 h 15 real minutes
		{"2026-03-28 18:00", "2026-03-29 09:10", 1450},                                // the README's worked example
		{"2026-10-24 12:00", "2026-10-25 11:20", 2150},                                // 24 h windows in real hours
		{"2026-03-10T19:59:59+01:00", "2026-03-10T20:59:59+01:00", 150 + 100},         // a day unit running into the night
		{"2026-03-10T23:30:00+01:00", "2026-03-11T00:30:01+01:00", 2 * 100},           // across midnight in one band
		{"2026-03-29T01:59:00+01:00", "2026-03-29T03:01:00+02:00", 0},                 // 2 real minutes across the gap: free
		{"2026-03-29T01:00:00+01:00", "2026-03-29T03:00:01+02:00", 100 + 100},         // 1 h and 1 s real
		{"2026-03-10T08:00:00+01:00", "2026-03-10T08:16:00+01:00", 150},               // 16 minutes at the start of the day band
		{"2026-03-10T07:50:00+01:00", "2026-03-10T08:20:00+01:00", 100},               // a night unit covers into the day
		{"2026-03-10T07:50:00+01:00", "2026-03-10T08:51:00+01:00", 100 + 150},         // then a day unit
		{"2026-03-10T12:00:00+01:00", "2026-03-11T12:00:00+01:00", 2000},              // exactly 24 h
		{"2026-03-10T12:00:00+01:00", "2026-03-11T12:00:01+01:00", 2000 + 150},        // a second into window #2
		{"2026-03-10T20:00:00+01:00", "2026-03-11T08:00:00+01:00", 400},               // one whole night, capped
		{"2026-03-10T20:00:00+01:00", "2026-03-11T08:00:01+01:00", 400 + 150},         // and the first day unit
		{"2026-12-31T23:00:00+01:00", "2027-01-01T01:00:00+01:00", 2 * 100},           // across new year
		{"2026-02-28T23:00:00+01:00", "2026-03-01T01:00:00+01:00", 2 * 100},           // across the end of February
		{"2026-03-29T00:30:00+01:00", "2026-03-29T04:30:00+02:00", 3 * 100},           // 3 real hours of the short night
		{"2026-10-25T00:30:00+02:00", "2026-10-25T04:30:00+01:00", 4 * 100},           // 5 real hours of the long night, capped
		{"2026-10-25T00:30:00+02:00", "2026-10-25T03:30:00+01:00", 4 * 100},           // 4 real hours
		{"2026-10-25T00:30:00+02:00", "2026-10-25T02:30:00+02:00", 2 * 100},           // before the repeated hour
		{"2026-03-10T10:00:00+01:00", "2026-03-10T10:00:00.999+01:00", 0},             // under a second
		{"2026-03-10T10:00:00Z", "2026-03-10T10:30:00Z", 150},                         // UTC input, site-local bands (11:00 CET)
		{"2026-03-10T19:00:00Z", "2026-03-10T19:30:00Z", 100},                         // 20:00 CET is night
		{"2026-07-10T18:00:00Z", "2026-07-10T18:30:00Z", 100},                         // 20:00 CEST is night
		{"2026-07-10T17:59:00Z", "2026-07-10T18:29:00Z", 150},                         // 19:59 CEST is day
		{"2026-03-10T10:00:00+01:00", "2026-03-10T10:15:00.000000001+01:00", 150},     // a nanosecond past the free minutes
		{"2026-03-10T10:00:00+01:00", "2026-03-10T10:14:59.999999999+01:00", 0},       // a nanosecond short
		{"2026-03-10T10:00:00+01:00", "2026-03-10T10:30:00.000000001+01:00", 2 * 150}, // a second unit has started
		{"2026-03-10T10:00:00+01:00", "2026-03-10T10:30:00+01:00", 150},               // the second unit starts at the exit: not charged
	}
	for _, tt := range tests {
		out, stderr, code := lotgate(t, "", "fee", "--config", cfg, "--entry", tt.entry, "--exit", tt.exit, "--json")
		var r struct {
			Total int64 `json:"total"`
		}
		if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil || r.Total != tt.want {
			t.Errorf("fee %s → %s: exit %d, err %v %s, total %d; want %d", tt.entry, tt.exit, code, err, stderr, r.Total, tt.want)
		}
	}
	// An exit before the entry is a bad command line, not a fee.
	if _, stderr, code := lotgate(t, "", "fee", "--config", cfg, "--entry", "2026-03-10 10:00", "--exit", "2026-03-10 09:59"); code != ExitUsage || !strings.Contains(stderr, "is before --entry") {
		t.Errorf("fee with the exit before the entry: exit %d, %q; want exit %d", code, stderr, ExitUsage)
	}
}
