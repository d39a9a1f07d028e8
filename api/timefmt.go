package api

import (
	"errors"
	"fmt"
	"time"
)

// EventTimeFormat is ACE's canonical event time format, as Python strftime
// (saq.constants.EVENT_TIME_FORMAT_JSON_TZ). ACE's error messages quote it.
const EventTimeFormat = "%Y-%m-%dT%H:%M:%S.%f%z"

// eventTimeLayout is EventTimeFormat as a Go layout (microseconds, ±hhmm).
const eventTimeLayout = "2006-01-02T15:04:05.000000-0700"

// FormatEventTime renders t the way ace_api.py does: converted to UTC and
// formatted with EventTimeFormat, e.g. 2022-01-02T08:04:05.678901+0000.
func FormatEventTime(t time.Time) string {
	return t.UTC().Format(eventTimeLayout)
}

// ParseEventTime parses every event time format ACE's server accepts
// (saq.util.parse_event_time) plus RFC 3339:
//
//	YYYY-MM-DD HH:MM:SS ±zzzz
//	YYYY-MM-DD HH:MM:SS                  (local time of loc)
//	YYYY-MM-DDTHH:MM:SS.ffffff±zzzz      (1-9 fraction digits; ACE sends 6)
//	YYYY-MM-DDTHH:MM:SS.ffffff±zz:zz
//	YYYY-MM-DDTHH:MM:SS.ffffff           (local time of loc)
//	YYYY-MM-DDTHH:MM:SS[.fff]Z           (RFC 3339)
//
// A value without an offset is interpreted in loc (nil means time.Local),
// as ACE interprets it in the server's local time zone. The one instant
// 0001-01-01 00:00:00 UTC is refused (see errZeroTime): ACE accepts it,
// but here it cannot be told from an absent time.
func ParseEventTime(s string, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.Local
	}
	t, err := parseEventTime(s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("event time %q: %w", s, err)
	}
	return t, nil
}

var errTimeSyntax = errors.New("not in a supported event time format")

// errZeroTime refuses 0001-01-01 00:00:00 UTC, Go's zero time (to the
// microsecond, the wire format's precision). Everywhere
// past this parser (collector.Submission, Observable, the encoder) a zero
// time means "no time given" and becomes "now" or is left out, so
// accepting it would silently replace the value the client sent. Every
// other instant of year 1 is kept as sent.
var errZeroTime = errors.New("0001-01-01 00:00:00 UTC is the zero time, which means no time here")

// timeScanner walks the fixed-position grammar of ACE's formats; it is a
// hand parser so that the exact set of accepted inputs is explicit (Go's
// time.Parse accepts some things Python's strptime does not, and vice versa).
type timeScanner struct {
	s   string
	pos int
	err error
}

func (p *timeScanner) digits(n int) int {
	if p.err != nil {
		return 0
	}
	if p.pos+n > len(p.s) {
		p.err = errTimeSyntax
		return 0
	}
	v := 0
	for i := 0; i < n; i++ {
		c := p.s[p.pos+i]
		if c < '0' || c > '9' {
			p.err = errTimeSyntax
			return 0
		}
		v = v*10 + int(c-'0')
	}
	p.pos += n
	return v
}

func (p *timeScanner) lit(c byte) {
	if p.err != nil {
		return
	}
	if p.pos >= len(p.s) || p.s[p.pos] != c {
		p.err = errTimeSyntax
		return
	}
	p.pos++
}

func (p *timeScanner) peek() byte {
	if p.pos >= len(p.s) {
		return 0
	}
	return p.s[p.pos]
}

func parseEventTime(s string, loc *time.Location) (time.Time, error) {
	p := &timeScanner{s: s}
	year := p.digits(4)
	p.lit('-')
	month := p.digits(2)
	p.lit('-')
	day := p.digits(2)
	sep := p.peek()
	if sep != 'T' && sep != ' ' {
		return time.Time{}, errTimeSyntax
	}
	p.pos++
	hour := p.digits(2)
	p.lit(':')
	minute := p.digits(2)
	p.lit(':')
	sec := p.digits(2)
	if p.err != nil {
		return time.Time{}, p.err
	}
	nsec := 0
	if p.peek() == '.' {
		p.pos++
		start := p.pos
		for p.pos < len(s) && s[p.pos] >= '0' && s[p.pos] <= '9' {
			p.pos++
		}
		n := p.pos - start
		if n < 1 || n > 9 {
			return time.Time{}, errTimeSyntax
		}
		for i := 0; i < 9; i++ {
			nsec *= 10
			if i < n {
				nsec += int(s[start+i] - '0')
			}
		}
	}
	// Optional single space before the offset ("YYYY-MM-DD HH:MM:SS +0000").
	if p.peek() == ' ' {
		p.pos++
		if p.pos == len(s) {
			return time.Time{}, errTimeSyntax
		}
	}
	tz := loc
	switch c := p.peek(); c {
	case 0:
	case 'Z', 'z':
		p.pos++
		tz = time.UTC
	case '+', '-':
		p.pos++
		oh := p.digits(2)
		if p.peek() == ':' {
			p.pos++
		}
		om := p.digits(2)
		if p.err != nil {
			return time.Time{}, p.err
		}
		if oh > 23 || om > 59 {
			return time.Time{}, errors.New("offset out of range")
		}
		off := oh*3600 + om*60
		if c == '-' {
			off = -off
		}
		tz = time.FixedZone("", off)
	default:
		return time.Time{}, errTimeSyntax
	}
	if p.pos != len(s) {
		return time.Time{}, errTimeSyntax
	}
	if year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, errors.New("field out of range")
	}
	if d := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC); d.Day() != day {
		return time.Time{}, errors.New("day out of range for month")
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, tz)
	// Like Python's datetime, stay within years 1-9999 in UTC too, so the
	// canonical (UTC) form of an accepted time is itself valid.
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return time.Time{}, errors.New("year out of range in UTC")
	}
	// ACE's wire format carries microseconds: an instant less than one
	// microsecond past the zero time is the zero time once sent on.
	if t.Truncate(time.Microsecond).IsZero() {
		return time.Time{}, errZeroTime
	}
	return t, nil
}
