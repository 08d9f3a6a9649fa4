package modbus

import (
	"context"
	"testing"
	"time"

	"github.com/lotgate/lotgate/drivers/conformance"
	"github.com/lotgate/lotgate/gateway"
)

// The conformance suites against the Modbus simulator over loopback TCP.
func TestConformance(t *testing.T) {
	noLeaks(t)
	unitFaults := func(s *testSite, unit uint8) conformance.Faults {
		return conformance.Faults{
			// Exception 11: a TCP gateway's "the device behind me is silent".
			Offline: func(off bool) error {
				code := byte(0)
				if off {
					code = 11
				}
				return s.sim.SetException(unit, code)
			},
			Stall: func(d time.Duration) error { return s.sim.SetDelay(unit, d) },
		}
	}
	raw := func(s *testSite, unit uint8, point string, ch int) func() (bool, error) {
		return func() (bool, error) { v, err := s.sim.Value(unit, point, ch); return v != 0, err }
	}
	t.Run("lock", func(t *testing.T) {
		s := startSite(t, siteDevices(), fastBus)
		conformance.Lock(t, conformance.LockRig{Lock: s.d.Actuators().Locks["A-03-lock"],
			Unlocked: raw(s, 3, "release", 3), AfterHalt: conformance.Bool(conformance.Closed), Faults: unitFaults(s, 3)})
	})
	t.Run("flap", func(t *testing.T) {
		s := startSite(t, siteDevices(), fastBus)
		conformance.Flap(t, conformance.FlapRig{Flap: s.d.Actuators().Flaps["P02-flap"],
			Up: raw(s, 4, "up", 2), AfterHalt: conformance.Bool(conformance.Closed), Faults: unitFaults(s, 4)})
	})
	t.Run("pay station", func(t *testing.T) {
		s := startSite(t, siteDevices(), fastBus)
		conformance.PayStation(t, conformance.PayStationRig{Link: s.d.Actuators().PayStation,
			Shown: func(ref string) (int64, bool) {
				r, a, ok := s.sim.Shown(1)
				return a, ok && r == ref
			},
			Settled: func(ref string) bool { return s.sim.Settled(1, ref) },
			Faults:  unitFaults(s, 1)})
	})
	for _, sensor := range []struct {
		id, role string
		unit     uint8
		ch       int
	}{{"A-03-door", InputDoorOpen, 3, 3}, {"P02-sensor", InputVehiclePresent, 4, 2}} {
		t.Run(sensor.id, func(t *testing.T) {
			conformance.Sensor(t, func(t *testing.T, in gateway.Inputs) conformance.SensorRig {
				s := startSite(t, siteDevices(), fastBus, func(o *Options) { o.Inputs = in })
				lock := s.d.Actuators().Locks["A-01-lock"]
				return conformance.SensorRig{ID: sensor.id,
					Set:    func(active bool) error { return s.sim.SetInput(sensor.unit, sensor.role, sensor.ch, active) },
					During: func(ctx context.Context) error { return lock.Lock(ctx) }}
			})
		})
	}
}
