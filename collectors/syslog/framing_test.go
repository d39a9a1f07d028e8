package syslog

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
)

func TestFrameReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want []string // "!oversize" marks an errOversize result
		end  error
	}{
		{name: "newline", in: "<13>a\n<13>b\r\n\n<13>c", max: 100, want: []string{"<13>a", "<13>b", "<13>c"}, end: io.EOF},
		{name: "octet counting", in: "5 <13>a6 <13>b\n", max: 100, want: []string{"<13>a", "<13>b\n"}, end: io.EOF},
		{name: "mixed", in: "5 <13>a<13>b\n3 xyz", max: 100, want: []string{"<13>a", "<13>b", "xyz"}, end: io.EOF},
		{name: "oversize line", in: strings.Repeat("x", 50) + "\n<13>ok\n", max: 10, want: []string{"!oversize", "<13>ok"}, end: io.EOF},
		{name: "oversize octet", in: "20 " + strings.Repeat("y", 20) + "4 abcd", max: 10, want: []string{"!oversize", "abcd"}, end: io.EOF},
		{name: "cut frame", in: "10 abc", max: 100, end: io.ErrUnexpectedEOF},
		{name: "bad length", in: "12x abc", max: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := newFrameReader(strings.NewReader(tt.in), tt.max)
			var got []string
			var err error
			for {
				var b []byte
				b, err = fr.Next()
				if errors.Is(err, errOversize) {
					got = append(got, "!oversize")
					continue
				}
				if err != nil {
					break
				}
				got = append(got, string(b))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("frames %q, want %q", got, tt.want)
			}
			if tt.end != nil && !errors.Is(err, tt.end) {
				t.Errorf("end error %v, want %v", err, tt.end)
			}
			if tt.end == nil && err == nil {
				t.Error("want an error")
			}
		})
	}
}

func FuzzFraming(f *testing.F) {
	for _, s := range []string{"<13>a\n<13>b\r\n", "5 <13>a6 <13>b\n", "999999999 x", "0 \n", "12x abc", "\n\n\x00 3 abc"} {
		f.Add([]byte(s))
	}
	p := newParser(nil) // fuzz calls in one worker are sequential
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 64
		fr := newFrameReader(strings.NewReader(string(in)), max)
		total := 0
		for i := 0; i <= len(in); i++ {
			b, err := fr.Next()
			if errors.Is(err, errOversize) {
				continue
			}
			if err != nil {
				return
			}
			if len(b) > max {
				t.Fatalf("frame of %d bytes exceeds max %d", len(b), max)
			}
			total += len(b)
			if total > len(in) {
				t.Fatalf("frames hold %d bytes of %d input", total, len(in))
			}
			_, _ = p.parse(b, fuzzReceived) // must not panic
		}
		t.Fatal("reader did not terminate")
	})
}

// FuzzFramingRoundTrip: messages framed the way senders frame them — RFC
// 6587 octet counting, or one per line — come back out exactly, in order.
// The fuzzer picks the messages (split at NUL) and the framing of each.
func FuzzFramingRoundTrip(f *testing.F) {
	f.Add([]byte("<13>a\x00<14>bb b\x00<15>c\nd"), uint64(0b101))
	f.Add([]byte("<34>1 2024-01-02T03:04:05Z host app - - - x"), uint64(1))
	f.Fuzz(func(t *testing.T, in []byte, octets uint64) {
		const max = 4096
		var msgs []string
		var stream strings.Builder
		for i, m := range strings.Split(string(in), "\x00") {
			counted := octets>>(uint(i)%64)&1 == 1
			if !counted {
				// A line can hold no newline and cannot start with what
				// the reader takes for a separator or a frame length.
				m = strings.NewReplacer("\n", " ", "\r", " ").Replace(m)
				m = strings.TrimLeft(m, " 0123456789")
			}
			if m == "" || len(m) > max {
				continue
			}
			msgs = append(msgs, m)
			if counted {
				stream.WriteString(strconv.Itoa(len(m)) + " " + m)
			} else {
				stream.WriteString(m + "\n")
			}
		}
		fr := newFrameReader(strings.NewReader(stream.String()), max)
		for i, want := range msgs {
			got, err := fr.Next()
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			if string(got) != want {
				t.Fatalf("message %d: got %q, want %q", i, got, want)
			}
		}
		if b, err := fr.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("after the last message: %q, %v", b, err)
		}
	})
}
