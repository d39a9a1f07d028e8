package syslog

import (
	"strconv"
	"strings"
	"time"
)

// Header is the syslog header every line of a group carries.
type Header struct {
	Protocol string // rfc5424 or rfc3164
	Facility int    // 0..23
	Severity int    // 0..7
	Hostname string
	AppName  string
}

// facilities and severities by name (RFC 5424 table 1 and 2).
var (
	facilities = []string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
		"authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
		"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}
	severities = []string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}
)

// message returns the syslog message for msg: the header for the
// protocol, with t as its timestamp and msgID as RFC 5424's MSGID.
func (h Header) message(msg string, t time.Time, msgID string) string {
	pri := "<" + strconv.Itoa(h.Facility*8+h.Severity) + ">"
	if h.Protocol == "rfc3164" {
		// RFC 3164 4.1.2: "Mmm dd hh:mm:ss" (day padded with a space), then
		// the host name, then TAG ":" and the content.
		return pri + t.UTC().Format(time.Stamp) + " " + h.Hostname + " " + h.AppName + ": " + msg
	}
	// RFC 5424 6: VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG.
	return pri + "1 " + t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") + " " + h.Hostname + " " +
		h.AppName + " - " + msgID + " - " + msg
}

// frame frames a message for a stream: RFC 6587 octet counting
// ("LEN SP MSG"), or newline termination (LF inside the message becomes a
// space, as a newline would end it early). UDP carries one message per
// datagram and needs no framing.
func frame(framing, msg string) string {
	switch framing {
	case "octet":
		return strconv.Itoa(len(msg)) + " " + msg
	case "newline":
		return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(msg) + "\n"
	}
	return msg
}

// headerToken makes s fit an RFC 5424 header field: printable US-ASCII
// without spaces, at most max bytes, "-" when empty.
func headerToken(s string, max int) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < max; i++ {
		if c := s[i]; c > 32 && c < 127 {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}
