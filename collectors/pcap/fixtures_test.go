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
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: syn, ACK: ack, Window: 1024}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	return serialize(t, ts, ether(layers.EthernetTypeIPv4), ip, tcp, gopacket.Payload(payload))
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
	return []pkt{
		tcpPkt(t, "10.0.0.1", "93.184.216.34", 50000, 80, true, false, nil, at(0)),
		tcpPkt(t, "93.184.216.34", "10.0.0.1", 80, 50000, true, true, nil, at(1)),
		tcpPkt(t, "10.0.0.1", "93.184.216.34", 50000, 80, false, true,
			[]byte("GET /index.html?q=1 HTTP/1.1\r\nHost: WWW.Example.com\r\nUser-Agent: t\r\n\r\n"), at(2)),
		udpPkt(t, "10.0.0.1", "8.8.8.8", 53000, 53, dnsQuery(t, "evil.example.org"), at(3)),
		tcpPkt(t, "10.0.0.1", "203.0.113.5", 50001, 443, false, true, clientHello("secure.example.net"), at(4)),
		udpPkt(t, "2001:db8::1", "2001:db8::2", 40000, 5353, []byte("x"), at(5)),
		tcpPkt(t, "93.184.216.34", "10.0.0.1", 80, 50000, false, true, []byte("HTTP/1.1 200 OK\r\n\r\n"), at(6)),
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
