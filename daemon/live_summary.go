package daemon

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// liveSub is the part of a stored submission the live view reads.
type liveSub struct {
	Description  string                 `json:"description"`
	EventTime    time.Time              `json:"event_time"`
	ToolInstance string                 `json:"tool_instance"`
	Type         string                 `json:"type"`
	Rank         int                    `json:"rank"`
	Observables  []collector.Observable `json:"observables"`
	Details      json.RawMessage        `json:"details"`
	Files        []collector.File       `json:"files"`
	Tags         []string               `json:"tags"`
}

// RowView is one submission as the live page shows it (the "row" message
// of /live/events and the rows of /live/search).
type RowView struct {
	UUID      string `json:"uuid"`
	Time      int64  `json:"time"`   // event time (stored time when the source gave none), unix ms
	Stored    int64  `json:"stored"` // unix ms
	Collector string `json:"collector"`
	Kind      string `json:"kind"`
	Instance  string `json:"instance,omitempty"` // tool_instance
	Type      string `json:"type,omitempty"`
	Rank      int    `json:"rank"`
	Bytes     int64  `json:"bytes,omitempty"`
	Packets   int64  `json:"packets,omitempty"`
	Flows     int64  `json:"flows,omitempty"`
	// Servers and Clients are addresses; an address whose role the source
	// does not give is listed as a client.
	Servers     []string          `json:"servers,omitempty"`
	ServerPorts []string          `json:"server_ports,omitempty"`
	Clients     []string          `json:"clients,omitempty"`
	ClientPorts []string          `json:"client_ports,omitempty"`
	Events      []string          `json:"events,omitempty"`
	Proto       string            `json:"proto,omitempty"`
	Description string            `json:"description"`
	FlowOnly    bool              `json:"flow_only,omitempty"`
	Groups      []string          `json:"groups"`
	States      map[string]string `json:"states"` // group → state when the row was made
}

// summarize builds the view of a stored submission. Flow figures, roles
// and rank come from the details of the kinds that have them (pcap, EVE,
// eStreamer, syslog CEF), then from the observables.
func summarize(rv *RowView, sub *liveSub) {
	rv.Description = sub.Description
	rv.Instance, rv.Type, rv.Rank = sub.ToolInstance, sub.Type, sub.Rank
	rv.Time = rv.Stored
	if !sub.EventTime.IsZero() {
		rv.Time = sub.EventTime.UnixMilli()
	}
	if len(sub.Details) > 0 {
		var det map[string]any
		d := json.NewDecoder(bytes.NewReader(sub.Details))
		d.UseNumber()
		if d.Decode(&det) == nil && det != nil {
			fromDetails(rv, det)
		}
	}
	fromObservables(rv, sub.Observables)
	if len(rv.Events) == 0 && !rv.FlowOnly {
		rv.Events = []string{sub.Description}
	}
}

// fromDetails reads what the kinds that carry flow data put in details.
func fromDetails(rv *RowView, det map[string]any) {
	ev, _ := det["event"].(map[string]any)
	switch {
	case det["flows_total"] != nil: // pcap
		rv.FlowOnly = true
		rv.Bytes, rv.Packets, rv.Flows = num(det["bytes"]), num(det["packets"]), num(det["flows_total"])
		flows, _ := det["flows"].([]any)
		protos := map[string]bool{}
		for _, f := range flows {
			fm, _ := f.(map[string]any)
			rv.addEndpoints(str(fm["client"]), str(fm["client_port"]), str(fm["server"]), str(fm["server_port"]))
			protos[protoName(str(fm["proto"]))] = true
		}
		if len(protos) == 1 {
			for p := range protos {
				rv.Proto = p
			}
		}
	case det["record_type"] != nil && ev != nil: // eStreamer
		estreamerFacts(rv, det, ev)
	case ev != nil && ev["event_type"] != nil: // Suricata EVE
		eveFacts(rv, ev)
	case ev != nil: // syslog
		if c, ok := ev["cef"].(map[string]any); ok {
			cefFacts(rv, c)
		} else if rv.Rank == 0 && ev["severity"] != nil {
			// syslog severity: 0 (emergency) .. 7 (debug); ranked so that
			// higher is more urgent, like the other sources.
			rv.Rank = 8 - int(num(ev["severity"]))
		}
	}
}

func eveFacts(rv *RowView, ev map[string]any) {
	rv.addEndpoints(str(ev["src_ip"]), str(ev["src_port"]), str(ev["dest_ip"]), str(ev["dest_port"]))
	rv.Proto = protoName(str(ev["proto"]))
	typ := str(ev["event_type"])
	rv.FlowOnly = typ == "flow" || typ == "netflow"
	for _, k := range []string{"flow", "netflow"} {
		if f, ok := ev[k].(map[string]any); ok {
			rv.Bytes = num(f["bytes_toserver"]) + num(f["bytes_toclient"]) + num(f["bytes"])
			rv.Packets = num(f["pkts_toserver"]) + num(f["pkts_toclient"]) + num(f["pkts"])
			rv.Flows = 1
		}
	}
	if a, ok := ev["alert"].(map[string]any); ok {
		if s := str(a["signature"]); s != "" {
			rv.Events = append(rv.Events, s)
		}
		if rv.Rank == 0 && a["severity"] != nil {
			rv.Rank = int(num(a["severity"]))
		}
	}
}

func estreamerFacts(rv *RowView, det, ev map[string]any) {
	if ev["initiatorIpAddress"] != nil { // connection
		rv.FlowOnly = true
		rv.addEndpoints(str(ev["initiatorIpAddress"]), str(ev["initiatorPort"]), str(ev["responderIpAddress"]), str(ev["responderPort"]))
		rv.Proto = protoName(str(ev["protocol"]))
		rv.Bytes = num(ev["initiatorTransmittedBytes"]) + num(ev["responderTransmittedBytes"])
		rv.Packets = num(ev["initiatorTransmittedPackets"]) + num(ev["responderTransmittedPackets"])
		rv.Flows = 1
		return
	}
	sp, dp := ev["sourcePortOrIcmpType"], ev["destinationPortOrIcmpType"]
	if sp == nil {
		sp, dp = ev["sourcePort"], ev["destinationPort"]
	}
	rv.addEndpoints(str(ev["sourceIpAddress"]), str(sp), str(ev["destinationIpAddress"]), str(dp))
	p := ev["ipProtocolId"]
	if p == nil {
		p = ev["protocol"]
	}
	rv.Proto = protoName(str(p))
	if names, ok := det["names"].(map[string]any); ok {
		if m := str(names["rule_message"]); m != "" {
			rv.Events = append(rv.Events, m)
		}
	}
	if rv.Rank == 0 && ev["priorityId"] != nil {
		rv.Rank = int(num(ev["priorityId"]))
	}
}

func cefFacts(rv *RowView, c map[string]any) {
	ext, _ := c["extension"].(map[string]any)
	rv.addEndpoints(str(ext["src"]), str(ext["spt"]), str(ext["dst"]), str(ext["dpt"]))
	rv.Proto = protoName(str(ext["proto"]))
	if n := str(c["name"]); n != "" {
		rv.Events = append(rv.Events, n)
	}
	if rv.Rank == 0 {
		if s, err := strconv.Atoi(str(c["severity"])); err == nil {
			rv.Rank = s
		}
	}
	rv.Bytes = num(ext["in"]) + num(ext["out"])
}

// fromObservables adds conversations (client:port:server:port), snort
// signatures and the addresses not placed yet (as clients).
func fromObservables(rv *RowView, obs []collector.Observable) {
	for _, o := range obs {
		switch o.Type {
		case collector.ObsIPv4FullConversation:
			if p := strings.Split(o.Value, ":"); len(p) == 4 {
				rv.addEndpoints(p[0], p[1], p[2], p[3])
			}
		case collector.ObsIPv4Conversation:
			if c, s, ok := strings.Cut(o.Value, "_"); ok {
				rv.addEndpoints(c, "", s, "")
			}
		case collector.ObsSnortSignature:
			if !slices.Contains(rv.Events, o.Value) {
				rv.Events = append(rv.Events, o.Value)
			}
		}
	}
	for _, o := range obs {
		if o.Type == collector.ObsIPv4 || o.Type == collector.ObsIPv6 {
			if !slices.Contains(rv.Servers, o.Value) && !slices.Contains(rv.Clients, o.Value) {
				rv.Clients = append(rv.Clients, o.Value)
			}
		}
	}
}

func (rv *RowView) addEndpoints(client, cport, server, sport string) {
	add := func(list *[]string, v string) {
		if v != "" && v != "0" && len(*list) < 1000 && !slices.Contains(*list, v) {
			*list = append(*list, v)
		}
	}
	if a, err := netip.ParseAddr(client); err == nil {
		add(&rv.Clients, a.Unmap().String())
		add(&rv.ClientPorts, cport)
	}
	if a, err := netip.ParseAddr(server); err == nil {
		add(&rv.Servers, a.Unmap().String())
		add(&rv.ServerPorts, sport)
	}
}

// Addresses lists every address the row shows.
func (rv *RowView) Addresses() []string { return append(slices.Clone(rv.Servers), rv.Clients...) }

// protoName names IP protocol numbers the page shows by name.
func protoName(p string) string {
	switch strings.ToUpper(p) {
	case "6", "TCP":
		return "6"
	case "17", "UDP":
		return "17"
	case "1", "ICMP":
		return "1"
	case "58", "IPV6-ICMP", "ICMPV6":
		return "58"
	}
	return p
}

func num(v any) int64 {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		if f, err := x.Float64(); err == nil {
			return int64(f)
		}
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	case float64:
		return int64(x)
	}
	return 0
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case nil:
		return ""
	}
	return ""
}

// matchesIP reports whether sub has an observable holding address ip: an
// ipv4/ipv6 observable equal to it, or a conversation naming it.
func matchesIP(obs []collector.Observable, ip netip.Addr) bool {
	for _, o := range obs {
		switch o.Type {
		case collector.ObsIPv4, collector.ObsIPv6:
			if a, err := netip.ParseAddr(o.Value); err == nil && a.Unmap() == ip {
				return true
			}
		case collector.ObsIPv4Conversation, collector.ObsIPv4FullConversation:
			for _, part := range strings.FieldsFunc(o.Value, func(r rune) bool { return r == ':' || r == '_' }) {
				if a, err := netip.ParseAddr(part); err == nil && a.Unmap() == ip {
					return true
				}
			}
		}
	}
	return false
}
