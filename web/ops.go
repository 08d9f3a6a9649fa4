package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/lotgate/lotgate/gateway"
)

// healthz is GET /healthz: the process is alive and serving.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is GET /readyz: 200 when the gateway takes work — the server was
// started after the gateway opened, is not shutting down, the store
// answers a read within 2s and every extra check passes; else 503 with
// every reason. A cloud that cannot be reached does not make the gateway
// unready: it keeps deciding locally (the degraded modes are in
// /metrics).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	var reasons []string
	if s.stopping.Load() {
		reasons = append(reasons, "shutting down")
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.o.Store.View(ctx, func(tx gateway.Tx) error { _, _, err := tx.LastEvent(); return err }); err != nil {
		reasons = append(reasons, "store: "+err.Error())
	}
	for _, c := range s.o.Checks {
		if err := c.Func(ctx); err != nil {
			reasons = append(reasons, c.Name+": "+err.Error())
		}
	}
	if len(reasons) > 0 {
		s.log.Warn("not ready", "reasons", reasons)
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: codeNotReady, Message: strings.Join(reasons, "; "), Reasons: reasons})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// metrics is GET /metrics, in the Prometheus text exposition format
// (0.0.4), hand-written as cloudsync's are: the gateway's figures, the
// server's own, then every Options.Metrics writer. Everything is written
// to a buffer first, so a failing writer gives a 500, not half a page.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	s.writeMetrics(r.Context(), &b)
	for _, m := range s.o.Metrics {
		if err := m.WriteMetrics(&b); err != nil {
			s.log.Error("write metrics", "err", err)
			writeError(w, http.StatusInternalServerError, codeInternal, "a metrics writer failed; the gateway logged it")
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// promWriter writes metric families; every family is written once, with
// its HELP and TYPE.
type promWriter struct{ w io.Writer }

func (p promWriter) family(name, typ, help string) {
	fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// sample writes one sample; labels are name, value pairs.
func (p promWriter) sample(name string, v int64, labels ...string) {
	var b strings.Builder
	b.WriteString(name)
	if len(labels) > 0 {
		b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(labels[i])
			b.WriteString(`="`)
			b.WriteString(labelValue(labels[i+1]))
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	fmt.Fprintf(p.w, "%s %d\n", b.String(), v)
}

// labelValue escapes a label value as the text format wants: backslash,
// double quote and line feed.
func labelValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// writeMetrics writes the gateway's and the server's figures. Writes go
// to a buffer and cannot fail.
func (s *Server) writeMetrics(ctx context.Context, w io.Writer) {
	p := promWriter{w}
	gw := s.o.Gateway
	site := gw.Site()

	p.family("lotgate_build_info", "gauge", "Always 1; the labels say which gateway this is.")
	p.sample("lotgate_build_info", 1, "version", s.o.Version, "site", site.ID)

	p.family("lotgate_fire_alarm", "gauge", "1 while the fire alarm is raised (exits held open).")
	p.sample("lotgate_fire_alarm", b2i(gw.FireAlarmActive()))

	if st, n, err := gw.Occupancy(ctx); err != nil {
		s.log.Warn("metrics: occupancy", "err", err)
	} else {
		p.family("lotgate_site_occupancy", "gauge", "Cars on the site: open sessions other than space sessions.")
		p.sample("lotgate_site_occupancy", int64(n))
		p.family("lotgate_site_capacity", "gauge", "Cars the site takes before refusing entries without a reservation (0: no limit).")
		p.sample("lotgate_site_capacity", int64(site.Capacity.Spaces))
		p.family("lotgate_site_state", "gauge", "1 for the site's entry state: open, full or closed.")
		for _, c := range []gateway.CapacityState{gateway.Open, gateway.Full, gateway.Closed} {
			p.sample("lotgate_site_state", b2i(st == c), "state", string(c))
		}
	}

	lanes := gw.Lanes()
	p.family("lotgate_lane_barrier_up", "gauge", "1 while the lane's barrier is up, by lane.")
	for _, l := range lanes {
		p.sample("lotgate_lane_barrier_up", b2i(l.BarrierUp), "lane", l.ID)
	}
	p.family("lotgate_lane_vehicle_present", "gauge", "1 while the lane's loop sees a vehicle, by lane.")
	for _, l := range lanes {
		p.sample("lotgate_lane_vehicle_present", b2i(l.Occupied), "lane", l.ID)
	}

	// Only devices whose driver reports health (GPIO, Modbus, serial
	// scanners) are listed; simulated devices never go offline.
	kinds := map[string]string{}
	for _, d := range site.Devices {
		kinds[d.ID] = string(d.Kind)
	}
	health := gw.DeviceHealth()
	p.family("lotgate_device_online", "gauge", "1 while the device answers its driver, by device.")
	for _, h := range health {
		p.sample("lotgate_device_online", b2i(h.Online), "device", h.Device, "kind", kinds[h.Device])
	}
	p.family("lotgate_device_failures_total", "counter", "Failed exchanges with the device since its driver started.")
	for _, h := range health {
		p.sample("lotgate_device_failures_total", int64(h.Failures), "device", h.Device)
	}
	p.family("lotgate_device_successes_total", "counter", "Successful exchanges with the device since its driver started.")
	for _, h := range health {
		p.sample("lotgate_device_successes_total", int64(h.Successes), "device", h.Device)
	}

	p.family("lotgate_http_receipts_total", "counter",
		"Receipts posted to the local page or API, by result (applied, duplicate, refused, pending, rejected: not a receipt, limited: rate limit, error).")
	for _, r := range []string{outcomeApplied, outcomeDuplicate, outcomeRefused, outcomePending, "rejected", "limited", "error"} {
		p.sample("lotgate_http_receipts_total", int64(s.stats.receiptCount(r)), "result", r)
	}
	if h := s.o.Hub; h != nil {
		hs := h.Stats()
		p.family("lotgate_http_watches", "gauge", "Session watches (websockets) open.")
		p.sample("lotgate_http_watches", int64(hs.Subscribers))
		p.family("lotgate_http_watch_dropped_total", "counter", "Session watches dropped because they did not keep up.")
		p.sample("lotgate_http_watch_dropped_total", int64(hs.Dropped))
	}
}
