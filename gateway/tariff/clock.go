package tariff

import "fmt"

// MinutesPerDay is the length of the band day: bands are laid out on
// 00:00–24:00 of local wall-clock time.
const MinutesPerDay = 24 * 60

// FormatClock formats minutes after midnight as "HH:MM" (0 → "00:00",
// 450 → "07:30", 1440 → "24:00"). Values outside 0..1440 are formatted as
// plain numbers of minutes ("1500 min") so that error messages about them
// stay truthful.
func FormatClock(min int) string {
	if min < 0 || min > MinutesPerDay {
		return fmt.Sprintf("%d min", min)
	}
	return fmt.Sprintf("%02d:%02d", min/60, min%60)
}

// ParseClock parses "HH:MM" (exactly two digits each, 00:00 to 24:00) into
// minutes after midnight. "24:00" (1440) is accepted because it is a valid
// band end; whether a value may be a band start is Validate's business.
func ParseClock(s string) (int, error) {
	if len(s) != 5 || s[2] != ':' || !isDigit(s[0]) || !isDigit(s[1]) || !isDigit(s[3]) || !isDigit(s[4]) {
		return 0, fmt.Errorf("parse clock %q: want HH:MM, e.g. 07:30", s)
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if m > 59 {
		return 0, fmt.Errorf("parse clock %q: minutes must be 00..59", s)
	}
	if h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("parse clock %q: must be between 00:00 and 24:00", s)
	}
	return h*60 + m, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
