package eve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/common/cef"
	"github.com/ace-collector/ace-collector/collectors/common/netobs"
)

// Event is one decoded EVE record.
type Event struct {
	m   map[string]any
	raw json.RawMessage
}

// decode parses one EVE line. Numbers stay json.Number so ids are exact.
func decode(line []byte) (*Event, error) {
	line = bytes.TrimSpace(line)
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("EVE line is not a JSON object: %w", err)
	}
	if d.More() {
		return nil, fmt.Errorf("EVE line holds more than one JSON value")
	}
	if m == nil {
		return nil, fmt.Errorf("EVE line is JSON null")
	}
	return &Event{m: m, raw: json.RawMessage(line)}, nil
}

// Field returns the value at a dotted path ("alert.signature_id",
// "http.hostname") as text; objects and arrays come back as JSON.
func (e *Event) Field(path string) (string, bool) {
	v, ok := lookup(e.m, path)
	if !ok || v == nil {
		return "", false
	}
	return text(v), true
}

func lookup(m map[string]any, path string) (any, bool) {
	var cur any = m
	for part := range strings.SplitSeq(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (e *Event) str(path string) string {
	v, _ := lookup(e.m, path)
	if s, ok := v.(string); ok {
		return strings.TrimSpace(s)
	}
	if n, ok := v.(json.Number); ok {
		return n.String()
	}
	return ""
}

// Type is the event_type.
func (e *Event) Type() string { return e.str("event_type") }

// Time parses Suricata's timestamp ("2024-01-02T03:04:05.123456+0000").
func (e *Event) Time() (time.Time, bool) {
	s := e.str("timestamp")
	for _, layout := range []string{"2006-01-02T15:04:05.999999999-0700", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// Title is a one-line description.
func (e *Event) Title() string {
	typ := e.Type()
	var what string
	switch typ {
	case "alert":
		what = e.str("alert.signature")
	case "http":
		what = e.str("http.hostname") + e.str("http.url")
	case "dns":
		what = e.str("dns.rrname")
	case "tls":
		what = e.str("tls.sni")
	case "fileinfo":
		if what = fileName(e.str("fileinfo.filename")); what == "" {
			what = e.str("http.hostname") + e.str("fileinfo.filename")
		}
	}
	if what == "" {
		what = strings.TrimSpace(e.str("src_ip") + " -> " + e.str("dest_ip"))
	}
	s := fmt.Sprintf("Suricata %s: %s", typ, what)
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.ToValidUTF8(s, "")
}

// Observables adds the event's observables (see the package comment).
func (e *Event) Observables(set *collector.ObservableSet) {
	set.AddIPString(e.str("src_ip"), "src")
	set.AddIPString(e.str("dest_ip"), "dst")
	if c := cef.Conversation(e.endpoints()); c != "" {
		set.AddValue(collector.ObsIPv4FullConversation, c)
	}
	e.httpObservables(set)
	addHost(set, e.str("dns.rrname"))
	for _, key := range []string{"dns.queries", "dns.query"} { // EVE v3 / older list forms
		if v, ok := lookup(e.m, key); ok {
			if list, ok := v.([]any); ok {
				for _, q := range list {
					if qm, ok := q.(map[string]any); ok {
						if s, ok := qm["rrname"].(string); ok {
							addHost(set, s)
						}
					}
				}
			}
		}
	}
	addHost(set, e.str("tls.sni"))
	if fn := fileName(e.str("fileinfo.filename")); fn != "" {
		set.AddValue(collector.ObsFileName, fn)
	}
	for _, h := range []string{"fileinfo.md5", "fileinfo.sha1", "fileinfo.sha256"} {
		if v := strings.ToLower(e.str(h)); cef.HashType(v) != "" {
			set.AddValue(cef.HashType(v), v)
		}
	}
	if sid := e.str("alert.signature_id"); sid != "" {
		gid, rev := e.str("alert.gid"), e.str("alert.rev")
		if gid == "" {
			gid = "1"
		}
		if rev == "" {
			rev = "1"
		}
		set.AddValue(collector.ObsSnortSignature, gid+":"+sid+":"+rev)
	}
}

// addHost adds an address or host name.
func addHost(set *collector.ObservableSet, v string) {
	if v = strings.TrimSuffix(strings.TrimSpace(v), "."); v == "" {
		return
	}
	if !set.AddIPString(v) && netobs.IsFQDN(v) {
		set.AddValue(collector.ObsFQDN, strings.ToLower(v))
	}
}

// httpObservables adds the HTTP host name and URL. A fileinfo record's
// file name is the URL path when the file came over HTTP: without an
// http.url, the URL is built from it.
func (e *Event) httpObservables(set *collector.ObservableSet) {
	host := e.str("http.hostname")
	addHost(set, host)
	u := e.str("http.url")
	if fn := e.str("fileinfo.filename"); u == "" && host != "" && strings.HasPrefix(fn, "/") {
		u = fn
	}
	switch {
	case u == "":
	case strings.Contains(u, "://"):
		set.AddValue(collector.ObsURL, u)
	case host != "" && strings.HasPrefix(u, "/"):
		if p := e.str("http.http_port"); p != "" && p != "80" {
			host += ":" + p
		}
		set.AddValue(collector.ObsURL, "http://"+host+u)
	default:
		set.AddValue(collector.ObsURI, u)
	}
}

// endpoints returns the conversation client first: client address and
// port, server address and port. Suricata writes most records in the
// flow's direction (client first), but an alert in the direction of the
// packet that matched and a fileinfo record in the direction the file
// travelled (a download comes from the server):
//   - an alert's "direction": "to_client" (Suricata 7) means src is the
//     server (its flow.src_ip, when logged, is then dest_ip);
//   - a fileinfo record has no direction: the side on the HTTP port
//     (http.http_port), else on the well-known or lower port, is the
//     server.
func (e *Event) endpoints() (cip, cport, sip, sport string) {
	cip, cport, sip, sport = e.str("src_ip"), e.str("src_port"), e.str("dest_ip"), e.str("dest_port")
	swap := false
	switch {
	case e.str("direction") == "to_client":
		swap = true
	case e.str("direction") == "to_server":
	case e.Type() == "fileinfo":
		swap = srcIsServer(cport, sport, e.str("http.http_port"))
	}
	if swap {
		return sip, sport, cip, cport
	}
	return cip, cport, sip, sport
}

// srcIsServer guesses from the ports whether the source of a record
// without direction is the server: the side on the service port (when
// known), else the side with a port below 1024 facing one above, else the
// lower port.
func srcIsServer(srcPort, dstPort, servicePort string) bool {
	if servicePort != "" && srcPort != dstPort {
		switch servicePort {
		case srcPort:
			return true
		case dstPort:
			return false
		}
	}
	sp, err1 := strconv.Atoi(srcPort)
	dp, err2 := strconv.Atoi(dstPort)
	switch {
	case err1 != nil || err2 != nil:
		return false
	case sp < 1024 && dp >= 1024:
		return true
	case dp < 1024 && sp >= 1024:
		return false
	}
	return sp < dp
}

// fileName is the name of a file Suricata logged, from
// fileinfo.filename: for a file that came over HTTP that is the URL path
// ("/", "/dl/setup.exe?id=3"), for SMB a Windows path. It is the last
// segment, without query and percent-decoded for a URL path, or "" when
// there is none.
func fileName(fn string) string {
	isPath := strings.HasPrefix(fn, "/")
	if isPath {
		fn, _, _ = strings.Cut(fn, "?")
		fn, _, _ = strings.Cut(fn, "#")
	}
	fn = fn[strings.LastIndexAny(fn, `/\`)+1:]
	if isPath {
		if u, err := url.PathUnescape(fn); err == nil {
			fn = u[strings.LastIndexAny(u, `/\`)+1:]
		}
	}
	if fn = strings.TrimSpace(fn); fn == "." || fn == ".." {
		return ""
	}
	return strings.ToValidUTF8(fn, "")
}
