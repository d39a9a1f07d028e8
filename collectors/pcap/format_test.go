package pcap

import (
	"bytes"
	"os"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestEmptyCaptures: a valid capture without packets is an empty
// capture, not a truncated one: a pcap global header alone, a pcapng
// section header alone (testdata/shb-only.pcapng, as in the pcapng test
// suite), a section with an interface and no packets.
func TestEmptyCaptures(t *testing.T) {
	shb, err := os.ReadFile("testdata/shb-only.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	var ng bytes.Buffer
	w, err := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, format string
		data         []byte
	}{
		{"pcap header only", FormatPCAP, writePCAP(t, nil)},
		{"pcapng section header only", FormatPCAPNG, shb},
		{"pcapng interface without packets", FormatPCAPNG, ng.Bytes()},
		{"pcapng empty section before one with packets", FormatPCAPNG, append(slices.Clone(shb), writePCAPNG(t, sample(t))...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, format := Summarize(bytes.NewReader(tt.data), Options{})
			if format != tt.format || s.Error != "" || s.Truncated {
				t.Errorf("format %s error %q truncated %v", format, s.Error, s.Truncated)
			}
		})
	}
	if s, _ := Summarize(bytes.NewReader(tests[3].data), Options{}); s.Packets != int64(len(sample(t))) {
		t.Errorf("packets after an empty section: %d", s.Packets)
	}
}

// TestPCAPNGMixedLinkTypes: a pcapng with interfaces of different link
// types (an Ethernet and a raw-IP one) has every packet read with its own
// interface's link type; none is skipped.
func TestPCAPNGMixedLinkTypes(t *testing.T) {
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&b, pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet, SnapLength: 65535},
		pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypeRaw, SnapLength: 65535})
	if err != nil {
		t.Fatal(err)
	}
	eth := udpPkt(t, "10.0.0.1", "8.8.8.8", 53000, 53, dnsQuery(t, "on-ethernet.example"), t0)
	ip := udpPkt(t, "10.0.0.2", "8.8.4.4", 53001, 53, dnsQuery(t, "on-raw-ip.example"), t0)
	ip.data = ip.data[14:] // without the Ethernet header
	for i, p := range []pkt{eth, ip} {
		ci := gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(p.data), Length: len(p.data), InterfaceIndex: []int{0, raw}[i]}
		if err := w.WritePacket(ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	s, _ := Summarize(bytes.NewReader(b.Bytes()), Options{})
	if s.Error != "" || s.Packets != 2 || s.NonIP != 0 || s.FlowsTotal != 2 || len(s.DNSQueries) != 2 {
		t.Errorf("error %q packets %d non-IP %d flows %d dns %v", s.Error, s.Packets, s.NonIP, s.FlowsTotal, s.DNSQueries)
	}
}
