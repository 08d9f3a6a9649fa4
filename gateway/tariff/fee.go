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
	Free  bool
	Units []Unit // in time order
}

// Unit is one charged unit of a stay.
type Unit struct {
	// Start and End are in the tariff's time zone. End is Start plus the
	// band's UnitMinutes of real time; the last unit may end after the exit
	// (a started unit is charged in full).
	Start, End time.Time
	Band       string // name of the band in force at Start
	Price      int64  // the band's unit price
	Charged    int64  // Price reduced by the caps
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
// marked Free; one second more and every unit from entry is charged.
func (t *Tariff) Fee(entry, exit time.Time) Breakdown {
	loc := t.location()
	b := Breakdown{
		Version:  t.Version,
		Currency: t.Currency,
		Entry:    entry.Round(0).In(loc),
		Exit:     exit.Round(0).In(loc),
	}
	r := recorder{labels: map[labelKey]string{}}
	if n := t.unitsHint(exit.Sub(entry)); n > 0 {
		r.units = make([]Unit, 0, n)
	}
	b.Total, b.Free = t.compute(entry, exit, &r)
	b.Units = r.units
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
	stay := exit.Sub(entry)
	if stay <= time.Duration(t.FreeMinutes)*time.Minute || stay <= 0 {
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

	base := entry.Unix() // floor: time keeps nanoseconds in [0, 1e9)
	var zoneOff, zoneFrom, zoneTo int64
	zoneFrom, zoneTo = 1, 0 // empty: look up on the first unit

	for off := int64(0); time.Duration(off)*time.Second < stay; {
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
		charge := price
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
			rec.add(loc, entry, off, unitSec, bi, band, price, charge,
				occLeft, occDay, winP, win, dayLeft, dayNum)
		}
		for _, p := range [...]*int64{occLeft, winP, dayLeft} {
			if p != nil {
				*p -= charge
			}
		}
		total += charge
		off += unitSec
	}
	return total, false
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

// recorder collects units for Fee.
type recorder struct {
	units  []Unit
	names  []string // backing store for the units' CappedBy
	labels map[labelKey]string
}

type labelKey struct {
	kind byte // 'o' occurrence, 'w' 24 h window, 'd' day
	band int
	n    int64
}

func (r *recorder) label(k labelKey, band string) string {
	if s, ok := r.labels[k]; ok {
		return s
	}
	var s string
	switch k.kind {
	case 'o':
		s = "band " + band + " occurrence " + dayString(k.n)
	case 'w':
		s = "24h #" + strconv.FormatInt(k.n+1, 10)
	default:
		s = "day " + dayString(k.n)
	}
	r.labels[k] = s
	return s
}

func (r *recorder) add(loc *time.Location, entry time.Time, off, unitSec int64,
	bi int, band *Band, price, charge int64,
	occLeft *int64, occDay int64, winLeft *int64, win int64, dayLeft *int64, dayNum int64,
) {
	start := entry.Add(time.Duration(off) * time.Second).In(loc)
	u := Unit{
		Start:   start,
		End:     start.Add(time.Duration(unitSec) * time.Second),
		Price:   price,
		Charged: charge,
	}
	if band != nil {
		u.Band = band.Name
	}
	if charge < price {
		n := len(r.names)
		if occLeft != nil && *occLeft == charge {
			r.names = append(r.names, r.label(labelKey{'o', bi, occDay}, u.Band))
		}
		if winLeft != nil && *winLeft == charge {
			r.names = append(r.names, r.label(labelKey{'w', 0, win}, ""))
		}
		if dayLeft != nil && *dayLeft == charge {
			r.names = append(r.names, r.label(labelKey{'d', 0, dayNum}, ""))
		}
		u.CappedBy = r.names[n:len(r.names):len(r.names)]
	}
	r.units = append(r.units, u)
}

// dayString formats a local day number (days since 1970-01-01 in local
// wall-clock time) as a date.
func dayString(n int64) string {
	return time.Unix(n*secPerDay, 0).UTC().Format(time.DateOnly)
}

// unitsHint estimates how many units a stay has, to size the slice once.
func (t *Tariff) unitsHint(stay time.Duration) int {
	shortest := 0
	for _, b := range t.Bands {
		if b.UnitMinutes > 0 && (shortest == 0 || b.UnitMinutes < shortest) {
			shortest = b.UnitMinutes
		}
	}
	if shortest == 0 || stay <= 0 {
		return 0
	}
	return int(min(stay/(time.Duration(shortest)*time.Minute)+1, 1<<16))
}
