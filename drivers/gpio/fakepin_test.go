package gpio

import (
	"errors"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// fakePin follows periph's gpiotest.Pin (gpiotest itself needs
// github.com/jonboulle/clockwork, which this module's go.sum lacks): L is
// the level, a level sent on EdgesChan is an edge that WaitForEdge
// consumes and makes the new level. Unlike gpiotest it fails the test on a
// WaitForEdge timeout that is not positive (-1 and 0 mean opposite things
// on the character device and in gpiotest: the driver must use neither),
// and Halt interrupts a wait, as on the character device.
type fakePin struct {
	t    testing.TB
	name string

	mu        sync.Mutex
	L         gpio.Level
	pull      gpio.Pull
	edge      gpio.Edge
	outs      []gpio.Level // every Out, in order
	failOut   error        // Out fails with it while set
	onOut     func(gpio.Level)
	EdgesChan chan gpio.Level
	halt      chan struct{}
}

func newFakePin(t testing.TB, name string) *fakePin {
	return &fakePin{t: t, name: name, EdgesChan: make(chan gpio.Level, 64), halt: make(chan struct{})}
}

func (p *fakePin) String() string   { return p.name }
func (p *fakePin) Name() string     { return p.name }
func (p *fakePin) Number() int      { return 0 }
func (p *fakePin) Function() string { return "" }

func (p *fakePin) Halt() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.halt:
	default:
		close(p.halt)
	}
	return nil
}

func (p *fakePin) In(pull gpio.Pull, edge gpio.Edge) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pull, p.edge = pull, edge
	switch pull { // as gpiotest: a pull sets the idle level
	case gpio.PullUp:
		p.L = gpio.High
	case gpio.PullDown:
		p.L = gpio.Low
	}
	return nil
}

func (p *fakePin) Read() gpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.L
}

func (p *fakePin) WaitForEdge(timeout time.Duration) bool {
	if timeout <= 0 {
		p.t.Errorf("%s: WaitForEdge(%v): only positive timeouts mean the same on hardware and in gpiotest", p.name, timeout)
		return false
	}
	p.mu.Lock()
	halt := p.halt
	p.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l := <-p.EdgesChan:
		p.mu.Lock()
		p.L = l
		p.mu.Unlock()
		return true
	case <-t.C:
		return false
	case <-halt:
		return false
	}
}

func (p *fakePin) Pull() gpio.Pull        { return p.pull }
func (p *fakePin) DefaultPull() gpio.Pull { return gpio.PullNoChange }

func (p *fakePin) Out(l gpio.Level) error {
	p.mu.Lock()
	if p.failOut != nil {
		err := p.failOut
		p.mu.Unlock()
		return err
	}
	p.L = l
	p.outs = append(p.outs, l)
	on := p.onOut
	p.mu.Unlock()
	if on != nil {
		on(l)
	}
	return nil
}

func (p *fakePin) PWM(gpio.Duty, physic.Frequency) error { return errors.New("fake pin: no PWM") }

func (p *fakePin) set(l gpio.Level) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.L = l
}

func (p *fakePin) history() []gpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]gpio.Level(nil), p.outs...)
}

// board is a set of fake pins by name, and its Lookup.
type board map[string]*fakePin

func newBoard(t testing.TB, names ...string) board {
	b := board{}
	for _, n := range names {
		b[n] = newFakePin(t, n)
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
