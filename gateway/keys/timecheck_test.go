package keys

import (
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin without relying on the host's zoneinfo
)

func TestCheckTime(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	at := func(y int, mo time.Month, d, h, mi, s int) time.Time { return time.Date(y, mo, d, h, mi, s, 0, berlin) }
	const skew = 30 * time.Second
	nbf := at(2025, 3, 1, 0, 0, 0)
	exp := at(2025, 4, 1, 0, 0, 0)
	life := Claims{NotBefore: nbf, Expires: exp}

	// Monday to Friday, 08:00-18:00 Berlin time. 2025-03-03 is a Monday.
	office := Claims{Windows: []Window{{
		Weekdays: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
		DayFrom:  8 * 60, DayTo: 18 * 60,
	}}}
	// Friday nights, 22:00 to 06:00 the next morning. 2025-03-07 is a Friday.
	fridayNight := Claims{Windows: []Window{{Weekdays: []time.Weekday{time.Friday}, DayFrom: 22 * 60, DayTo: 6 * 60}}}
	// Two absolute ranges in March with a gap.
	ranges := Claims{Windows: []Window{
		{From: at(2025, 3, 10, 0, 0, 0), Until: at(2025, 3, 12, 0, 0, 0)},
		{From: at(2025, 3, 20, 0, 0, 0), Until: at(2025, 3, 22, 0, 0, 0)},
	}}
	// Every day 08:00-09:00 during the week of the March DST change.
	dst := Claims{Windows: []Window{{From: at(2025, 3, 28, 0, 0, 0), Until: at(2025, 4, 2, 0, 0, 0), DayFrom: 8 * 60, DayTo: 9 * 60}}}
	// Until midnight, written as a wrap with DayTo 0.
	lateEvening := Claims{Windows: []Window{{DayFrom: 22 * 60, DayTo: 0}}}
	// A window wholly within the key's life and a window with an open end.
	openEnded := Claims{Windows: []Window{{From: at(2025, 3, 10, 0, 0, 0)}}}

	tests := []struct {
		name string
		c    Claims
		t    time.Time
		skew time.Duration
		want TimeCheck
	}{
		{"no limits", Claims{}, at(1999, 1, 1, 0, 0, 0), 0, TimeOK},
		{"inside life", life, at(2025, 3, 15, 12, 0, 0), skew, TimeOK},
		{"nbf exactly", life, nbf, 0, TimeOK},
		{"1s before nbf, no skew", life, nbf.Add(-time.Second), 0, TimeNotYetValid},
		{"skew before nbf", life, nbf.Add(-skew), skew, TimeOK},
		{"skew+1s before nbf", life, nbf.Add(-skew - time.Second), skew, TimeNotYetValid},
		{"1ns before exp, no skew", life, exp.Add(-time.Nanosecond), 0, TimeOK},
		{"exp exactly, no skew", life, exp, 0, TimeExpired},
		{"skew-1s after exp", life, exp.Add(skew - time.Second), skew, TimeOK},
		{"skew after exp", life, exp.Add(skew), skew, TimeExpired},
		{"negative skew counts as positive", life, exp.Add(skew - time.Second), -skew, TimeOK},

		{"office: Monday 08:00", office, at(2025, 3, 3, 8, 0, 0), skew, TimeOK},
		{"office: Monday 07:59:59", office, at(2025, 3, 3, 7, 59, 59), skew, TimeOutsideWindow},
		{"office: Monday 17:59:59", office, at(2025, 3, 3, 17, 59, 59), skew, TimeOK},
		{"office: Monday 18:00", office, at(2025, 3, 3, 18, 0, 0), skew, TimeOutsideWindow},
		{"office: Saturday 10:00", office, at(2025, 3, 8, 10, 0, 0), skew, TimeOutsideWindow},
		{"office: Monday 07:30 UTC is 08:30 in Berlin", office, time.Date(2025, 3, 3, 7, 30, 0, 0, time.UTC), 0, TimeOK},
		{"office: Monday 07:30 read in UTC", office, time.Date(2025, 3, 3, 7, 30, 0, 0, time.UTC), 0, TimeOutsideWindow},
		{"office: summer, 06:30 UTC is 08:30 CEST", office, time.Date(2025, 7, 7, 6, 30, 0, 0, time.UTC), 0, TimeOK},
		{"office: Friday 17:30 UTC is 18:30 Berlin", office, time.Date(2025, 3, 7, 17, 30, 0, 0, time.UTC), 0, TimeOutsideWindow},

		{"friday night: Friday 21:59", fridayNight, at(2025, 3, 7, 21, 59, 0), 0, TimeOutsideWindow},
		{"friday night: Friday 22:00", fridayNight, at(2025, 3, 7, 22, 0, 0), 0, TimeOK},
		{"friday night: Friday 23:59", fridayNight, at(2025, 3, 7, 23, 59, 59), 0, TimeOK},
		{"friday night: Saturday 00:00", fridayNight, at(2025, 3, 8, 0, 0, 0), 0, TimeOK},
		{"friday night: Saturday 05:59:59", fridayNight, at(2025, 3, 8, 5, 59, 59), 0, TimeOK},
		{"friday night: Saturday 06:00", fridayNight, at(2025, 3, 8, 6, 0, 0), 0, TimeOutsideWindow},
		{"friday night: Saturday 23:00", fridayNight, at(2025, 3, 8, 23, 0, 0), 0, TimeOutsideWindow},
		{"friday night: Friday 05:00 belongs to Thursday", fridayNight, at(2025, 3, 7, 5, 0, 0), 0, TimeOutsideWindow},

		{"late evening: 23:30", lateEvening, at(2025, 3, 7, 23, 30, 0), 0, TimeOK},
		{"late evening: 00:30", lateEvening, at(2025, 3, 8, 0, 30, 0), 0, TimeOutsideWindow},

		{"ranges: before both", ranges, at(2025, 3, 5, 0, 0, 0), skew, TimeNotYetValid},
		{"ranges: in the first", ranges, at(2025, 3, 11, 0, 0, 0), skew, TimeOK},
		{"ranges: in the gap", ranges, at(2025, 3, 15, 0, 0, 0), skew, TimeOutsideWindow},
		{"ranges: in the second", ranges, at(2025, 3, 21, 0, 0, 0), skew, TimeOK},
		{"ranges: after both", ranges, at(2025, 3, 25, 0, 0, 0), skew, TimeExpired},
		{"ranges: skew before first", ranges, at(2025, 3, 10, 0, 0, 0).Add(-skew), skew, TimeOK},
		{"ranges: skew+1s before first", ranges, at(2025, 3, 10, 0, 0, 0).Add(-skew - time.Second), skew, TimeNotYetValid},
		{"ranges: skew after last", ranges, at(2025, 3, 22, 0, 0, 0).Add(skew), skew, TimeExpired},
		{"ranges: skew-1s after last", ranges, at(2025, 3, 22, 0, 0, 0).Add(skew - time.Second), skew, TimeOK},
		{"ranges: life expired first", Claims{Expires: exp, Windows: ranges.Windows}, exp.Add(time.Hour), 0, TimeExpired},
		{"ranges: life not yet valid first", Claims{NotBefore: nbf, Windows: ranges.Windows}, nbf.Add(-time.Hour), 0, TimeNotYetValid},

		{"open ended: before", openEnded, at(2025, 3, 9, 0, 0, 0), 0, TimeNotYetValid},
		{"open ended: years later", openEnded, at(2035, 3, 9, 0, 0, 0), 0, TimeOK},

		{"dst: Sunday 30 March 08:30 CEST", dst, at(2025, 3, 30, 8, 30, 0), 0, TimeOK},
		{"dst: Sunday 30 March 06:30 UTC is 08:30 CEST", dst, time.Date(2025, 3, 30, 6, 30, 0, 0, time.UTC), 0, TimeOK},
		{"dst: Sunday 30 March 07:30 UTC is 09:30 CEST", dst, time.Date(2025, 3, 30, 7, 30, 0, 0, time.UTC), 0, TimeOutsideWindow},
		{"dst: Saturday 29 March 07:30 UTC is 08:30 CET", dst, time.Date(2025, 3, 29, 7, 30, 0, 0, time.UTC), 0, TimeOK},
	}
	for _, tc := range tests {
		loc := berlin
		if tc.name == "office: Monday 07:30 read in UTC" {
			loc = nil
		}
		if got := tc.c.CheckTime(tc.t, loc, tc.skew); got != tc.want {
			t.Errorf("%s: CheckTime(%v, skew %v) = %v; want %v", tc.name, tc.t.In(berlin), tc.skew, got, tc.want)
		}
	}
}

func TestTimeCheckString(t *testing.T) {
	for tc, want := range map[TimeCheck]string{TimeOK: "ok", TimeNotYetValid: "not_yet_valid", TimeExpired: "expired", TimeOutsideWindow: "outside_window", 42: "unknown"} {
		if got := tc.String(); got != want {
			t.Errorf("TimeCheck(%d).String() = %q; want %q", int(tc), got, want)
		}
	}
}
