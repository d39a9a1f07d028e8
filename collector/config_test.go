package collector_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr string // substring of the error; "" means accepted
	}{
		{in: "30", want: 30 * time.Second},
		{in: " 1.5 ", want: 1500 * time.Millisecond},
		{in: ".5", want: 500 * time.Millisecond},
		{in: "2.", want: 2 * time.Second},
		{in: "0", want: 0},
		{in: "90s", want: 90 * time.Second},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "01:02:03", want: time.Hour + 2*time.Minute + 3*time.Second},
		{in: "2:00:00:00", want: 48 * time.Hour},
		{in: "9223372036", want: 9223372036 * time.Second},
		{in: "106751:23:47:16", want: 9223372036 * time.Second},
		{in: "-5", wantErr: "negative"},
		{in: "-0", wantErr: "negative"},
		{in: "-1s", wantErr: "negative"},
		{in: "-00:00:01", wantErr: "negative"},
		{in: "1e11", wantErr: "want e.g."},
		{in: "1e3", wantErr: "want e.g."},
		{in: "NaN", wantErr: "want e.g."},
		{in: "+Inf", wantErr: "want e.g."},
		{in: "Inf", wantErr: "want e.g."},
		{in: "0x1p4", wantErr: "want e.g."},
		{in: "+5", wantErr: "want e.g."},
		{in: ".", wantErr: "want e.g."},
		{in: "99999999999", wantErr: "too large"},
		{in: "9223372037", wantErr: "too large"},
		{in: "9223372036.9", wantErr: "too large"},
		{in: "99999999999999999999999", wantErr: "too large"},
		{in: "3000000h", wantErr: "want e.g."},
		{in: "106751:23:47:17", wantErr: "too large"},
		{in: "99999999999:00:00", wantErr: "too large"},
		{in: "0:0:99999999999999999999", wantErr: "too large"},
		{in: "00:+1:00", wantErr: "HH:MM:SS"},
		{in: "1:2", wantErr: "HH:MM:SS"},
		{in: "1:2:3:4:5", wantErr: "HH:MM:SS"},
		{in: "::", wantErr: "HH:MM:SS"},
		{in: "", wantErr: "want e.g."},
	} {
		got, err := collector.ParseDuration(tc.in)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("ParseDuration(%q): %v", tc.in, err)
		case tc.wantErr == "" && got != tc.want:
			t.Errorf("ParseDuration(%q) = %v, want %v", tc.in, got, tc.want)
		case tc.wantErr != "" && err == nil:
			t.Errorf("ParseDuration(%q) = %v, want an error containing %q", tc.in, got, tc.wantErr)
		case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("ParseDuration(%q) error %q, want it to contain %q", tc.in, err, tc.wantErr)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "512", want: 512},
		{in: "10k", want: 10 << 10},
		{in: "10KB", want: 10 << 10},
		{in: "10KiB", want: 10 << 10},
		{in: "25M", want: 25 << 20},
		{in: " 1 G ", want: 1 << 30},
		{in: "0", want: 0},
		{in: "99999999999", want: 99999999999},
		{in: "8589934591G", want: 8589934591 << 30},
		{in: "9223372036854775807", want: 1<<63 - 1},
		{in: "99999999999G", wantErr: "too large"},
		{in: "8589934592G", wantErr: "too large"},
		{in: "9223372036854775808", wantErr: "too large"},
		{in: "-0", wantErr: "want a number"},
		{in: "-1k", wantErr: "want a number"},
		{in: "+1k", wantErr: "want a number"},
		{in: "1.5M", wantErr: "want a number"},
		{in: "K", wantErr: "want a number"},
		{in: "", wantErr: "want a number"},
		{in: "1T", wantErr: "want a number"},
	} {
		got, err := collector.ParseSize(tc.in)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("ParseSize(%q): %v", tc.in, err)
		case tc.wantErr == "" && got != tc.want:
			t.Errorf("ParseSize(%q) = %d, want %d", tc.in, got, tc.want)
		case tc.wantErr != "" && err == nil:
			t.Errorf("ParseSize(%q) = %d, want an error containing %q", tc.in, got, tc.wantErr)
		case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("ParseSize(%q) error %q, want it to contain %q", tc.in, err, tc.wantErr)
		}
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30", "1.5", "90s", "1h30m", "01:02:03", "2:00:00:00", "1e11", "NaN", "+Inf",
		"99999999999", "-0", "106751:23:47:17", "9223372036.9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := collector.ParseDuration(s)
		if err != nil {
			if d != 0 {
				t.Fatalf("ParseDuration(%q) = %v with error %v", s, d, err)
			}
			if !strings.Contains(err.Error(), "duration") {
				t.Fatalf("ParseDuration(%q): error does not say what failed: %v", s, err)
			}
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
		if strings.HasPrefix(strings.TrimSpace(s), "-") {
			t.Fatalf("ParseDuration(%q) = %v: a signed value accepted", s, d)
		}
	})
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"512", "10k", "10KiB", "25M", "1G", "99999999999G", "-0", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := collector.ParseSize(s)
		if err != nil {
			if n != 0 {
				t.Fatalf("ParseSize(%q) = %d with error %v", s, n, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, n)
		}
		if strings.ContainsAny(s, "-+") {
			t.Fatalf("ParseSize(%q) = %d: a signed value accepted", s, n)
		}
	})
}
