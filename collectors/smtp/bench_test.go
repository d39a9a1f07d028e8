package smtp

import (
	"bytes"
	"testing"
)

// BenchmarkSMTPAccepted measures accepted messages/s end to end over
// loopback: SMTP session → spool file → extraction → Submit into
// collectortest.Sink → 250. Each parallel worker holds one connection.
func BenchmarkSMTPAccepted(b *testing.B) {
	pki := newPKI(b)
	msg := readFixture(b, "multipart_alternative.eml")
	for _, mode := range []struct {
		name string
		tls  bool
	}{{"plain", false}, {"starttls", true}} {
		b.Run(mode.name, func(b *testing.B) {
			keys := ""
			if mode.tls {
				keys = pki.keys()
			}
			c, sink, _ := serve(b, keys)
			b.SetBytes(int64(len(msg)))
			b.SetParallelism(4) // 4 connections per CPU
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				tlsCfg := pki.client()
				if !mode.tls {
					tlsCfg = nil
				}
				cl := dial(b, c, tlsCfg)
				for pb.Next() {
					if err := cl.SendMail("sender@x.example", []string{"rcpt@corp.example"}, bytes.NewReader(msg)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			if n := len(sink.Submissions()); n < b.N {
				b.Fatalf("%d submissions for %d messages", n, b.N)
			}
		})
	}
}
