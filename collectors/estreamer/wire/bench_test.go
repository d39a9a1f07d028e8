package wire_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/ace-collector/ace-collector/collectors/estreamer/wire"
	"github.com/ace-collector/ace-collector/collectors/estreamer/wire/wiretest"
)

// syntheticStream builds n mixed records (intrusion 85, packet, connection
// 171, file-malware, metadata) in bundles of 20 items.
func syntheticStream(n int) []byte {
	var out bytes.Buffer
	var items []wiretest.Item
	seq := uint32(0)
	for i := 0; i < n; i++ {
		ts := uint32(1700000000 + i/50)
		switch i % 5 {
		case 0:
			items = append(items, wiretest.Intrusion{Device: 1, EventID: uint32(i), Second: ts, GID: 1, SID: 2000000 + uint32(i%100),
				Rev: 1, Src: "10.1.2.3", Dst: "192.0.2.1", SrcPort: 1234, DstPort: 80, Proto: 6,
				Host: "www.example.com", URI: "/index.html"}.Record(85, ts))
		case 1:
			items = append(items, wiretest.PacketRecord(1, uint32(i-1), ts, ts, 0, 1, make([]byte, 400), ts))
		case 2:
			items = append(items, wiretest.ConnectionRecord(1, 171, wiretest.V{"initiatorIpAddress": "10.1.2.3",
				"responderIpAddress": "192.0.2.1", "clientUrl": "https://www.example.com/", "userAgent": "curl/8"}, ts))
		case 3:
			items = append(items, wiretest.FileRecord(502, wiretest.V{"fileName": "a.exe", "uri": "http://x/a.exe"}, ts))
		case 4:
			items = append(items, wiretest.IDNameRecord(123, uint32(i), fmt.Sprintf("device-%d", i)))
		}
		if len(items) == 20 || i == n-1 {
			seq++
			out.Write(wiretest.BundleMessage(1, seq, items...))
			items = items[:0]
		}
	}
	return out.Bytes()
}

// BenchmarkDecodeStream reports records/s for framing + bundle parsing +
// full record decoding of a 100k-record synthetic stream held in memory.
func BenchmarkDecodeStream(b *testing.B) {
	const n = 100000
	stream := syntheticStream(n)
	b.SetBytes(int64(len(stream)))
	b.ResetTimer()
	records := 0
	for b.Loop() {
		r := wire.NewReader(bytes.NewReader(stream))
		var items []wire.EventData
		for {
			m, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			bundle, err := wire.ParseBundle(m.Body, items)
			if err != nil {
				b.Fatal(err)
			}
			items = bundle.Items
			for _, ed := range bundle.Items {
				if _, err := wire.DecodeRecord(ed); err != nil {
					b.Fatal(err)
				}
				records++
			}
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkFuzzReaderSeeds runs FuzzReader's body over its seed corpus, as
// one fuzz exec each: the fuzzer cannot be profiled, this can.
func BenchmarkFuzzReaderSeeds(b *testing.B) {
	seeds := seedStream()
	for b.Loop() {
		for _, s := range seeds {
			readAll(b, s)
		}
	}
	b.ReportMetric(float64(b.N*len(seeds))/b.Elapsed().Seconds(), "execs/s")
}
