package keys

import (
	"strings"
	"testing"
)

func TestMatchResource(t *testing.T) {
	tests := []struct {
		pattern, id string
		want        bool
	}{
		{"gate:exit-1", "gate:exit-1", true},
		{"gate:exit-1", "gate:exit-10", false},
		{"gate:exit-1", "gate:exit-", false},
		{"gate:exit-*", "gate:exit-1", true},
		{"gate:exit-*", "gate:exit-12", true},
		{"gate:exit-*", "gate:exit-", true}, // '*' matches an empty run
		{"gate:exit-*", "gate:exit", false},
		{"gate:exit-*", "gate:entry-1", false},
		{"locker:A-*", "locker:A-03", true},
		{"locker:A-*", "locker:B-03", false},
		{"locker:a-*", "locker:A-03", false}, // case-sensitive
		{"*", "gate:exit-1", true},           // '*' crosses ':'
		{"*", "locker:A-03", true},
		{"gate:*", "door:gate:1", false},
		{"*:A-0*", "locker:A-03", true},
		{"*-1", "gate:exit-1", true},
		{"*-1", "gate:exit-2", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "acb", false},
		{"**", "x", true},
		{"gate:?", "gate:1", false}, // no '?' wildcard
		{"gate:?", "gate:?", true},
		{"[ab]", "a", false}, // no classes
		{"gate:\\*", "gate:\\x", true},
		{"", "", true},
		{"", "x", false},
		{strings.Repeat("*a", 20) + "b", strings.Repeat("a", 200), false}, // no exponential backtracking
	}
	for _, tc := range tests {
		if got := MatchResource(tc.pattern, tc.id); got != tc.want {
			t.Errorf("MatchResource(%q, %q) = %v; want %v", tc.pattern, tc.id, got, tc.want)
		}
	}
}

func TestAllowsResource(t *testing.T) {
	c := Claims{Resources: []string{"gate:entry-1", "locker:A-*"}}
	tests := []struct {
		id   string
		want bool
	}{
		{"gate:entry-1", true},
		{"gate:exit-1", false},
		{"locker:A-03", true},
		{"locker:B-03", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := c.AllowsResource(tc.id); got != tc.want {
			t.Errorf("AllowsResource(%q) with %q = %v; want %v", tc.id, c.Resources, got, tc.want)
		}
	}
	if all := (Claims{Resources: []string{"*"}}); all.AllowsResource("") {
		t.Errorf(`AllowsResource("") with "*" = true; want false`)
	}
}

func TestAllowsAction(t *testing.T) {
	c := Claims{Actions: []string{ActionEnter, ActionExit}}
	for a, want := range map[string]bool{"enter": true, "exit": true, "open": false, "Enter": false, "": false} {
		if got := c.AllowsAction(a); got != want {
			t.Errorf("AllowsAction(%q) with %q = %v; want %v", a, c.Actions, got, want)
		}
	}
}

func BenchmarkMatchResource(b *testing.B) {
	for b.Loop() {
		MatchResource("locker:A-*", "locker:A-03")
	}
}
