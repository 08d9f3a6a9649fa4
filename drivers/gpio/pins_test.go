package gpio

import (
	"errors"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// testPin is periph's gpiotest.Pin, which does the pin's work (the level
// L, edges sent on EdgesChan that WaitForEdge consumes, In with its pull
// and the flush of stale edges, Read), with what these tests add around
// it: a record of every Out, a failure to inject into Out, a hook that
// plays the world's answer to an Out (an arm reaching its switch), and a
// record of every WaitForEdge timeout that fails the test on one that is
// not positive. (-1 and 0 mean opposite things on the character device
// and in gpiotest: -1 returns at once on hardware and waits for an edge in
// gpiotest, 0 waits forever on hardware and returns at once in gpiotest;
// the driver must use neither.)
//
// gpiotest's Halt does nothing, where the character device's interrupts a
// wait in progress: with these pins Close is bounded by the positive
// timeout of the waits alone.
type testPin struct {
	*gpiotest.Pin
	t testing.TB

	mu      sync.Mutex
	outs    []gpio.Level // every Out, in order
	failOut error        // Out fails with it while set
	onOut   func(gpio.Level)
	waits   []time.Duration // every WaitForEdge timeout, in order
}

// newGpiotestPin is a bare gpiotest pin, idle low, ready for edges.
func newGpiotestPin(name string) *gpiotest.Pin {
	return &gpiotest.Pin{N: name, EdgesChan: make(chan gpio.Level, 64)}
}

func newTestPin(t testing.TB, name string) *testPin {
	return &testPin{Pin: newGpiotestPin(name), t: t}
}

func (p *testPin) WaitForEdge(timeout time.Duration) bool {
	p.mu.Lock()
	p.waits = append(p.waits, timeout)
	p.mu.Unlock()
	if timeout <= 0 {
		p.t.Errorf("%s: WaitForEdge(%v): only positive timeouts mean the same on hardware and in gpiotest", p.N, timeout)
		return false
	}
	return p.Pin.WaitForEdge(timeout)
}

func (p *testPin) Out(l gpio.Level) error {
	p.mu.Lock()
	if p.failOut != nil {
		err := p.failOut
		p.mu.Unlock()
		return err
	}
	p.outs = append(p.outs, l)
	on := p.onOut
	p.mu.Unlock()
	if err := p.Pin.Out(l); err != nil {
		return err
	}
	if on != nil {
		on(l)
	}
	return nil
}

// set is the world changing the level without an edge the driver sees
// (a position switch, or an edge the hardware lost).
func (p *testPin) set(l gpio.Level) {
	p.Pin.Lock()
	defer p.Pin.Unlock()
	p.L = l
}

func (p *testPin) history() []gpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]gpio.Level(nil), p.outs...)
}

func (p *testPin) timeouts() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.waits...)
}

// board is a set of test pins by name, and its Lookup.
type board map[string]*testPin

func newBoard(t testing.TB, names ...string) board {
	b := board{}
	for _, n := range names {
		b[n] = newTestPin(t, n)
	}
	return b
}

func (b board) lookup(name string) (gpio.PinIO, error) {
	p, ok := b[name]
	if !ok {
		return nil, errors.New("no such pin on the test board")
	}
	return p, nil
}

// bareBoard is a set of unwrapped gpiotest pins, and its Lookup.
type bareBoard map[string]*gpiotest.Pin

func (b bareBoard) lookup(name string) (gpio.PinIO, error) {
	p, ok := b[name]
	if !ok {
		return nil, errors.New("no such pin on the test board")
	}
	return p, nil
}
