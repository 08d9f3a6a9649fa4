package config

import (
	"path/filepath"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// normalise resolves what the file names indirectly: the time zone and the
// store path (relative to dir, the config file's directory).
func (d *decoder) normalise(f *File, dir string) {
	s := f.Site
	if s.TimeZone != "" {
		// "Local" is whatever the machine is set to: not a place.
		loc, err := time.LoadLocation(s.TimeZone)
		if err != nil || s.TimeZone == "Local" {
			d.errorf(d.line("site.time_zone"), "site.time_zone", "unknown time zone %q: want an IANA name such as \"Europe/Berlin\"", s.TimeZone)
		} else {
			s.Location = loc
			if s.Tariff != nil {
				s.Tariff.Location = loc
			}
		}
	}
	if p := f.Store.Path; p != "" && p != ":memory:" && !filepath.IsAbs(p) {
		f.Store.Path = filepath.Join(dir, p)
	}
	if p := f.ProfilesDir; p != "" && !filepath.IsAbs(p) {
		f.ProfilesDir = filepath.Join(dir, p)
	}
	d.loadProfiles(f)
}

// validate checks what spans sections: device references, the fire alarm's
// lanes and doors, and that the site controls something.
func (d *decoder) validate(f *File) {
	s := f.Site
	devices := make(map[string]gateway.Device, len(s.Devices))
	for _, dev := range s.Devices {
		if _, dup := devices[dev.ID]; !dup && dev.ID != "" {
			devices[dev.ID] = dev
		}
	}
	usedBy := make(map[string]string) // device ID -> path of its first use
	for _, r := range d.refs {
		dev, ok := devices[r.id]
		switch {
		case !ok:
			d.errorf(d.line(r.path), r.path, "device %q does not exist", r.id)
			continue
		case dev.Kind != "" && dev.Kind != r.kind:
			d.errorf(d.line(r.path), r.path, "device %q is a %s, not a %s", r.id, dev.Kind, r.kind)
		}
		if first, used := usedBy[r.id]; used {
			d.errorf(d.line(r.path), r.path, "device %q is already used by %s (line %d); a device has one role", r.id, first, d.line(first))
			continue
		}
		usedBy[r.id] = r.path
	}

	if fa := s.FireAlarm; fa != nil {
		lanes := make(map[string]gateway.Lane)
		for _, l := range s.Lanes {
			lanes[l.ID] = l
		}
		doors := make(map[string]bool)
		for _, dr := range s.Doors {
			doors[dr.ID] = true
		}
		for i, id := range fa.Opens {
			p := d.fireOpens[i]
			l, ok := lanes[id]
			switch {
			case !ok:
				d.errorf(d.line(p), p, "lane %q does not exist", id)
			case l.Direction == gateway.Entry:
				d.errorf(d.line(p), p, "lane %q is an entry; the fire alarm holds exit lanes open", id)
			}
		}
		for i, id := range fa.Doors {
			p := d.fireDoors[i]
			if !doors[id] {
				d.errorf(d.line(p), p, "door %q does not exist", id)
			}
		}
	}

	d.validateDrivers(f)

	if len(s.Lanes)+len(s.Spaces)+len(s.Lockers)+len(s.Doors) == 0 {
		line := d.line("lanes")
		if line == 0 {
			line = d.rootLine
		}
		d.errorf(line, "", "the site has no lanes, spaces, lockers or doors: nothing to control")
	}
}
