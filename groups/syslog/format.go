package syslog

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/groups/internal/render"
)

// Event is the header of a CEF or LEEF record.
type Event struct {
	Vendor, Product, Version string
	Severity                 int // CEF/LEEF severity, 0..10
}

// field is one extension key and value, in output order.
type field struct{ k, v string }

// CEFHeader escapes a CEF header field: backslash and pipe with a
// backslash (ArcSight CEF, "Character encoding"); CR and LF, not allowed
// in the header, become spaces.
func CEFHeader(s string) string {
	return cefHeaderEscaper.Replace(s)
}

var cefHeaderEscaper = strings.NewReplacer(`\`, `\\`, `|`, `\|`, "\r\n", " ", "\r", " ", "\n", " ")

// CEFValue escapes a CEF extension value: backslash and equals sign with
// a backslash, CR and LF as \r and \n.
func CEFValue(s string) string {
	return cefValueEscaper.Replace(s)
}

var cefValueEscaper = strings.NewReplacer(`\`, `\\`, `=`, `\=`, "\r", `\r`, "\n", `\n`)

// LEEFValue makes s a LEEF attribute value: LEEF has no escape for its
// delimiter, so tab (the delimiter here), CR and LF become spaces.
func LEEFValue(s string) string { return render.OneLine(s) }

// cef renders the CEF record of sub (obs nil) or of one observable.
func (e Event) cef(sub *collector.Submission, obs *collector.Observable, now time.Time) string {
	var b strings.Builder
	sig, name := sub.Type, sub.Description
	if obs != nil {
		sig, name = "observable", obs.Type+" "+obs.Value
	}
	fmt.Fprintf(&b, "CEF:0|%s|%s|%s|%s|%s|%d|", CEFHeader(e.Vendor), CEFHeader(e.Product), CEFHeader(e.Version),
		CEFHeader(sig), CEFHeader(name), e.Severity)
	for i, f := range cefFields(sub, obs, now) {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f.k)
		b.WriteByte('=')
		b.WriteString(CEFValue(f.v))
	}
	return b.String()
}

// cefFields are the extension: the submission's identity, then the
// fields its observables map to.
func cefFields(sub *collector.Submission, obs *collector.Observable, now time.Time) []field {
	t := sub.EventTime
	if t.IsZero() {
		t = now
	}
	fs := []field{
		{"rt", strconv.FormatInt(t.UnixMilli(), 10)},
		{"externalId", sub.UUID},
		{"cat", sub.AnalysisMode},
		{"dvchost", sub.ToolInstance},
		{"cs1Label", "tool"}, {"cs1", sub.Tool},
	}
	if len(sub.Tags) > 0 {
		fs = append(fs, field{"cs2Label", "tags"}, field{"cs2", strings.Join(sub.Tags, ",")})
	}
	if obs != nil {
		fs = append(fs, field{"cs3Label", "observableType"}, field{"cs3", obs.Type},
			field{"cs4Label", "observableValue"}, field{"cs4", obs.Value})
		if len(obs.Tags) > 0 {
			fs = append(fs, field{"cs5Label", "observableTags"}, field{"cs5", strings.Join(obs.Tags, ",")})
		}
		return append(fs, mapObservables([]collector.Observable{*obs}).list()...)
	}
	fs = append(fs, field{"msg", sub.Description})
	return append(fs, mapObservables(sub.Observables).list()...)
}

// leefKeys renames CEF keys to LEEF's own (IBM QRadar LEEF 2.0); keys not
// listed keep their CEF name (a LEEF custom attribute).
var leefKeys = map[string]string{
	"spt": "srcPort", "dpt": "dstPort", "suser": "usrName", "duser": "dstUser", "shost": "srcHostName",
	"dhost": "dstHostName", "request": "url", "fname": "fileName", "smac": "srcMAC", "dmac": "dstMAC",
	"c6a2": "src", "c6a3": "dst",
}

// leefTimeFormat is the devTimeFormat the records declare (Java's
// SimpleDateFormat, as QRadar reads it) and the Go layout that writes it.
const (
	leefTimeFormat = "yyyy-MM-dd'T'HH:mm:ss.SSSZ"
	leefTimeLayout = "2006-01-02T15:04:05.000-0700"
)

// leef renders the LEEF 2.0 record of sub (obs nil) or of one observable,
// attributes separated by tabs (declared as x09).
func (e Event) leef(sub *collector.Submission, obs *collector.Observable, now time.Time) string {
	var b strings.Builder
	id := sub.Type
	if obs != nil {
		id = "observable"
	}
	fmt.Fprintf(&b, "LEEF:2.0|%s|%s|%s|%s|x09|", CEFHeader(e.Vendor), CEFHeader(e.Product), CEFHeader(e.Version), CEFHeader(id))
	t := sub.EventTime
	if t.IsZero() {
		t = now
	}
	fs := []field{
		{"devTime", t.UTC().Format(leefTimeLayout)}, {"devTimeFormat", leefTimeFormat},
		{"sev", strconv.Itoa(e.Severity)}, {"cat", sub.AnalysisMode}, {"externalId", sub.UUID},
		{"identHostName", sub.ToolInstance}, {"tool", sub.Tool},
	}
	if len(sub.Tags) > 0 {
		fs = append(fs, field{"tags", strings.Join(sub.Tags, ",")})
	}
	m := mapObservables(sub.Observables)
	if obs != nil {
		fs = append(fs, field{"name", obs.Type + " " + obs.Value}, field{"observableType", obs.Type},
			field{"observableValue", obs.Value})
		m = mapObservables([]collector.Observable{*obs})
	} else {
		fs = append(fs, field{"name", sub.Description})
	}
	seen := map[string]bool{}
	for _, f := range m.list() {
		if k, ok := leefKeys[f.k]; ok {
			f.k = k
		}
		// LEEF needs no labels (custom keys name themselves); an IPv6
		// address goes to src/dst unless an IPv4 one took it.
		if strings.HasSuffix(f.k, "Label") || seen[f.k] {
			continue
		}
		seen[f.k] = true
		fs = append(fs, f)
	}
	for i, f := range fs {
		if i > 0 {
			b.WriteByte('\t')
		}
		b.WriteString(f.k)
		b.WriteByte('=')
		b.WriteString(LEEFValue(f.v))
	}
	return b.String()
}

// jsonLine renders the submission's JSON document (or, per observable,
// the submission's identity and the observable) on one line.
func jsonLine(sub *collector.Submission, obs *collector.Observable) (string, error) {
	var v any
	if obs == nil {
		doc, err := render.NewDocument(sub, false)
		if err != nil {
			return "", err
		}
		v = doc
	} else {
		v = struct {
			UUID        string                `json:"uuid"`
			Description string                `json:"description"`
			Type        string                `json:"type"`
			Tool        string                `json:"tool"`
			Observable  *collector.Observable `json:"observable"`
		}{sub.UUID, sub.Description, sub.Type, sub.Tool, obs}
	}
	b, err := json.Marshal(v) // escapes CR and LF: one line
	return string(b), err
}

// templateFuncs are the syslog type's template functions besides render's.
var templateFuncs = template.FuncMap{"cefHeader": CEFHeader, "cefValue": CEFValue, "leefValue": LEEFValue}

// mapped is the CEF fields observables map to, filled first come first
// served per key.
type mapped struct {
	order []string
	v     map[string]string
}

func (m *mapped) set(k, v string) {
	if v == "" {
		return
	}
	if _, ok := m.v[k]; ok {
		return
	}
	m.v[k] = v
	m.order = append(m.order, k)
}

func (m *mapped) has(k string) bool { _, ok := m.v[k]; return ok }

func (m *mapped) list() []field {
	out := make([]field, 0, len(m.order))
	for _, k := range m.order {
		out = append(out, field{k, m.v[k]})
	}
	return out
}

// mapObservables maps observables to CEF extension keys (ArcSight CEF
// revision 25): addresses to src/dst (IPv6 to c6a2/c6a3), ports from
// conversations to spt/dpt, host names to shost/dhost, users and email
// addresses to suser/duser, url to request, file name and path to fname and
// filePath, the strongest hash to fileHash, MAC addresses to smac/dmac.
// Which side an observable is on comes from its tags (src, source, sender,
// from, client / dst, dest, destination, rcpt, recipient, to, server);
// untagged ones fill the source side first (the destination for host
// names).
func mapObservables(obs []collector.Observable) *mapped {
	m := &mapped{v: map[string]string{}}
	var hash [3]string // md5, sha1, sha256
	for _, o := range obs {
		m.add(o, &hash)
	}
	for i := 2; i >= 0; i-- {
		m.set("fileHash", hash[i])
	}
	if m.has("c6a2") {
		m.set("c6a2Label", "sourceIPv6")
	}
	if m.has("c6a3") {
		m.set("c6a3Label", "destinationIPv6")
	}
	return m
}

// add maps one observable (hashes are collected, the strongest mapped last).
func (m *mapped) add(o collector.Observable, hash *[3]string) {
	side := sideOf(o.Tags)
	switch o.Type {
	case collector.ObsIPv4:
		m.pair("src", "dst", side, o.Value, false)
	case collector.ObsIPv6:
		m.pair("c6a2", "c6a3", side, o.Value, false)
	case collector.ObsIPv4FullConversation:
		if p := strings.Split(o.Value, ":"); len(p) == 4 {
			m.set("src", p[0])
			m.set("spt", p[1])
			m.set("dst", p[2])
			m.set("dpt", p[3])
		}
	case collector.ObsIPv4Conversation:
		if a, b, ok := strings.Cut(o.Value, "_"); ok {
			m.set("src", a)
			m.set("dst", b)
		}
	case collector.ObsFQDN, collector.ObsHostname:
		m.pair("shost", "dhost", side, o.Value, true)
	case collector.ObsUser, collector.ObsEmailAddress:
		m.pair("suser", "duser", side, o.Value, false)
	case collector.ObsEmailConversation:
		if from, to, ok := strings.Cut(o.Value, "|"); ok {
			m.set("suser", from)
			m.set("duser", to)
		}
	case collector.ObsURL:
		m.set("request", o.Value)
	case collector.ObsFileName:
		m.set("fname", o.Value)
	case collector.ObsFilePath:
		m.set("filePath", o.Value)
	case collector.ObsMAC:
		m.pair("smac", "dmac", side, o.Value, false)
	case collector.ObsMD5:
		hash[0] = first(hash[0], o.Value)
	case collector.ObsSHA1:
		hash[1] = first(hash[1], o.Value)
	case collector.ObsSHA256:
		hash[2] = first(hash[2], o.Value)
	}
}

// pair sets the source or destination key of a pair by side; an untagged
// value takes the source key if free (the destination first when
// destFirst), else the other.
func (m *mapped) pair(src, dst string, side int, v string, destFirst bool) {
	switch {
	case side < 0:
		m.set(src, v)
	case side > 0:
		m.set(dst, v)
	case destFirst && !m.has(dst), !destFirst && m.has(src):
		m.set(dst, v)
	default:
		m.set(src, v)
	}
}

func first(cur, v string) string {
	if cur != "" {
		return cur
	}
	return v
}

// sideOf reads the side from tags: -1 source, +1 destination, 0 unknown.
// Tags are split into words ("smtp_mail_from": smtp, mail, from).
func sideOf(tags []string) int {
	for _, t := range tags {
		for _, w := range strings.FieldsFunc(strings.ToLower(t), func(r rune) bool { return r == '_' || r == '-' || r == ' ' }) {
			switch w {
			case "src", "source", "sender", "from", "client", "attacker":
				return -1
			case "dst", "dest", "destination", "rcpt", "recipient", "to", "server", "target", "victim":
				return 1
			}
		}
	}
	return 0
}
