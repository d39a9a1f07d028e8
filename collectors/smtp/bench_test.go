//go:build unix

package smtp

import (
	"bytes"
	"syscall"
	"testing"
	"time"
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
			cpu0 := cpuTime()
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
			if cpu := (cpuTime() - cpu0).Seconds(); cpu > 0 {
				// client and server share the process: an upper bound on server cost
				b.ReportMetric(float64(b.N)/cpu, "msgs/cpu-s")
			}
			if n := len(sink.Submissions()); n < b.N {
				b.Fatalf("%d submissions for %d messages", n, b.N)
			}
		})
	}
}

// cpuTime is the process's user+system CPU time, so throughput can also be
// reported per CPU second, independent of other load on the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
