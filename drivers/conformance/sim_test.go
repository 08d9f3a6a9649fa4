package conformance_test

import (
	"context"
	"testing"
	"time"

	"github.com/lotgate/lotgate/drivers/conformance"
	"github.com/lotgate/lotgate/drivers/sim"
	"github.com/lotgate/lotgate/gateway"
)

// The simulated devices of drivers/sim, always.
func simSite(t *testing.T) *sim.Site {
	t.Helper()
	site := &gateway.Site{Devices: []gateway.Device{
		{ID: "bar", Kind: gateway.KindBarrier}, {ID: "lock", Kind: gateway.KindLock},
		{ID: "flap", Kind: gateway.KindFlap}, {ID: "pay", Kind: gateway.KindPayStation},
		{ID: "loop", Kind: gateway.KindLoop}, {ID: "door", Kind: gateway.KindDoorSensor},
	}}
	s, err := sim.New(site, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func faults(s *sim.Site, id string) conformance.Faults {
	return conformance.Faults{
		Offline: func(off bool) error { return s.SetOffline(id, off) },
		Stall:   func(d time.Duration) error { return s.SetDelay(id, d) },
	}
}

func TestSim(t *testing.T) {
	s := simSite(t)
	a := s.Actuators()
	t.Run("barrier", func(t *testing.T) {
		conformance.Barrier(t, conformance.BarrierRig{Barrier: a.Barriers["bar"],
			Up: func() (bool, error) { return s.BarrierUp("bar") }, Faults: faults(s, "bar")}) // Halt holds
	})
	t.Run("lock", func(t *testing.T) {
		conformance.Lock(t, conformance.LockRig{Lock: a.Locks["lock"],
			Unlocked:  func() (bool, error) { l, err := s.Locked("lock"); return !l, err },
			AfterHalt: conformance.Bool(conformance.Closed), Faults: faults(s, "lock")})
	})
	t.Run("flap", func(t *testing.T) {
		conformance.Flap(t, conformance.FlapRig{Flap: a.Flaps["flap"],
			Up: func() (bool, error) { return s.FlapUp("flap") }, AfterHalt: conformance.Bool(conformance.Closed), Faults: faults(s, "flap")})
	})
	t.Run("pay station", func(t *testing.T) {
		conformance.PayStation(t, conformance.PayStationRig{Link: a.PayStation,
			Shown: s.PayStationFee, Settled: s.PayStationSettled, Faults: faults(s, "pay")})
	})
	for _, id := range []string{"loop", "door"} {
		t.Run(id, func(t *testing.T) {
			conformance.Sensor(t, func(t *testing.T, in gateway.Inputs) conformance.SensorRig {
				s.Attach(in)
				return conformance.SensorRig{ID: id,
					Set:    func(active bool) error { return s.SetSensor(context.Background(), id, active) },
					During: func(ctx context.Context) error { return a.Barriers["bar"].Raise(ctx) }}
			})
		})
	}
}
