package tariff

import (
	"math"
	"strconv"
	"time"
)

// Breakdown is a fee with the units it is made of, for display and audit.
type Breakdown struct {
	Version  string // the tariff version that computed it
	Currency string
	// Entry and Exit are the stay, in the tariff's time zone.
	Entry, Exit time.Time
	Total       int64 // minor units
	// Free is true when the stay lasted at most FreeMinutes (including a
	// stay whose exit is not after its entry); Units is then empty.
	Free bool
	// Units lists the charged units in time order, consecutive identical
	// ones (same band, price, charge and caps) as one Unit with a Count, so
	// that a month's stay is a few hundred lines, not thousands. At most
	// MaxLines are listed.
	Units []Unit
	// Unlisted counts the units after the first MaxLines lines: they are in
	// Total but not in Units. It is 0 for any stay of less than years.
	Unlisted int64
}

// MaxLines bounds the length of Breakdown.Units, so that a breakdown's
// memory is bounded whatever the stay.
const MaxLines = 1 << 14

// Unit is a run of Count consecutive charged units of a stay, each like
// the others: same band, price, charge and caps.
type Unit struct {
	// Start is the first unit's start and End the last one's end, in the
	// tariff's time zone. A unit lasts the band's UnitMinutes of real time,
	// so End is Start plus Count × UnitMinutes; the last unit may end after
	// the exit (a started unit is charged in full).
	Start, End time.Time
	Count      int64  // units in the run, >= 1
	Band       string // name of the band in force at each unit's start
	Price      int64  // the band's unit price
	Charged    int64  // what each unit costs: Price reduced by the caps
	// CappedBy names the caps that reduced the charge (those whose remainder
	// equals Charged < Price), each one of:
	//   "band night occurrence 2026-03-28" (the occurrence of band "night"
	//                                       that began on that local date)
	//   "24h #1"                            (the first 24 h from entry)
	//   "day 2026-03-29"                    (the local calendar day)
	CappedBy []string
}

// Fee computes what a stay from entry to exit costs, unit by unit. Times are
// instants; their zone does not matter (the tariff reads them in its own).
// Monotonic clock readings are ignored: the stay is exit minus entry in wall
// time, as stored. A stay that is not longer than FreeMinutes costs 0 and is
// marked Free; one second more and every unit from entry is charged. Its
// memory is bounded (MaxLines); its time grows with the number of units, as
// Total's does.
func (t *Tariff) Fee(entry, exit time.Time) Breakdown {
	loc := t.location()
	b := Breakdown{
		Version:  t.Version,
		Currency: t.Currency,
		Entry:    entry.Round(0).In(loc),
		Exit:     exit.Round(0).In(loc),
	}
	r := recorder{loc: loc, entry: entry.Round(0), labels: map[labelKey]string{}}
	b.Total, b.Free = t.compute(entry, exit, &r)
	r.flush()
	b.Units, b.Unlisted = r.units, r.unlisted
	return b
}

// Total is Fee(entry, exit).Total without the breakdown; it allocates
// nothing for tariffs of up to 8 bands. For a valid tariff it never
// decreases as exit grows, so what is due after a payment of paid is
// Total(entry, now) - paid.
func (t *Tariff) Total(entry, exit time.Time) int64 {
	total, _ := t.compute(entry, exit, nil)
	return total
}

// capRing holds the remainders of a cap for the last two keys it saw (local
// day numbers). Keys arrive in time order, so a cap period is normally left
// for good; a key comes back only when the clocks go back past midnight into
// the previous date (America/Sitka, 1867: from Oct 19 15:30 back to Oct 18),
// and then it is the one before the latest. No current zone does this, but
// the engine must not depend on it (TestTotalDateRevisit).
type capRing struct {
	key  [2]int64
	left [2]int64
	used [2]bool
	last int
}

// slot returns where key's remainder is kept, starting it at full when the
// key is new.
func (r *capRing) slot(key, full int64) *int64 {
	if r.used[r.last] && r.key[r.last] == key {
		return &r.left[r.last]
	}
	o := 1 - r.last
	r.last = o
	if !(r.used[o] && r.key[o] == key) {
		r.key[o], r.left[o], r.used[o] = key, full, true
	}
	return &r.left[o]
}

const (
	secPerDay    = 24 * 60 * 60
	secPer24h    = secPerDay
	ringsOnStack = 8 // bands beyond this many make Total allocate
)

// compute is the one implementation behind Fee and Total. It walks the units
// with integer seconds: a unit starts a whole number of minutes after entry,
// so its local wall-clock time is its Unix second plus the zone offset, and
// the offset only has to be looked up again when a zone period (a stretch
// between two DST transitions) ends. rec, when not nil, collects the units.
func (t *Tariff) compute(entry, exit time.Time, rec *recorder) (total int64, free bool) {
	entry, exit = entry.Round(0), exit.Round(0)
	// Units start at entry plus a whole number of seconds off; lastOff is
	// the last such offset before the exit. Seconds, not a Duration: a
	// Duration saturates at 292 years, and a stay may be longer.
	base := entry.Unix() // floor: time keeps nanoseconds in [0, 1e9)
	lastOff := subSat(exit.Unix(), base)
	if exit.Nanosecond() <= entry.Nanosecond() {
		lastOff = subSat(lastOff, 1)
	}
	// The stay is at most FreeMinutes exactly when no unit starts at or
	// after FreeMinutes: lastOff < FreeMinutes×60.
	if lastOff < 0 || (t.FreeMinutes > 0 && (t.FreeMinutes > math.MaxInt64/60 || lastOff < int64(t.FreeMinutes)*60)) {
		return 0, true
	}
	loc := t.location()

	var ringBuf [ringsOnStack]capRing
	occ := ringBuf[:]
	if len(t.Bands) > len(occ) {
		occ = make([]capRing, len(t.Bands))
	}
	var day capRing
	win, winLeft := int64(-1), int64(0) // current 24 h window and its remainder

	var zoneOff, zoneFrom, zoneTo int64
	zoneFrom, zoneTo = 1, 0 // empty: look up on the first unit

	for off := int64(0); ; {
		sec := base + off
		if sec < zoneFrom || sec >= zoneTo {
			zoneOff, zoneFrom, zoneTo = zoneAt(sec, loc)
		}
		local := sec + zoneOff
		dayNum := floorDiv(local, secPerDay)
		tod := int((local - dayNum*secPerDay) / 60)

		bi := t.bandAt(tod)
		var band *Band
		unitSec := int64(60) // a gap in an invalid tariff: free 1-minute units
		var price int64
		if bi >= 0 {
			band = &t.Bands[bi]
			price = band.UnitPrice
			if band.UnitMinutes > 0 && band.UnitMinutes <= maxUnitMinutes {
				unitSec = int64(band.UnitMinutes) * 60
			}
		}

		// The caps covering this unit's start; nil when not configured.
		var occLeft, winP, dayLeft *int64
		var occDay int64
		charge := max(price, 0) // a negative price (an invalid tariff) is free
		if band != nil && band.Cap > 0 {
			occDay = dayNum
			if band.wraps() && tod < band.To {
				occDay-- // the occurrence began the evening before
			}
			occLeft = occ[bi].slot(occDay, band.Cap)
			charge = min(charge, *occLeft)
		}
		if t.Cap24h > 0 {
			if w := off / secPer24h; w != win {
				win, winLeft = w, t.Cap24h
			}
			winP = &winLeft
			charge = min(charge, winLeft)
		}
		if t.CapDay > 0 {
			dayLeft = day.slot(dayNum, t.CapDay)
			charge = min(charge, *dayLeft)
		}
		if rec != nil {
			rec.add(off, unitSec, bi, band, price, charge,
				occLeft, occDay, winP, win, dayLeft, dayNum)
		}
		for _, p := range [...]*int64{occLeft, winP, dayLeft} {
			if p != nil {
				*p -= charge
			}
		}
		// Saturating: a valid tariff cannot reach 2^63 (MaxAmount), but no
		// tariff may wrap a fee negative and let a car out free.
		if total > math.MaxInt64-charge {
			total = math.MaxInt64
		} else {
			total += charge
		}
		if unitSec > lastOff-off {
			break // the next unit would start at or after the exit
		}
		off += unitSec
	}
	return total, false
}

// subSat is a - b, saturated to the int64 range.
func subSat(a, b int64) int64 {
	d := a - b
	if (b > 0 && d > a) || (b < 0 && d < a) {
		if b > 0 {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	return d
}

// zoneAt returns the zone offset in force at Unix second sec and the Unix
// seconds [from, to) over which it stays in force.
func zoneAt(sec int64, loc *time.Location) (off, from, to int64) {
	tt := time.Unix(sec, 0).In(loc)
	_, o := tt.Zone()
	start, end := tt.ZoneBounds()
	from, to = math.MinInt64, math.MaxInt64
	if !start.IsZero() {
		from = start.Unix()
	}
	if !end.IsZero() {
		to = end.Unix()
	}
	return int64(o), from, to
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// recorder collects units for Fee, collapsing each run of identical units
// into one Unit as it goes.
type recorder struct {
	loc      *time.Location
	entry    time.Time
	units    []Unit
	unlisted int64
	names    []string // backing store for the units' CappedBy
	labels   map[labelKey]string
	// lastLabel caches the latest label of each kind.
	lastLabel [3]struct {
		k  labelKey
		s  string
		ok bool
	}

	// The run being collected: its first unit's offset from entry and its
	// units' length (seconds), their count, band, price, charge and caps.
	inRun         bool
	off, unitSec  int64
	count         int64
	bi            int
	band          string
	price, charge int64
	capped        [3]string
	nCapped       int
}

type labelKey struct {
	kind byte // 'o' occurrence, 'w' 24 h window, 'd' day
	band int
	n    int64
}

func (r *recorder) label(k labelKey, band string) string {
	// Most units are capped by the same caps as the unit before: the last
	// label of each kind saves a map lookup.
	c := &r.lastLabel[labelSlot(k.kind)]
	if c.ok && c.k == k {
		return c.s
	}
	s, ok := r.labels[k]
	if !ok {
		s = r.newLabel(k, band)
		r.labels[k] = s
	}
	c.k, c.s, c.ok = k, s, true
	return s
}

func labelSlot(kind byte) int {
	switch kind {
	case 'o':
		return 0
	case 'w':
		return 1
	}
	return 2
}

func (r *recorder) newLabel(k labelKey, band string) string {
	var s string
	switch k.kind {
	case 'o':
		s = "band " + band + " occurrence " + dayString(k.n)
	case 'w':
		s = "24h #" + strconv.FormatInt(k.n+1, 10)
	default:
		s = "day " + dayString(k.n)
	}
	return s
}

func (r *recorder) add(off, unitSec int64, bi int, band *Band, price, charge int64,
	occLeft *int64, occDay int64, winLeft *int64, win int64, dayLeft *int64, dayNum int64,
) {
	name := ""
	if band != nil {
		name = band.Name
	}
	var capped [3]string
	n := 0
	if charge < price {
		if occLeft != nil && *occLeft == charge {
			capped[n] = r.label(labelKey{'o', bi, occDay}, name)
			n++
		}
		if winLeft != nil && *winLeft == charge {
			capped[n] = r.label(labelKey{'w', 0, win}, "")
			n++
		}
		if dayLeft != nil && *dayLeft == charge {
			capped[n] = r.label(labelKey{'d', 0, dayNum}, "")
			n++
		}
	}
	if r.inRun && bi == r.bi && unitSec == r.unitSec && price == r.price && charge == r.charge &&
		n == r.nCapped && capped == r.capped {
		r.count++
		return
	}
	r.flush()
	r.inRun = true
	r.off, r.unitSec, r.count = off, unitSec, 1
	r.bi, r.band, r.price, r.charge = bi, name, price, charge
	r.capped, r.nCapped = capped, n
}

// flush ends the run being collected: it becomes a Unit, or is counted as
// unlisted once MaxLines are listed.
func (r *recorder) flush() {
	if !r.inRun {
		return
	}
	r.inRun = false
	if len(r.units) >= MaxLines {
		r.unlisted += r.count
		return
	}
	// Unix seconds, not Add: a Duration cannot reach past 292 years.
	sec, ns := r.entry.Unix()+r.off, int64(r.entry.Nanosecond())
	u := Unit{
		Start:   time.Unix(sec, ns).In(r.loc),
		End:     time.Unix(sec+r.count*r.unitSec, ns).In(r.loc),
		Count:   r.count,
		Band:    r.band,
		Price:   r.price,
		Charged: r.charge,
	}
	if r.nCapped > 0 {
		k := len(r.names)
		r.names = append(r.names, r.capped[:r.nCapped]...)
		u.CappedBy = r.names[k:len(r.names):len(r.names)]
	}
	r.units = append(r.units, u)
}

// dayString formats a local day number (days since 1970-01-01 in local
// wall-clock time) as a date.
func dayString(n int64) string {
	return time.Unix(n*secPerDay, 0).UTC().Format(time.DateOnly)
}
