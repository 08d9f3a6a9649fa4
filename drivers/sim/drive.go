package sim

import (
	"context"
	"strconv"

	"github.com/lotgate/lotgate/gateway"
)

// SetSensor sets sensor id (loop, occupancy, door sensor or fire alarm) and,
// if that changed its state, reports the change to the attached Inputs.
// Setting a sensor to the state it is in does nothing.
func (s *Site) SetSensor(ctx context.Context, id string, active bool) error {
	d, err := s.lookup(id, sensorKinds...)
	if err != nil {
		return err
	}
	d.drive.Lock()
	defer d.drive.Unlock()
	in, deliver, err := s.change(ctx, d, "set sensor "+id+" "+onOff(active), func() (string, bool, error) {
		if d.active == active {
			return "", false, nil
		}
		d.active = active
		return onOff(active), true, nil
	})
	if err != nil || !deliver {
		return err
	}
	in.SensorChanged(ctx, id, active)
	return nil
}

// Scan reports text read by scanner scannerID.
func (s *Site) Scan(ctx context.Context, scannerID, text string) error {
	d, err := s.lookup(scannerID, gateway.KindScanner)
	if err != nil {
		return err
	}
	if text == "" {
		return gateway.Errorf(gateway.Invalid, "sim: scan at %s: empty text", scannerID)
	}
	d.drive.Lock()
	defer d.drive.Unlock()
	in, _, err := s.change(ctx, d, "scan at "+scannerID, func() (string, bool, error) {
		return "scan " + text, true, nil
	})
	if err != nil {
		return err
	}
	in.Scanned(ctx, scannerID, text)
	return nil
}

// PressTicket presses the button of ticket dispenser deviceID. The core
// answers, now or later, by printing on the same device (see LastTicket,
// Printed and Wait).
func (s *Site) PressTicket(ctx context.Context, deviceID string) error {
	d, err := s.lookup(deviceID, gateway.KindTicket)
	if err != nil {
		return err
	}
	d.drive.Lock()
	defer d.drive.Unlock()
	in, _, err := s.change(ctx, d, "press ticket button "+deviceID, func() (string, bool, error) {
		return "press", true, nil
	})
	if err != nil {
		return err
	}
	in.TicketRequested(ctx, deviceID)
	return nil
}

// PayCash reports a cash payment of amount (minor units, > 0) for ref at the
// pay station and returns its transaction ID, unique across runs of the
// simulator (a persistent store may have seen the previous run's IDs).
func (s *Site) PayCash(ctx context.Context, ref string, amount int64) (string, error) {
	d, err := s.payStation()
	if err != nil {
		return "", err
	}
	if ref == "" || amount <= 0 {
		return "", gateway.Errorf(gateway.Invalid, "sim: pay %d for %q: need a ref and a positive amount", amount, ref)
	}
	d.drive.Lock()
	defer d.drive.Unlock()
	var p gateway.CashPayment
	in, _, err := s.change(ctx, d, "pay "+strconv.FormatInt(amount, 10)+" for "+ref, func() (string, bool, error) {
		s.txSeq++
		p = gateway.CashPayment{ID: s.txPrefix + strconv.Itoa(s.txSeq), Ref: ref, Amount: amount}
		d.payments[p.ID] = p
		return "cash " + ref + " " + strconv.FormatInt(amount, 10) + " " + p.ID, true, nil
	})
	if err != nil {
		return "", err
	}
	in.CashPaid(ctx, p)
	return p.ID, nil
}

// RedeliverCash reports the cash payment txID (made with PayCash) again, as
// a pay station does when it missed the acknowledgement. The core must apply
// it only once.
func (s *Site) RedeliverCash(ctx context.Context, txID string) error {
	d, err := s.payStation()
	if err != nil {
		return err
	}
	d.drive.Lock()
	defer d.drive.Unlock()
	var p gateway.CashPayment
	in, _, err := s.change(ctx, d, "redeliver "+txID, func() (string, bool, error) {
		var ok bool
		if p, ok = d.payments[txID]; !ok {
			return "", false, gateway.Errorf(gateway.NotFound, "sim: redeliver %q: no such cash payment", txID)
		}
		return "redeliver " + txID, true, nil
	})
	if err != nil {
		return err
	}
	in.CashPaid(ctx, p)
	return nil
}

func (s *Site) payStation() (*device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pay == nil {
		return nil, gateway.Errorf(gateway.NotFound, "sim: no simulated pay station")
	}
	return s.pay, nil
}

// change applies a driving action to d under the site lock: it checks ctx,
// that a gateway is attached and that d is online, then calls apply, which
// returns the history entry and whether there is something to deliver. It
// returns the Inputs to deliver to, outside the lock. The caller holds
// d.drive so that deliveries on d happen in the order of the changes.
func (s *Site) change(ctx context.Context, d *device, what string, apply func() (string, bool, error)) (gateway.Inputs, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, &gateway.Error{Kind: gateway.Unavailable, Message: "sim: " + what, Err: err}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.in == nil {
		return nil, false, gateway.Errorf(gateway.Unavailable, "sim: %s: no gateway attached", what)
	}
	if d.offline {
		return nil, false, gateway.Errorf(gateway.Unavailable, "sim: %s: device %s offline", what, d.id)
	}
	entry, deliver, err := apply()
	if err != nil || !deliver {
		return nil, false, err
	}
	d.history = append(d.history, entry)
	s.notifyLocked()
	return s.in, true, nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
