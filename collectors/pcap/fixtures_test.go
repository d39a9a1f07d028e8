package pcap

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

var t0 = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

type pkt struct {
	data []byte
	ts   time.Time
}

// tcpPkt builds an Ethernet/IPv4/TCP packet.
func tcpPkt(t testing.TB, src, dst string, sport, dport uint16, syn, ack bool, payload []byte, ts time.Time) pkt {
	t.Helper()
	return tcpSeg(t, src, dst, sport, dport, layers.TCP{SYN: syn, ACK: ack}, payload, ts)
}

// tcpSeg builds an Ethernet/IP/TCP packet with the flags, sequence and
// acknowledgement numbers of hdr (IPv6 when src is IPv6).
func tcpSeg(t testing.TB, src, dst string, sport, dport uint16, hdr layers.TCP, payload []byte, ts time.Time) pkt {
	t.Helper()
	tcp := hdr
	tcp.SrcPort, tcp.DstPort, tcp.Window = layers.TCPPort(sport), layers.TCPPort(dport), 1024
	if s := net.ParseIP(src); s.To4() == nil {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: s, DstIP: net.ParseIP(dst)}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		return serialize(t, ts, ether(layers.EthernetTypeIPv6), ip, &tcp, gopacket.Payload(payload))
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	return serialize(t, ts, ether(layers.EthernetTypeIPv4), ip, &tcp, gopacket.Payload(payload))
}

// conn writes one TCP connection packet by packet, with consistent
// sequence numbers, a millisecond apart.
type conn struct {
	t              testing.TB
	client, server string
	cport, sport   uint16
	cseq, sseq     uint32 // next sequence number of each side
	ts             time.Time
	pkts           []pkt
}

func newConn(t testing.TB, client string, cport uint16, server string, sport uint16, isn uint32, ts time.Time) *conn {
	return &conn{t: t, client: client, server: server, cport: cport, sport: sport, cseq: isn, sseq: isn ^ 0x5a5a5a5a, ts: ts}
}

func (c *conn) seg(fromClient bool, hdr layers.TCP, payload []byte) *conn {
	c.t.Helper()
	src, dst, sp, dp, seq, ack := c.client, c.server, c.cport, c.sport, &c.cseq, c.sseq
	if !fromClient {
		src, dst, sp, dp, seq, ack = c.server, c.client, c.sport, c.cport, &c.sseq, c.cseq
	}
	hdr.Seq = *seq
	if !hdr.SYN || !fromClient { // every segment but the client's SYN acknowledges
		hdr.ACK, hdr.Ack = true, ack
	}
	c.pkts = append(c.pkts, tcpSeg(c.t, src, dst, sp, dp, hdr, payload, c.ts))
	c.ts = c.ts.Add(time.Millisecond)
	*seq += uint32(len(payload))
	if hdr.SYN || hdr.FIN {
		*seq++
	}
	return c
}

// open is the three-way handshake.
func (c *conn) open() *conn {
	c.t.Helper()
	return c.seg(true, layers.TCP{SYN: true}, nil).seg(false, layers.TCP{SYN: true}, nil).seg(true, layers.TCP{}, nil)
}

// send writes payload from one side, cut into segments of at most n bytes.
func (c *conn) send(fromClient bool, payload []byte, n int) *conn {
	c.t.Helper()
	for len(payload) > 0 {
		k := min(n, len(payload))
		c.seg(fromClient, layers.TCP{PSH: true}, payload[:k])
		payload = payload[k:]
	}
	return c
}

// close is a FIN from each side and the last ACK.
func (c *conn) close() *conn {
	c.t.Helper()
	return c.seg(true, layers.TCP{FIN: true}, nil).seg(false, layers.TCP{FIN: true}, nil).seg(true, layers.TCP{}, nil)
}

// reset is a RST from the server.
func (c *conn) reset() *conn {
	c.t.Helper()
	return c.seg(false, layers.TCP{RST: true}, nil)
}

// udpPkt builds an Ethernet/IP/UDP packet (IPv6 when src is IPv6).
func udpPkt(t testing.TB, src, dst string, sport, dport uint16, payload []byte, ts time.Time) pkt {
	t.Helper()
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if s := net.ParseIP(src); s.To4() == nil {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: s, DstIP: net.ParseIP(dst)}
		_ = udp.SetNetworkLayerForChecksum(ip)
		return serialize(t, ts, ether(layers.EthernetTypeIPv6), ip, udp, gopacket.Payload(payload))
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
	_ = udp.SetNetworkLayerForChecksum(ip)
	return serialize(t, ts, ether(layers.EthernetTypeIPv4), ip, udp, gopacket.Payload(payload))
}

func ether(typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: typ}
}

func serialize(t testing.TB, ts time.Time, ls ...gopacket.SerializableLayer) pkt {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return pkt{data: append([]byte(nil), buf.Bytes()...), ts: ts}
}

// dnsQuery builds a DNS query message for name.
func dnsQuery(t testing.TB, name string) []byte {
	d := &layers.DNS{ID: 7, RD: true, Questions: []layers.DNSQuestion{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
	buf := gopacket.NewSerializeBuffer()
	if err := d.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// clientHello builds a minimal TLS ClientHello record with SNI name.
func clientHello(name string) []byte {
	sni := []byte{0}
	sni = binary.BigEndian.AppendUint16(sni, uint16(len(name)))
	sni = append(sni, name...)
	list := binary.BigEndian.AppendUint16(nil, uint16(len(sni)))
	list = append(list, sni...)
	ext := []byte{0x00, 0x0b, 0x00, 0x02, 0x01, 0x00} // ec_point_formats first
	ext = append(ext, 0, 0)
	ext = binary.BigEndian.AppendUint16(ext, uint16(len(list)))
	ext = append(ext, list...)
	body := []byte{3, 3}
	body = append(body, make([]byte, 32)...) // random
	body = append(body, 0)                   // session id
	body = append(body, 0, 2, 0x13, 0x01)    // cipher suites
	body = append(body, 1, 0)                // compression
	body = binary.BigEndian.AppendUint16(body, uint16(len(ext)))
	body = append(body, ext...)
	hs := []byte{1, 0, byte(len(body) >> 8), byte(len(body))}
	hs = append(hs, body...)
	rec := []byte{22, 3, 1}
	rec = binary.BigEndian.AppendUint16(rec, uint16(len(hs)))
	return append(rec, hs...)
}

// sample is a small capture: an HTTP exchange, a DNS query, a TLS
// ClientHello and an IPv6 UDP packet.
func sample(t testing.TB) []pkt {
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	get := []byte("GET /index.html?q=1 HTTP/1.1\r\nHost: WWW.Example.com\r\nUser-Agent: t\r\n\r\n")
	return []pkt{
		tcpSeg(t, "10.0.0.1", "93.184.216.34", 50000, 80, layers.TCP{SYN: true, Seq: 100}, nil, at(0)),
		tcpSeg(t, "93.184.216.34", "10.0.0.1", 80, 50000, layers.TCP{SYN: true, ACK: true, Seq: 900, Ack: 101}, nil, at(1)),
		tcpSeg(t, "10.0.0.1", "93.184.216.34", 50000, 80, layers.TCP{ACK: true, PSH: true, Seq: 101, Ack: 901}, get, at(2)),
		udpPkt(t, "10.0.0.1", "8.8.8.8", 53000, 53, dnsQuery(t, "evil.example.org"), at(3)),
		tcpPkt(t, "10.0.0.1", "203.0.113.5", 50001, 443, false, true, clientHello("secure.example.net"), at(4)),
		udpPkt(t, "2001:db8::1", "2001:db8::2", 40000, 5353, []byte("x"), at(5)),
		tcpSeg(t, "93.184.216.34", "10.0.0.1", 80, 50000, layers.TCP{ACK: true, PSH: true, Seq: 901, Ack: 101 + uint32(len(get))},
			[]byte("HTTP/1.1 200 OK\r\n\r\n"), at(6)),
	}
}

func writePCAP(t testing.TB, pkts []pkt) []byte {
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(p.data), Length: len(p.data)}
		if err := w.WritePacket(ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func writePCAPNG(t testing.TB, pkts []pkt) []byte {
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriter(&b, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(p.data), Length: len(p.data)}
		if err := w.WritePacket(ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
