package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lotgate/lotgate/gateway"
)

// decoder walks a yaml.Node tree by hand, so that every problem carries
// its line and field path and so that all problems are collected rather
// than the first. It never stops at a problem: a bad value is reported and
// skipped, and the walk goes on.
type decoder struct {
	file  string
	probs Problems
	// lines maps field paths ("lanes[1].barrier") to the line of their key
	// (or list element), so that checks run after decoding can point at the
	// field they complain about.
	lines map[string]int
	// seen maps an ID namespace ("device", "lane", ...) to the IDs
	// decoded so far and the path of each, to report duplicates.
	seen map[string]map[string]string
	// refs are the device references made by lanes, spaces, lockers,
	// doors, the pay station and the fire alarm, checked once every
	// device is known.
	refs []ref
	// fireOpens and fireDoors are the paths of fire_alarm.opens and
	// fire_alarm.doors entries, parallel to the site's FireAlarm lists.
	fireOpens, fireDoors []string
	// rootLine is the first line of the root mapping, for problems with
	// the file as a whole.
	rootLine int
	// pins are the GPIO pins the devices name; ports the serial ports and
	// input devices the buses and scanners name: each may be used once.
	pins, ports []pinUse
	// extra are problems found in other files (device profiles), reported
	// after the site file's own.
	extra Problems
}

// ref is a reference to a device from the field at path.
type ref struct {
	path string
	id   string
	kind gateway.DeviceKind // the kind the role needs
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, lines: make(map[string]int), seen: make(map[string]map[string]string)}
}

func (d *decoder) errorf(line int, path, format string, args ...any) {
	d.probs = append(d.probs, Problem{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// line returns the line recorded for path or, failing that, for its
// nearest recorded parent (a defaulted field has no line of its own).
func (d *decoder) line(path string) int {
	for {
		if l, ok := d.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
}

// checkAliases reports every alias in the tree. Aliases are refused rather
// than expanded: a few nested aliases can expand into an enormous document,
// and an installer's site file has no need for them. The walk that follows
// skips alias nodes silently, so each is reported once.
func (d *decoder) checkAliases(n *yaml.Node) {
	if n == nil {
		return
	}
	if n.Kind == yaml.AliasNode {
		d.errorf(n.Line, "", "YAML aliases (*%s) are not supported; write the value out", n.Value)
		return
	}
	for _, c := range n.Content {
		d.checkAliases(c)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node is, for "got ..." in messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return n.Value
		case "!!null":
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "an unexpected YAML node"
}

// mapping is a decoded YAML mapping with its keys checked against the
// schema. A nil *mapping (the section was absent or not a mapping) answers
// every lookup with "absent", so callers need no nil checks.
type mapping struct {
	d    *decoder
	path string
	line int
	vals map[string]*yaml.Node
}

// mapping checks that n is a mapping whose keys are all in known, reports
// unknown and duplicate keys, and records each key's line. It returns nil
// if n is nil or not a mapping.
func (d *decoder) mapping(n *yaml.Node, path string, known ...string) *mapping {
	return d.mappingOf(n, path, false, known)
}

// freeMapping is mapping for a map whose keys are names the file chooses
// (a profile's points and actions): any key is accepted.
func (d *decoder) freeMapping(n *yaml.Node, path string) *mapping {
	return d.mappingOf(n, path, true, nil)
}

func (d *decoder) mappingOf(n *yaml.Node, path string, anyKey bool, known []string) *mapping {
	if n == nil || n.Kind == yaml.AliasNode {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, path, "must be a mapping (key: value), got %s", describe(n))
		return nil
	}
	m := &mapping{d: d, path: path, line: n.Line, vals: make(map[string]*yaml.Node)}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k.Line, path, "keys must be plain names, got %s", describe(k))
			continue
		}
		kp := join(path, k.Value)
		if !anyKey && !contains(known, k.Value) {
			if len(known) == 0 {
				d.errorf(k.Line, kp, "unknown key %q; %s takes no keys", k.Value, path)
			} else {
				d.errorf(k.Line, kp, "unknown key %q; known keys here: %s", k.Value, strings.Join(known, ", "))
			}
			continue
		}
		if _, dup := m.vals[k.Value]; dup {
			d.errorf(k.Line, kp, "duplicate key (first at line %d)", d.lines[kp])
			continue
		}
		m.vals[k.Value] = v
		d.lines[kp] = k.Line
	}
	return m
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// at is the line to report problems with the mapping as a whole on: the
// line of its key (or list dash), or its first line for the root.
func (m *mapping) at() int {
	if l, ok := m.d.lines[m.path]; ok && m.path != "" {
		return l
	}
	return m.line
}

func (m *mapping) has(key string) bool {
	if m == nil {
		return false
	}
	v, ok := m.vals[key]
	return ok && !isNull(v)
}

// node returns the value of key, or nil when it is absent, empty (YAML
// null) or an alias. A required key that is absent or empty is reported.
func (m *mapping) node(key string, required bool) *yaml.Node {
	if m == nil {
		return nil
	}
	p := join(m.path, key)
	v, ok := m.vals[key]
	switch {
	case !ok:
		if required {
			m.d.errorf(m.at(), p, "missing (required)")
		}
		return nil
	case isNull(v):
		if required {
			m.d.errorf(v.Line, p, "must not be empty")
		}
		return nil
	case v.Kind == yaml.AliasNode:
		return nil
	}
	return v
}

// freeSub decodes key as a nested mapping whose keys are free names.
func (m *mapping) freeSub(key string, required bool) *mapping {
	if m == nil {
		return nil
	}
	return m.d.freeMapping(m.node(key, required), join(m.path, key))
}

// sub decodes key as a nested mapping with the given known keys.
func (m *mapping) sub(key string, required bool, known ...string) *mapping {
	if m == nil {
		return nil
	}
	return m.d.mapping(m.node(key, required), join(m.path, key), known...)
}

// list returns the elements of key, which must be a list, recording each
// element's line.
func (m *mapping) list(key string, required bool) []*yaml.Node {
	v := m.node(key, required)
	if v == nil {
		return nil
	}
	p := join(m.path, key)
	if v.Kind != yaml.SequenceNode {
		m.d.errorf(v.Line, p, "must be a list, got %s", describe(v))
		return nil
	}
	if required && len(v.Content) == 0 {
		m.d.errorf(v.Line, p, "must not be empty")
	}
	for i, e := range v.Content {
		m.d.lines[index(p, i)] = e.Line
	}
	return v.Content
}

// scalar returns key's node if it is a scalar; wrong kinds are reported.
func (m *mapping) scalar(key string, required bool, want string) *yaml.Node {
	v := m.node(key, required)
	if v == nil {
		return nil
	}
	if v.Kind != yaml.ScalarNode {
		m.d.errorf(v.Line, join(m.path, key), "must be %s, got %s", want, describe(v))
		return nil
	}
	return v
}

// str returns key as text. Any scalar is accepted (an ID written as 7 is
// the text "7").
func (m *mapping) str(key string, required bool) (string, bool) {
	v := m.scalar(key, required, "a text value")
	if v == nil {
		return "", false
	}
	return v.Value, true
}

// strOr returns key as text, or def when absent.
func (m *mapping) strOr(key, def string) string {
	if s, ok := m.str(key, false); ok {
		return s
	}
	return def
}

// integer returns key as an integer; hint is appended to type errors.
func (m *mapping) integer(key string, required bool, hint string) (int64, bool) {
	v := m.scalar(key, required, "an integer"+hint)
	if v == nil {
		return 0, false
	}
	var i int64
	if v.ShortTag() != "!!int" || v.Decode(&i) != nil {
		m.d.errorf(v.Line, join(m.path, key), "must be an integer%s, got %s", hint, describe(v))
		return 0, false
	}
	return i, true
}

// count returns key as an integer >= min, or def when absent.
func (m *mapping) count(key string, required bool, min, def int) int {
	i, ok := m.integer(key, required, "")
	if !ok {
		return def
	}
	p := join(m.path, key)
	if i < int64(min) {
		m.d.errorf(m.d.lines[p], p, "must be at least %d, got %d", min, i)
		return def
	}
	if i > math.MaxInt32 {
		m.d.errorf(m.d.lines[p], p, "must be at most %d, got %d", math.MaxInt32, i)
		return def
	}
	return int(i)
}

// money returns key as an amount in minor units (>= 0), or 0 when absent.
func (m *mapping) money(key string, required bool) int64 {
	i, ok := m.integer(key, required, " amount in minor units (150 for 1.50)")
	if !ok {
		return 0
	}
	if i < 0 {
		m.d.errorf(m.d.lines[join(m.path, key)], join(m.path, key), "must not be negative, got %d", i)
		return 0
	}
	return i
}

// float returns key as a finite number.
func (m *mapping) float(key string, required bool) (float64, bool) {
	v := m.scalar(key, required, "a number")
	if v == nil {
		return 0, false
	}
	var f float64
	tag := v.ShortTag()
	if (tag != "!!int" && tag != "!!float") || v.Decode(&f) != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		m.d.errorf(v.Line, join(m.path, key), "must be a number, got %s", describe(v))
		return 0, false
	}
	return f, true
}

// boolean returns key as true or false, or def when absent.
func (m *mapping) boolean(key string, def bool) bool {
	v := m.scalar(key, false, "true or false")
	if v == nil {
		return def
	}
	var b bool
	if v.ShortTag() != "!!bool" || v.Decode(&b) != nil {
		m.d.errorf(v.Line, join(m.path, key), "must be true or false, got %s", describe(v))
		return def
	}
	return b
}

// duration returns key as a positive Go duration ("90s", "5m"), or def
// when absent.
func (m *mapping) duration(key string, def time.Duration) time.Duration {
	v := m.scalar(key, false, `a duration such as "90s" or "5m"`)
	if v == nil {
		return def
	}
	p := join(m.path, key)
	if tag := v.ShortTag(); tag == "!!int" || tag == "!!float" {
		m.d.errorf(v.Line, p, `must be a duration with a unit, such as "90s" or "5m", got %s`, describe(v))
		return def
	}
	dur, err := time.ParseDuration(v.Value)
	if err != nil {
		m.d.errorf(v.Line, p, `bad duration %q: want a number and a unit, such as "90s", "5m" or "1h30m"`, v.Value)
		return def
	}
	if dur <= 0 {
		m.d.errorf(v.Line, p, "must be positive, got %s", v.Value)
		return def
	}
	return dur
}

// oneOf returns key as text that must be one of allowed, or def when
// absent (def "" with required reports absence).
func (m *mapping) oneOf(key string, required bool, def string, allowed ...string) string {
	v := m.scalar(key, required, "one of "+strings.Join(allowed, ", "))
	if v == nil {
		return def
	}
	if !contains(allowed, v.Value) {
		m.d.errorf(v.Line, join(m.path, key), "unknown value %q; want one of %s", v.Value, strings.Join(allowed, ", "))
		return def
	}
	return v.Value
}

// each decodes every element of the list at key as a mapping with the
// given known keys and calls fn with the element's path and mapping.
func (m *mapping) each(key string, required bool, known []string, fn func(path string, e *mapping)) {
	p := join(m.pathOr(), key)
	for i, n := range m.list(key, required) {
		ep := index(p, i)
		if e := m.d.mapping(n, ep, known...); e != nil {
			fn(ep, e)
		}
	}
}

func (m *mapping) pathOr() string {
	if m == nil {
		return ""
	}
	return m.path
}
