package pcap

import (
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
//
// A flow is one connection, not one 5-tuple: as flow meters do, a packet
// that arrives after the flow was idle for the flow timeout starts a new
// flow, and so does a TCP SYN after a FIN or RST, or a SYN with another
// initial sequence number (a new connection on a reused port whose
// predecessor's end was not captured).
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
	id             uint64 // this flow's identity in stream reassembly
	closed         bool   // a FIN or RST was seen
	synSeen        bool   // a SYN without ACK was seen, with initial sequence number isn
	isn            uint32
	unread         bool // neither direction's stream is read any more
}

// HTTPRequest is a request line and Host header seen in a TCP stream.
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

// Options bound what Summarize keeps; a zero field takes its default.
type Options struct {
	MaxItems    int           // DNS names, HTTP requests and SNI names kept (each); default 500
	MaxFlows    int           // flows listed; default 1000
	FlowTimeout time.Duration // idle time that ends a flow; default DefaultFlowTimeout
}

// DefaultFlowTimeout is the idle time after which a packet on the same
// 5-tuple starts a new flow (Zeek's TCP inactivity timeout).
const DefaultFlowTimeout = 5 * time.Minute

func (o Options) withDefaults() Options {
	if o.MaxItems <= 0 {
		o.MaxItems = 500
	}
	if o.MaxFlows <= 0 {
		o.MaxFlows = 1000
	}
	if o.FlowTimeout <= 0 {
		o.FlowTimeout = DefaultFlowTimeout
	}
	return o
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

	opts    Options
	flows   map[flowKey]*Flow // the current flow of each 5-tuple
	ended   []*Flow           // flows followed by another on their 5-tuple
	nextID  uint64
	seen    map[string]bool
	dec     *decoder
	streams *streams
	tcpDNS  layers.DNS // DNS messages read from TCP streams
}

func newSummary(o Options) *Summary {
	s := &Summary{opts: o.withDefaults(), flows: map[flowKey]*Flow{}, seen: map[string]bool{}, dec: newDecoder()}
	s.streams = newStreams(s)
	return s
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
	f, fromClient := s.flow(&info, ts)
	f.Packets++
	f.Bytes += wire
	if ts.After(f.Last) {
		f.Last = ts
	}
	if info.dns != nil {
		s.addDNS(info.dns)
	}
	if info.tcp != nil {
		s.streams.assemble(f, fromClient, info.tcp, ci)
	}
}

func (s *Summary) addString(list *[]string, kind, v string) {
	if v == "" || s.seen[kind+v] || len(*list) >= s.opts.MaxItems {
		return
	}
	s.seen[kind+v] = true
	*list = append(*list, v)
}

// addDNS records the question names of a DNS message.
func (s *Summary) addDNS(d *layers.DNS) {
	for _, q := range d.Questions {
		s.addString(&s.DNSQueries, "dns:", strings.TrimSuffix(string(q.Name), "."))
	}
}

// addHTTP records a request (once per method, host and path).
func (s *Summary) addHTTP(req HTTPRequest) {
	if req.Host != "" && strings.HasPrefix(req.Path, "/") {
		req.URL = "http://" + req.Host + req.Path
	}
	k := "http:" + req.Method + " " + req.Host + " " + req.Path
	if !s.seen[k] && len(s.HTTP) < s.opts.MaxItems {
		s.seen[k] = true
		s.HTTP = append(s.HTTP, req)
	}
}

// flow finds or creates the flow of a packet and says whether the packet
// was sent by the flow's client.
func (s *Summary) flow(p *packetInfo, ts time.Time) (*Flow, bool) {
	k := flowKey{proto: p.proto, a: p.src, ap: p.sport, b: p.dst, bp: p.dport}
	if c := p.src.Compare(p.dst); c > 0 || (c == 0 && p.sport > p.dport) {
		k = flowKey{proto: p.proto, a: p.dst, ap: p.dport, b: p.src, bp: p.sport}
	}
	f, ok := s.flows[k]
	if ok && s.startsConnection(f, p, ts) {
		s.ended = append(s.ended, f)
		ok = false
	}
	if !ok {
		f = s.newFlow(p, ts)
		s.flows[k] = f
	}
	if p.proto == 6 {
		if p.syn && !p.ack {
			f.synSeen, f.isn = true, p.seq
		}
		if p.fin || p.rst {
			f.closed = true
		}
	}
	return f, p.src == f.client && p.sport == f.ClientPort
}

// startsConnection reports whether packet p on f's 5-tuple begins a new
// connection (see Flow).
func (s *Summary) startsConnection(f *Flow, p *packetInfo, ts time.Time) bool {
	if !f.Last.IsZero() && ts.Sub(f.Last) > s.opts.FlowTimeout {
		return true
	}
	if p.proto != 6 || !p.syn || p.ack {
		return false
	}
	// A retransmitted SYN carries the same initial sequence number.
	return f.closed || !f.synSeen || f.isn != p.seq
}

// newFlow starts a flow at packet p. The client is the side that sent a
// SYN (or received the SYN-ACK); failing that the side with the higher
// port when exactly one port is below 1024 or the ports differ, and
// failing that the sender of the first packet.
func (s *Summary) newFlow(p *packetInfo, ts time.Time) *Flow {
	clientIsSrc := true
	switch {
	case p.proto == 6 && p.syn && !p.ack:
	case p.proto == 6 && p.syn && p.ack:
		clientIsSrc = false
	case p.sport < 1024 && p.dport >= 1024:
		clientIsSrc = false
	case p.dport < 1024 && p.sport >= 1024:
	case p.sport != p.dport && p.sport < p.dport:
		clientIsSrc = false
	}
	f := &Flow{Proto: p.proto, First: ts, Last: ts, id: s.nextID}
	s.nextID++
	if clientIsSrc {
		f.client, f.ClientPort, f.server, f.ServerPort = p.src, p.sport, p.dst, p.dport
	} else {
		f.client, f.ClientPort, f.server, f.ServerPort = p.dst, p.dport, p.src, p.sport
	}
	f.Client, f.Server = f.client.String(), f.server.String()
	return f
}

// finish hands the streams' remaining data to their readers, orders the
// flows by first packet and keeps at most MaxFlows.
func (s *Summary) finish() {
	s.streams.flush()
	all := make([]*Flow, 0, len(s.ended)+len(s.flows))
	all = append(all, s.ended...)
	for _, f := range s.flows {
		all = append(all, f)
	}
	slices.SortFunc(all, func(a, b *Flow) int {
		if c := a.First.Compare(b.First); c != 0 {
			return c
		}
		return cmp.Or(strings.Compare(a.Client, b.Client), cmp.Compare(a.ClientPort, b.ClientPort),
			strings.Compare(a.Server, b.Server), cmp.Compare(a.ServerPort, b.ServerPort), cmp.Compare(a.Proto, b.Proto),
			cmp.Compare(a.id, b.id))
	})
	s.FlowsTotal = len(all)
	if len(all) > s.opts.MaxFlows {
		all = all[:s.opts.MaxFlows]
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
