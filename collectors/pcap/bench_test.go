package pcap

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// BenchmarkSummarize: capture MB/s read and summarised, on a generated
// capture of about 8 MB with 2,000 flows (HTTP, DNS and bulk TCP).
func BenchmarkSummarize(b *testing.B) {
	var pkts []pkt
	bulk := bytes.Repeat([]byte("x"), 1400)
	for i := range 2000 {
		client := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		ts := t0.Add(time.Duration(i) * time.Millisecond)
		pkts = append(pkts,
			tcpPkt(b, client, "192.0.2.80", uint16(20000+i), 80, true, false, nil, ts),
			tcpPkt(b, client, "192.0.2.80", uint16(20000+i), 80, false, true,
				[]byte(fmt.Sprintf("GET /p/%d HTTP/1.1\r\nHost: h%d.example.com\r\n\r\n", i, i%50)), ts),
			udpPkt(b, client, "192.0.2.53", uint16(30000+i), 53, dnsQuery(b, fmt.Sprintf("q%d.example.org", i%100)), ts))
		for range 2 {
			pkts = append(pkts, tcpPkt(b, "192.0.2.80", client, 80, uint16(20000+i), false, true, bulk, ts))
		}
	}
	data := writePCAP(b, pkts)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		s, _ := Summarize(bytes.NewReader(data), 500, 1000)
		if s.FlowsTotal != 4000 || s.Error != "" {
			b.Fatalf("flows %d error %q", s.FlowsTotal, s.Error)
		}
	}
}
