package pcap

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// BenchmarkSummarize: capture MB/s read and summarised, on a generated
// capture of about 8 MB with 4,000 flows: 2,000 HTTP connections (a
// request and 2,800 bytes of answer each) and 2,000 DNS queries.
func BenchmarkSummarize(b *testing.B) {
	var conns [][]pkt
	bulk := bytes.Repeat([]byte("x"), 2800)
	for i := range 2000 {
		client := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		ts := t0.Add(time.Duration(i) * time.Millisecond)
		c := newConn(b, client, uint16(20000+i), "192.0.2.80", 80, uint32(i)*104729, ts).open()
		c.send(true, fmt.Appendf(nil, "GET /p/%d HTTP/1.1\r\nHost: h%d.example.com\r\n\r\n", i, i%50), 1460)
		c.send(false, bulk, 1400)
		conns = append(conns, c.pkts, []pkt{udpPkt(b, client, "192.0.2.53", uint16(30000+i), 53, dnsQuery(b, fmt.Sprintf("q%d.example.org", i%100)), ts)})
	}
	data := writePCAP(b, capture(conns...))
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		s, _ := Summarize(bytes.NewReader(data), Options{MaxItems: 500, MaxFlows: 1000})
		if s.FlowsTotal != 4000 || s.Error != "" || len(s.HTTP) != 500 {
			b.Fatalf("flows %d error %q requests %d", s.FlowsTotal, s.Error, len(s.HTTP))
		}
	}
}
