package config

import (
	"net"
	"time"
)

// Bus is a Modbus line (buses:): a Modbus TCP server or gateway, or an
// RS-485 serial line. Every device on it goes through one owner, one
// request at a time. Zero durations and counts never appear in a loaded
// File: the defaults below are filled in.
type Bus struct {
	ID  string
	TCP string      // host:port; exactly one of TCP and RTU
	RTU *SerialPort // an RS-485 line (default 19200 baud, 8E1)
	// Simulate runs lotgate's Modbus TCP simulator of the bus's devices at
	// TCP (which must be a loopback address), so the site runs real Modbus
	// with no hardware.
	Simulate bool
	// Timeout bounds one request and its response (default 500ms).
	Timeout time.Duration
	// FrameGap is the silence kept between frames; 0 means the protocol's
	// own (3.5 character times on RTU, none on TCP).
	FrameGap time.Duration
	// Retries is how many times a request that got no valid answer is
	// tried again, on a new connection (default 1; 0 for none).
	Retries int
	// OfflineAfter is the number of failed exchanges in a row after which
	// a device is offline (default 3).
	OfflineAfter int
	// ProbeInterval is how often an offline device is tried (default 5s).
	ProbeInterval time.Duration
	// PollInterval is how often sensors and the pay station's payment
	// flag are read (default 250ms).
	PollInterval time.Duration
	// QueueSize bounds the requests waiting for the line (default 32).
	QueueSize int
}

// Defaults of a bus.
const (
	DefaultBusTimeout    = 500 * time.Millisecond
	DefaultRetries       = 1
	DefaultOfflineAfter  = 3
	DefaultProbeInterval = 5 * time.Second
	DefaultPollInterval  = 250 * time.Millisecond
	DefaultQueueSize     = 32
	DefaultProfilesDir   = "devices"
)

var (
	busKeys = []string{"id", "tcp", "rtu", "simulate", "timeout", "frame_gap", "retries",
		"offline_after", "probe_interval", "poll_interval", "queue_size"}
	tcpKeys = []string{"address"}
)

func (d *decoder) buses(root *mapping, f *File) {
	root.each("buses", false, busKeys, func(p string, m *mapping) {
		b := Bus{ID: d.id(m, "id", "bus")}
		tm := m.sub("tcp", false, tcpKeys...)
		rm := m.sub("rtu", false, serialKeys...)
		switch {
		case tm != nil && rm != nil:
			d.errorf(m.at(), p, "give either tcp (a Modbus TCP server) or rtu (an RS-485 line), not both")
		case tm == nil && rm == nil:
			d.errorf(m.at(), p, "give tcp: {address: host:port} or rtu: {device: /dev/...}")
		case tm != nil:
			if addr, ok := tm.str("address", true); ok {
				if err := checkListen(addr); err != nil {
					d.errorf(d.line(join(p, "tcp.address")), join(p, "tcp.address"), "%v", err)
				}
				b.TCP = addr
			}
		default:
			b.RTU = d.serialPort(rm, 19200, "E")
			if b.RTU.Device != "" {
				d.ports = append(d.ports, pinUse{name: b.RTU.Device, path: join(p, "rtu.device")})
			}
		}
		b.Simulate = m.boolean("simulate", false)
		if b.Simulate {
			sp := join(p, "simulate")
			switch {
			case b.RTU != nil:
				d.errorf(d.line(sp), sp, "only a tcp bus can be simulated")
			case b.TCP != "" && !loopback(b.TCP):
				d.errorf(d.line(sp), sp, "the simulator listens on the bus's address, which must be on loopback (127.0.0.1:port), not %q", b.TCP)
			}
		}
		b.Timeout = m.duration("timeout", DefaultBusTimeout)
		b.FrameGap = m.duration("frame_gap", 0)
		b.Retries = m.count("retries", false, 0, DefaultRetries)
		b.OfflineAfter = m.count("offline_after", false, 1, DefaultOfflineAfter)
		b.ProbeInterval = m.duration("probe_interval", DefaultProbeInterval)
		b.PollInterval = m.duration("poll_interval", DefaultPollInterval)
		b.QueueSize = m.count("queue_size", false, 1, DefaultQueueSize)
		f.Buses = append(f.Buses, b)
	})
}

// loopback reports whether host:port names a loopback address.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
