package estreamer

import (
	"context"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector/collectortest"
	"github.com/ace-collector/ace-collector/collectors/estreamer/wire/wiretest"
)

// BenchmarkSession measures records/s through the whole client: TLS on
// loopback, bundle framing with one Null acknowledgement per bundle,
// decoding, metadata caching, rules, dedup bookkeeping, submission
// building and Submit to an in-memory sink. 100k records per iteration in
// bundles of 50 (up to 8 unacknowledged in flight): 20% intrusion events (submitted), the rest connection
// events (filtered), file events (filtered) and metadata.
func BenchmarkSession(b *testing.B) {
	const records, per = 100000, 50
	var bundles [][]byte
	var items []wiretest.Item
	for i := 0; i < records; i++ {
		ts := uint32(t0 + i/100)
		switch i % 5 {
		case 0:
			items = append(items, intrusion(uint32(i), ts, "10.1.2.3").Record(85, ts))
		case 1, 2:
			items = append(items, wiretest.ConnectionRecord(dev, 171, wiretest.V{"initiatorIpAddress": "10.1.2.3",
				"responderIpAddress": "192.0.2.1", "clientUrl": "https://www.example.com/"}, ts))
		case 3:
			items = append(items, wiretest.FileRecord(500, wiretest.V{"fileName": "a.pdf"}, ts))
		case 4:
			items = append(items, wiretest.IDNameRecord(123, dev, "ftd"))
		}
		if len(items) == per {
			bundles = append(bundles, wiretest.BundleMessage(1, uint32(len(bundles)+1), items...))
			items = nil
		}
	}
	pki := newPKI(b)
	done := make(chan struct{}, 1)
	fmc := startFMC(b, pki.serverConfig(), func(n int, c *fmcConn) error {
		if _, _, err := c.handshake(wiretest.StreamingInfoMessage(6667)); err != nil {
			return err
		}
		// The FMC may send several bundles without waiting for their
		// acknowledgements: keep up to 8 in flight.
		window := make(chan struct{}, 8)
		acks := make(chan error, 1)
		go func() {
			for {
				if err := c.expectNull(); err != nil {
					acks <- err
					return
				}
				<-window
			}
		}()
		for {
			for _, bu := range bundles {
				select {
				case window <- struct{}{}:
				case err := <-acks:
					return err
				}
				if err := c.send(bu); err != nil {
					return err
				}
			}
			done <- struct{}{}
		}
	})
	c := newTestCollector(b, pki, fmc.port(), "packet_data = no", "idle_timeout = 1m")
	sink := collectortest.NewSink()
	env := runCollector(b, c, sink, collectortest.NewState())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	n := 0
	b.ResetTimer()
	for b.Loop() {
		select {
		case <-done:
			n++
		case <-ctx.Done():
			b.Fatal("timeout")
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(n*records)/el.Seconds(), "records/s")
	b.ReportMetric(float64(env.Stats.Get("fmc", "submitted"))/el.Seconds(), "submissions/s")
}
