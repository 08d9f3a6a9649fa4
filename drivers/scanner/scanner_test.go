package scanner

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lotgate/lotgate/drivers/ptytest"
	"github.com/lotgate/lotgate/gateway"
)

func TestLines(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		chunks []string
		want   []string // text, or "!reason"
	}{
		{"LF", 64, []string{"abc\n"}, []string{"abc"}},
		{"CR LF: the empty half is ignored", 64, []string{"abc\r\n", "def\r\n"}, []string{"abc", "def"}},
		{"CR", 64, []string{"abc\rdef\r"}, []string{"abc", "def"}},
		{"split across reads", 64, []string{"LG1:", "ABC", "-12\n"}, []string{"LG1:ABC-12"}},
		{"no terminator yet", 64, []string{"abc"}, nil},
		{"exactly the limit", 4, []string{"abcd\n"}, []string{"abcd"}},
		{"one past the limit", 4, []string{"abcde\n", "ok\n"}, []string{"!too_long", "ok"}},
		{"far past the limit", 4, []string{strings.Repeat("x", 10000), "\n"}, []string{"!too_long"}},
		{"NUL", 64, []string{"ab\x00c\n"}, []string{"!bad_byte"}},
		{"escape sequence", 64, []string{"\x1b[31mred\n"}, []string{"!bad_byte"}},
		{"DEL", 64, []string{"ab\x7f\n"}, []string{"!bad_byte"}},
		{"8-bit byte", 64, []string{"caf\xe9\n"}, []string{"!bad_byte"}},
		{"tab", 64, []string{"a\tb\n"}, []string{"!bad_byte"}},
		{"URL and base45", 64, []string{"https://lot.example/x/out-1\nLG1:6BFOXN*TS0BI$ZD.P9UOL97O4-2HH77HRM3DSPTLRR+%3\n"}, []string{"https://lot.example/x/out-1", "LG1:6BFOXN*TS0BI$ZD.P9UOL97O4-2HH77HRM3DSPTLRR+%3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newLines(tt.max)
			var got []string
			for _, c := range tt.chunks {
				for _, l := range a.feed([]byte(c)) {
					if l.reject != "" {
						got = append(got, "!"+l.reject)
					} else {
						got = append(got, l.text)
					}
				}
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("feed(%q): got %q; want %q", tt.chunks, got, tt.want)
			}
			if cap(a.buf) > max(tt.max, 256) {
				t.Errorf("buffer grew to %d bytes; the limit is %d", cap(a.buf), tt.max)
			}
		})
	}
}

// recorder is the core's side.
type recorder struct {
	mu      sync.Mutex
	scans   []string
	health  []gateway.DeviceHealth
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) note() {
	close(r.changed)
	r.changed = make(chan struct{})
}
func (r *recorder) SensorChanged(context.Context, string, bool) {}
func (r *recorder) Scanned(_ context.Context, id, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.scans = append(r.scans, id+": "+text)
	r.note()
}
func (r *recorder) TicketRequested(context.Context, string)       {}
func (r *recorder) CashPaid(context.Context, gateway.CashPayment) {}
func (r *recorder) DeviceHealthChanged(_ context.Context, h gateway.DeviceHealth) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.health = append(r.health, h)
	r.note()
}

func (r *recorder) wait(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok, ch := cond(), r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			tb.Fatalf("timed out waiting for %s; scans %q, health %+v", what, r.scans, r.health)
		}
	}
}

func (r *recorder) lastOnline() (bool, bool) {
	if len(r.health) == 0 {
		return false, false
	}
	return r.health[len(r.health)-1].Online, true
}

// countHandler counts log records by message.
type countHandler struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n[r.Message]++
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }

// Lines from a reader (a bench's stdin) are delivered; bad ones are
// counted by reason and logged once per LogEvery.
func TestReaderAndRejections(t *testing.T) {
	pr, pw := io.Pipe()
	r := newRecorder()
	logs := &countHandler{n: make(map[string]int)}
	d, err := Open([]Scanner{{ID: "bench", Reader: pr, MaxLine: 32}}, Options{Inputs: r, Logger: slog.New(logs), LogEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	fmt.Fprint(pw, "T-AAAA\r\n")
	for range 5 {
		fmt.Fprint(pw, "bad\x01line\n")
	}
	fmt.Fprint(pw, strings.Repeat("x", 33)+"\n", "T-BBBB\n")
	r.wait(t, "two scans", func() bool { return len(r.scans) == 2 })
	if got := strings.Join(r.scans, ","); got != "bench: T-AAAA,bench: T-BBBB" {
		t.Errorf("scans: %q", got)
	}
	st, _ := d.Stats("bench")
	if st.Lines != 2 || st.Rejected[BadByte] != 5 || st.Rejected[TooLong] != 1 {
		t.Errorf("stats: %+v; want 2 lines, 5 bad_byte, 1 too_long", st)
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if logs.n["scan rejected"] != 2 {
		t.Errorf("rejection logs: %d; want 2 (one per reason: the rest are rate-limited)", logs.n["scan rejected"])
	}
}

// Close stops a reader blocked in Read when it can be closed.
func TestCloseStopsReader(t *testing.T) {
	pr, _ := io.Pipe()
	d, err := Open([]Scanner{{ID: "bench", Reader: pr}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { d.Close(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not stop a reader blocked in Read")
	}
}

func TestOpenRefusesBadConfig(t *testing.T) {
	for _, s := range [][]Scanner{
		{{ID: "", Reader: strings.NewReader("")}},
		{{ID: "a"}},
		{{ID: "a", Reader: strings.NewReader(""), Input: "/dev/input/event0"}},
		{{ID: "a", Serial: &SerialPort{}}},
		{{ID: "a", Reader: strings.NewReader("")}, {ID: "a", Reader: strings.NewReader("")}},
	} {
		if d, err := Open(s, Options{}); err == nil {
			d.Close(context.Background())
			t.Errorf("Open(%+v): nil error", s)
		}
	}
}

// A serial scanner on a pty pair: lines arrive; socat killed (the scanner
// unplugged) the scanner goes offline; a new pty at the same path (plugged
// back) and it reads again.
func TestSerialUnplugReplug(t *testing.T) {
	socat := ptytest.Socat(t)
	dir := t.TempDir()
	port, other := filepath.Join(dir, "scanner"), filepath.Join(dir, "wire")
	unplug := ptytest.Link(t, socat, port, other)
	r := newRecorder()
	d, err := Open([]Scanner{{ID: "exit-1", Serial: &SerialPort{Device: port, Baud: 9600}}},
		Options{Inputs: r, Health: r, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	send := func(text string) {
		t.Helper()
		f, err := os.OpenFile(other, os.O_WRONLY|syscall.O_NOCTTY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(text); err != nil {
			t.Fatal(err)
		}
	}
	send("LG1:FIRST\r\n")
	r.wait(t, "the first scan", func() bool { return len(r.scans) == 1 })

	unplug()
	r.wait(t, "offline", func() bool { on, ok := r.lastOnline(); return ok && !on })
	ptytest.Link(t, socat, port, other)
	r.wait(t, "online again", func() bool { on, ok := r.lastOnline(); return ok && on })
	send("LG1:SECOND\r\n")
	r.wait(t, "the second scan", func() bool { return len(r.scans) == 2 })
	if got := strings.Join(r.scans, ","); got != "exit-1: LG1:FIRST,exit-1: LG1:SECOND" {
		t.Errorf("scans: %q", got)
	}
}

// keyEvents encodes the key presses typing text (US layout) as
// input_events, with shift where needed.
func keyEvents(text string) []byte {
	codes := make(map[byte][2]uint16) // char → code, shifted
	for code, cs := range keymap {
		if _, ok := codes[cs[0]]; !ok {
			codes[cs[0]] = [2]uint16{code, 0}
		}
		if cs[1] != cs[0] {
			codes[cs[1]] = [2]uint16{code, 1}
		}
	}
	var out []byte
	ev := func(code uint16, value int32) {
		b := make([]byte, eventSize)
		o := eventSize - 8
		binary.LittleEndian.PutUint16(b[o:], evKey)
		binary.LittleEndian.PutUint16(b[o+2:], code)
		binary.LittleEndian.PutUint32(b[o+4:], uint32(value))
		out = append(out, b...)
	}
	for i := 0; i < len(text); i++ {
		if text[i] == '?' && i+1 < len(text) && text[i+1] == '?' { // "??": an unknown key (F1)
			ev(59, 1)
			ev(59, 0)
			i++
			continue
		}
		c := codes[text[i]]
		if c[1] == 1 {
			ev(keyLeftShift, 1)
		}
		ev(c[0], 1)
		ev(c[0], 0)
		if c[1] == 1 {
			ev(keyLeftShift, 0)
		}
	}
	return out
}

// A keyboard-wedge scanner: key events become lines; the device going
// away is offline, and it is opened again.
func TestWedge(t *testing.T) {
	r := newRecorder()
	opened := make(chan *io.PipeWriter, 4)
	open := func(path string) (io.ReadCloser, error) {
		if path != "/dev/input/by-id/usb-scanner-event-kbd" {
			t.Errorf("opened %q", path)
		}
		pr, pw := io.Pipe()
		opened <- pw
		return pr, nil
	}
	d, err := Open([]Scanner{{ID: "in-1", Input: "/dev/input/by-id/usb-scanner-event-kbd"}},
		Options{Inputs: r, Health: r, openInput: open, BackoffMin: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	pw := <-opened
	pw.Write(keyEvents("LG1:Ab-9$%*+./\n"))
	pw.Write(keyEvents("bad??key\n"))
	r.wait(t, "a scan", func() bool { return len(r.scans) == 1 })
	if r.scans[0] != "in-1: LG1:Ab-9$%*+./" {
		t.Errorf("scan: %q", r.scans[0])
	}
	pw.Close() // unplugged
	r.wait(t, "offline", func() bool { on, ok := r.lastOnline(); return ok && !on })
	pw = <-opened
	r.wait(t, "online", func() bool { on, ok := r.lastOnline(); return ok && on })
	pw.Write(keyEvents("AGAIN\n"))
	r.wait(t, "the second scan", func() bool { return len(r.scans) == 2 })
	if st, _ := d.Stats("in-1"); st.Rejected[BadByte] != 1 {
		t.Errorf("stats: %+v; want the line with an unknown key rejected", st)
	}
}
