package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// withCloud is the minimal file with another cloud section.
func withCloud(cloud string) string {
	return strings.Replace(minimal, "cloud: {mode: mqtt, broker: \"tcp://broker.example:1883\"}\n", cloud, 1)
}

func TestCloudDefaults(t *testing.T) {
	f, err := Parse(filepath.Join("etc", "lotgate", "site.yaml"), []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	c := f.Cloud
	checks := []struct {
		what      string
		got, want any
	}{
		{"window", c.Window, DefaultCloudWindow},
		{"message events", c.MessageEvents, DefaultMessageEvents},
		{"message bytes", c.MessageBytes, DefaultMessageBytes},
		{"ack timeout", c.AckTimeout, DefaultCloudAckTimeout},
		{"max reconnect", c.MaxReconnectInterval, DefaultCloudMaxReconnect},
		{"countdown", c.Countdown, DefaultApprovalCountdown},
		{"command max age", c.CommandMaxAge, DefaultCommandMaxAge},
		{"client id", f.CloudClientID(), "lotgate-m"},
		{"demo broker", c.Demo.BrokerListen, DefaultDemoBrokerListen},
		{"demo checkout", c.Demo.CheckoutListen, DefaultDemoCheckoutListen},
		{"demo seed", c.Demo.SeedFile, filepath.Join("etc", "lotgate", DefaultDemoSeedFile)},
		{"demo approve", c.Demo.Approve, "auto"},
		{"demo time", c.Demo.TimeEvery, DefaultDemoTimeEvery},
		{"disk cap", c.DiskCap, int64(DefaultDiskCap)},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v; want %v", ch.what, ch.got, ch.want)
		}
	}
}

func TestCloudSettings(t *testing.T) {
	f, err := Parse(filepath.Join("etc", "lotgate", "site.yaml"), []byte(withCloud(`cloud:
  mode: mqtt
  broker: ssl://mqtt.example.com:8883
  client_id: site-m
  username: gw
  password_file: secrets/mqtt.pw
  tls: {ca_file: /etc/ssl/ca.pem, cert_file: gw.crt, key_file: gw.key}
  window: 500
  message_events: 16
  message_bytes: 100kB
  ack_timeout: 2m
  countdown: 90s
  demo: {approve: refuse, checkout_listen: "127.0.0.1:9000"}
`)))
	if err != nil {
		t.Fatal(err)
	}
	c := f.Cloud
	if c.Broker != "ssl://mqtt.example.com:8883" || f.CloudClientID() != "site-m" || c.Username != "gw" ||
		c.PasswordFile != filepath.Join("etc", "lotgate", "secrets", "mqtt.pw") || c.TLS.CAFile != "/etc/ssl/ca.pem" ||
		c.TLS.CertFile != filepath.Join("etc", "lotgate", "gw.crt") || c.Window != 500 || c.MessageEvents != 16 || c.MessageBytes != 100_000 || c.AckTimeout != 2*time.Minute ||
		c.Countdown != 90*time.Second || c.Demo.Approve != "refuse" || c.Demo.CheckoutListen != "127.0.0.1:9000" {
		t.Errorf("got %+v", c)
	}
}

func TestCloudProblems(t *testing.T) {
	tests := []struct {
		name, cloud, path, msg string
	}{
		{"bad scheme", "cloud: {mode: mqtt, broker: \"http://x:1\"}\n", "cloud.broker", "scheme"},
		{"no host", "cloud: {mode: mqtt, broker: \"tcp://\"}\n", "cloud.broker", "no host"},
		{"window too big", "cloud: {mode: mqtt, window: 5000}\n", "cloud.window", "at most 900"},
		{"message events zero", "cloud: {mode: mqtt, message_events: 0}\n", "cloud.message_events", ""},
		{"message events too many", "cloud: {mode: mqtt, message_events: 5000}\n", "cloud.message_events", "at most 1000"},
		{"message bytes too small", "cloud: {mode: mqtt, message_bytes: 100B}\n", "cloud.message_bytes", "out of range"},
		{"message bytes too big", "cloud: {mode: mqtt, message_bytes: 2MiB}\n", "cloud.message_bytes", "out of range"},
		{"message bytes no unit", "cloud: {mode: mqtt, message_bytes: 4096}\n", "cloud.message_bytes", "not a size"},
		{"both passwords", "cloud: {mode: mqtt, password_file: a, password_env: B}\n", "cloud.password_env", "not both"},
		{"bad env name", "cloud: {mode: mqtt, password_env: \"my-pass\"}\n", "cloud.password_env", "not an environment variable"},
		{"cert without key", "cloud: {mode: mqtt, tls: {cert_file: a}}\n", "cloud.tls", "go together"},
		{"demo not loopback", "cloud: {mode: demo, demo: {checkout_listen: \"0.0.0.0:80\"}}\n", "cloud.demo.checkout_listen", "loopback"},
		{"unknown key", "cloud: {mode: mqtt, brokr: x}\n", "cloud.brokr", "unknown key"},
		{"mqtt without broker", "cloud: {mode: mqtt}\n", "cloud.broker", "is required with mode mqtt"},
		{"mqtt with an empty broker", "cloud:\n  mode: mqtt\n  broker: \"\"\n", "cloud.broker", "is required with mode mqtt"},
		{"bad approve", "cloud: {mode: demo, demo: {approve: maybe}}\n", "cloud.demo.approve", "unknown value"},
		{"disk cap without unit", "cloud: {mode: mqtt, disk_cap: 512}\n", "cloud.disk_cap", "not a size"},
		{"disk cap unknown unit", "cloud: {mode: mqtt, disk_cap: 5PB}\n", "cloud.disk_cap", "not a size"},
		{"disk cap negative", "cloud: {mode: mqtt, disk_cap: -1GB}\n", "cloud.disk_cap", "not a size"},
		{"disk cap fraction", "cloud: {mode: mqtt, disk_cap: 1.5GB}\n", "cloud.disk_cap", "not a size"},
		{"disk cap too small", "cloud: {mode: mqtt, disk_cap: 64kB}\n", "cloud.disk_cap", "smallest cap"},
	}
	for _, tt := range tests {
		_, err := Parse("site.yaml", []byte(withCloud(tt.cloud)))
		var probs Problems
		if !errors.As(err, &probs) {
			t.Errorf("%s: got %v; want Problems", tt.name, err)
			continue
		}
		found := false
		for _, p := range probs {
			if p.Path == tt.path && strings.Contains(p.Msg, tt.msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: got %v; want a problem at %s containing %q", tt.name, probs, tt.path, tt.msg)
		}
	}
}

func TestCloudDiskCap(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"512MB", 512_000_000},
		{"512MiB", 512 << 20},
		{"2GB", 2_000_000_000},
		{"2 GiB", 2 << 30},
		{"1048576B", 1 << 20},
		{"1500kB", 1_500_000},
		{"0", 0},
	} {
		f, err := Parse("site.yaml", []byte(withCloud("cloud: {mode: mqtt, broker: \"tcp://b:1883\", disk_cap: \""+tc.in+"\"}\n")))
		if err != nil {
			t.Errorf("disk_cap %q: %v", tc.in, err)
			continue
		}
		if f.Cloud.DiskCap != tc.want {
			t.Errorf("disk_cap %q: got %d; want %d", tc.in, f.Cloud.DiskCap, tc.want)
		}
	}
}
