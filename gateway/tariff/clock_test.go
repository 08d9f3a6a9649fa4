package tariff

import "testing"

func TestParseClock(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{in: "00:00", want: 0},
		{in: "07:30", want: 450},
		{in: "23:59", want: 1439},
		{in: "24:00", want: 1440},
		{in: "24:01", wantErr: true},
		{in: "25:00", wantErr: true},
		{in: "12:60", wantErr: true},
		{in: "7:30", wantErr: true},
		{in: "07:3", wantErr: true},
		{in: "07-30", wantErr: true},
		{in: "+7:30", wantErr: true},
		{in: " 07:30", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseClock(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseClock(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestFormatClock(t *testing.T) {
	tests := []struct {
		in   int
		want string
	}{
		{0, "00:00"}, {450, "07:30"}, {1439, "23:59"}, {1440, "24:00"},
		{-1, "-1 min"}, {1441, "1441 min"},
	}
	for _, tt := range tests {
		if got := FormatClock(tt.in); got != tt.want {
			t.Errorf("FormatClock(%d) = %q; want %q", tt.in, got, tt.want)
		}
	}
	for m := 0; m <= MinutesPerDay; m++ {
		if got, err := ParseClock(FormatClock(m)); err != nil || got != m {
			t.Errorf("ParseClock(FormatClock(%d)) = %d, %v; want %d", m, got, err, m)
		}
	}
}
