package gpio

import (
	"context"
	"errors"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/lotgate/lotgate/drivers/conformance"
	"github.com/lotgate/lotgate/gateway"
)

// The conformance suites on periph's gpiotest pins, with each actuator's
// position pin looped back to its output as the hardware run assumes
// (docs/devices.md). The sensor runs on bare gpiotest pins: nothing
// around them but what periph ships.
func TestConformance(t *testing.T) {
	pinFaults := func(p *testPin) conformance.Faults {
		return conformance.Faults{Offline: func(off bool) error {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.failOut = nil
			if off {
				p.failOut = errors.New("line gone")
			}
			return nil
		}}
	}
	level := func(p *testPin, activeLow bool) func() (bool, error) {
		return func() (bool, error) { return (p.Read() == gpio.High) != activeLow, nil }
	}
	t.Run("barrier", func(t *testing.T) {
		b := newBoard(t, "BAR", "UP")
		b["BAR"].onOut = func(l gpio.Level) { b["UP"].set(l) } // the up switch follows the arm
		d := open(t, b, newRecorder(), Device{ID: "bar", Kind: gateway.KindBarrier, Pin: "BAR", Mode: Level, PositionPin: "UP"})
		conformance.Barrier(t, conformance.BarrierRig{Barrier: d.Actuators().Barriers["bar"], Up: level(b["UP"], false), Faults: pinFaults(b["BAR"])})
	})
	t.Run("lock", func(t *testing.T) {
		b := newBoard(t, "LOCK")
		d := open(t, b, newRecorder(), Device{ID: "lock", Kind: gateway.KindLock, Pin: "LOCK", ActiveLow: true})
		conformance.Lock(t, conformance.LockRig{Lock: d.Actuators().Locks["lock"], Unlocked: level(b["LOCK"], true),
			AfterHalt: conformance.Bool(conformance.Closed), Faults: pinFaults(b["LOCK"])})
	})
	t.Run("flap", func(t *testing.T) {
		b := newBoard(t, "FLAP", "DOWN")
		b["DOWN"].set(gpio.High)
		b["FLAP"].onOut = func(l gpio.Level) { b["DOWN"].set(!l) } // the down switch: on when lowered
		d := open(t, b, newRecorder(), Device{ID: "flap", Kind: gateway.KindFlap, Pin: "FLAP", PositionPin: "DOWN"})
		conformance.Flap(t, conformance.FlapRig{Flap: d.Actuators().Flaps["flap"], Up: level(b["FLAP"], false),
			AfterHalt: conformance.Bool(conformance.Closed), Faults: pinFaults(b["FLAP"])})
	})
	t.Run("loop", func(t *testing.T) {
		conformance.Sensor(t, func(t *testing.T, in gateway.Inputs) conformance.SensorRig {
			b := bareBoard{"LOOP": newGpiotestPin("LOOP"), "LOCK": newGpiotestPin("LOCK")}
			d, err := Open([]Device{{ID: "loop", Kind: gateway.KindLoop, Pin: "LOOP", Debounce: 5 * time.Millisecond},
				{ID: "lock", Kind: gateway.KindLock, Pin: "LOCK"}}, Options{Inputs: in, Lookup: b.lookup})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close(context.Background()) })
			return conformance.SensorRig{ID: "loop",
				Set:    func(active bool) error { b["LOOP"].EdgesChan <- gpio.Level(active); return nil },
				During: d.Actuators().Locks["lock"].Unlock}
		})
	})
}
