package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// cloudKeys are the keys of "cloud:", in the order docs/configuration.md
// lists them.
var (
	cloudKeys = []string{"mode", "broker", "client_id", "username", "password_file", "password_env", "tls",
		"window", "message_events", "message_bytes", "ack_timeout", "max_reconnect_interval", "countdown", "command_max_age", "disk_cap", "demo"}
	cloudTLSKeys  = []string{"ca_file", "cert_file", "key_file", "server_name"}
	cloudDemoKeys = []string{"broker_listen", "checkout_listen", "seed_file", "approve", "time_every"}
)

// Defaults of the cloud section.
const (
	DefaultCloudWindow          = 256
	DefaultMessageEvents        = 64       // events per up/events message at most
	DefaultMessageBytes         = 32 << 10 // payload bytes per up/events message at most
	minMessageBytes             = 1 << 10
	maxMessageBytes             = 1 << 20
	maxMessageEvents            = 1000
	DefaultCloudAckTimeout      = 60 * time.Second
	DefaultCloudMaxReconnect    = 45 * time.Second
	DefaultApprovalCountdown    = 60 * time.Second
	DefaultCommandMaxAge        = 5 * time.Minute
	DefaultDemoBrokerListen     = "127.0.0.1:0"
	DefaultDemoCheckoutListen   = "127.0.0.1:8090"
	DefaultDemoSeedFile         = "demo-operator.seed"
	DefaultDemoTimeEvery        = 60 * time.Second
	DefaultDemoApprove          = "auto"
	DefaultDiskCap              = 1 << 30 // 1 GiB
	minDiskCap                  = 1 << 20 // 1 MiB: the schema alone takes a few hundred kB
	maxCloudWindow              = 900     // stays under mosquitto's default 1000 queued messages per client
	defaultClientIDPrefix       = "lotgate-"
	cloudPasswordEnvNamePattern = `^[A-Z_][A-Z0-9_]*$`
)

var envNamePattern = regexp.MustCompile(cloudPasswordEnvNamePattern)

// CloudSettings are the cloud section's settings besides the mode. Paths
// are resolved against the config file's directory. Reading the password
// file or variable and the TLS files is the wiring's job (cmd/lotgate):
// parsing has no side effects.
type CloudSettings struct {
	// Broker is the MQTT broker URL (mode mqtt): tcp://, ssl:// or
	// mqtts:// (TLS), ws://, wss://.
	Broker string
	// ClientID is stable per site: the broker keeps the gateway's session
	// by it. Default "lotgate-<site id>".
	ClientID string
	Username string
	// PasswordFile or PasswordEnv (not both) holds the broker password.
	PasswordFile string
	PasswordEnv  string
	TLS          CloudTLS
	// Window bounds the up/events messages (each a batch of events) sent
	// and not yet fully acknowledged by the cloud.
	Window int
	// MessageEvents and MessageBytes cap one up/events message: at most
	// that many events and payload bytes (an event larger than
	// MessageBytes goes alone).
	MessageEvents int
	MessageBytes  int
	// AckTimeout: no ack for this long with events outstanding is "cloud
	// silent".
	AckTimeout           time.Duration
	MaxReconnectInterval time.Duration
	// Countdown is how long an owner has to answer an approval request.
	Countdown time.Duration
	// CommandMaxAge bounds a remote command's expiry after its issue time.
	CommandMaxAge time.Duration
	// DiskCap (bytes) is the store size past which routine events lose
	// their data (gateway.Gateway.EnforceDiskCap); 0 is no cap.
	DiskCap int64
	Demo    CloudDemoSettings
}

// CloudTLS are the TLS files for a broker that wants client certificates
// (AWS IoT Core, EMQX). All empty: the system roots, no client certificate.
type CloudTLS struct {
	CAFile     string // PEM roots to trust instead of the system's
	CertFile   string // client certificate (PEM)
	KeyFile    string // its private key (PEM)
	ServerName string // overrides the name checked in the broker's certificate
}

// CloudDemoSettings configure the built-in demo cloud (mode demo).
type CloudDemoSettings struct {
	BrokerListen   string        // the embedded broker: a loopback host:port
	CheckoutListen string        // the checkout page: a loopback host:port
	SeedFile       string        // the DEMO operator key's seed
	Approve        string        // approval requests: auto, refuse or ignore
	TimeEvery      time.Duration // how often the demo cloud sends trusted time
}

// cloud decodes "cloud:".
func (d *decoder) cloud(m *mapping, f *File) {
	c := &f.Cloud
	c.Mode = m.oneOf("mode", true, "", CloudDemo, CloudMQTT, CloudOff)
	dir := filepath.Dir(d.file)
	path := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.Broker = m.strOr("broker", "")
	c.ClientID = m.strOr("client_id", "")
	c.Username = m.strOr("username", "")
	c.PasswordFile = path(m.strOr("password_file", ""))
	c.PasswordEnv = m.strOr("password_env", "")
	t := m.sub("tls", false, cloudTLSKeys...)
	c.TLS = CloudTLS{CAFile: path(t.strOr("ca_file", "")), CertFile: path(t.strOr("cert_file", "")),
		KeyFile: path(t.strOr("key_file", "")), ServerName: t.strOr("server_name", "")}
	c.Window = m.count("window", false, 1, DefaultCloudWindow)
	c.MessageEvents = m.count("message_events", false, 1, DefaultMessageEvents)
	c.MessageBytes = DefaultMessageBytes
	c.AckTimeout = m.duration("ack_timeout", DefaultCloudAckTimeout)
	c.MaxReconnectInterval = m.duration("max_reconnect_interval", DefaultCloudMaxReconnect)
	c.Countdown = m.duration("countdown", DefaultApprovalCountdown)
	c.CommandMaxAge = m.duration("command_max_age", DefaultCommandMaxAge)
	c.DiskCap = DefaultDiskCap
	dm := m.sub("demo", false, cloudDemoKeys...)
	c.Demo = CloudDemoSettings{
		BrokerListen:   dm.strOr("broker_listen", DefaultDemoBrokerListen),
		CheckoutListen: dm.strOr("checkout_listen", DefaultDemoCheckoutListen),
		SeedFile:       path(dm.strOr("seed_file", DefaultDemoSeedFile)),
		Approve:        dm.oneOf("approve", false, DefaultDemoApprove, "auto", "refuse", "ignore"),
		TimeEvery:      dm.duration("time_every", DefaultDemoTimeEvery),
	}

	at := func(key string) (int, string) { p := "cloud." + key; return d.line(p), p }
	if v, ok := m.str("disk_cap", false); ok {
		n, err := parseSize(v)
		switch {
		case err != nil:
			l, p := at("disk_cap")
			d.errorf(l, p, "%v", err)
		case n != 0 && n < minDiskCap:
			l, p := at("disk_cap")
			d.errorf(l, p, "%q is below the smallest cap, 1MiB (0 turns the cap off)", v)
		default:
			c.DiskCap = n
		}
	}
	if v, ok := m.str("message_bytes", false); ok {
		n, err := parseSize(v)
		switch {
		case err != nil:
			l, p := at("message_bytes")
			d.errorf(l, p, "%v", err)
		case n < minMessageBytes || n > maxMessageBytes:
			l, p := at("message_bytes")
			d.errorf(l, p, "%q is out of range: from 1KiB to 1MiB (AWS IoT Core takes at most 128KB)", v)
		default:
			c.MessageBytes = int(n)
		}
	}
	if c.MessageEvents > maxMessageEvents {
		l, p := at("message_events")
		d.errorf(l, p, "must be at most %d", maxMessageEvents)
	}
	if c.Window > maxCloudWindow {
		l, p := at("window")
		d.errorf(l, p, "must be at most %d: the window must stay under the broker's per-client queue (mosquitto: 1000)", maxCloudWindow)
	}
	if c.PasswordFile != "" && c.PasswordEnv != "" {
		l, p := at("password_env")
		d.errorf(l, p, "give password_file or password_env, not both")
	}
	if c.PasswordEnv != "" && !envNamePattern.MatchString(c.PasswordEnv) {
		l, p := at("password_env")
		d.errorf(l, p, "%q is not an environment variable name (A-Z, 0-9, _)", c.PasswordEnv)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		l, p := at("tls")
		d.errorf(l, p, "cert_file and key_file go together")
	}
	for _, k := range []string{"broker_listen", "checkout_listen"} {
		v := c.Demo.BrokerListen
		if k == "checkout_listen" {
			v = c.Demo.CheckoutListen
		}
		if err := checkLoopback(v); err != nil {
			l, p := at("demo." + k)
			d.errorf(l, p, "%v", err)
		}
	}
	// Mode mqtt without a broker cannot run: say so here, at the mode's
	// line (or the empty broker's), so that check-config refuses what run
	// would, before run touches the store.
	switch {
	case c.Broker != "":
		if err := checkBrokerURL(c.Broker); err != nil {
			l, p := at("broker")
			d.errorf(l, p, "%v", err)
		}
	case c.Mode == CloudMQTT:
		l, _ := at("mode")
		if m.has("broker") {
			l, _ = at("broker") // broker: ""
		}
		d.errorf(l, "cloud.broker", "is required with mode mqtt: the broker's URL, e.g. \"mqtts://mqtt.example.com:8883\" (or mode: off to run without a cloud)")
	}
}

// CloudClientID returns the MQTT client ID: the configured one or
// "lotgate-<site id>".
func (f *File) CloudClientID() string {
	if f.Cloud.ClientID != "" {
		return f.Cloud.ClientID
	}
	return defaultClientIDPrefix + f.Site.ID
}

func checkBrokerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("bad broker URL %q: %v", s, err)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		return fmt.Errorf("broker URL %q: scheme %q; want tcp, ssl, mqtts, ws or wss", s, u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("broker URL %q has no host", s)
	}
	return nil
}

// checkLoopback requires a loopback host:port: the demo broker and page
// let anyone in.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("bad address %q: want a loopback host:port such as \"127.0.0.1:8090\"", addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%q is not a loopback address: the demo cloud lets anyone in, so it listens on loopback only", addr)
	}
	return nil
}

// sizeUnits are the units of a size: decimal (kB, MB, GB: powers of 1000,
// as disks are sold) and binary (KiB, MiB, GiB).
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// parseSize reads a size such as "512MB", "2GiB" or "0".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "0" {
		return 0, nil
	}
	for _, u := range sizeUnits {
		num, ok := strings.CutSuffix(t, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil || n < 0 || n > math.MaxInt64/u.mult {
			break
		}
		return n * u.mult, nil
	}
	return 0, fmt.Errorf("%q is not a size: want a whole number and a unit, such as \"512MB\" or \"2GiB\" (kB, MB, GB, KiB, MiB, GiB, B), or 0 for no cap", s)
}
