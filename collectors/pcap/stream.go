package pcap

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/reassembly"
)

// Reassembly bounds: out-of-order data buffered per connection and in
// all (pages of about 1.9 KB), how long a gap is waited for (capture
// time), how often idle connections are flushed (packets), and how much
// of a direction is buffered looking for a complete ClientHello.
const (
	maxPagesPerConn = 64
	maxPagesTotal   = 16384
	gapWait         = 30 * time.Second
	flushEvery      = 8192
	maxTLSHello     = 64 << 10
)

// flowEndpoint is the endpoint type of the reassembly keys. A key is a
// flow's id and side, not its addresses, so that each flow (one
// connection, see Flow) is one reassembly connection: a connection on a
// reused port starts a fresh stream.
var flowEndpoint = gopacket.RegisterEndpointType(0x41434550, gopacket.EndpointTypeMetadata{
	Name: "pcap-flow",
	Formatter: func(b []byte) string {
		if len(b) != 9 {
			return fmt.Sprint(b)
		}
		return fmt.Sprintf("flow %d side %d", binary.BigEndian.Uint64(b), b[8])
	},
})

// streams reassembles the TCP streams of a capture with gopacket's
// reassembly and reads application data from them: HTTP requests, DNS
// over TCP and TLS ClientHello server names.
type streams struct {
	s       *Summary
	asm     *reassembly.Assembler
	ctx     asmContext
	packets int
}

// asmContext carries the packet's capture info and flow into the
// assembler.
type asmContext struct {
	ci   gopacket.CaptureInfo
	flow *Flow
}

func (c *asmContext) GetCaptureInfo() gopacket.CaptureInfo { return c.ci }

func newStreams(s *Summary) *streams { return &streams{s: s} }

// assemble hands one TCP segment of flow f to the assembler, unless
// neither direction of f is read any more.
func (st *streams) assemble(f *Flow, fromClient bool, tcp *layers.TCP, ci gopacket.CaptureInfo) {
	if f.unread {
		return
	}
	if st.asm == nil { // the pool preallocates: not for captures without TCP
		st.asm = reassembly.NewAssembler(reassembly.NewStreamPool(st))
		st.asm.MaxBufferedPagesPerConnection = maxPagesPerConn
		st.asm.MaxBufferedPagesTotal = maxPagesTotal
	}
	var client, server [9]byte
	binary.BigEndian.PutUint64(client[:], f.id)
	server = client
	server[8] = 1
	key := gopacket.NewFlow(flowEndpoint, client[:], server[:])
	if !fromClient {
		key = key.Reverse()
	}
	st.ctx.ci, st.ctx.flow = ci, f
	st.asm.AssembleWithContext(key, tcp, &st.ctx)
	if st.packets++; st.packets >= flushEvery && !ci.Timestamp.IsZero() {
		st.packets = 0
		st.asm.FlushWithOptions(reassembly.FlushOptions{
			T:  ci.Timestamp.Add(-gapWait),
			TC: ci.Timestamp.Add(-st.s.opts.FlowTimeout),
		})
	}
}

// flush hands every stream what is left (skipping gaps) at the end of the
// capture.
func (st *streams) flush() {
	if st.asm != nil {
		st.asm.FlushAll()
	}
}

// New starts the stream of a new connection (reassembly.StreamFactory).
// The assembler's first direction is that of the first packet seen; the
// key says whether its sender is the flow's client.
func (st *streams) New(key, ports gopacket.Flow, _ *layers.TCP, _ reassembly.AssemblerContext) reassembly.Stream {
	src, dst := ports.Endpoints()
	t := &stream{s: st.s, flow: st.ctx.flow}
	if side := key.Src().Raw(); len(side) == 9 && side[8] == 0 {
		t.halves[0].client = true
	} else {
		t.halves[1].client = true
	}
	if port(src) == 53 || port(dst) == 53 {
		t.halves[0].mode, t.halves[1].mode = modeDNS, modeDNS
	}
	return t
}

func port(e gopacket.Endpoint) uint16 {
	if b := e.Raw(); len(b) == 2 {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

// What a half connection's bytes are read as.
const (
	modeSniff = iota // not known yet: decided by the first bytes
	modeHTTP         // HTTP requests
	modeTLS          // a TLS ClientHello
	modeDNS          // DNS messages, each after a 2-byte length
	modeDone         // nothing more to read
)

// stream is one connection: each direction is read on its own.
type stream struct {
	s      *Summary
	flow   *Flow
	halves [2]half
}

// half is one direction of a connection.
type half struct {
	client  bool // sent by the flow's client
	started bool // the stream began with a SYN: its first bytes are the connection's
	mode    int
	buf     []byte // bytes not yet used (sniffing, TLS records, DNS messages)
	need    int    // length buf must reach before the next record or message is complete
	http    requestReader
}

func (t *stream) half(dir reassembly.TCPFlowDirection) *half {
	if dir == reassembly.TCPDirClientToServer {
		return &t.halves[0]
	}
	return &t.halves[1]
}

// Accept takes every segment of a direction still read. Captures often
// start inside connections: the stream starts at the first segment seen,
// SYN or not.
func (t *stream) Accept(_ *layers.TCP, _ gopacket.CaptureInfo, dir reassembly.TCPFlowDirection,
	_ reassembly.Sequence, start *bool, _ reassembly.AssemblerContext) bool {
	*start = true
	return t.half(dir).mode != modeDone
}

// ReassembledSG reads the next bytes of one direction. skip is the number
// of bytes missing before them (a gap in the capture), negative when
// unknown.
func (t *stream) ReassembledSG(sg reassembly.ScatterGather, _ reassembly.AssemblerContext) {
	dir, start, _, skip := sg.Info()
	h := t.half(dir)
	if h.mode == modeDone {
		return
	}
	if start {
		h.started = true
	}
	if skip != 0 {
		h.gap()
	}
	if n, _ := sg.Lengths(); n > 0 {
		h.write(t.s, sg.Fetch(n))
	}
	if t.halves[0].mode == modeDone && t.halves[1].mode == modeDone {
		t.flow.unread = true // spare the assembler the rest of the flow
	}
}

// ReassemblyComplete lets the assembler forget the connection.
func (t *stream) ReassemblyComplete(reassembly.AssemblerContext) bool { return true }

// gap: bytes are missing before the next ones. HTTP resynchronises on a
// segment that starts a request; a TLS record or DNS message cannot be
// framed any more.
func (h *half) gap() {
	switch h.mode {
	case modeSniff:
		h.buf, h.started = nil, false
	case modeHTTP:
		h.http.lost(false) // the bytes after a gap start a segment: perhaps a request
	default:
		h.mode, h.buf = modeDone, nil
	}
}

// write reads the next bytes of the direction. p is not kept.
func (h *half) write(s *Summary, p []byte) {
	if h.mode == modeSniff {
		if len(h.buf) > 0 {
			p = append(h.buf, p...)
			h.buf = nil
		}
		if h.mode = sniff(p, h.client && !h.started); h.mode == modeSniff {
			h.buf = append(h.buf, p...) // too short to tell yet
			return
		}
		if h.mode == modeHTTP && !isRequestStart(p) {
			h.http.lost(false) // the capture starts inside a request
		}
	}
	switch h.mode {
	case modeHTTP:
		h.http.write(p, s.addHTTP)
	case modeTLS, modeDNS:
		if h.buf = append(h.buf, p...); len(h.buf) < h.need {
			return // the record or message is still incomplete
		}
		if h.mode == modeTLS {
			h.readHello(s)
		} else {
			h.readDNS(s)
		}
	}
}

// sniff decides from the first bytes of a direction what it carries.
// When those bytes may be inside a request (a client stream whose start
// was not captured, or followed a gap), the direction is read as HTTP out
// of step: a later line that starts a request is read.
func sniff(p []byte, midClient bool) int {
	switch {
	case isRequestStart(p):
		return modeHTTP
	case len(p) >= 2 && p[0] == 22 && p[1] == 3: // TLS handshake record
		return modeTLS
	case mayBeRequestStart(p) || len(p) == 1 && p[0] == 22:
		return modeSniff
	case midClient:
		return modeHTTP
	}
	return modeDone
}

// readHello reads the ClientHello at the start of the direction, which
// may span several TLS records and segments, and records its server name.
func (h *half) readHello(s *Summary) {
	var hs []byte // the handshake messages, records unwrapped
	rest := h.buf
	notHandshake := false // what follows is no handshake record
	for len(rest) >= 5 {
		n := int(binary.BigEndian.Uint16(rest[3:5]))
		if rest[0] != 22 || n > 1<<14+2048 {
			// Whatever follows, the records read so far are judged on
			// their own, so the answer does not depend on where the
			// segments were cut.
			notHandshake = true
			break
		}
		if len(rest) < 5+n {
			break
		}
		hs, rest = append(hs, rest[5:5+n]...), rest[5+n:]
	}
	complete := len(hs) >= 4 && len(hs) >= 4+(int(hs[1])<<16|int(hs[2])<<8|int(hs[3]))
	if complete || notHandshake || len(h.buf) > maxTLSHello {
		// ParseSNI reads one record: this one holds the whole handshake.
		if name, ok := ParseSNI(append([]byte{22, 3, 1, 0, 0}, hs...)); ok {
			s.addString(&s.TLSSNI, "sni:", name)
		}
		h.mode, h.buf = modeDone, nil
		return
	}
	h.need = len(h.buf) - len(rest) + 5 // the next record's header
	if len(rest) >= 5 {
		h.need += int(binary.BigEndian.Uint16(rest[3:5]))
	}
}

// readDNS reads the complete DNS messages in the buffer (RFC 1035 4.2.2:
// each after a 2-byte length) and keeps an incomplete last one.
func (h *half) readDNS(s *Summary) {
	b := h.buf
	for len(b) >= 2 {
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			break
		}
		if err := s.tcpDNS.DecodeFromBytes(b[2:2+n], gopacket.NilDecodeFeedback); err == nil {
			s.addDNS(&s.tcpDNS)
		}
		b = b[2+n:]
	}
	h.buf = append(h.buf[:0], b...)
	h.need = 2
	if len(b) >= 2 {
		h.need += int(binary.BigEndian.Uint16(b))
	}
}
