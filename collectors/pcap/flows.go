package pcap

import (
	"bytes"
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Flow is one row of the flow summary, in the shape of a network
// monitor's real-time view: the server and client side, protocol number
// (6 TCP, 17 UDP, others by IP protocol with port 0), packets and bytes
// (as on the wire) in both directions, first and last packet time.
type Flow struct {
	Server     string    `json:"server"`
	ServerPort uint16    `json:"server_port"`
	Client     string    `json:"client"`
	ClientPort uint16    `json:"client_port"`
	Proto      uint8     `json:"proto"`
	Packets    int64     `json:"packets"`
	Bytes      int64     `json:"bytes"`
	First      time.Time `json:"first"`
	Last       time.Time `json:"last"`

	server, client netip.Addr
}

// HTTPRequest is a request line and Host header seen in a TCP segment.
type HTTPRequest struct {
	Method string `json:"method"`
	Host   string `json:"host,omitempty"`
	Path   string `json:"path"`
	URL    string `json:"url,omitempty"`
}

type flowKey struct {
	proto  uint8
	a, b   netip.Addr
	ap, bp uint16
}

// Summary is what one capture yields.
type Summary struct {
	Packets    int64         `json:"packets"`
	Bytes      int64         `json:"bytes"`
	NonIP      int64         `json:"non_ip_packets,omitempty"`
	First      time.Time     `json:"first_time,omitzero"`
	Last       time.Time     `json:"last_time,omitzero"`
	FlowsTotal int           `json:"flows_total"`
	Flows      []*Flow       `json:"flows"`
	DNSQueries []string      `json:"dns_queries,omitempty"`
	HTTP       []HTTPRequest `json:"http_requests,omitempty"`
	TLSSNI     []string      `json:"tls_sni,omitempty"`
	Error      string        `json:"error,omitempty"`
	Truncated  bool          `json:"truncated,omitempty"`

	flows    map[flowKey]*Flow
	seen     map[string]bool
	maxItems int
	dec      *decoder
}

func newSummary(maxItems int) *Summary {
	return &Summary{flows: map[flowKey]*Flow{}, seen: map[string]bool{}, maxItems: maxItems, dec: newDecoder()}
}

// add decodes one packet and accounts it.
func (s *Summary) add(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) {
	s.Packets++
	wire := int64(ci.Length)
	if wire < int64(len(data)) {
		wire = int64(len(data))
	}
	s.Bytes += wire
	ts := ci.Timestamp.UTC()
	if !ts.IsZero() {
		if s.First.IsZero() || ts.Before(s.First) {
			s.First = ts
		}
		if ts.After(s.Last) {
			s.Last = ts
		}
	}
	first := layerTypeFor(lt, data)
	if first == gopacket.LayerTypeZero {
		s.NonIP++
		return
	}
	info, ok := s.dec.decode(first, data)
	if !ok {
		s.NonIP++
		return
	}
	proto, payload := info.proto, info.payload
	f := s.flow(proto, info.src, info.sport, info.dst, info.dport, info.syn, info.ack, ts)
	f.Packets++
	f.Bytes += wire
	if ts.After(f.Last) {
		f.Last = ts
	}
	if info.dns != nil {
		for _, q := range info.dns.Questions {
			s.addString(&s.DNSQueries, "dns:", strings.TrimSuffix(string(q.Name), "."))
		}
	}
	if proto == 6 && len(payload) > 0 {
		if req, ok := parseHTTPRequest(payload); ok {
			if req.Host != "" && strings.HasPrefix(req.Path, "/") {
				req.URL = "http://" + req.Host + req.Path
			}
			if !s.seen["http:"+req.Method+req.Host+req.Path] && len(s.HTTP) < s.maxItems {
				s.seen["http:"+req.Method+req.Host+req.Path] = true
				s.HTTP = append(s.HTTP, req)
			}
		} else if sni, ok := ParseSNI(payload); ok {
			s.addString(&s.TLSSNI, "sni:", sni)
		}
	}
}

func (s *Summary) addString(list *[]string, kind, v string) {
	if v == "" || s.seen[kind+v] || len(*list) >= s.maxItems {
		return
	}
	s.seen[kind+v] = true
	*list = append(*list, v)
}

// flow finds or creates the flow of a packet. The client is the side that
// sent a SYN (or received the SYN-ACK); failing that the side with the
// higher port when exactly one port is below 1024 or the ports differ, and
// failing that the sender of the first packet.
func (s *Summary) flow(proto uint8, src netip.Addr, sport uint16, dst netip.Addr, dport uint16, syn, ack bool, ts time.Time) *Flow {
	k := flowKey{proto: proto, a: src, ap: sport, b: dst, bp: dport}
	if c := src.Compare(dst); c > 0 || (c == 0 && sport > dport) {
		k = flowKey{proto: proto, a: dst, ap: dport, b: src, bp: sport}
	}
	if f, ok := s.flows[k]; ok {
		return f
	}
	clientIsSrc := true
	switch {
	case proto == 6 && syn && !ack:
	case proto == 6 && syn && ack:
		clientIsSrc = false
	case sport < 1024 && dport >= 1024:
		clientIsSrc = false
	case dport < 1024 && sport >= 1024:
	case sport != dport && sport < dport:
		clientIsSrc = false
	}
	f := &Flow{Proto: proto, First: ts, Last: ts}
	if clientIsSrc {
		f.client, f.ClientPort, f.server, f.ServerPort = src, sport, dst, dport
	} else {
		f.client, f.ClientPort, f.server, f.ServerPort = dst, dport, src, sport
	}
	f.Client, f.Server = f.client.String(), f.server.String()
	s.flows[k] = f
	return f
}

// finish orders the flows by first packet and keeps at most maxFlows.
func (s *Summary) finish(maxFlows int) {
	all := make([]*Flow, 0, len(s.flows))
	for _, f := range s.flows {
		all = append(all, f)
	}
	slices.SortFunc(all, func(a, b *Flow) int {
		if c := a.First.Compare(b.First); c != 0 {
			return c
		}
		return cmp.Or(strings.Compare(a.Client, b.Client), cmp.Compare(a.ClientPort, b.ClientPort),
			strings.Compare(a.Server, b.Server), cmp.Compare(a.ServerPort, b.ServerPort), cmp.Compare(a.Proto, b.Proto))
	})
	s.FlowsTotal = len(all)
	if len(all) > maxFlows {
		all = all[:maxFlows]
	}
	s.Flows = all
}

// layerTypeFor maps a capture's link type to the first layer to decode.
func layerTypeFor(lt layers.LinkType, data []byte) gopacket.LayerType {
	switch lt {
	case layers.LinkTypeEthernet:
		return layers.LayerTypeEthernet
	case layers.LinkTypeLinuxSLL:
		return layers.LayerTypeLinuxSLL
	case layers.LinkTypeLinuxSLL2:
		return layers.LayerTypeLinuxSLL2
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return layers.LayerTypeLoopback
	case layers.LinkTypeIPv4:
		return layers.LayerTypeIPv4
	case layers.LinkTypeIPv6:
		return layers.LayerTypeIPv6
	case layers.LinkTypeRaw, 12: // 12: DLT_RAW on OpenBSD
		if len(data) > 0 && data[0]>>4 == 6 {
			return layers.LayerTypeIPv6
		}
		return layers.LayerTypeIPv4
	}
	return gopacket.LayerTypeZero
}

var httpMethods = []string{"GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "CONNECT ", "PATCH ", "TRACE "}

// parseHTTPRequest reads the request line and Host header at the start of
// a TCP payload.
func parseHTTPRequest(p []byte) (HTTPRequest, bool) {
	var req HTTPRequest
	found := false
	for _, m := range httpMethods {
		if bytes.HasPrefix(p, []byte(m)) {
			req.Method, found = strings.TrimSpace(m), true
			break
		}
	}
	if !found {
		return req, false
	}
	line, rest, _ := bytes.Cut(p, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) != 3 || !strings.HasPrefix(fields[2], "HTTP/") {
		return req, false
	}
	req.Path = fields[1]
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, []byte("\n"))
		h = bytes.TrimRight(h, "\r")
		if len(h) == 0 {
			break
		}
		if k, v, ok := bytes.Cut(h, []byte(":")); ok && strings.EqualFold(string(bytes.TrimSpace(k)), "host") {
			req.Host = strings.ToLower(string(bytes.TrimSpace(v)))
		}
	}
	if !validToken(req.Host) || !validToken(req.Path) {
		return req, false
	}
	return req, true
}

func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return len(s) <= 8192
}
