package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

func TestHealthz(t *testing.T) {
	h := newHarness(t, nil)
	resp, body := h.do("GET", "/healthz", "", nil)
	if resp.StatusCode != 200 || jsonOf[map[string]string](t, body)["status"] != "ok" {
		t.Errorf("GET /healthz: got %d %s; want 200 ok", resp.StatusCode, body)
	}
	if resp, _ := h.do("HEAD", "/healthz", "", nil); resp.StatusCode != 200 {
		t.Errorf("HEAD /healthz: got %d; want 200", resp.StatusCode)
	}
}

// brokenStore is a store that does not answer.
type brokenStore struct{}

func (brokenStore) View(context.Context, func(gateway.Tx) error) error {
	return errors.New("disk I/O error")
}

func TestReadyz(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Options)
		status  int
		reasons []string
	}{
		{"ready", nil, 200, nil},
		{"store broken", func(o *Options) { o.Store = brokenStore{} }, 503, []string{"store: disk I/O error"}},
		{"a check fails", func(o *Options) {
			o.Checks = []Check{{Name: "ok", Func: func(context.Context) error { return nil }},
				{Name: "drivers", Func: func(context.Context) error { return errors.New("modbus bus down") }}}
		}, 503, []string{"drivers: modbus bus down"}},
	}
	for _, tt := range tests {
		h := newHarness(t, tt.edit)
		resp, body := h.do("GET", "/readyz", "", nil)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: got %d %s; want %d", tt.name, resp.StatusCode, body, tt.status)
			continue
		}
		if tt.status == 200 {
			continue
		}
		e := jsonOf[apiError](t, body)
		if e.Error != "not_ready" || fmt.Sprint(e.Reasons) != fmt.Sprint(tt.reasons) {
			t.Errorf("%s: got %+v; want not_ready with reasons %q", tt.name, e, tt.reasons)
		}
	}

	// Shutting down: not ready.
	h := newHarness(t, nil)
	if err := h.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if e := jsonOf[apiError](t, rec.Body.String()); rec.Code != 503 || fmt.Sprint(e.Reasons) != "[shutting down]" {
		t.Errorf("after Shutdown: got %d %+v; want 503 shutting down", rec.Code, e)
	}
}

// sampleLine is a sample of the text format: a name, labels, an integer.
var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? -?[0-9]+$`)

// checkExposition checks the text format: every sample belongs to the
// family declared last, each family declared once with HELP then TYPE.
func checkExposition(t *testing.T, text string) {
	t.Helper()
	declared := map[string]bool{}
	family := ""
	for i, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "# HELP "):
			name := strings.Fields(l)[2]
			if declared[name] {
				t.Errorf("line %d: family %s declared twice", i+1, name)
			}
			declared[name], family = true, name
		case strings.HasPrefix(l, "# TYPE "):
			f := strings.Fields(l)
			if len(f) != 4 || f[2] != family || (f[3] != "gauge" && f[3] != "counter") {
				t.Errorf("line %d: %q; want the TYPE of %s", i+1, l, family)
			}
		default:
			m := sampleLine.FindStringSubmatch(l)
			if m == nil || m[1] != family {
				t.Errorf("line %d: %q is not a sample of %s", i+1, l, family)
			}
		}
	}
}

func TestMetrics(t *testing.T) {
	extra := MetricsFunc(func(w io.Writer) error {
		_, err := io.WriteString(w, "# HELP lotgate_cloud_connected 1 while connected.\n# TYPE lotgate_cloud_connected gauge\nlotgate_cloud_connected 0\n")
		return err
	})
	h := newHarness(t, func(o *Options) { o.Metrics = []MetricsWriter{extra} })
	h.enter()
	h.sensor("fire-panel", true)
	h.gw.DeviceHealthChanged(h.ctx, gateway.DeviceHealth{Device: "paystation", Online: false, Failures: 3, Successes: 7, LastError: `timeout "x"`})
	h.gw.DeviceHealthChanged(h.ctx, gateway.DeviceHealth{Device: "out-1-scanner", Online: true, Successes: 2})

	resp, body := h.do("GET", "/metrics", "", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("GET /metrics: got %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	checkExposition(t, body)
	for _, want := range []string{
		`lotgate_build_info{version="test",site="demo-lot"} 1`,
		"lotgate_fire_alarm 1",
		"lotgate_site_occupancy 1",
		"lotgate_site_capacity 120",
		`lotgate_site_state{state="open"} 1`,
		`lotgate_site_state{state="full"} 0`,
		`lotgate_lane_barrier_up{lane="out-1"} 1`, // held open by the fire alarm
		`lotgate_lane_vehicle_present{lane="in-1"} 0`,
		`lotgate_device_online{device="out-1-scanner",kind="scanner"} 1`,
		`lotgate_device_online{device="paystation",kind="pay_station"} 0`,
		`lotgate_device_failures_total{device="paystation"} 3`,
		`lotgate_device_successes_total{device="paystation"} 7`,
		`lotgate_http_receipts_total{result="applied"} 0`,
		"lotgate_http_watches 0",
		"lotgate_http_watch_dropped_total 0",
		"lotgate_cloud_connected 0",
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	if strings.Index(body, "lotgate_cloud_connected") < strings.Index(body, "lotgate_fire_alarm") {
		t.Errorf("the extra writers' metrics come before the gateway's:\n%s", body)
	}

	// A writer that fails: a 500, not half a page.
	h = newHarness(t, func(o *Options) {
		o.Metrics = []MetricsWriter{MetricsFunc(func(io.Writer) error { return errors.New("boom") })}
	})
	resp, body = h.do("GET", "/metrics", "", nil)
	if e := jsonOf[apiError](t, body); resp.StatusCode != 500 || e.Error != "internal" {
		t.Errorf("failing writer: got %d %s; want 500 internal", resp.StatusCode, body)
	}
}

func TestLabelValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"out-1", "out-1"},
		{`a"b`, `a\"b`},
		{`a\b`, `a\\b`},
		{"a\nb", `a\nb`},
	}
	for _, tt := range tests {
		if got := labelValue(tt.in); got != tt.want {
			t.Errorf("labelValue(%q): got %q; want %q", tt.in, got, tt.want)
		}
	}
}

// syncBuffer is a buffer a logger and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestStartShutdown(t *testing.T) {
	logs := &syncBuffer{}
	h := newHarness(t, func(o *Options) {
		o.Listen = "127.0.0.1:0"
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	if err := h.srv.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	addr := h.srv.Addr()
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("Addr: got %q; want 127.0.0.1 and the port chosen", addr)
	}
	if l := logs.String(); !strings.Contains(l, `msg="http listening" component=web addr=`+addr+"\n") {
		t.Errorf("logs: got %q; want http listening with addr=%s", l, addr)
	}
	h.srv.mu.Lock()
	srv := h.srv.srv
	h.srv.mu.Unlock()
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Errorf("timeouts: got header %v read %v write %v idle %v; want all set", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /healthz over the network: got %d; want 200", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Errorf("GET after Shutdown: got an answer; want the connection refused")
	}
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}
