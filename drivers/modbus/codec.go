package modbus

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// registers turns the bytes of a register read (big-endian pairs) into
// registers.
func registers(b []byte) []uint16 {
	regs := make([]uint16, len(b)/2)
	for i := range regs {
		regs[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return regs
}

// registerBytes is the inverse of registers.
func registerBytes(regs []uint16) []byte {
	b := make([]byte, 2*len(regs))
	for i, r := range regs {
		binary.BigEndian.PutUint16(b[2*i:], r)
	}
	return b
}

// bitAt returns bit i of a packed bit read (first bit in the lowest bit of
// the first byte, as Modbus packs them).
func bitAt(b []byte, i int) bool {
	if i/8 >= len(b) {
		return false
	}
	return b[i/8]&(1<<(i%8)) != 0
}

// rawInt reads the point's value as an integer from its registers
// (len(regs) == width). A Bool in a register reads as 0 or 1.
func rawInt(pt *Point, regs []uint16) int64 {
	switch pt.Type {
	case Bool:
		v := regs[0]
		if pt.Mask != 0 {
			v &= pt.Mask
		}
		if v != 0 {
			return 1
		}
		return 0
	case Uint16:
		return int64(regs[0])
	case Int16:
		return int64(int16(regs[0]))
	case Uint32, Int32:
		hi, lo := regs[0], regs[1]
		if pt.WordOrder == LowFirst {
			hi, lo = lo, hi
		}
		u := uint32(hi)<<16 | uint32(lo)
		if pt.Type == Int32 {
			return int64(int32(u))
		}
		return int64(u)
	}
	return 0
}

// intRegisters encodes v (already range-checked) as the point's registers.
func intRegisters(pt *Point, v int64) []uint16 {
	switch pt.Type {
	case Uint32, Int32:
		u := uint32(v)
		hi, lo := uint16(u>>16), uint16(u)
		if pt.WordOrder == LowFirst {
			return []uint16{lo, hi}
		}
		return []uint16{hi, lo}
	}
	return []uint16{uint16(v)}
}

// rawString reads a String point: two ASCII characters per register, high
// byte first, up to the first NUL.
func rawString(regs []uint16) string {
	var b strings.Builder
	for _, r := range regs {
		for _, c := range [2]byte{byte(r >> 8), byte(r)} {
			if c == 0 {
				return b.String()
			}
			b.WriteByte(c)
		}
	}
	return b.String()
}

// stringRegisters encodes s for a String point, NUL padded. s must be
// printable ASCII and fit.
func stringRegisters(pt *Point, s string) ([]uint16, error) {
	if len(s) > 2*pt.Length {
		return nil, fmt.Errorf("%q is %d characters; point %s holds %d", s, len(s), pt.Name, 2*pt.Length)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return nil, fmt.Errorf("%q: point %s holds printable ASCII only", s, pt.Name)
		}
	}
	regs := make([]uint16, pt.Length)
	for i := 0; i < len(s); i++ {
		if i%2 == 0 {
			regs[i/2] |= uint16(s[i]) << 8
		} else {
			regs[i/2] |= uint16(s[i])
		}
	}
	return regs, nil
}

// valueRange is the raw range of a number point.
func valueRange(t Type) (lo, hi int64) {
	switch t {
	case Bool:
		return 0, 1
	case Uint16:
		return 0, math.MaxUint16
	case Int16:
		return math.MinInt16, math.MaxInt16
	case Uint32:
		return 0, math.MaxUint32
	case Int32:
		return math.MinInt32, math.MaxInt32
	}
	return 0, 0
}

// toRaw converts a value in gateway units (money in minor units) to the
// point's raw value: v / Scale, which must be a whole number in the
// point's range. Money is never rounded silently.
func toRaw(pt *Point, v int64) (int64, error) {
	raw := v
	if s := pt.scale(); s != 1 {
		f := float64(v) / s
		r := math.Round(f)
		if math.Abs(f-r) > 1e-9*math.Max(1, math.Abs(f)) {
			return 0, fmt.Errorf("%d is not a whole number of point %s's unit (scale %v)", v, pt.Name, s)
		}
		raw = int64(r)
	}
	if lo, hi := valueRange(pt.Type); raw < lo || raw > hi {
		return 0, fmt.Errorf("%d does not fit point %s (%s)", v, pt.Name, pt.Type)
	}
	return raw, nil
}

// fromRaw converts a raw value to gateway units (raw × Scale, rounded to
// the nearest whole unit).
func fromRaw(pt *Point, raw int64) int64 {
	if s := pt.scale(); s != 1 {
		return int64(math.Round(float64(raw) * s))
	}
	return raw
}
