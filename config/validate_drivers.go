package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// validateDrivers checks the driver settings against each other: Modbus
// devices against their bus and profile, one role per unit and channel,
// one profile per unit, comm-loss policies the device can honour, and
// GPIO pins and serial ports used once.
func (d *decoder) validateDrivers(f *File) {
	buses := make(map[string]bool)
	var busIDs []string
	for _, b := range f.Buses {
		buses[b.ID] = true
		busIDs = append(busIDs, b.ID)
	}
	type unit struct {
		bus  string
		unit int
	}
	unitProfile := make(map[unit]string) // unit → path of the first device naming its profile
	roles := make(map[string]string)     // bus/unit/channel/kind → path
	for i, dev := range f.Site.Devices {
		cfg, ok := f.Devices[dev.ID]
		if !ok || cfg.Modbus == nil {
			continue
		}
		mc := cfg.Modbus
		p := join(index("devices", i), "modbus")
		if mc.Bus != "" && !buses[mc.Bus] {
			known := "none: add a buses section"
			if len(busIDs) > 0 {
				known = strings.Join(busIDs, ", ")
			}
			d.errorf(d.line(join(p, "bus")), join(p, "bus"), "no bus %q; buses: %s", mc.Bus, known)
		}
		prof := f.Profiles[mc.Profile]
		if prof == nil {
			continue // not found or invalid: reported already
		}
		pp := join(p, "profile")
		if serves := ProfileServes(prof.Kind); dev.Kind != "" && !slices.Contains(serves, dev.Kind) {
			d.errorf(d.line(pp), pp, "profile %s is a %s, which drives %s, not a %s", prof.Name, prof.Kind, kindNames(serves), dev.Kind)
			continue
		}
		cp := join(p, "channel")
		switch {
		case prof.Channels == 0 && mc.Channel != 0:
			d.errorf(d.line(cp), cp, "profile %s has no channels; leave channel out", prof.Name)
		case prof.Channels > 0 && mc.Channel == 0:
			d.errorf(d.line(p), cp, "missing (required): profile %s has channels 1 to %d", prof.Name, prof.Channels)
		case mc.Channel > prof.Channels:
			d.errorf(d.line(cp), cp, "profile %s has channels 1 to %d, got %d", prof.Name, prof.Channels, mc.Channel)
		}
		if role := InputRole(dev.Kind); role != "" && prof.Inputs[role] == "" {
			d.errorf(d.line(pp), pp, "profile %s has no %s input for a %s", prof.Name, role, dev.Kind)
		}
		u := unit{mc.Bus, mc.Unit}
		if first, ok := unitProfile[u]; ok {
			if other := f.Devices[deviceAt(f, first)].Modbus.Profile; other != mc.Profile {
				d.errorf(d.line(pp), pp, "unit %d on bus %s is a %s (%s, line %d); one unit has one profile", mc.Unit, mc.Bus, other, first, d.line(first))
			}
		} else {
			unitProfile[u] = pp
		}
		key := fmt.Sprintf("%s/%d/%d/%s", mc.Bus, mc.Unit, mc.Channel, dev.Kind)
		if first, dup := roles[key]; dup {
			d.errorf(d.line(p), p, "unit %d channel %d on bus %s already drives a %s (%s, line %d)", mc.Unit, mc.Channel, mc.Bus, dev.Kind, first, d.line(first))
		} else {
			roles[key] = p
		}
		if pol := cfg.Fail.OnCommLoss; isActuator(dev.Kind) && (pol == FailSecure || pol == FailOpen) {
			fp := join(index("devices", i), "fail_policy.on_comm_loss")
			switch {
			case prof.FailState == nil:
				d.errorf(d.line(fp), fp, "profile %s has no fail_state watchdog: the device cannot go %s on its own when the gateway is gone", prof.Name, pol)
			default:
				if _, ok := prof.FailState.Values[pol]; !ok {
					d.errorf(d.line(fp), fp, "profile %s's fail_state has no value for %s", prof.Name, pol)
				}
			}
		}
	}
	d.usedOnce(d.pins, "GPIO pin")
	d.usedOnce(d.ports, "device file")
	d.readBackFits(f)
}

// readBackFits checks that every actuator's command and read-back fit in
// policy.actuator_timeout, the deadline the core puts on each command: a
// read-back cut short by it would report a flap that was only slow as
// unconfirmed. A GPIO actuator needs its pulse (pulse mode) and its
// confirm_within; a Modbus action with a confirm needs its within plus one
// bus timeout for each write and one for the last read. A profile is
// checked once per bus, against the first actuator that uses it.
func (d *decoder) readBackFits(f *File) {
	limit := f.Site.Policy.ActuatorTimeout
	if limit <= 0 {
		return
	}
	busTimeout := make(map[string]time.Duration)
	for _, b := range f.Buses {
		busTimeout[b.ID] = b.Timeout
	}
	checked := make(map[string]bool) // profile/bus
	for i, dev := range f.Site.Devices {
		if !isActuator(dev.Kind) && dev.Kind != gateway.KindPayStation {
			continue
		}
		cfg := f.Devices[dev.ID]
		switch {
		case cfg.GPIO != nil && cfg.GPIO.PositionPin != "":
			g := cfg.GPIO
			need, how := g.ConfirmWithin, fmt.Sprintf("confirm_within %v", g.ConfirmWithin)
			if g.Mode == ModePulse {
				need += g.Pulse
				how = fmt.Sprintf("pulse %v + %s", g.Pulse, how)
			}
			if need >= limit {
				p := join(index("devices", i), "gpio.confirm_within")
				d.errorf(d.line(p), p, "the read-back (%s) does not fit in policy.actuator_timeout (%v), which would cut it short: lengthen policy.actuator_timeout or shorten confirm_within", how, limit)
			}
		case cfg.Modbus != nil:
			mc := cfg.Modbus
			prof := f.Profiles[mc.Profile]
			if prof == nil || checked[mc.Profile+"/"+mc.Bus] {
				continue
			}
			checked[mc.Profile+"/"+mc.Bus] = true
			for _, name := range slices.Sorted(maps.Keys(prof.Actions)) {
				a := prof.Actions[name]
				if a == nil || a.Confirm == nil {
					continue
				}
				exchanges := len(a.Writes) + 1
				need := a.Confirm.Within + time.Duration(exchanges)*busTimeout[mc.Bus]
				if need > limit {
					p := join(index("devices", i), "modbus.profile")
					d.errorf(d.line(p), p, "profile %s's %s waits %v for its confirm, and %d exchanges of up to %v on bus %s: %v does not fit in policy.actuator_timeout (%v), which would cut the read-back short; lengthen policy.actuator_timeout or shorten the profile's within",
						prof.Name, name, a.Confirm.Within, exchanges, busTimeout[mc.Bus], mc.Bus, need, limit)
				}
			}
		}
	}
}

// deviceAt returns the ID of the device whose field is at path
// ("devices[3].modbus.profile").
func deviceAt(f *File, path string) string {
	var i int
	if _, err := fmt.Sscanf(path, "devices[%d]", &i); err != nil || i < 0 || i >= len(f.Site.Devices) {
		return ""
	}
	return f.Site.Devices[i].ID
}

// usedOnce reports every use of a pin or port after its first.
func (d *decoder) usedOnce(uses []pinUse, what string) {
	first := make(map[string]string)
	for _, u := range uses {
		if p, dup := first[u.name]; dup {
			d.errorf(d.line(u.path), u.path, "%s %s is already used by %s (line %d)", what, u.name, p, d.line(p))
			continue
		}
		first[u.name] = u.path
	}
}
