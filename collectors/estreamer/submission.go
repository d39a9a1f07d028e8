package estreamer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/estreamer/wire"
)

// event is a decoded event record on its way to a submission.
type event struct {
	kind      string
	rec       uint32
	archiveTS uint32
	blk       *wire.Block
	header    *wire.DiscoveryHeader // connection and IoC events
	packets   []*wire.Packet
	extra     []map[string]any // intrusion extra data (record 110)
	key       string           // identity: dedup key of the bookmark and the store (identify)
	readable  string           // the documented key, part of the identity
	pktKey    string           // intrusion events: what their packets and extra data carry
	names     map[string]string
}

// newEvent wraps a decoded event record; ok is false for other records.
//
// The identity (see identify) must tell apart every two records that are different
// events and match a record the server sends again after a reconnect. The
// documented keys alone do not: a connection's beginning and end events
// share (device, first packet, instance, counter), and so do a Security
// Intelligence event and its connection event. So the identity is the
// record type, the documented key (readable, for logs) and a digest of
// the record data, which differs in the fields that tell such events
// apart (last packet time, byte counts, SI lists, action) and is the same
// for a re-sent copy. The discovery header's file number and position
// (bytes 32..40, the server's storage position) are left out of it.
func newEvent(ed wire.EventData, r wire.Record) (*event, bool) {
	e := &event{rec: ed.RecordType, archiveTS: ed.ArchiveTimestamp, kind: kindOf(ed.RecordType)}
	readable := ""
	switch v := r.(type) {
	case wire.IntrusionEvent:
		e.blk = v.Block
		e.pktKey = fmt.Sprintf("ids:%d:%d:%d", v.U32("deviceId"), v.U32("eventId"), v.U32("eventSecond"))
		readable = e.pktKey
	case wire.ConnectionEvent:
		e.blk, e.header = v.Block, &v.Header
		readable = fmt.Sprintf("conn:%d:%d:%d:%d", v.U32("deviceId"), v.U32("firstPacketTimestamp"),
			v.U32("instanceId"), v.U32("connectionCounter"))
	case wire.FileEvent:
		e.blk = v.Block
		readable = fmt.Sprintf("file:%d:%d:%d:%d:%d", v.U32("deviceId"), v.U32("connectionTimestamp"),
			v.U32("connectionInstance"), v.U32("connectionCounter"), v.U32("fileEventTimestamp"))
	case wire.MalwareEvent:
		e.blk = v.Block
		readable = fmt.Sprintf("mal:%d:%d", v.U32("deviceId"), v.U32("malwareEventTimestamp"))
	case wire.CorrelationEvent:
		e.blk = v.Block
		readable = fmt.Sprintf("corr:%d:%d:%d", v.U32("deviceId"), v.U32("eventId"), v.U32("correlationEventSecond"))
	case wire.IOCEvent:
		e.blk, e.header = v.Block, &v.Header
		readable = fmt.Sprintf("ioc:%d:%s:%d:%d", v.Header.DeviceID, hostOf(&v.Header), v.U32("iocId"), v.Header.EventSecond)
	default:
		return nil, false
	}
	e.readable = readable
	return e, true
}

// identify sets the identity from the record data (only for events the
// rules selected: the digest is the costly part).
func (e *event) identify(data []byte) {
	e.key = fmt.Sprintf("%d:%s:%s", e.rec, e.readable, recordDigest(data, e.header != nil))
}

// recordDigest is 96 bits of SHA-256 of the record data, without the
// discovery header's storage position when there is one.
func recordDigest(d []byte, discovery bool) string {
	h := sha256.New()
	if discovery && len(d) >= 40 {
		h.Write(d[:32])
		h.Write(d[40:])
	} else {
		h.Write(d)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// hostOf is the host address of a discovery header: the IPv6 field (IPv4
// mapped) when present, else the legacy IPv4 word.
func hostOf(h *wire.DiscoveryHeader) netip.Addr {
	if h.IPv6.IsValid() && !h.IPv6.IsUnspecified() {
		return h.IPv6
	}
	if h.LegacyIP != 0 {
		return netip.AddrFrom4([4]byte{byte(h.LegacyIP >> 24), byte(h.LegacyIP >> 16), byte(h.LegacyIP >> 8), byte(h.LegacyIP)})
	}
	return netip.Addr{}
}

// packetKey is the intrusion identity a packet belongs to.
func packetKey(p *wire.Packet) string {
	return fmt.Sprintf("ids:%d:%d:%d", p.DeviceID, p.EventID, p.EventSecond)
}

func (e *event) eventTime() time.Time {
	b := e.blk
	switch e.kind {
	case KindIntrusion:
		return time.Unix(int64(b.U32("eventSecond")), int64(b.U32("eventMicrosecond"))*1000).UTC()
	case KindConnection:
		return time.Unix(int64(b.U32("firstPacketTimestamp")), 0).UTC()
	case KindFile, KindFileMalware:
		return time.Unix(int64(b.U32("fileEventTimestamp")), 0).UTC()
	case KindMalware:
		return time.Unix(int64(b.U32("malwareEventTimestamp")), 0).UTC()
	case KindCorrelation:
		return time.Unix(int64(b.U32("correlationEventSecond")), 0).UTC()
	case KindIOC:
		return time.Unix(int64(e.header.EventSecond), int64(e.header.EventMicrosecond)*1000).UTC()
	}
	return time.Time{}
}

// endpoints returns source/destination address, ports and protocol.
func (e *event) endpoints() (src, dst netip.Addr, sport, dport uint16, proto uint8) {
	b := e.blk
	switch e.kind {
	case KindIntrusion:
		return b.IP("sourceIpAddress"), b.IP("destinationIpAddress"), uint16(b.Uint("sourcePortOrIcmpType")),
			uint16(b.Uint("destinationPortOrIcmpType")), uint8(b.Uint("ipProtocolId"))
	case KindConnection:
		return b.IP("initiatorIpAddress"), b.IP("responderIpAddress"), uint16(b.Uint("initiatorPort")),
			uint16(b.Uint("responderPort")), uint8(b.Uint("protocol"))
	case KindCorrelation:
		return b.IP("sourceIpv6Address"), b.IP("destinationIpv6Address"), uint16(b.Uint("sourcePort")),
			uint16(b.Uint("destinationPort")), uint8(b.Uint("ipProtocol"))
	case KindIOC:
		return hostOf(e.header), netip.Addr{}, 0, 0, 0
	}
	return b.IP("sourceIpAddress"), b.IP("destinationIpAddress"), uint16(b.Uint("sourcePort")),
		uint16(b.Uint("destinationPort")), uint8(b.Uint("protocol"))
}

func (e *event) signature() string {
	b := e.blk
	return fmt.Sprintf("%d:%d:%d", b.U32("generatorId"), b.U32("ruleId"), b.U32("ruleRevision"))
}

func (e *event) describe() string {
	src, dst, _, _, _ := e.endpoints()
	b := e.blk
	var what string
	switch e.kind {
	case KindIntrusion:
		what = e.names["rule_message"]
		if what == "" {
			what = "signature " + e.signature()
		}
	case KindConnection:
		what = "connection"
		if u := b.Str("clientUrl"); u != "" {
			what += " " + u
		}
	case KindFile, KindFileMalware:
		what = "file " + b.Str("fileName")
	case KindMalware:
		what = "malware " + b.Str("detectionName")
		if f := b.Str("fileName"); f != "" {
			what += " in " + f
		}
	case KindCorrelation:
		what = firstOf(e.names["correlation_rule"], b.Str("eventDescription"), fmt.Sprintf("correlation rule %d", b.U32("ruleId")))
		if p := e.names["correlation_policy"]; p != "" {
			what += " (policy " + p + ")"
		}
	case KindIOC:
		what = firstOf(strings.TrimSpace(e.names["ioc_category"]+" "+e.names["ioc_event_type"]), fmt.Sprintf("IoC %d", b.U32("iocId")))
		return fmt.Sprintf("eStreamer ioc: %s (host %s)", what, addrText(src))
	}
	return fmt.Sprintf("eStreamer %s: %s (%s -> %s)", strings.ReplaceAll(e.kind, "_", " "), what, addrText(src), addrText(dst))
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func addrText(a netip.Addr) string {
	if !a.IsValid() || a.IsUnspecified() {
		return "?"
	}
	return a.String()
}

// buildSubmission makes the ACE submission for an event (without files).
func (c *Collector) buildSubmission(g collector.Global, e *event) (*collector.Submission, error) {
	sub := collector.NewSubmission(e.describe())
	sub.Type = "estreamer - " + strings.ReplaceAll(e.kind, "_", " ") // unless submission_type is set
	c.cfg.Fields.Apply(sub, g)
	sub.EventTime = e.eventTime()
	sub.Observables = observables(e, c.cfg.IgnoreUser)
	details := map[string]any{
		"record_type":       e.rec,
		"archive_timestamp": e.archiveTS,
		"event":             e.blk,
		"names":             e.names,
		"packets":           len(e.packets),
	}
	if e.header != nil {
		details["discovery_header"] = e.header
	}
	if e.kind == KindIOC {
		details["host"] = addrText(hostOf(e.header))
	}
	if len(e.extra) > 0 {
		details["extra_data"] = e.extra
	}
	if err := sub.SetDetails(details); err != nil {
		return nil, err
	}
	return sub, nil
}

func observables(e *event, users userFilter) []collector.Observable {
	var set collector.ObservableSet
	t := e.eventTime()
	add := func(typ, value string) {
		set.Add(collector.Observable{Type: typ, Value: value, Time: t})
	}
	src, dst, sport, dport, proto := e.endpoints()
	for _, a := range []netip.Addr{src, dst} {
		addAddr(add, a)
	}
	if src.Is4() && dst.Is4() && !src.IsUnspecified() && !dst.IsUnspecified() && (proto == 6 || proto == 17 || proto == 132) {
		add(collector.ObsIPv4FullConversation, fmt.Sprintf("%s:%d:%s:%d", src, sport, dst, dport))
	}
	kindObservables(add, e, users)
	// A placeholder user ("No Authentication Required", ...) is on events
	// that have nothing to do with each other: never an observable.
	b := e.blk
	for _, u := range []struct{ field, name string }{
		{"userId", "user"}, {"sourceUserId", "source_user"}, {"destinationUserId", "destination_user"},
	} {
		if name := e.names[u.name]; name != "" && !users.ignored(b.U32(u.field), name) {
			add(collector.ObsUser, name)
		}
	}
	return set.List()
}

// kindObservables adds the observables particular to the event's kind.
func kindObservables(add func(string, string), e *event, users userFilter) {
	b := e.blk
	switch e.kind {
	case KindIntrusion:
		add(collector.ObsSnortSignature, e.signature())
		host := b.Str("httpHostname")
		addHost(add, host)
		if u := b.Str("httpURI"); host != "" && u != "" {
			add(collector.ObsURL, "http://"+host+ensureSlash(u))
		}
		addAddr(add, b.IP("originalSrcIP"))
	case KindConnection:
		addURL(add, b.Str("clientUrl"))
		addHost(add, b.Str("referencedHost"))
		addHost(add, b.Str("sslServerName"))
		addHost(add, strings.TrimSuffix(b.Str("dnsQuery"), "."))
		addAddr(add, b.IP("originalClientIpAddress"))
	case KindFile, KindFileMalware:
		add(collector.ObsFileName, b.Str("fileName"))
		if sha := b.Bytes("shaHash"); len(sha) == 32 && !allZero(sha) {
			add(collector.ObsSHA256, hex.EncodeToString(sha))
		}
		addURL(add, b.Str("uri"))
	case KindMalware:
		add(collector.ObsFileName, b.Str("fileName"))
		add(collector.ObsFilePath, b.Str("filePath"))
		if sha := strings.ToLower(b.Str("fileShaHash")); len(sha) == 64 {
			add(collector.ObsSHA256, sha)
		}
		if u := b.Str("user"); !users.ignored(0, u) {
			add(collector.ObsUser, u)
		}
		addURL(add, b.Str("uri"))
	case KindCorrelation:
		addURL(add, b.Str("url"))
	}
}

func addAddr(add func(string, string), a netip.Addr) {
	if !a.IsValid() || a.IsUnspecified() {
		return
	}
	add(collector.IPObservable(a))
}

func addHost(add func(string, string), h string) {
	h = strings.TrimSpace(h)
	if h == "" {
		return
	}
	if host, _, err := splitHostPort(h); err == nil {
		h = host
	}
	if a, err := netip.ParseAddr(h); err == nil {
		addAddr(add, a)
		return
	}
	if strings.Contains(h, ".") {
		add(collector.ObsFQDN, strings.ToLower(h))
	} else {
		add(collector.ObsHostname, strings.ToLower(h))
	}
}

func splitHostPort(h string) (string, string, error) {
	i := strings.LastIndexByte(h, ':')
	if i < 0 || strings.Count(h, ":") > 1 {
		return h, "", fmt.Errorf("no port")
	}
	if _, err := strconv.Atoi(h[i+1:]); err != nil {
		return h, "", err
	}
	return h[:i], h[i+1:], nil
}

func addURL(add func(string, string), u string) {
	u = strings.TrimSpace(u)
	if u == "" {
		return
	}
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" {
		return
	}
	add(collector.ObsURL, u)
	addHost(add, pu.Hostname())
}

func ensureSlash(u string) string {
	if strings.HasPrefix(u, "/") {
		return u
	}
	return "/" + u
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
