package syslog

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	gosyslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/common/cef"
	"github.com/ace-collector/ace-collector/collectors/common/netobs"
)

// Event is one parsed syslog message as it appears in submission details.
type Event struct {
	Received       time.Time                    `json:"received"`
	Transport      string                       `json:"transport"`
	Peer           string                       `json:"peer,omitempty"`
	Format         string                       `json:"format"` // rfc5424 or rfc3164
	Time           time.Time                    `json:"time,omitzero"`
	Facility       int                          `json:"facility"`
	Severity       int                          `json:"severity"`
	Hostname       string                       `json:"hostname,omitempty"`
	AppName        string                       `json:"app_name,omitempty"`
	ProcID         string                       `json:"proc_id,omitempty"`
	MsgID          string                       `json:"msg_id,omitempty"`
	Message        string                       `json:"message,omitempty"`
	StructuredData map[string]map[string]string `json:"structured_data,omitempty"`
	CEF            *cef.Event                   `json:"cef,omitempty"`
	Extracted      map[string]string            `json:"extracted,omitempty"`   // by extract_ keys
	ParseError     string                       `json:"parse_error,omitempty"` // best-effort parse
	Raw            string                       `json:"raw,omitempty"`         // kept when ParseError is set
}

// parser holds one goroutine's syslog parsers (they are not shared).
type parser struct {
	p5424, p3164 gosyslog.Machine
	loc          *time.Location
}

// newParser returns parsers; loc is the zone of RFC 3164 timestamps,
// which carry none (nil means UTC).
func newParser(loc *time.Location) *parser {
	if loc == nil {
		loc = time.UTC
	}
	return &parser{
		p5424: rfc5424.NewMachine(rfc5424.WithBestEffort()),
		// Year 0: the year is decided per message, from its receive
		// time (see resolveYear), not once when the parser is made.
		p3164: rfc3164.NewMachine(rfc3164.WithBestEffort(), rfc3164.WithYear(rfc3164.Year{YYYY: 0}),
			rfc3164.WithRFC3339(), rfc3164.WithLocaleTimezone(loc), rfc3164.WithLenientDay()),
		loc: loc,
	}
}

var errMalformed = errors.New("malformed syslog message")

// parse turns one framed message, received at received, into an Event.
// Messages without a PRI are treated as PRI 13 (user.notice), as RFC 3164
// section 4.3.3 asks of a relay. A message the parsers cannot make
// anything of is errMalformed.
func (p *parser) parse(raw []byte, received time.Time) (*Event, error) {
	raw = bytes.TrimRight(raw, "\r\n\x00")
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, fmt.Errorf("%w: empty", errMalformed)
	}
	if raw[0] != '<' {
		raw = append([]byte("<13>"), raw...)
	}
	if !validPRI(raw) {
		return nil, fmt.Errorf("%w: bad PRI", errMalformed)
	}
	ev := &Event{Facility: -1, Severity: -1}
	var base *gosyslog.Base
	var err error
	if is5424(raw) {
		var m gosyslog.Message
		m, err = p.p5424.Parse(raw)
		if sm, ok := m.(*rfc5424.SyslogMessage); ok && sm != nil {
			ev.Format = "rfc5424"
			base = &sm.Base
			if sm.StructuredData != nil {
				ev.StructuredData = *sm.StructuredData
			}
		}
	} else {
		var m gosyslog.Message
		m, err = p.p3164.Parse(padDay(raw))
		if sm, ok := m.(*rfc3164.SyslogMessage); ok && sm != nil {
			ev.Format = "rfc3164"
			base = &sm.Base
		}
	}
	if base == nil || base.Priority == nil || *base.Priority > 191 {
		if err == nil {
			err = errors.New("no priority")
		}
		return nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	ev.setBase(base, received, p.loc)
	if err != nil {
		ev.ParseError = err.Error()
		ev.Raw = string(raw)
		if ev.Message == "" {
			// Keep what follows the PRI so nothing is lost.
			if i := bytes.IndexByte(raw, '>'); i >= 0 {
				ev.Message = strings.TrimSpace(string(raw[i+1:]))
			}
		}
	}
	ev.parseCEF()
	return ev, nil
}

// setBase copies the header fields the parsers share; an RFC 3164
// timestamp gets its year from the receive time.
func (ev *Event) setBase(base *gosyslog.Base, received time.Time, loc *time.Location) {
	ev.Facility, ev.Severity = int(*base.Priority/8), int(*base.Priority%8)
	if base.Timestamp != nil {
		ev.Time = *base.Timestamp
		if ev.Format == "rfc3164" && ev.Time.Year() == 0 {
			ev.Time = resolveYear(ev.Time, received, loc)
		}
	}
	ev.Hostname, ev.AppName, ev.ProcID = deref(base.Hostname), deref(base.Appname), deref(base.ProcID)
	ev.MsgID, ev.Message = deref(base.MsgID), deref(base.Message)
}

// parseCEF parses a CEF or LEEF record in the message. An RFC 3164 header
// parser takes the "CEF" of "host CEF: 0|Fortinet|..." (FortiGate's
// documented format, a space after the colon) for a tag; the tag is put
// back in front of the message, where it belongs.
func (ev *Event) parseCEF() {
	if ev.Format == "rfc3164" && (ev.AppName == "CEF" || ev.AppName == "LEEF") && ev.ProcID == "" {
		if !strings.HasPrefix(ev.Message, ev.AppName+":") {
			ev.Message = ev.AppName + ": " + ev.Message
		}
		ev.AppName = ""
	}
	if !strings.Contains(ev.Message, "CEF:") && !strings.Contains(ev.Message, "LEEF:") {
		return
	}
	c, err := cef.Find(ev.Message)
	switch {
	case err == nil:
		ev.CEF = c
	case !errors.Is(err, cef.ErrNotCEF): // a header, but a broken record
		ev.ParseError = strings.TrimPrefix(ev.ParseError+"; ", "; ") + err.Error()
	}
}

// futureSlack is how far ahead of its receive time an RFC 3164 timestamp
// may be (a sender's clock running ahead) before it is taken to be from
// the previous year.
const futureSlack = 24 * time.Hour

// resolveYear gives an RFC 3164 timestamp, which has no year, the year
// that puts it closest before received, allowing futureSlack ahead: a
// syslog line is not from the future, so "Dec 27" received on 25 Nov is
// last year's, and "Jan 1 00:00:01" received on 31 Dec 23:59 is next
// year's. Feb 29 goes to the latest leap year that fits.
func resolveYear(t, received time.Time, loc *time.Location) time.Time {
	if received.IsZero() {
		received = time.Now()
	}
	limit := received.Add(futureSlack)
	y := received.In(loc).Year()
	for cand := y + 1; cand >= y-8; cand-- {
		c := time.Date(cand, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
		if c.Month() == t.Month() && !c.After(limit) {
			return c
		}
	}
	return time.Date(y, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
}

// padDay turns an RFC 3164 timestamp's single-digit day with one space
// ("May 4 13:38:01", as PAN-OS and many others send it) into the padded
// form RFC 3164 specifies ("May  4 13:38:01"), which the parser requires.
func padDay(raw []byte) []byte {
	i := bytes.IndexByte(raw, '>') + 1
	for i < len(raw) && raw[i] == ' ' {
		i++
	}
	d := raw[i:]
	if len(d) < 7 || d[3] != ' ' || !isDigit(d[4]) || d[5] != ' ' || !isDigit(d[6]) || !isMonth(d[:3]) {
		return raw
	}
	out := make([]byte, 0, len(raw)+1)
	out = append(out, raw[:i+4]...)
	out = append(out, ' ')
	return append(out, raw[i+4:]...)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isMonth(b []byte) bool {
	switch string(b) {
	case "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec":
		return true
	}
	return false
}

// validPRI reports whether raw starts with "<N>", N in 0..191 without
// leading zeros (RFC 5424 section 6.2.1).
func validPRI(raw []byte) bool {
	i := bytes.IndexByte(raw, '>')
	if i < 2 || i > 4 || raw[0] != '<' || (i > 2 && raw[1] == '0') {
		return false
	}
	n := 0
	for _, c := range raw[1:i] {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 191
}

// is5424 reports whether raw starts with "<PRI>1 ".
func is5424(raw []byte) bool {
	i := bytes.IndexByte(raw, '>')
	return i > 0 && i <= 4 && len(raw) > i+2 && raw[i+1] == '1' && raw[i+2] == ' '
}

func deref(p *string) string {
	if p == nil || *p == "-" {
		return ""
	}
	return *p
}

// Field looks up a rule / aggregation field. Names: message, hostname,
// app_name, proc_id, msg_id, facility, severity, format, transport, peer;
// signature, name, vendor, product, device_version, cef_severity (numeric
// for CEF 1 names too) for CEF/LEEF events; sd.<SD-ID>.<param> for RFC
// 5424 structured data; ext.<key> for any CEF/LEEF extension key (a
// vendor's, or a csNLabel's value); a CEF/LEEF standard key (src, dst,
// act, cs1, usrName) by its name; and the fields extract_ keys set. The
// names config may use are checked by checkField.
func (ev *Event) Field(name string) (string, bool) {
	switch name {
	case "message":
		return ev.Message, true
	case "hostname":
		return ev.Hostname, ev.Hostname != ""
	case "app_name":
		return ev.AppName, ev.AppName != ""
	case "proc_id":
		return ev.ProcID, ev.ProcID != ""
	case "msg_id":
		return ev.MsgID, ev.MsgID != ""
	case "facility":
		return strconv.Itoa(ev.Facility), true
	case "severity":
		return strconv.Itoa(ev.Severity), true
	case "format":
		return ev.Format, true
	case "transport":
		return ev.Transport, true
	case "peer":
		return ev.Peer, ev.Peer != ""
	}
	if rest, ok := strings.CutPrefix(name, "sd."); ok {
		id, param, _ := strings.Cut(rest, ".")
		v, ok := ev.StructuredData[id][param]
		return v, ok
	}
	if v, ok := ev.cefField(name); ok {
		return v, true
	}
	v, ok := ev.Extracted[name]
	return v, ok
}

// cefField looks up a CEF/LEEF header field or extension key.
func (ev *Event) cefField(name string) (string, bool) {
	c := ev.CEF
	if c == nil {
		return "", false
	}
	switch name {
	case "signature":
		return c.SignatureID, true
	case "name":
		return c.Name, true
	case "vendor":
		return c.Vendor, true
	case "product":
		return c.Product, true
	case "device_version":
		return c.DevVersion, true
	case "cef_severity":
		if n, ok := cef.SeverityNumber(c.Severity); ok {
			return strconv.Itoa(n), true
		}
		return c.Severity, c.Severity != ""
	}
	if k, ok := strings.CutPrefix(name, "ext."); ok {
		name = k
	}
	v, ok := c.Ext[name]
	return v, ok
}

// observables adds ev's observables to set: the CEF/LEEF standard keys
// and, for plain messages (or a CEF "msg"), what netobs finds in the
// text; extracted fields named like CEF keys (src, duser, ...) map the
// same way.
func (ev *Event) observables(set *collector.ObservableSet) {
	if len(ev.Extracted) > 0 {
		cef.Observables(&cef.Event{Ext: ev.Extracted}, set)
	}
	if ev.CEF != nil {
		cef.Observables(ev.CEF, set)
		if m := ev.CEF.Ext["msg"]; m != "" {
			netobs.FromText(m, set)
		}
		return
	}
	netobs.FromText(ev.Message, set)
}

// EventTime is the source's timestamp, or the receive time.
func (ev *Event) EventTime() time.Time {
	if !ev.Time.IsZero() {
		return ev.Time
	}
	return ev.Received
}

// Title is a one-line description of ev.
func (ev *Event) Title() string {
	if c := ev.CEF; c != nil {
		what := c.Name
		if what == "" {
			what = c.SignatureID
		}
		return truncate(fmt.Sprintf("%s %s %s: %s", c.Format, c.Vendor, c.Product, what), 200)
	}
	who := strings.TrimSpace(ev.Hostname + " " + ev.AppName)
	return truncate(fmt.Sprintf("syslog %s: %s", who, ev.Message), 200)
}

func truncate(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
