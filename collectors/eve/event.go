package eve

import (
	"bytes"
	"encoding/json"
	"fmt"
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
		what = e.str("fileinfo.filename")
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
	addHost := func(v string) {
		if v = strings.TrimSuffix(strings.TrimSpace(v), "."); v == "" {
			return
		}
		if !set.AddIPString(v) && netobs.IsFQDN(v) {
			set.AddValue(collector.ObsFQDN, strings.ToLower(v))
		}
	}
	set.AddIPString(e.str("src_ip"), "src")
	set.AddIPString(e.str("dest_ip"), "dst")
	if c := cef.Conversation(e.str("src_ip"), e.str("src_port"), e.str("dest_ip"), e.str("dest_port")); c != "" {
		set.AddValue(collector.ObsIPv4FullConversation, c)
	}
	host := e.str("http.hostname")
	addHost(host)
	if u := e.str("http.url"); u != "" {
		switch {
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
	addHost(e.str("dns.rrname"))
	for _, key := range []string{"dns.queries", "dns.query"} { // EVE v3 / older list forms
		if v, ok := lookup(e.m, key); ok {
			if list, ok := v.([]any); ok {
				for _, q := range list {
					if qm, ok := q.(map[string]any); ok {
						if s, ok := qm["rrname"].(string); ok {
							addHost(s)
						}
					}
				}
			}
		}
	}
	addHost(e.str("tls.sni"))
	if fn := e.str("fileinfo.filename"); fn != "" {
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
