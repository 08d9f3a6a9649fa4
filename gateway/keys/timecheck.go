package keys

import (
	"slices"
	"time"
)

// TimeCheck is the outcome of Claims.CheckTime.
type TimeCheck int

const (
	TimeOK            TimeCheck = iota // the key is valid at that time
	TimeNotYetValid                    // before NotBefore, or before every window
	TimeExpired                        // at or after Expires, or after every window
	TimeOutsideWindow                  // within the key's life but in no window
)

func (tc TimeCheck) String() string {
	switch tc {
	case TimeOK:
		return "ok"
	case TimeNotYetValid:
		return "not_yet_valid"
	case TimeExpired:
		return "expired"
	case TimeOutsideWindow:
		return "outside_window"
	}
	return "unknown"
}

// CheckTime judges the key at time t, with weekdays and times of day read in
// loc (the site's zone; nil means UTC) and skew the tolerated clock
// difference. The caller must trust t; CheckTime does not know whether it
// can.
//
//   - Not yet valid if t+skew < NotBefore; expired if t-skew >= Expires.
//   - With no windows the key is then valid. Otherwise it is valid if some
//     window contains t: From <= t+skew and t-skew < Until (zero bounds are
//     open), t's local weekday is listed (or none are), and t's local time
//     of day is in [DayFrom, DayTo) (no skew here: the gateway's own clock
//     is the only one that reads local time). A window with DayTo < DayFrom
//     runs from DayFrom on a listed weekday to DayTo the next day.
//   - If no window contains t: TimeNotYetValid when every window starts
//     after t+skew, TimeExpired when every window ended at or before
//     t-skew, TimeOutsideWindow otherwise.
func (c Claims) CheckTime(t time.Time, loc *time.Location, skew time.Duration) TimeCheck {
	if skew < 0 {
		skew = -skew
	}
	early, late := t.Add(skew), t.Add(-skew)
	if !c.NotBefore.IsZero() && early.Before(c.NotBefore) {
		return TimeNotYetValid
	}
	if !c.Expires.IsZero() && !late.Before(c.Expires) {
		return TimeExpired
	}
	if len(c.Windows) == 0 {
		return TimeOK
	}
	if loc == nil {
		loc = time.UTC
	}
	local := t.In(loc)
	allFuture, allPast := true, true
	for _, w := range c.Windows {
		future := !w.From.IsZero() && early.Before(w.From)
		past := !w.Until.IsZero() && !late.Before(w.Until)
		allFuture = allFuture && future
		allPast = allPast && past
		if !future && !past && w.containsLocal(local) {
			return TimeOK
		}
	}
	switch {
	case allFuture:
		return TimeNotYetValid
	case allPast:
		return TimeExpired
	}
	return TimeOutsideWindow
}

// containsLocal checks the weekday and time-of-day conditions of w for a
// time already in the site's zone.
func (w Window) containsLocal(t time.Time) bool {
	day := t.Weekday()
	onDay := func(d time.Weekday) bool { return len(w.Weekdays) == 0 || slices.Contains(w.Weekdays, d) }
	if w.DayFrom == 0 && w.DayTo == 0 {
		return onDay(day)
	}
	// Seconds since local midnight, read off the wall clock so that DST
	// days (23 or 25 hours) keep their wall-clock windows.
	h, m, s := t.Clock()
	sec := h*3600 + m*60 + s
	from, to := w.DayFrom*60, w.DayTo*60
	if w.DayFrom < w.DayTo {
		return from <= sec && sec < to && onDay(day)
	}
	// Wraps midnight: the evening part belongs to today, the morning part
	// to the window that started yesterday.
	if sec >= from {
		return onDay(day)
	}
	if sec < to {
		return onDay((day + 6) % 7)
	}
	return false
}
