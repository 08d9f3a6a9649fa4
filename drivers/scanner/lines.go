package scanner

import "fmt"

// line is a complete line: its text, or why it was rejected.
type line struct {
	text   string
	reject string // TooLong, BadByte, or "" for a good line
	detail string
}

// lineAssembler cuts a byte stream into lines at CR or LF, holding at most
// max bytes of a line: a longer line is dropped as it comes, and only its
// length is kept to report it.
type lineAssembler struct {
	max     int
	buf     []byte
	n       int  // bytes of the current line, kept or not
	bad     int  // index of the first bad byte, -1 for none
	badByte byte // that byte
}

func newLines(max int) *lineAssembler {
	return &lineAssembler{max: max, buf: make([]byte, 0, min(max, 256)), bad: -1}
}

func (a *lineAssembler) reset() {
	a.buf, a.n, a.bad = a.buf[:0], 0, -1
}

// feed adds b and returns the lines it completes.
func (a *lineAssembler) feed(b []byte) []line {
	var out []line
	for _, c := range b {
		if c == '\r' || c == '\n' {
			switch {
			case a.n > a.max:
				out = append(out, line{reject: TooLong, detail: fmt.Sprintf("%d bytes; the limit is %d", a.n, a.max)})
			case a.bad >= 0:
				out = append(out, line{reject: BadByte, detail: fmt.Sprintf("byte %#02x at %d of %d", a.badByte, a.bad, a.n)})
			case a.n > 0:
				out = append(out, line{text: string(a.buf)})
			}
			a.reset()
			continue
		}
		a.n++
		if a.n > a.max {
			a.buf = a.buf[:0]
			continue
		}
		if (c < 0x20 || c > 0x7e) && a.bad < 0 {
			a.bad, a.badByte = a.n-1, c
		}
		a.buf = append(a.buf, c)
	}
	return out
}
