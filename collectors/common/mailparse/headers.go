package mailparse

import (
	"fmt"
	"net/mail"
	"net/netip"
	"net/textproto"
	"regexp"
	"strings"
	"time"

	"github.com/jhillyerd/enmime/v2"

	"github.com/ace-collector/ace-collector/collector"
)

// addressHeaders are the fields whose addresses become email_address
// observables, tagged with the field they came from.
var addressHeaders = []struct{ name, tag string }{
	{"From", "from"},
	{"Sender", "sender"},
	{"Reply-To", "reply_to"},
	{"Return-Path", "return_path"},
	{"To", "to"},
	{"Cc", "cc"},
}

// maxAddresses bounds the addresses taken from one header field.
const maxAddresses = 1000

// addHeaders extracts header observables from raw (undecoded) fields of a
// message at forwarding depth (0 = the message itself).
func (r *Result) addHeaders(raw textproto.MIMEHeader, depth int) {
	dec := decodeHeader(raw)
	prefix := ""
	if depth > 0 {
		prefix = "forwarded_"
	}
	byTag := map[string][]string{}
	for _, ah := range addressHeaders {
		seen := map[string]bool{}
		for _, v := range values(raw, ah.name) {
			for _, a := range parseAddresses(v) {
				if seen[a] {
					continue
				}
				if len(seen) >= maxAddresses {
					r.warn(fmt.Sprintf("%s: more than %d addresses; the rest are not extracted", ah.name, maxAddresses))
					break
				}
				seen[a] = true
				r.Observables.AddValue(collector.ObsEmailAddress, a, prefix+ah.tag)
				byTag[ah.tag] = append(byTag[ah.tag], a)
			}
		}
	}
	subject := cleanText(strings.TrimSpace(first(dec, "Subject")), maxSubjectLen)
	r.Observables.AddValue(collector.ObsEmailSubject, subject, prefix+"subject")
	msgID := cleanText(normalizeMessageID(first(raw, "Message-Id")), maxFieldLen)
	r.Observables.AddValue(collector.ObsMessageID, msgID, prefix+"message_id")
	dateStr := cleanText(strings.TrimSpace(first(raw, "Date")), maxFieldLen)
	date, dateErr := parseDate(dateStr)

	ipTag := prefix + "received"
	for _, v := range values(raw, "Received") {
		for _, ip := range receivedIPs(v) {
			if !r.opt.IncludePrivateIPs && !isPublic(ip) {
				continue
			}
			r.Observables.AddIP(ip, ipTag)
		}
	}

	if depth > 0 {
		from := ""
		if f := byTag["from"]; len(f) > 0 {
			from = f[0]
		}
		r.Details.Forwarded = append(r.Details.Forwarded, Forwarded{
			Subject: subject, From: from, MessageID: msgID, Date: dateStr, Depth: depth,
		})
		return
	}
	r.Header = dec
	r.Subject = subject
	if dateErr == nil {
		r.Date = date
	} else if dateStr != "" {
		r.warn("Date header not usable: " + dateErr.Error())
	}
	d := &r.Details
	d.Subject, d.MessageID, d.Date = subject, msgID, dateStr
	d.From, d.To, d.Cc, d.ReplyTo = byTag["from"], byTag["to"], byTag["cc"], byTag["reply_to"]
	if len(d.From) > 0 {
		for _, to := range d.To {
			r.Observables.AddValue(collector.ObsEmailConversation, d.From[0]+"|"+to)
		}
	}
}

// values returns every value of the field name, matching case-insensitively.
func values(h textproto.MIMEHeader, name string) []string {
	if v, ok := h[textproto.CanonicalMIMEHeaderKey(name)]; ok {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

func first(h textproto.MIMEHeader, name string) string {
	if v := values(h, name); len(v) > 0 {
		return v[0]
	}
	return ""
}

var bareAddr = regexp.MustCompile(`[A-Za-z0-9._%+\-=!#$&'*/?^{|}~]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+`)

// parseAddresses returns the lower-cased addresses in an address-list
// field, falling back to a pattern scan when the list is malformed.
func parseAddresses(v string) []string {
	var out []string
	if list, err := enmime.ParseAddressList(v); err == nil {
		for _, a := range list {
			if s := normalizeAddress(a.Address); s != "" {
				out = append(out, s)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	for _, m := range bareAddr.FindAllString(enmime.DecodeRFC2047(v), maxAddresses+1) {
		if s := normalizeAddress(m); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func normalizeAddress(a string) string {
	a = strings.ToLower(strings.TrimSpace(a))
	a = strings.Trim(a, "<>")
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || len(a) > 320 || strings.IndexFunc(a, func(c rune) bool { return c <= ' ' || c == 0x7f }) >= 0 {
		return ""
	}
	return strings.ToValidUTF8(a, "")
}

func normalizeMessageID(v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return strings.ToValidUTF8(v[i:i+j+1], "")
		}
	}
	if f := strings.Fields(v); len(f) > 0 {
		return "<" + strings.ToValidUTF8(f[0], "") + ">"
	}
	return ""
}

// parseDate accepts what net/mail accepts plus a few common deviations.
func parseDate(v string) (time.Time, error) {
	t, err := mail.ParseDate(v)
	if err == nil {
		if t.Year() < 1970 || t.Year() > 9999 {
			return time.Time{}, &time.ParseError{Value: v, Message: ": year out of range"}
		}
		return t, nil
	}
	for _, layout := range []string{time.RFC3339, "Mon, 2 Jan 2006 15:04:05 -0700 (MST)", "2 Jan 2006 15:04:05 MST"} {
		if t, e := time.Parse(layout, v); e == nil && t.Year() >= 1970 {
			return t, nil
		}
	}
	return time.Time{}, err
}

// ipInReceived finds IPv4 literals in the places Received fields put them:
// "[1.2.3.4]", "(1.2.3.4)", "[1.2.3.4]:25", and "from 1.2.3.4".
var ipInReceived = regexp.MustCompile(`(?:[\[(]|\bfrom\s+)(\d{1,3}(?:\.\d{1,3}){3})(?::\d+)?(?:[\])\s;]|$)`)

func receivedIPs(v string) []netip.Addr {
	var out []netip.Addr
	for _, m := range ipInReceived.FindAllStringSubmatch(v, 50) {
		ip, err := netip.ParseAddr(m[1])
		if err != nil || !ip.Is4() {
			continue
		}
		out = append(out, ip)
	}
	return out
}

func isPublic(ip netip.Addr) bool {
	return !(ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() ||
		ip.IsMulticast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() ||
		cgnat.Contains(ip) || ip == broadcast)
}

var (
	cgnat     = netip.MustParsePrefix("100.64.0.0/10")
	broadcast = netip.MustParseAddr("255.255.255.255")
)

func decodeHeader(in textproto.MIMEHeader) textproto.MIMEHeader {
	out := make(textproto.MIMEHeader, len(in))
	for k, vs := range in {
		for _, v := range vs {
			out[k] = append(out[k], toUTF8([]byte(enmime.DecodeRFC2047(v)), ""))
		}
	}
	return out
}
