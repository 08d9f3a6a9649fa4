package modbus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	goburrow "github.com/goburrow/modbus"
	"github.com/goburrow/serial"
)

// tcpDialer opens goburrow's TCP client handler. Its idle timer is off (it
// would close the connection from a goroutine of its own); the bus owns
// the connection's lifetime.
func tcpDialer(addr string) dialFunc {
	return func(timeout time.Duration) (*link, error) {
		h := goburrow.NewTCPClientHandler(addr)
		h.IdleTimeout = 0
		h.Timeout = timeout
		if err := h.Connect(); err != nil {
			return nil, err
		}
		return &link{
			client:     goburrow.NewClient(h),
			setUnit:    func(u uint8) { h.SlaveId = u },
			setTimeout: func(d time.Duration) { h.Timeout = d },
			close:      h.Close,
		}, nil
	}
}

// rtuPoll is how long one read of the serial port waits for a byte before
// the transaction's deadline is looked at again.
const rtuPoll = 10 * time.Millisecond

// rtuDialer opens the serial port with goburrow/serial and frames with
// goburrow's RTU packager, but reads with rtuTransport rather than
// goburrow's RTU transporter. That one sleeps for a computed frame time
// before reading (at 19200 baud about 1.4 times the real frame time, which
// alone costs 10% of the line rate), reads without a lock while its idle
// timer may close the port from another goroutine, and leaves stray bytes
// in the buffer after a timeout.
func rtuDialer(c RTUConfig) dialFunc {
	return func(timeout time.Duration) (*link, error) {
		port, err := serial.Open(&serial.Config{
			Address:  c.Device,
			BaudRate: c.Baud,
			DataBits: c.DataBits,
			StopBits: c.StopBits,
			Parity:   c.Parity,
			Timeout:  rtuPoll,
		})
		if err != nil {
			return nil, err
		}
		t := &rtuTransport{port: port}
		t.drain()
		pk := goburrow.NewRTUClientHandler(c.Device) // its packager only
		return &link{
			client:     goburrow.NewClient2(pk, t),
			setUnit:    func(u uint8) { pk.SlaveId = u },
			setTimeout: func(d time.Duration) { t.timeout = d },
			close:      port.Close,
		}, nil
	}
}

// rtuTransport implements goburrow's Transporter on a serial port: it
// writes the request and reads the response as its bytes arrive, until the
// length the request implies (or an exception's 5 bytes), within the
// transaction's timeout. The bus keeps the silence between frames.
type rtuTransport struct {
	port    io.ReadWriter
	timeout time.Duration
	buf     [256]byte
}

var errRTUTimeout = errors.New("modbus rtu: timed out waiting for the response")

func (t *rtuTransport) Send(req []byte) ([]byte, error) {
	deadline := time.Now().Add(t.timeout)
	if _, err := t.port.Write(req); err != nil {
		return nil, fmt.Errorf("modbus rtu: write: %w", err)
	}
	want := rtuResponseLength(req)
	n := 0
	for n < want {
		if time.Now().After(deadline) {
			if n > 0 {
				return nil, fmt.Errorf("%w (%d of %d bytes)", errRTUTimeout, n, want)
			}
			return nil, errRTUTimeout
		}
		m, err := t.port.Read(t.buf[n:])
		if errors.Is(err, serial.ErrTimeout) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("modbus rtu: read: %w", err)
		}
		if m == 0 {
			return nil, fmt.Errorf("modbus rtu: read: %w", io.EOF) // the port hung up
		}
		n += m
		if n >= 2 && t.buf[1] == req[1]|0x80 {
			want = 5 // an exception: unit, function|0x80, code, CRC
		}
	}
	if n > want {
		return nil, fmt.Errorf("modbus rtu: %d bytes received; the response is %d", n, want)
	}
	resp := make([]byte, n)
	copy(resp, t.buf[:n])
	return resp, nil
}

// drain discards whatever is waiting in the port's input.
func (t *rtuTransport) drain() {
	for range 64 {
		if n, err := t.port.Read(t.buf[:]); err != nil || n == 0 {
			return
		}
	}
}

// rtuResponseLength is the length of the normal response to an RTU
// request: unit, function, data, CRC.
func rtuResponseLength(req []byte) int {
	if len(req) < 6 {
		return 5
	}
	qty := int(binary.BigEndian.Uint16(req[4:]))
	switch req[1] {
	case goburrow.FuncCodeReadCoils, goburrow.FuncCodeReadDiscreteInputs:
		return 5 + (qty+7)/8
	case goburrow.FuncCodeReadHoldingRegisters, goburrow.FuncCodeReadInputRegisters:
		return 5 + 2*qty
	case goburrow.FuncCodeWriteSingleCoil, goburrow.FuncCodeWriteSingleRegister,
		goburrow.FuncCodeWriteMultipleCoils, goburrow.FuncCodeWriteMultipleRegisters:
		return 8
	}
	return 5
}
