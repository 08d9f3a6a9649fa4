package gateway_test

import (
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

func TestDeviceHealth(t *testing.T) {
	h := newHarness(t)
	if got := h.gw.DeviceHealth(); len(got) != 0 {
		t.Errorf("DeviceHealth before any report: got %v; want none", got)
	}
	at := h.now().UTC()
	reports := []gateway.DeviceHealth{
		{Device: "paystation", Online: true, Since: at, Successes: 3},
		{Device: "out-1-barrier", Online: false, LastError: "modbus: timeout", Since: at, Failures: 2},
		{Device: "paystation", Online: false, LastError: "crc error", Since: at.Add(time.Minute), Failures: 1, Successes: 3},
	}
	mark := h.lastSeq()
	for _, r := range reports {
		h.gw.DeviceHealthChanged(h.ctx, r)
	}
	want := []gateway.DeviceHealth{reports[1], reports[2]} // by device ID, the latest of each
	got := h.gw.DeviceHealth()
	if len(got) != len(want) {
		t.Fatalf("DeviceHealth: got %v; want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("DeviceHealth[%d]: got %+v; want %+v", i, got[i], want[i])
		}
	}
	if n := len(h.eventsOf(gateway.EvDevice, mark)); n != len(reports) {
		t.Errorf("device.changed events: got %d; want one per report (%d)", n, len(reports))
	}
}
