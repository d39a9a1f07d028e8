package api

import (
	"testing"
	"time"
)

func TestParseEventTime(t *testing.T) {
	local := time.FixedZone("LOCAL", 2*3600)
	tests := []struct {
		in   string
		want time.Time // zero = error expected
	}{
		// ACE's formats (saq.util.parse_event_time).
		{"2022-01-02 03:04:05 +0000", time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"2022-01-02 03:04:05 -0500", time.Date(2022, 1, 2, 8, 4, 5, 0, time.UTC)},
		{"2022-01-02 03:04:05", time.Date(2022, 1, 2, 3, 4, 5, 0, local)},
		{"2022-01-02T08:04:05.678901+0000", time.Date(2022, 1, 2, 8, 4, 5, 678901000, time.UTC)},
		{"2022-01-02T08:04:05.678+0000", time.Date(2022, 1, 2, 8, 4, 5, 678000000, time.UTC)},
		{"2022-01-02T08:04:05.6789+0130", time.Date(2022, 1, 2, 6, 34, 5, 678900000, time.UTC)},
		{"2022-01-02T08:04:05.678901+01:00", time.Date(2022, 1, 2, 7, 4, 5, 678901000, time.UTC)},
		{"2022-01-02T08:04:05.678901-05:00", time.Date(2022, 1, 2, 13, 4, 5, 678901000, time.UTC)},
		{"2022-01-02T08:04:05.678901", time.Date(2022, 1, 2, 8, 4, 5, 678901000, local)},
		// RFC 3339.
		{"2022-01-02T08:04:05Z", time.Date(2022, 1, 2, 8, 4, 5, 0, time.UTC)},
		{"2022-01-02T08:04:05.123456789Z", time.Date(2022, 1, 2, 8, 4, 5, 123456789, time.UTC)},
		{"2022-01-02T08:04:05+02:00", time.Date(2022, 1, 2, 6, 4, 5, 0, time.UTC)},
		{"2024-02-29 00:00:00 +0000", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		// Rejected.
		{"", time.Time{}},
		{"yesterday", time.Time{}},
		{"2022-01-02", time.Time{}},
		{"2022-1-02 03:04:05", time.Time{}},
		{"2022-01-02 03:04", time.Time{}},
		{"2022-13-02 03:04:05", time.Time{}},
		{"2023-02-29 03:04:05", time.Time{}},
		{"2022-01-32 03:04:05", time.Time{}},
		{"2022-01-02 24:00:00", time.Time{}},
		{"2022-01-02 23:60:00", time.Time{}},
		{"2022-01-02 23:59:60", time.Time{}},
		{"0000-01-02 03:04:05", time.Time{}},
		{"2022-01-02T08:04:05.+0000", time.Time{}},
		{"2022-01-02T08:04:05.1234567890+0000", time.Time{}},
		{"2022-01-02T08:04:05.678901+2400", time.Time{}},
		{"2022-01-02T08:04:05.678901+0060", time.Time{}},
		{"2022-01-02T08:04:05.678901+00", time.Time{}},
		{"2022-01-02T08:04:05.678901 ", time.Time{}},
		{"2022-01-02T08:04:05.678901+0000x", time.Time{}},
		{"2022-01-02X08:04:05", time.Time{}},
		{" 2022-01-02 03:04:05", time.Time{}},
	}
	for _, tt := range tests {
		got, err := ParseEventTime(tt.in, local)
		if tt.want.IsZero() {
			if err == nil {
				t.Errorf("ParseEventTime(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseEventTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatEventTime(t *testing.T) {
	in := time.Date(2022, 1, 2, 3, 4, 5, 678901999, time.FixedZone("EST", -5*3600))
	if got := FormatEventTime(in); got != "2022-01-02T08:04:05.678901+0000" {
		t.Fatalf("FormatEventTime = %q", got)
	}
	back, err := ParseEventTime(FormatEventTime(in), nil)
	if err != nil || !back.Equal(in.Truncate(time.Microsecond)) {
		t.Fatalf("round trip: %v %v", back, err)
	}
}
