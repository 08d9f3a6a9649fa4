package scanner

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"unsafe"
)

// An input_event is a struct timeval followed by type, code (uint16) and
// value (int32), in the machine's byte order (little-endian on the Pi).
var eventSize = int(unsafe.Sizeof(syscall.Timeval{})) + 8

const (
	evKey      = 1
	keyPress   = 1
	eviocgrab  = 0x40044590 // _IOW('E', 0x90, int)
	unknownKey = 0x1a       // stands for a key with no character: the line is rejected as a bad byte
)

// Linux key codes (input-event-codes.h) to US-layout characters, without
// and with shift.
var keymap = map[uint16][2]byte{
	2: {'1', '!'}, 3: {'2', '@'}, 4: {'3', '#'}, 5: {'4', '$'}, 6: {'5', '%'}, 7: {'6', '^'},
	8: {'7', '&'}, 9: {'8', '*'}, 10: {'9', '('}, 11: {'0', ')'}, 12: {'-', '_'}, 13: {'=', '+'},
	16: {'q', 'Q'}, 17: {'w', 'W'}, 18: {'e', 'E'}, 19: {'r', 'R'}, 20: {'t', 'T'}, 21: {'y', 'Y'},
	22: {'u', 'U'}, 23: {'i', 'I'}, 24: {'o', 'O'}, 25: {'p', 'P'}, 26: {'[', '{'}, 27: {']', '}'},
	30: {'a', 'A'}, 31: {'s', 'S'}, 32: {'d', 'D'}, 33: {'f', 'F'}, 34: {'g', 'G'}, 35: {'h', 'H'},
	36: {'j', 'J'}, 37: {'k', 'K'}, 38: {'l', 'L'}, 39: {';', ':'}, 40: {'\'', '"'}, 41: {'`', '~'},
	43: {'\\', '|'}, 44: {'z', 'Z'}, 45: {'x', 'X'}, 46: {'c', 'C'}, 47: {'v', 'V'}, 48: {'b', 'B'},
	49: {'n', 'N'}, 50: {'m', 'M'}, 51: {',', '<'}, 52: {'.', '>'}, 53: {'/', '?'}, 57: {' ', ' '},
	28: {'\n', '\n'}, 96: {'\n', '\n'}, // Enter, keypad Enter
}

const (
	keyLeftShift  = 42
	keyRightShift = 54
)

// keyDecoder turns key events into the characters a keyboard would type.
type keyDecoder struct{ shift bool }

func (k *keyDecoder) event(typ, code uint16, value int32) (byte, bool) {
	if typ != evKey {
		return 0, false
	}
	if code == keyLeftShift || code == keyRightShift {
		k.shift = value != 0
		return 0, false
	}
	if value != keyPress {
		return 0, false
	}
	c, ok := keymap[code]
	if !ok {
		return unknownKey, true
	}
	if k.shift {
		return c[1], true
	}
	return c[0], true
}

// openEvdev opens an input device and grabs it, so that its keystrokes
// reach only lotgate.
func openEvdev(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, eviocgrab, 1); errno != 0 {
			gerr = errno
		}
	}); err != nil {
		gerr = err
	}
	if gerr != nil {
		f.Close()
		return nil, fmt.Errorf("grab %s (is another program holding it?): %w", path, gerr)
	}
	return f, nil
}

// readInput owns one keyboard-wedge device: open (with backoff), decode
// key events into lines until it goes away, and again.
func (d *Driver) readInput(s Scanner, lines *lineAssembler, open func(string) (io.ReadCloser, error)) {
	online := true
	backoff := d.bmin
	ev := make([]byte, eventSize)
	for d.ctx.Err() == nil {
		rc, err := open(s.Input)
		if err != nil {
			d.setOnline(s.ID, &online, false, fmt.Errorf("open %s: %w", s.Input, err))
			if !d.wait(backoff) {
				return
			}
			backoff = min(2*backoff, d.bmax)
			continue
		}
		d.setOnline(s.ID, &online, true, nil)
		stop := context.AfterFunc(d.ctx, func() { rc.Close() }) // unblocks the read at Close
		lines.reset()
		var keys keyDecoder
		for {
			if _, err = io.ReadFull(rc, ev); err != nil {
				break
			}
			backoff = d.bmin
			o := eventSize - 8
			typ := binary.LittleEndian.Uint16(ev[o:])
			code := binary.LittleEndian.Uint16(ev[o+2:])
			value := int32(binary.LittleEndian.Uint32(ev[o+4:]))
			if c, ok := keys.event(typ, code, value); ok {
				d.feed(s.ID, lines, []byte{c})
			}
		}
		stop()
		rc.Close()
		if d.ctx.Err() != nil {
			return
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		d.setOnline(s.ID, &online, false, fmt.Errorf("read %s: %w", s.Input, err))
		if !d.wait(backoff) {
			return
		}
	}
}
