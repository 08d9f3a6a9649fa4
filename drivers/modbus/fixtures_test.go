package modbus

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/lotgate/lotgate/gateway"
)

// The fixtures are the reference profiles shipped in configs/devices/
// (ref-paystation.yaml, ref-locker16.yaml, ref-flap8.yaml), written in Go.
// cmd/lotgate's tests load the YAML files and run them against the
// simulator, so the two cannot drift apart unnoticed.

func refPayStation() *Profile {
	return &Profile{
		Name: "ref-paystation",
		Kind: PayStationProfile,
		Points: map[string]*Point{
			"command":     {Name: "command", Table: HoldingRegister, Address: 0, Type: Uint16},
			"fee":         {Name: "fee", Table: HoldingRegister, Address: 1, Type: Uint32},
			"ref":         {Name: "ref", Table: HoldingRegister, Address: 10, Type: String, Length: 16},
			"paid_flag":   {Name: "paid_flag", Table: Coil, Address: 0, Type: Bool},
			"paid_amount": {Name: "paid_amount", Table: HoldingRegister, Address: 101, Type: Uint32, WordOrder: LowFirst},
			"paid_tx":     {Name: "paid_tx", Table: HoldingRegister, Address: 103, Type: Uint32},
			"paid_ref":    {Name: "paid_ref", Table: HoldingRegister, Address: 110, Type: String, Length: 16},
		},
		Actions: map[string]*Action{
			ActShowFee: {
				Steps:   []Step{{Point: "ref", Arg: ArgRef}, {Point: "fee", Arg: ArgAmount}, {Point: "command", Value: 1}},
				Confirm: &Confirm{Point: "command", Value: 0, Within: time.Second},
			},
			ActSettled: {
				Steps:   []Step{{Point: "ref", Arg: ArgRef}, {Point: "command", Value: 2}},
				Confirm: &Confirm{Point: "command", Value: 0, Within: time.Second},
			},
			"ack_payment": {Steps: []Step{{Point: "paid_flag", Value: 0}}},
		},
		Payment: &Payment{Flag: "paid_flag", Amount: "paid_amount", Ref: "paid_ref", ID: "paid_tx", Ack: "ack_payment"},
	}
}

func refLockerBoard() *Profile {
	return &Profile{
		Name:     "ref-locker16",
		Kind:     LockerBoardProfile,
		Channels: 16,
		Points: map[string]*Point{
			"release":    {Name: "release", Table: Coil, Address: 0, Stride: 1, Type: Bool},
			"door":       {Name: "door", Table: DiscreteInput, Address: 0, Stride: 1, Type: Bool},
			"watchdog_s": {Name: "watchdog_s", Table: HoldingRegister, Address: 100, Type: Uint16},
			"fail_state": {Name: "fail_state", Table: HoldingRegister, Address: 101, Stride: 1, Type: Uint16},
		},
		Actions: map[string]*Action{
			ActUnlock: {Steps: []Step{{Point: "release", Value: 1}}, Confirm: &Confirm{Point: "door", Value: 1, Within: 2 * time.Second}},
			ActLock:   {Steps: []Step{{Point: "release", Value: 0}}},
		},
		Inputs:    map[string]string{InputDoorOpen: "door"},
		FailState: &FailState{Timeout: "watchdog_s", Seconds: 10, State: "fail_state", Values: map[Policy]int64{FailHold: 0, FailSecure: 1, FailOpen: 2}},
	}
}

func refFlapController() *Profile {
	return &Profile{
		Name:     "ref-flap8",
		Kind:     FlapControllerProfile,
		Channels: 8,
		Points: map[string]*Point{
			"up":         {Name: "up", Table: Coil, Address: 0, Stride: 1, Type: Bool},
			"down":       {Name: "down", Table: DiscreteInput, Address: 0, Stride: 1, Type: Bool},
			"vehicle":    {Name: "vehicle", Table: DiscreteInput, Address: 16, Stride: 1, Type: Bool},
			"watchdog_s": {Name: "watchdog_s", Table: HoldingRegister, Address: 50, Type: Uint16},
			"fail_state": {Name: "fail_state", Table: HoldingRegister, Address: 51, Stride: 1, Type: Uint16},
		},
		Actions: map[string]*Action{
			ActRaise: {Steps: []Step{{Point: "up", Value: 1}}, Confirm: &Confirm{Point: "down", Value: 0, Within: 8 * time.Second}},
			ActLower: {Steps: []Step{{Point: "up", Value: 0}}, Confirm: &Confirm{Point: "down", Value: 1, Within: 8 * time.Second}},
		},
		Inputs:    map[string]string{InputVehiclePresent: "vehicle"},
		FailState: &FailState{Timeout: "watchdog_s", Seconds: 10, State: "fail_state", Values: map[Policy]int64{FailHold: 0, FailSecure: 1, FailOpen: 2}},
	}
}

// recorder is a gateway.Inputs and gateway.HealthSink that records what
// it is told and wakes waiters.
type recorder struct {
	mu       sync.Mutex
	sensors  []string // "id on|off"
	payments []gateway.CashPayment
	health   []gateway.DeviceHealth
	changed  chan struct{}
	// onSensor, when set, runs inside SensorChanged (to check that the
	// driver holds nothing an actuator call needs).
	onSensor func(ctx context.Context, id string, active bool)
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *recorder) SensorChanged(ctx context.Context, id string, active bool) {
	if r.onSensor != nil {
		r.onSensor(ctx, id, active)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sensors = append(r.sensors, id+" "+onOff(active))
	r.notify()
}

func (r *recorder) Scanned(context.Context, string, string) {}
func (r *recorder) TicketRequested(context.Context, string) {}

func (r *recorder) CashPaid(_ context.Context, p gateway.CashPayment) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.payments = append(r.payments, p)
	r.notify()
}

func (r *recorder) DeviceHealthChanged(_ context.Context, h gateway.DeviceHealth) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.health = append(r.health, h)
	r.notify()
}

// wait blocks until cond (called with r locked) holds, or fails the test
// after d.
func (r *recorder) wait(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok := cond()
		ch := r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			r.mu.Lock()
			defer r.mu.Unlock()
			tb.Fatalf("timed out after %v waiting for %s; sensors %v, payments %v, health %v", d, what, r.sensors, r.payments, r.health)
		}
	}
}

func (r *recorder) healthOf(id string) []bool {
	var out []bool
	for _, h := range r.health {
		if h.Device == id {
			out = append(out, h.Online)
		}
	}
	return out
}
