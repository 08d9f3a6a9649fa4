package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lotgate/lotgate/gateway"
)

// Profile is a Modbus device model's register map and what its points mean
// (configs/devices/<name>.yaml; docs/devices.md is the reference).
type Profile struct {
	Name        string // the file's base name, without .yaml
	File        string // the file it was read from
	Kind        string // ProfilePayStation, ProfileLockerBoard or ProfileFlapController
	Description string
	// Channels is the number of compartments or spaces the device serves;
	// 0 when it serves one thing (a pay station).
	Channels  int
	Points    map[string]*ProfilePoint
	Actions   map[string]*ProfileAction
	Inputs    map[string]string // input role → point name
	Payment   *ProfilePayment   // pay stations
	FailState *ProfileFailState // the device's own comm-loss watchdog; nil when it has none
}

// Profile kinds.
const (
	ProfilePayStation     = "pay_station"     // a cash pay station
	ProfileLockerBoard    = "locker_board"    // a locker controller board: an unlock output and a door sensor per compartment
	ProfileFlapController = "flap_controller" // a flap-lock controller: raise, lower and vehicle present per space
)

// profileKinds says, for each profile kind, the device kinds it serves,
// the actions it must have and the inputs it may have.
var profileKinds = map[string]struct {
	serves   []gateway.DeviceKind
	requires []string
	inputs   []string
}{
	ProfilePayStation:     {serves: []gateway.DeviceKind{gateway.KindPayStation}, requires: []string{"show_fee", "settled"}},
	ProfileLockerBoard:    {serves: []gateway.DeviceKind{gateway.KindLock, gateway.KindDoorSensor}, requires: []string{"unlock", "lock"}, inputs: []string{"door_open"}},
	ProfileFlapController: {serves: []gateway.DeviceKind{gateway.KindFlap, gateway.KindOccupancy}, requires: []string{"raise", "lower"}, inputs: []string{"vehicle_present"}},
}

// ProfileServes returns the device kinds a profile kind serves.
func ProfileServes(kind string) []gateway.DeviceKind {
	return slices.Clone(profileKinds[kind].serves)
}

// InputRole is the input a sensor of kind k reads from its profile
// ("door_open", "vehicle_present"), or "".
func InputRole(k gateway.DeviceKind) string {
	switch k {
	case gateway.KindDoorSensor:
		return "door_open"
	case gateway.KindOccupancy:
		return "vehicle_present"
	}
	return ""
}

// ProfilePoint is one named value of a register map.
type ProfilePoint struct {
	Table     string // "coil", "discrete_input", "holding" or "input"
	Address   int    // protocol address (0-based) of channel 1
	Stride    int    // address step per channel; 0 when shared by all channels
	Type      string // "bool", "uint16", "int16", "uint32", "int32" or "string"
	Length    int    // registers, for a string
	Scale     float64
	Bit       int    // for a bool in a register: the bit, 0-15; -1 for "non-zero"
	WordOrder string // "high_first" or "low_first", for 32-bit values

	bad bool // its table or type is wrong: reported once, references to it stay quiet
}

// ProfileAction is what a gateway command writes and how it is confirmed.
type ProfileAction struct {
	Writes  []ProfileWrite
	Confirm *ProfileConfirm
}

// ProfileWrite writes a literal Value, or the command's argument Arg
// ("ref", "amount"), to Point.
type ProfileWrite struct {
	Point string
	Value int64
	Arg   string
}

// ProfileConfirm is an action's read-back: Point must read Value within
// Within.
type ProfileConfirm struct {
	Point  string
	Value  int64
	Within time.Duration
}

// ProfilePayment says how a pay station reports a cash payment.
type ProfilePayment struct {
	Flag, Amount, Ref, ID, Ack string
}

// ProfileFailState is the device's own watchdog: Seconds is written to
// Timeout, and State takes Values[policy] for each actuator's on_comm_loss.
type ProfileFailState struct {
	Timeout string
	Seconds int64
	State   string
	Values  map[string]int64 // "secure", "open", "hold" → value
}

var (
	profileKeys   = []string{"profile", "kind", "description", "channels", "word_order", "points", "actions", "inputs", "payment", "fail_state"}
	pointKeys2    = []string{"table", "address", "stride", "type", "length", "scale", "bit", "word_order"}
	actionKeys    = []string{"write", "confirm"}
	writeKeys     = []string{"point", "value", "arg"}
	confirmKeys   = []string{"point", "value", "within"}
	paymentKeys   = []string{"flag", "amount", "ref", "id", "ack"}
	failStateKeys = []string{"timeout", "seconds", "state", "values"}
	tables        = []string{"coil", "discrete_input", "holding", "input"}
	pointTypes    = []string{"bool", "uint16", "int16", "uint32", "int32", "string"}
	wordOrders    = []string{"high_first", "low_first"}
)

// DefaultConfirmWithinProfile is a profile confirm's within when left out.
const DefaultConfirmWithinProfile = 2 * time.Second

// loadProfiles reads the profile of every Modbus device from dir, once per
// name; the problems of a profile file are reported against that file.
func (d *decoder) loadProfiles(f *File) {
	for i, dev := range f.Site.Devices {
		mc := f.Devices[dev.ID].Modbus
		if mc == nil || mc.Profile == "" {
			continue
		}
		if _, done := f.Profiles[mc.Profile]; done {
			continue
		}
		p := join(index("devices", i), "modbus.profile")
		if !idPattern.MatchString(mc.Profile) {
			d.errorf(d.line(p), p, "bad profile name %q: use the file's base name (letters, digits, '.', '_', '-')", mc.Profile)
			f.Profiles[mc.Profile] = nil
			continue
		}
		path := filepath.Join(f.ProfilesDir, mc.Profile+".yaml")
		data, err := readSmall(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				d.errorf(d.line(p), p, "no profile %q: %s does not exist (profiles_dir is %s)", mc.Profile, path, f.ProfilesDir)
			} else {
				d.errorf(d.line(p), p, "profile %q: %v", mc.Profile, err)
			}
			f.Profiles[mc.Profile] = nil
			continue
		}
		pd := newDecoder(path)
		prof := pd.profile(mc.Profile, data)
		pd.probs.sort()
		d.extra = append(d.extra, pd.probs...)
		if len(pd.probs) > 0 {
			prof = nil
		}
		f.Profiles[mc.Profile] = prof
	}
	for name, p := range f.Profiles {
		if p == nil {
			delete(f.Profiles, name)
		}
	}
}

func readSmall(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxFileSize)
	}
	return data, nil
}

// ParseProfile parses a profile file's content; name is the profile's name
// (its file's base name) and file is used in problems. An invalid profile
// returns Problems.
func ParseProfile(file, name string, data []byte) (*Profile, error) {
	d := newDecoder(file)
	p := d.profile(name, data)
	if len(d.probs) > 0 {
		d.probs.sort()
		return nil, d.probs
	}
	return p, nil
}

// profile decodes and checks one profile file.
func (d *decoder) profile(name string, data []byte) *Profile {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errorf(0, "", "empty file; a profile starts with \"profile: %s\"", name)
		} else {
			d.yamlError(err, data)
		}
		return nil
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		d.errorf(doc.Line, "", "a profile is a mapping starting with \"profile: %s\"", name)
		return nil
	}
	d.checkAliases(doc.Content[0])
	root := d.mapping(doc.Content[0], "", profileKeys...)
	p := &Profile{File: d.file, Points: make(map[string]*ProfilePoint), Actions: make(map[string]*ProfileAction), Inputs: make(map[string]string)}
	if got, ok := root.str("profile", true); ok {
		if got != name {
			d.errorf(d.line("profile"), "profile", "the profile is named %q but its file is %s.yaml; name the file after the profile", got, name)
		}
		p.Name = got
	}
	p.Kind = root.oneOf("kind", true, "", ProfilePayStation, ProfileLockerBoard, ProfileFlapController)
	p.Description = root.strOr("description", "")
	p.Channels = root.count("channels", false, 0, 0)
	if p.Channels > 1024 {
		d.errorf(d.line("channels"), "channels", "must be at most 1024, got %d", p.Channels)
	}
	wordOrder := root.oneOf("word_order", false, "high_first", wordOrders...)

	// Points first: the rest refers to them.
	if pm := root.freeSub("points", true); pm != nil {
		for _, key := range slices.Sorted(maps.Keys(pm.vals)) {
			pp := join("points", key)
			if !idPattern.MatchString(key) {
				d.errorf(d.line(pp), pp, "bad point name %q", key)
			}
			if m := d.mapping(pm.node(key, true), pp, pointKeys2...); m != nil {
				p.Points[key] = d.point2(m, pp, p.Channels, wordOrder)
			}
		}
	}
	am := root.freeSub("actions", true)
	if am != nil {
		for _, key := range slices.Sorted(maps.Keys(am.vals)) {
			ap := join("actions", key)
			if m := d.mapping(am.node(key, true), ap, actionKeys...); m != nil {
				p.Actions[key] = d.action(m, ap, p)
			}
		}
	}
	if pk, ok := profileKinds[p.Kind]; ok {
		for _, a := range pk.requires {
			if p.Actions[a] == nil && am != nil {
				d.errorf(d.line("actions"), "actions", "a %s needs the action %s", p.Kind, a)
			}
		}
		if im := root.freeSub("inputs", false); im != nil {
			for _, role := range slices.Sorted(maps.Keys(im.vals)) {
				ip := join("inputs", role)
				if !slices.Contains(pk.inputs, role) {
					if len(pk.inputs) == 0 {
						d.errorf(d.line(ip), ip, "a %s has no inputs", p.Kind)
					} else {
						d.errorf(d.line(ip), ip, "unknown input %q; a %s has %s", role, p.Kind, strings.Join(pk.inputs, ", "))
					}
					continue
				}
				if pt, ok := im.str(role, true); ok {
					if d.pointRef(p, ip, pt, "bool") {
						p.Inputs[role] = pt
					}
				}
			}
		}
	}
	if m := root.sub("payment", p.Kind == ProfilePayStation, paymentKeys...); m != nil {
		if p.Kind != ProfilePayStation {
			d.errorf(m.at(), "payment", "only a pay_station has a payment section")
		}
		pay := &ProfilePayment{}
		ref := func(key, types string) string {
			v, ok := m.str(key, true)
			if ok {
				d.pointRef(p, join("payment", key), v, types)
			}
			return v
		}
		pay.Flag = ref("flag", "bool uint16 int16 uint32 int32")
		pay.Amount = ref("amount", "uint16 int16 uint32 int32")
		pay.Ref = ref("ref", "string")
		pay.ID = ref("id", "uint16 uint32")
		if ack, ok := m.str("ack", true); ok {
			if p.Actions[ack] == nil {
				d.errorf(d.line("payment.ack"), "payment.ack", "no action %q; ack names the action that acknowledges a payment", ack)
			}
			pay.Ack = ack
		}
		p.Payment = pay
	}
	if m := root.sub("fail_state", false, failStateKeys...); m != nil {
		fs := &ProfileFailState{Values: make(map[string]int64)}
		if v, ok := m.str("timeout", true); ok && d.pointRef(p, "fail_state.timeout", v, "uint16 uint32") {
			d.writable(p, "fail_state.timeout", v)
			fs.Timeout = v
		}
		if n, ok := m.integer("seconds", true, ""); ok {
			if n < 1 || n > math.MaxUint16 {
				d.errorf(d.line("fail_state.seconds"), "fail_state.seconds", "must be from 1 to 65535, got %d", n)
			}
			fs.Seconds = n
		}
		if v, ok := m.str("state", true); ok && d.pointRef(p, "fail_state.state", v, "bool uint16 int16") {
			d.writable(p, "fail_state.state", v)
			fs.State = v
		}
		if vm := m.sub("values", true, FailSecure, FailOpen, FailHold); vm != nil {
			for _, pol := range slices.Sorted(maps.Keys(vm.vals)) {
				if v, ok := d.value(vm, pol, p.Points[fs.State]); ok {
					fs.Values[pol] = v
				}
			}
		}
		p.FailState = fs
	}
	return p
}

// point2 decodes a point of a profile.
func (d *decoder) point2(m *mapping, p string, channels int, defaultOrder string) *ProfilePoint {
	pt := &ProfilePoint{Bit: -1}
	pt.Table = m.oneOf("table", true, "", tables...)
	pt.bad = pt.Table == ""
	if a, ok := m.integer("address", true, ""); ok {
		if a < 0 || a > math.MaxUint16 {
			d.errorf(d.line(join(p, "address")), join(p, "address"), "must be from 0 to 65535, got %d", a)
		}
		pt.Address = int(a)
	}
	pt.Stride = m.count("stride", false, 0, 0)
	def := "uint16"
	if pt.Table == "coil" || pt.Table == "discrete_input" {
		def = "bool"
	}
	pt.Type = m.oneOf("type", false, def, pointTypes...)
	if v := m.node("type", false); v != nil && !contains(pointTypes, v.Value) {
		pt.bad = true
	}
	if def == "bool" && pt.Type != "bool" && !pt.bad {
		d.errorf(d.line(join(p, "type")), join(p, "type"), "a %s holds a bool, not a %s", pt.Table, pt.Type)
	}
	pt.Length = m.count("length", pt.Type == "string", 1, 0)
	switch {
	case pt.Type == "string" && pt.Length > 123:
		d.errorf(d.line(join(p, "length")), join(p, "length"), "a string takes at most 123 registers, got %d", pt.Length)
	case pt.Type != "string" && m.has("length"):
		d.errorf(d.line(join(p, "length")), join(p, "length"), "only a string has a length")
	}
	if s, ok := m.float("scale", false); ok {
		if s <= 0 {
			d.errorf(d.line(join(p, "scale")), join(p, "scale"), "must be positive, got %v", s)
		} else if pt.Type == "bool" || pt.Type == "string" {
			d.errorf(d.line(join(p, "scale")), join(p, "scale"), "only a number is scaled")
		}
		pt.Scale = s
	}
	if m.has("bit") {
		b := m.count("bit", false, 0, 0)
		switch {
		case pt.Type != "bool" || def == "bool":
			d.errorf(d.line(join(p, "bit")), join(p, "bit"), "only a bool in a register has a bit")
		case b > 15:
			d.errorf(d.line(join(p, "bit")), join(p, "bit"), "must be from 0 to 15, got %d", b)
		default:
			pt.Bit = b
		}
	}
	pt.WordOrder = m.oneOf("word_order", false, defaultOrder, wordOrders...)
	if m.has("word_order") && pt.Type != "uint32" && pt.Type != "int32" {
		d.errorf(d.line(join(p, "word_order")), join(p, "word_order"), "only a 32-bit value has a word order")
	}
	width := pointWidth(pt)
	if pt.Stride > 0 && pt.Stride < width {
		d.errorf(d.line(join(p, "stride")), join(p, "stride"), "stride %d is less than the point's width %d: channels would overlap", pt.Stride, width)
	}
	last := pt.Address + width - 1
	if channels > 1 {
		last += (channels - 1) * pt.Stride
	}
	if last > math.MaxUint16 && pt.Address <= math.MaxUint16 {
		d.errorf(d.line(p), p, "the point ends at address %d, past 65535", last)
	}
	return pt
}

func pointWidth(pt *ProfilePoint) int {
	switch pt.Type {
	case "uint32", "int32":
		return 2
	case "string":
		return pt.Length
	}
	return 1
}

// pointRef checks that name is a point of one of types (space separated).
func (d *decoder) pointRef(p *Profile, path, name, types string) bool {
	pt, ok := p.Points[name]
	if !ok {
		d.errorf(d.line(path), path, "no point %q", name)
		return false
	}
	if pt.bad {
		return false
	}
	if !slices.Contains(strings.Fields(types), pt.Type) {
		d.errorf(d.line(path), path, "point %q is a %s; want %s", name, pt.Type, strings.ReplaceAll(types, " ", " or "))
		return false
	}
	return true
}

// writable checks that point name can be written on its own.
func (d *decoder) writable(p *Profile, path, name string) bool {
	pt := p.Points[name]
	if pt == nil {
		return false
	}
	if pt.Table != "coil" && pt.Table != "holding" {
		d.errorf(d.line(path), path, "point %q is in the %s table, which cannot be written", name, pt.Table)
		return false
	}
	if pt.Bit >= 0 {
		d.errorf(d.line(path), path, "point %q is one bit of a register, which cannot be written on its own", name)
		return false
	}
	return true
}

// value reads key as a literal for point pt: an integer in its range, or
// true/false for a bool.
func (d *decoder) value(m *mapping, key string, pt *ProfilePoint) (int64, bool) {
	v := m.scalar(key, true, "a number or true/false")
	if v == nil {
		return 0, false
	}
	p := join(m.path, key)
	var n int64
	switch v.ShortTag() {
	case "!!bool":
		var b bool
		_ = v.Decode(&b)
		if b {
			n = 1
		}
	case "!!int":
		if v.Decode(&n) != nil {
			d.errorf(v.Line, p, "must be an integer, got %s", describe(v))
			return 0, false
		}
	default:
		d.errorf(v.Line, p, "must be a number or true/false, got %s", describe(v))
		return 0, false
	}
	if pt == nil {
		return n, true
	}
	lo, hi := int64(0), int64(0)
	switch pt.Type {
	case "bool":
		hi = 1
	case "uint16":
		hi = math.MaxUint16
	case "int16":
		lo, hi = math.MinInt16, math.MaxInt16
	case "uint32":
		hi = math.MaxUint32
	case "int32":
		lo, hi = math.MinInt32, math.MaxInt32
	case "string":
		d.errorf(v.Line, p, "a string point takes no literal value")
		return 0, false
	}
	if n < lo || n > hi {
		d.errorf(v.Line, p, "%d does not fit a %s (%d to %d)", n, pt.Type, lo, hi)
		return 0, false
	}
	return n, true
}

// action decodes an action: its writes and its confirm.
func (d *decoder) action(m *mapping, p string, prof *Profile) *ProfileAction {
	a := &ProfileAction{}
	m.each("write", true, writeKeys, func(wp string, w *mapping) {
		pw := ProfileWrite{}
		name, ok := w.str("point", true)
		if !ok || !d.pointRef(prof, join(wp, "point"), name, "bool uint16 int16 uint32 int32 string") || !d.writable(prof, join(wp, "point"), name) {
			return
		}
		pw.Point = name
		pt := prof.Points[name]
		switch {
		case w.has("value") && w.has("arg"):
			d.errorf(w.at(), wp, "give either value or arg, not both")
		case w.has("arg"):
			pw.Arg = w.oneOf("arg", false, "", "ref", "amount")
			switch {
			case pw.Arg == "ref" && pt.Type != "string":
				d.errorf(d.line(join(wp, "arg")), join(wp, "arg"), "the ref goes in a string point; %q is a %s", name, pt.Type)
			case pw.Arg == "amount" && (pt.Type == "string" || pt.Type == "bool"):
				d.errorf(d.line(join(wp, "arg")), join(wp, "arg"), "the amount goes in a number point; %q is a %s", name, pt.Type)
			}
		default:
			pw.Value, _ = d.value(w, "value", pt)
		}
		a.Writes = append(a.Writes, pw)
	})
	if c := m.sub("confirm", false, confirmKeys...); c != nil {
		pc := &ProfileConfirm{}
		if name, ok := c.str("point", true); ok && d.pointRef(prof, join(p, "confirm.point"), name, "bool uint16 int16 uint32 int32") {
			pc.Point = name
			pc.Value, _ = d.value(c, "value", prof.Points[name])
		}
		pc.Within = c.duration("within", DefaultConfirmWithinProfile)
		a.Confirm = pc
	}
	return a
}
