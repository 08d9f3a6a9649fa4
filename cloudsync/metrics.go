package cloudsync

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"
)

// metrics of cloud sync. They are written in the Prometheus text format by
// WriteMetrics, for the gateway's /metrics.
//
// Not prometheus/client_golang: go.sum lacks the checksums of its
// dependencies (client_model, common, procfs, protobuf, xxhash, perks), and
// go.sum is not this package's to change. Once it has them these can move
// to a client_golang registry unchanged in name and meaning.
type metrics struct {
	connected atomic.Int64
	connects  atomic.Uint64
	published atomic.Uint64
	messages  atomic.Uint64
	resent    atomic.Uint64
	replays   atomic.Uint64
	acked     atomic.Uint64
	// ackBeyondSent counts acks above what was sent (cut down to it).
	ackBeyondSent atomic.Uint64
	depth         atomic.Uint64

	mu       sync.Mutex
	downlink map[string]uint64 // by result
	degraded []string
}

func newMetrics() *metrics {
	return &metrics{downlink: map[string]uint64{}}
}

func (m *metrics) downlinkInc(result string) {
	m.mu.Lock()
	m.downlink[result]++
	m.mu.Unlock()
}

func (m *metrics) setDegraded(modes []string) {
	m.mu.Lock()
	m.degraded = slices.Clone(modes)
	m.mu.Unlock()
}

// WriteMetrics writes the client's metrics in the Prometheus text
// exposition format (version 0.0.4).
func (c *Client) WriteMetrics(w io.Writer) error {
	m := c.m
	type metric struct {
		name, typ, help string
		v               float64
	}
	ms := []metric{
		{"lotgate_cloud_connected", "gauge", "1 while connected to the MQTT broker.", float64(m.connected.Load())},
		{"lotgate_cloud_connects_total", "counter", "Connections (and reconnections) to the broker.", float64(m.connects.Load())},
		{"lotgate_cloud_events_published_total", "counter", "Events published on up/events, resends included.", float64(m.published.Load())},
		{"lotgate_cloud_messages_published_total", "counter", "Messages published on up/events (each carries one or more events), resends included.", float64(m.messages.Load())},
		{"lotgate_cloud_events_resent_total", "counter", "Events sent again after a reconnect or a silent cloud.", float64(m.resent.Load())},
		{"lotgate_cloud_replays_total", "counter", "Replay requests from the cloud.", float64(m.replays.Load())},
		{"lotgate_cloud_acks_beyond_sent_total", "counter", "Acks from the cloud above the last event sent, taken only up to it (a cloud bug or a forged ack).", float64(m.ackBeyondSent.Load())},
		{"lotgate_cloud_acked_seq", "gauge", "The highest event seq the cloud acknowledged.", float64(m.acked.Load())},
		{"lotgate_cloud_outbox_depth", "gauge", "Events not yet acknowledged by the cloud.", float64(m.depth.Load())},
	}
	for _, x := range ms {
		if _, err := fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %s\n", x.name, x.help, x.name, x.typ, x.name, num(x.v)); err != nil {
			return err
		}
	}
	m.mu.Lock()
	down := make(map[string]uint64, len(m.downlink))
	for k, v := range m.downlink {
		down[k] = v
	}
	deg := slices.Clone(m.degraded)
	m.mu.Unlock()
	if _, err := fmt.Fprintf(w, "# HELP lotgate_cloud_downlink_messages_total Signed messages received on down/msg, by result.\n# TYPE lotgate_cloud_downlink_messages_total counter\n"); err != nil {
		return err
	}
	for _, r := range []string{"applied", "stored", "duplicate", "refused", "error"} {
		if _, err := fmt.Fprintf(w, "lotgate_cloud_downlink_messages_total{result=%q} %d\n", r, down[r]); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(w, "# HELP lotgate_cloud_degraded 1 while a degraded mode is in force.\n# TYPE lotgate_cloud_degraded gauge\n"); err != nil {
		return err
	}
	for _, d := range []string{DegradedBrokerUnreachable, DegradedCloudSilent, DegradedPaymentProvider} {
		v := 0
		if slices.Contains(deg, d) {
			v = 1
		}
		if _, err := fmt.Fprintf(w, "lotgate_cloud_degraded{mode=%q} %d\n", d, v); err != nil {
			return err
		}
	}
	return nil
}

func num(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%g", v)
}
