package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// lotgate runs the command in-process and returns stdout, stderr and the
// exit code main would use.
func lotgate(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(stdin), &stdout, &stderr)
	code := exitCode(err, &stderr)
	return stdout.String(), stderr.String(), code
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string // in stderr
	}{
		{nil, ExitUsage, "Usage:"},
		{[]string{"frobnicate"}, ExitUsage, `unknown command "frobnicate"`},
		{[]string{"fee", "--config", "../../configs/site.example.yaml"}, ExitUsage, "fee needs --entry and --exit"},
		{[]string{"fee", "--config", "../../configs/site.example.yaml", "--entry", "yesterday", "--exit", "2026-01-01 10:00"}, ExitUsage, `--entry: time "yesterday"`},
		{[]string{"fee", "--config", "../../configs/site.example.yaml", "--entry", "2026-01-02 10:00", "--exit", "2026-01-01 10:00"}, ExitUsage, "is before --entry"},
		{[]string{"keys"}, ExitUsage, "keys needs a subcommand"},
		{[]string{"keys", "issue", "--site", "x"}, ExitUsage, "keys issue needs"},
		{[]string{"keys", "check", "--config", "../../configs/site.example.yaml"}, ExitUsage, "keys check needs"},
		{[]string{"audit"}, ExitUsage, "audit needs a subcommand"},
		{[]string{"run", "--bogus"}, ExitUsage, "flag provided but not defined: -bogus"},
		{[]string{"check-config"}, ExitUsage, "check-config needs at least one file"},
	}
	for _, tt := range tests {
		_, stderr, code := lotgate(t, "", tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("lotgate %q: exit %d, stderr %q; want exit %d and %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
}

func TestVersion(t *testing.T) {
	out, _, code := lotgate(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "lotgate ") {
		t.Fatalf("version: exit %d, %q", code, out)
	}
}

func TestCheckConfig(t *testing.T) {
	out, _, code := lotgate(t, "", "check-config", "../../configs/site.example.yaml")
	if code != 0 || !strings.Contains(out, "ok: site demo-lot") {
		t.Fatalf("good file: exit %d, %q", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	src, err := os.ReadFile("../../configs/site.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(src), "barrier: out-1-barrier", "barrier: out-9-barrier", 1)
	text = strings.Replace(text, "time_zone: Europe/Berlin", "time_zone: Europe/Atlantis", 1)
	if err := os.WriteFile(bad, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code = lotgate(t, "", "check-config", bad)
	if code != ExitConfig {
		t.Errorf("bad file: exit %d; want %d", code, ExitConfig)
	}
	for _, want := range []string{`bad.yaml:17: site.time_zone: unknown time zone`, `bad.yaml:85: lanes[1].barrier: device "out-9-barrier" does not exist`, "2 problem(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("bad file output %q lacks %q", out, want)
		}
	}
	// run refuses the bad file with the same exit code.
	if _, _, code := lotgate(t, "", "run", "--config", bad, "--console=false"); code != ExitConfig {
		t.Errorf("run with bad config: exit %d; want %d", code, ExitConfig)
	}
}

func TestFee(t *testing.T) {
	// Day→night with the night cap: 4 day units of 150, then 12 night units
	// capped at 400, then 3 day units: 600 + 400 + 450 = 1450.
	args := []string{"fee", "--config", "../../configs/site.example.yaml", "--entry", "2026-03-28 18:00", "--exit", "2026-03-29 09:10"}
	out, _, code := lotgate(t, "", args...)
	if code != 0 || !strings.Contains(out, "total  14.50 EUR") || !strings.Contains(out, "band night occurrence 2026-03-28") {
		t.Fatalf("fee: exit %d\n%s", code, out)
	}
	out, _, code = lotgate(t, "", append(args, "--json")...)
	var j feeJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil || code != 0 {
		t.Fatalf("fee --json: exit %d, %v\n%s", code, err, out)
	}
	if j.Total != 1450 || j.UnitCount != 18 || len(j.Lines) != 4 || j.Currency != "EUR" {
		t.Errorf("fee --json: total %d, %d units in %d lines, %s; want 1450, 18 in 4, EUR", j.Total, j.UnitCount, len(j.Lines), j.Currency)
	}
	var sum, n int64
	for _, l := range j.Lines {
		sum += l.Subtotal
		n += l.Count
		if l.Subtotal != l.Count*l.Charged {
			t.Errorf("line %s: subtotal %d; want %d × %d", l.Start, l.Subtotal, l.Count, l.Charged)
		}
	}
	if sum != j.Total || n != j.UnitCount {
		t.Errorf("lines sum to %d over %d units; total is %d over %d", sum, n, j.Total, j.UnitCount)
	}
	out, _, _ = lotgate(t, "", "fee", "--config", "../../configs/site.example.yaml", "--entry", "2026-03-28 18:00", "--exit", "2026-03-28 18:15")
	if !strings.Contains(out, "free") || !strings.Contains(out, "total  0.00 EUR") {
		t.Errorf("15 minutes: %q; want free", out)
	}
}

// TestKeysCLI makes an operator key, trusts it in a site file, issues keys
// with it and checks them offline.
func TestKeysCLI(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, "op.seed")
	out, _, code := lotgate(t, "", "keys", "keygen", "--seed-file", seed)
	m := regexp.MustCompile(`kid: (\S+)\npublic_key: (\S+)\n`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("keygen: exit %d, %q", code, out)
	}
	cfg := exampleSite(t, [2]string{"trusted_keys:\n", "trusted_keys:\n  - {kid: " + m[1] + ", public_key: \"" + m[2] + "\"}\n"})

	png := filepath.Join(dir, "key.png")
	out, _, code = lotgate(t, "", "keys", "issue", "--seed-file", seed, "--site", "demo-lot",
		"--resource", "locker:A-03", "--action", "open,unlock", "--key-id", "share-7", "--uses", "1",
		"--from", "2026-06-01 08:00", "--until", "2026-06-02 08:00", "--tz", "Europe/Berlin", "--png", png)
	text := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(text, "LG1:") {
		t.Fatalf("issue: exit %d, %q", code, out)
	}
	if b, err := os.ReadFile(png); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("--png did not write a PNG: %v", err)
	}

	check := func(at, resource, action string) (string, int) {
		out, _, code := lotgate(t, "", "keys", "check", "--config", cfg, "--resource", resource, "--action", action, "--at", at, text)
		return out, code
	}
	tests := []struct {
		at, resource, action string
		code                 int
		want                 string
	}{
		{"2026-06-01 12:00", "locker:A-03", "open", 0, "allowed: key share-7 may open locker:A-03"},
		{"2026-06-01 12:00", "locker:A-04", "open", ExitDenied, "denied: resource_not_allowed"},
		{"2026-06-01 12:00", "locker:A-03", "lock", ExitDenied, "denied: action_not_allowed"},
		{"2026-05-31 12:00", "locker:A-03", "open", ExitDenied, "denied: not_yet_valid"},
		{"2026-06-03 12:00", "locker:A-03", "open", ExitDenied, "denied: expired"},
		// Checking has no side effects: the single-use key is still good.
		{"2026-06-01 12:00", "locker:A-03", "open", 0, "allowed"},
	}
	for _, tt := range tests {
		out, code := check(tt.at, tt.resource, tt.action)
		if code != tt.code || !strings.Contains(out, tt.want) {
			t.Errorf("check at %s %s %s: exit %d, %q; want %d, %q", tt.at, tt.action, tt.resource, code, out, tt.code, tt.want)
		}
	}
	// A tampered text is refused, not crashed on.
	tampered := text[:len(text)-6] + "AAAAAA"
	out, _, code = lotgate(t, "", "keys", "check", "--config", cfg, "--resource", "locker:A-03", "--action", "open", tampered)
	if code != ExitDenied || !regexp.MustCompile(`denied: (bad_signature|malformed)`).MatchString(out) {
		t.Errorf("tampered key: exit %d, %q", code, out)
	}
	// The demo site does not trust a key it has never seen.
	out, _, code = lotgate(t, "", "keys", "check", "--config", "../../configs/site.example.yaml", "--resource", "locker:A-03", "--action", "open", "--at", "2026-06-01 12:00", text)
	if code != ExitDenied || !strings.Contains(out, "denied: unknown_kid") {
		t.Errorf("untrusted kid: exit %d, %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "lotgate.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("keys check created the site's database (err %v); it must have no side effects", err)
	}
}

// TestTimeTrustAndReset: time trust never goes backwards; time reset does,
// only with an operator and a reason, and says what it replaced.
func TestTimeTrustAndReset(t *testing.T) {
	cfg := exampleSite(t)
	steps := []struct {
		args []string
		code int
		want string // in stdout, or stderr when code != 0
	}{
		{[]string{"time", "trust", "--config", cfg, "2030-01-01T00:00:00Z"}, 0, "latest trusted time is now 2030-01-01T00:00:00Z"},
		{[]string{"time", "trust", "--config", cfg, "2026-01-01T00:00:00Z"}, 0, "unchanged: the stored trusted time is already at or after"},
		{[]string{"time", "reset", "--config", cfg, "2026-01-01T00:00:00Z"}, ExitUsage, "needs --operator and --reason"},
		{[]string{"time", "reset", "--config", cfg, "--operator", "anna", "2026-01-01T00:00:00Z"}, ExitUsage, "needs --operator and --reason"},
		{[]string{"time", "reset", "--config", cfg, "--operator", "anna", "--reason", "cloud clock ran ahead", "soon"}, ExitUsage, `time "soon"`},
		{[]string{"time", "reset", "--config", cfg, "--operator", "anna", "--reason", "cloud clock ran ahead", "2026-01-01T00:00:00Z"}, 0,
			"latest trusted time reset to 2026-01-01T00:00:00Z (was 2030-01-01T00:00:00Z)"},
		{[]string{"time", "trust", "--config", cfg, "2026-06-01T00:00:00Z"}, 0, "latest trusted time is now 2026-06-01T00:00:00Z"},
		{[]string{"time", "frobnicate"}, ExitUsage, "time needs a subcommand: trust or reset"},
	}
	for _, s := range steps {
		stdout, stderr, code := lotgate(t, "", s.args...)
		got := stdout
		if s.code != 0 {
			got = stderr
		}
		if code != s.code || !strings.Contains(got, s.want) {
			t.Errorf("lotgate %q: exit %d, stdout %q, stderr %q; want exit %d and %q", s.args, code, stdout, stderr, s.code, s.want)
		}
	}
	if stdout, _, code := lotgate(t, "", "audit", "verify", "--config", cfg); code != 0 || !strings.Contains(stdout, "hash chain intact") {
		t.Errorf("audit verify after the reset: exit %d, %q", code, stdout)
	}
}
