package pcap

import (
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// decoder decodes packets into preallocated layers (no allocation per
// packet). Only what the summary needs is decoded: link, IPv4/IPv6,
// TCP/UDP and DNS; anything else ends decoding without an error.
type decoder struct {
	eth   layers.Ethernet
	dot1q layers.Dot1Q
	sll   layers.LinuxSLL
	sll2  layers.LinuxSLL2
	lo    layers.Loopback
	ip4   layers.IPv4
	ip6   layers.IPv6
	tcp   layers.TCP
	udp   layers.UDP
	dns   layers.DNS

	parsers map[gopacket.LayerType]*gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
}

// packetInfo is what one packet contributes to the summary.
type packetInfo struct {
	src, dst     netip.Addr
	proto        uint8
	sport, dport uint16
	syn, ack     bool
	fin, rst     bool
	seq          uint32
	payload      []byte
	tcp          *layers.TCP // the decoded TCP layer, for stream reassembly
	dns          *layers.DNS // a DNS message over UDP
}

func newDecoder() *decoder {
	return &decoder{parsers: map[gopacket.LayerType]*gopacket.DecodingLayerParser{}, decoded: make([]gopacket.LayerType, 0, 8)}
}

func (d *decoder) parser(first gopacket.LayerType) *gopacket.DecodingLayerParser {
	p, ok := d.parsers[first]
	if !ok {
		p = gopacket.NewDecodingLayerParser(first, &d.eth, &d.dot1q, &d.sll, &d.sll2, &d.lo,
			&d.ip4, &d.ip6, &d.tcp, &d.udp, &d.dns)
		p.IgnoreUnsupported = true // stop quietly at layers we do not need
		d.parsers[first] = p
	}
	return p
}

// decode fills info from data; ok is false for packets without IP.
// Decoding errors above the IP layer (a damaged DNS message, a cut TCP
// header) keep what was decoded before them.
func (d *decoder) decode(first gopacket.LayerType, data []byte) (info packetInfo, ok bool) {
	_ = d.parser(first).DecodeLayers(data, &d.decoded)
	for _, lt := range d.decoded {
		switch lt {
		case layers.LayerTypeIPv4:
			info.src, _ = netip.AddrFromSlice(d.ip4.SrcIP.To4())
			info.dst, _ = netip.AddrFromSlice(d.ip4.DstIP.To4())
			info.proto, ok = uint8(d.ip4.Protocol), true
		case layers.LayerTypeIPv6:
			info.src, _ = netip.AddrFromSlice(d.ip6.SrcIP)
			info.dst, _ = netip.AddrFromSlice(d.ip6.DstIP)
			info.proto, ok = uint8(d.ip6.NextHeader), true
		case layers.LayerTypeTCP:
			info.proto, info.sport, info.dport = 6, uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort)
			info.syn, info.ack, info.fin, info.rst = d.tcp.SYN, d.tcp.ACK, d.tcp.FIN, d.tcp.RST
			info.seq, info.payload, info.tcp = d.tcp.Seq, d.tcp.Payload, &d.tcp
		case layers.LayerTypeUDP:
			info.proto, info.sport, info.dport = 17, uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
			info.payload = d.udp.Payload
		case layers.LayerTypeDNS:
			// Over TCP a DNS message follows a length prefix (read from
			// the reassembled stream); gopacket decodes port 53 as DNS
			// either way.
			if info.proto == 17 {
				info.dns = &d.dns
			}
		}
	}
	if !info.src.IsValid() || !info.dst.IsValid() {
		return info, false
	}
	return info, ok
}
