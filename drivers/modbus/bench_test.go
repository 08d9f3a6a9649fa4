package modbus

import (
	"context"
	"testing"
	"time"

	goburrow "github.com/goburrow/modbus"

	"github.com/lotgate/lotgate/gateway"
)

// Transactions per second over loopback TCP against the simulator, through
// the bus (queue, owner goroutine, health), and the same transactions
// made with goburrow's bare client on the same server: the limit the bus
// is measured against ("of-bare").
func BenchmarkTCP(b *testing.B) {
	lb := refLockerBoard()
	sim, err := NewSimulator([]SimUnit{{Unit: 3, Profile: lb}}, SimOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer sim.Stop()

	// The limit: goburrow alone, no queue, no owner.
	h := goburrow.NewTCPClientHandler(sim.Addr())
	h.SlaveId, h.IdleTimeout = 3, 0
	c := goburrow.NewClient(h)
	const bareN = 3000
	start := time.Now()
	for range bareN {
		if _, err := c.ReadHoldingRegisters(100, 1); err != nil {
			b.Fatal(err)
		}
	}
	bare := bareN / time.Since(start).Seconds()
	h.Close()

	d, err := Open(Config{
		Buses:   []BusConfig{{ID: "tcp", TCP: sim.Addr()}},
		Devices: []Device{{ID: "A-01-lock", Kind: gateway.KindLock, Bus: "tcp", Unit: 3, Channel: 1, Profile: lb}},
	}, Options{noPoll: true})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close(context.Background())
	dev, pt := d.devices["A-01-lock"], lb.Points["watchdog_s"]
	ctx := context.Background()
	if _, err := dev.readRaw(ctx, pt, false); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := dev.readRaw(ctx, pt, false); err != nil {
			b.Fatal(err)
		}
	}
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "tx/s")
	b.ReportMetric(bare, "bare-tx/s")
	b.ReportMetric(rate/bare, "of-bare")
}

// Transactions per second over a pty at 19200 baud (8E1: 11 bits a
// character), the slave playing the line's timing, against the line rate:
// per transaction the request and response frames plus two 3.5-character
// silences (after the request, before the answer; after the answer, before
// the next request). "line-ratio" is the share of that rate reached; the
// goal is at least 0.9. "goburrow" is goburrow's own RTU transporter on the
// same line, which sleeps a computed frame time before reading.
func BenchmarkRTU19200(b *testing.B) {
	for _, bc := range []struct {
		name  string
		regs  uint16 // registers read per transaction
		stock bool
	}{
		{"read1", 1, false},
		{"read16", 16, false},
		{"read1/goburrow", 1, true},
		{"read16/goburrow", 16, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rtu := RTUConfig{Device: "", Baud: 19200, DataBits: 8, Parity: "E", StopBits: 1}
			ct := rtu.charTime()
			lb := refPayStation()
			devs := []Device{{ID: "pay", Kind: gateway.KindPayStation, Unit: 1, Profile: lb}}
			s, _, _ := rtuSite(b, devs, ct, func(c *BusConfig) { c.Timeout = time.Second; c.PollInterval = time.Hour; c.ProbeInterval = time.Hour })
			req, resp := 8, 5+2*int(bc.regs)
			line := time.Duration(req+resp+7) * ct
			limit := float64(time.Second) / float64(line)
			var read func() error
			if bc.stock {
				s.d.Close(context.Background()) // free the port
				h := goburrow.NewRTUClientHandler(s.bus.cfg.RTU.Device)
				h.BaudRate, h.Parity, h.SlaveId, h.IdleTimeout, h.Timeout = 19200, "E", 1, 0, time.Second
				defer h.Close()
				c := goburrow.NewClient(h)
				read = func() error { _, err := c.ReadHoldingRegisters(10, bc.regs); return err }
			} else {
				dev := s.d.devices["pay"]
				o := readOp(HoldingRegister, 10, bc.regs)
				read = func() error { _, err := dev.bus.do(context.Background(), 1, o, false); return err }
			}
			if err := read(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if err := read(); err != nil {
					b.Fatal(err)
				}
			}
			rate := float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "tx/s")
			b.ReportMetric(limit, "line-tx/s")
			b.ReportMetric(rate/limit, "line-ratio")
		})
	}
}
