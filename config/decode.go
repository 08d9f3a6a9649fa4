package config

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/lotgate/lotgate/gateway"
	"github.com/lotgate/lotgate/gateway/tariff"
)

// The keys each section accepts, in the order docs/configuration.md lists
// them.
var (
	rootKeys = []string{"version", "site", "devices", "lanes", "spaces", "lockers", "doors",
		"pay_station", "fire_alarm", "tariff", "trusted_keys", "policy", "store", "cloud", "http", "log",
		"buses", "profiles_dir"}
	siteKeys        = []string{"id", "name", "time_zone", "geofence", "capacity"}
	geofenceKeys    = []string{"center", "radius_m", "polygon"}
	pointKeys       = []string{"lat", "lon"}
	capacityKeys    = []string{"spaces", "closed"}
	deviceKeys      = []string{"id", "kind", "driver", "fail_policy"}
	laneKeys        = []string{"id", "direction", "barrier", "loop", "scanner", "ticket"}
	spaceKeys       = []string{"id", "flap", "sensor", "raise_after", "empty_for"}
	lockerKeys      = []string{"id", "compartments"}
	compartmentKeys = []string{"id", "lock", "door_sensor"}
	doorKeys        = []string{"id", "lock", "door_sensor"}
	payStationKeys  = []string{"device"}
	fireAlarmKeys   = []string{"input", "opens", "doors"}
	tariffKeys      = []string{"version", "currency", "free_minutes", "exit_grace_minutes",
		"lost_ticket_fee", "cap_24h", "cap_day", "bands"}
	bandKeys   = []string{"name", "from", "to", "unit_minutes", "unit_price", "cap"}
	keyKeys    = []string{"kid", "public_key"}
	policyKeys = []string{"clock_skew", "quote_hold", "checkout_timeout", "reservation_early",
		"reservation_late", "barrier_open_timeout", "unlock_for", "door_open_alarm", "proof_step",
		"pin_max_attempts", "pin_lockout", "actuator_timeout"}
	storeKeys = []string{"path"}
	httpKeys  = []string{"listen"}
	logKeys   = []string{"level"}
)

var deviceKinds = []string{
	string(gateway.KindBarrier), string(gateway.KindLoop), string(gateway.KindScanner),
	string(gateway.KindFlap), string(gateway.KindOccupancy), string(gateway.KindLock),
	string(gateway.KindDoorSensor), string(gateway.KindPayStation), string(gateway.KindFireAlarm),
	string(gateway.KindTicket),
}

// idPattern is what every ID in the file must look like: IDs end up in
// MQTT topics, URLs (/x/{exit}) and QR codes.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// decodeFile decodes the root mapping into a File, filling defaults for
// absent keys. It returns nil only when the version is unsupported (the
// rest of such a file is not worth reading).
func (d *decoder) decodeFile(n *yaml.Node) *File {
	if !d.versionSupported(n) {
		return nil
	}
	root := d.mapping(n, "", rootKeys...)
	d.rootLine = root.line
	if _, ok := root.vals["version"]; !ok {
		d.errorf(root.line, "version", "missing; a site file starts with \"version: %d\"", Version)
	} else {
		root.integer("version", true, "")
	}

	site := &gateway.Site{Policy: DefaultPolicy()}
	f := &File{Name: d.file, Site: site, Devices: make(map[string]DeviceConfig), Profiles: make(map[string]*Profile)}
	d.site(root.sub("site", true, siteKeys...), site)
	d.devices(root, f)
	d.buses(root, f)
	f.ProfilesDir = root.strOr("profiles_dir", DefaultProfilesDir)
	if f.ProfilesDir == "" {
		d.errorf(d.line("profiles_dir"), "profiles_dir", "must not be empty")
	}
	d.lanes(root, site)
	d.spaces(root, site)
	d.lockers(root, site)
	d.doors(root, site)
	if m := root.sub("pay_station", false, payStationKeys...); m != nil {
		site.PayStation = &gateway.PayStation{Device: d.ref(m, "device", true, gateway.KindPayStation)}
	}
	d.fireAlarm(root.sub("fire_alarm", false, fireAlarmKeys...), site)
	site.Tariff = d.tariff(root.sub("tariff", false, tariffKeys...))
	d.trustedKeys(root, site)
	d.policy(root.sub("policy", false, policyKeys...), &site.Policy)

	f.Store.Path = root.sub("store", false, storeKeys...).strOr("path", DefaultStorePath)
	if f.Store.Path == "" {
		d.errorf(d.line("store.path"), "store.path", "must not be empty")
	}
	d.cloud(root.sub("cloud", true, cloudKeys...), f) // cloud.go
	f.HTTP.Listen = root.sub("http", false, httpKeys...).strOr("listen", DefaultListen)
	if err := checkListen(f.HTTP.Listen); err != nil {
		d.errorf(d.line("http.listen"), "http.listen", "%v", err)
	}
	f.Log.Level = root.sub("log", false, logKeys...).oneOf("level", false, DefaultLogLevel, "debug", "info", "warn", "error")
	return f
}

// versionSupported looks at "version" before anything else: a file of
// another version would only produce noise about keys this lotgate does
// not know.
func (d *decoder) versionSupported(root *yaml.Node) bool {
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "version" || v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" {
			continue
		}
		var n int64
		if v.Decode(&n) == nil && n != Version {
			d.errorf(v.Line, "version", "unsupported version %d; this lotgate reads version %d", n, Version)
			return false
		}
	}
	return true
}

func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("bad address %q: want host:port, such as \"127.0.0.1:8080\" or \":8080\"", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("bad port %q in %q: want a number from 0 to 65535", port, addr)
	}
	return nil
}

// id returns key as a required ID and records it as unique within ns.
func (d *decoder) id(m *mapping, key, ns string) string {
	s, ok := m.str(key, true)
	if !ok {
		return ""
	}
	p := join(m.path, key)
	if !idPattern.MatchString(s) {
		// Reported once here; the ID is still returned so that references
		// to it do not cascade into "does not exist".
		d.errorf(d.line(p), p, "bad id %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", s)
	}
	d.unique(ns, s, p)
	return s
}

// unique reports id if an earlier field at another path of namespace ns
// has the same ID.
func (d *decoder) unique(ns, id, path string) {
	seen := d.seen[ns]
	if seen == nil {
		seen = make(map[string]string)
		d.seen[ns] = seen
	}
	if first, dup := seen[id]; dup {
		d.errorf(d.line(path), path, "duplicate %s id %q (first at %s, line %d)", ns, id, first, d.line(first))
		return
	}
	seen[id] = path
}

// ref reads key as a device ID for a role that needs a device of kind,
// to be checked by validate once every device is known.
func (d *decoder) ref(m *mapping, key string, required bool, kind gateway.DeviceKind) string {
	s, ok := m.str(key, required)
	if !ok {
		return ""
	}
	d.refs = append(d.refs, ref{path: join(m.path, key), id: s, kind: kind})
	return s
}

// strings reads key as a list of text values, returning each with its path.
func (d *decoder) strings(m *mapping, key string) (vals, paths []string) {
	p := join(m.pathOr(), key)
	for i, n := range m.list(key, false) {
		ep := index(p, i)
		if n.Kind == yaml.AliasNode {
			continue
		}
		if n.Kind != yaml.ScalarNode || isNull(n) {
			d.errorf(n.Line, ep, "must be a text value, got %s", describe(n))
			continue
		}
		vals = append(vals, n.Value)
		paths = append(paths, ep)
	}
	return vals, paths
}

func (d *decoder) site(m *mapping, s *gateway.Site) {
	if m == nil {
		return
	}
	s.ID = d.id(m, "id", "site")
	s.Name = m.strOr("name", s.ID)
	s.TimeZone, _ = m.str("time_zone", true)
	s.Geofence = d.geofence(m.sub("geofence", true, geofenceKeys...))
	c := m.sub("capacity", true, capacityKeys...)
	s.Capacity.Spaces = c.count("spaces", true, 1, 0)
	s.Capacity.Closed = c.boolean("closed", false)
}

func (d *decoder) geofence(m *mapping) gateway.Geofence {
	var g gateway.Geofence
	if m == nil {
		return g
	}
	circle := m.has("center") || m.has("radius_m")
	polygon := m.has("polygon")
	switch {
	case circle && polygon:
		d.errorf(m.at(), m.path, "give either center and radius_m (a circle) or polygon, not both")
	case !circle && !polygon:
		d.errorf(m.at(), m.path, "give center and radius_m (a circle) or polygon (at least 3 points)")
	case circle:
		g.Center = d.point(m.sub("center", true, pointKeys...))
		if r, ok := m.float("radius_m", true); ok {
			if r <= 0 {
				d.errorf(d.line(join(m.path, "radius_m")), join(m.path, "radius_m"), "must be positive, got %v", r)
			} else {
				g.RadiusM = r
			}
		}
	default:
		nodes := m.list("polygon", true)
		if len(nodes) > 0 && len(nodes) < 3 {
			d.errorf(d.line(join(m.path, "polygon")), join(m.path, "polygon"), "a polygon needs at least 3 points, got %d", len(nodes))
		}
		for i, n := range nodes {
			g.Polygon = append(g.Polygon, d.point(d.mapping(n, index(join(m.path, "polygon"), i), pointKeys...)))
		}
	}
	return g
}

func (d *decoder) point(m *mapping) gateway.Point {
	var p gateway.Point
	if m == nil {
		return p
	}
	if lat, ok := m.float("lat", true); ok {
		if lat < -90 || lat > 90 {
			d.errorf(d.line(join(m.path, "lat")), join(m.path, "lat"), "latitude must be from -90 to 90, got %v", lat)
		}
		p.Lat = lat
	}
	if lon, ok := m.float("lon", true); ok {
		if lon < -180 || lon > 180 {
			d.errorf(d.line(join(m.path, "lon")), join(m.path, "lon"), "longitude must be from -180 to 180, got %v", lon)
		}
		p.Lon = lon
	}
	return p
}

func (d *decoder) devices(root *mapping, f *File) {
	for i, n := range root.list("devices", true) {
		p := index("devices", i)
		// A device accepts the settings sub-map of its own driver only,
		// so the driver's name is peeked before the keys are checked.
		driverKey := DefaultDriver
		if v := peek(n, "driver"); v != "" && !contains(deviceKeys, v) {
			driverKey = v
		}
		m := d.mapping(n, p, append(deviceKeys[:len(deviceKeys):len(deviceKeys)], driverKey)...)
		if m == nil {
			continue
		}
		dev := gateway.Device{ID: d.id(m, "id", "device")}
		dev.Kind = gateway.DeviceKind(m.oneOf("kind", true, "", deviceKinds...))
		dev.Driver = m.strOr("driver", DefaultDriver)
		cfg := DeviceConfig{Driver: dev.Driver}
		switch dev.Driver {
		case DriverSim:
			d.mapping(m.node(DriverSim, false), join(p, DriverSim)) // no settings yet: any key is unknown
			cfg.Sim = &SimConfig{}
		case DriverGPIO:
			if gm := m.sub(DriverGPIO, true, gpioKeys...); gm != nil {
				cfg.GPIO = d.gpio(gm, join(p, DriverGPIO), dev.Kind)
			}
		case DriverModbus:
			if mm := m.sub(DriverModbus, true, modbusKeys...); mm != nil {
				cfg.Modbus = d.modbusDevice(mm, join(p, DriverModbus), dev.Kind)
			}
		case DriverScanner:
			if sm := m.sub(DriverScanner, true, scannerKeys...); sm != nil {
				cfg.Scanner = d.scanner(sm, join(p, DriverScanner), dev.Kind)
			}
		default:
			d.errorf(d.line(join(p, "driver")), join(p, "driver"), "unknown driver %q; known drivers: %s", dev.Driver, strings.Join(knownDrivers, ", "))
		}
		cfg.Fail = d.failPolicy(m, p, dev)
		f.Site.Devices = append(f.Site.Devices, dev)
		if dev.ID != "" {
			f.Devices[dev.ID] = cfg
		}
	}
}

// peek returns the text of key in mapping n, or "".
func peek(n *yaml.Node, key string) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && n.Content[i+1].Kind == yaml.ScalarNode {
			return n.Content[i+1].Value
		}
	}
	return ""
}

func (d *decoder) lanes(root *mapping, s *gateway.Site) {
	root.each("lanes", false, laneKeys, func(p string, m *mapping) {
		l := gateway.Lane{ID: d.id(m, "id", "lane")}
		l.Direction = gateway.Direction(m.oneOf("direction", true, "", string(gateway.Entry), string(gateway.Exit)))
		l.Barrier = d.ref(m, "barrier", true, gateway.KindBarrier)
		l.Loop = d.ref(m, "loop", true, gateway.KindLoop)
		l.Scanner = d.ref(m, "scanner", false, gateway.KindScanner)
		l.Ticket = d.ref(m, "ticket", false, gateway.KindTicket)
		if l.Ticket != "" && l.Direction == gateway.Exit {
			d.errorf(d.line(join(p, "ticket")), join(p, "ticket"), "a ticket dispenser belongs on an entry lane; this lane is an exit")
		}
		s.Lanes = append(s.Lanes, l)
	})
}

func (d *decoder) spaces(root *mapping, s *gateway.Site) {
	root.each("spaces", false, spaceKeys, func(p string, m *mapping) {
		sp := gateway.Space{ID: d.id(m, "id", "space")}
		sp.Flap = d.ref(m, "flap", true, gateway.KindFlap)
		sp.Sensor = d.ref(m, "sensor", true, gateway.KindOccupancy)
		sp.RaiseAfter = m.duration("raise_after", DefaultRaiseAfter)
		sp.EmptyFor = m.duration("empty_for", DefaultEmptyFor)
		s.Spaces = append(s.Spaces, sp)
	})
}

func (d *decoder) lockers(root *mapping, s *gateway.Site) {
	root.each("lockers", false, lockerKeys, func(p string, m *mapping) {
		l := gateway.Locker{ID: d.id(m, "id", "locker")}
		m.each("compartments", true, compartmentKeys, func(p string, m *mapping) {
			c := gateway.Compartment{ID: d.id(m, "id", "compartment")}
			c.Lock = d.ref(m, "lock", true, gateway.KindLock)
			c.DoorSensor = d.ref(m, "door_sensor", true, gateway.KindDoorSensor)
			l.Compartments = append(l.Compartments, c)
		})
		s.Lockers = append(s.Lockers, l)
	})
}

func (d *decoder) doors(root *mapping, s *gateway.Site) {
	root.each("doors", false, doorKeys, func(p string, m *mapping) {
		dr := gateway.Door{ID: d.id(m, "id", "door")}
		dr.Lock = d.ref(m, "lock", true, gateway.KindLock)
		dr.DoorSensor = d.ref(m, "door_sensor", true, gateway.KindDoorSensor)
		s.Doors = append(s.Doors, dr)
	})
}

// fireAlarm decodes the fire alarm; the lanes and doors it names are
// checked by validate.
func (d *decoder) fireAlarm(m *mapping, s *gateway.Site) {
	if m == nil {
		return
	}
	fa := &gateway.FireAlarm{Input: d.ref(m, "input", true, gateway.KindFireAlarm)}
	fa.Opens, d.fireOpens = d.strings(m, "opens")
	fa.Doors, d.fireDoors = d.strings(m, "doors")
	for i, id := range fa.Opens {
		d.unique("fire alarm lane", id, d.fireOpens[i])
	}
	for i, id := range fa.Doors {
		d.unique("fire alarm door", id, d.fireDoors[i])
	}
	if !m.has("opens") && !m.has("doors") {
		d.errorf(m.at(), m.path, "the fire alarm opens nothing; list the exit lanes (opens) and doors it must open")
	}
	s.FireAlarm = fa
}

func (d *decoder) tariff(m *mapping) *tariff.Tariff {
	if m == nil {
		return nil
	}
	t := &tariff.Tariff{}
	t.Version, _ = m.str("version", true)
	if cur, ok := m.str("currency", true); ok {
		if !currencyPattern.MatchString(cur) {
			d.errorf(d.line(join(m.path, "currency")), join(m.path, "currency"), "bad currency %q: want a three-letter ISO 4217 code such as EUR", cur)
		}
		t.Currency = cur
	}
	t.FreeMinutes = m.count("free_minutes", false, 0, 0)
	t.ExitGraceMinutes = m.count("exit_grace_minutes", false, 0, DefaultExitGraceMinutes)
	t.LostTicketFee = m.money("lost_ticket_fee", false)
	t.Cap24h = m.money("cap_24h", false)
	t.CapDay = m.money("cap_day", false)

	clocksOK := true
	clock := func(b *mapping, key string) int {
		s, ok := b.str(key, true)
		if !ok {
			clocksOK = false
			return 0
		}
		min, err := parseClock(s)
		if err != nil {
			d.errorf(d.line(join(b.path, key)), join(b.path, key), "%v", err)
			clocksOK = false
		}
		return min
	}
	m.each("bands", true, bandKeys, func(p string, b *mapping) {
		band := tariff.Band{}
		if name, ok := b.str("name", true); ok {
			if name == "" {
				d.errorf(d.line(join(p, "name")), join(p, "name"), "must not be empty")
			} else {
				d.unique("band", name, join(p, "name"))
			}
			band.Name = name
		}
		band.From = clock(b, "from")
		band.To = clock(b, "to")
		switch {
		case !clocksOK:
		case band.From == tariff.MinutesPerDay:
			d.errorf(d.line(join(p, "from")), join(p, "from"), `a band cannot start at 24:00; write "00:00"`)
		case band.From == band.To:
			d.errorf(d.line(join(p, "to")), join(p, "to"), `the band starts and ends at %s; a band for the whole day runs from "00:00" to "24:00"`, tariff.FormatClock(band.From))
		}
		band.UnitMinutes = b.count("unit_minutes", true, 1, 0)
		band.UnitPrice = b.money("unit_price", true)
		band.Cap = b.money("cap", false)
		t.Bands = append(t.Bands, band)
	})
	if clocksOK {
		// With a time that did not parse, coverage would only be noise.
		d.checkTariff(m.path, t)
	}
	return t
}

func (d *decoder) trustedKeys(root *mapping, s *gateway.Site) {
	s.TrustedKeys = make(map[string]ed25519.PublicKey)
	if _, ok := root.vals["trusted_keys"]; !ok {
		d.errorf(root.line, "trusted_keys", "missing; list the operator's public keys (kid and public_key), or the gateway can verify nothing")
		return
	}
	root.each("trusted_keys", true, keyKeys, func(p string, m *mapping) {
		kid, ok := m.str("kid", true)
		if ok && !kidOK(kid) {
			d.errorf(d.line(join(p, "kid")), join(p, "kid"), "bad kid %q: want 1 to 64 printable ASCII characters without spaces", kid)
			ok = false
		}
		if ok {
			d.unique("key", kid, join(p, "kid"))
		}
		b64, ok2 := m.str("public_key", true)
		if !ok2 {
			return
		}
		pk, err := base64.StdEncoding.DecodeString(b64)
		kp := join(p, "public_key")
		switch {
		case err != nil:
			d.errorf(d.line(kp), kp, "not valid base64 (standard alphabet, with padding): %v", err)
		case len(pk) != ed25519.PublicKeySize:
			d.errorf(d.line(kp), kp, "decodes to %d bytes; an Ed25519 public key is %d bytes", len(pk), ed25519.PublicKeySize)
		case ok:
			s.TrustedKeys[kid] = ed25519.PublicKey(pk)
		}
	})
}

func (d *decoder) policy(m *mapping, p *gateway.Policy) {
	p.ClockSkew = m.duration("clock_skew", p.ClockSkew)
	p.QuoteHold = m.duration("quote_hold", p.QuoteHold)
	p.CheckoutTimeout = m.duration("checkout_timeout", p.CheckoutTimeout)
	p.ReservationEarly = m.duration("reservation_early", p.ReservationEarly)
	p.ReservationLate = m.duration("reservation_late", p.ReservationLate)
	p.BarrierOpenTimeout = m.duration("barrier_open_timeout", p.BarrierOpenTimeout)
	p.UnlockFor = m.duration("unlock_for", p.UnlockFor)
	p.DoorOpenAlarm = m.duration("door_open_alarm", p.DoorOpenAlarm)
	p.ProofStep = m.duration("proof_step", p.ProofStep)
	p.PINMaxAttempts = m.count("pin_max_attempts", false, 1, p.PINMaxAttempts)
	p.PINLockout = m.duration("pin_lockout", p.PINLockout)
	p.ActuatorTimeout = m.duration("actuator_timeout", p.ActuatorTimeout)
}

// kidOK is the rule gateway/keys applies to a COSE kid: 1 to 64 printable
// ASCII bytes, no spaces.
func kidOK(kid string) bool {
	if kid == "" || len(kid) > 64 {
		return false
	}
	for i := 0; i < len(kid); i++ {
		if kid[i] <= ' ' || kid[i] > '~' {
			return false
		}
	}
	return true
}
