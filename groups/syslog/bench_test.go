package syslog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/groups/grouptest"
	"github.com/ace-collector/ace-collector/groups/syslog/rsyslogtest"
)

// BenchmarkRsyslogTLS measures lines per second sustained from the store
// to a real rsyslog over TLS: b.N submissions (a few observables each) are
// stored first, then the timer runs while the group drains them — claim,
// render CEF, write, record the outcome — and rsyslog must have them all.
//
//	go test -run '^$' -bench RsyslogTLS -benchtime 20000x ./groups/syslog
func BenchmarkRsyslogTLS(b *testing.B) {
	for _, threads := range []int{1, 4} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			rs := rsyslogtest.Require(b)
			p := grouptest.New(b, grouptest.Group("siem", "syslog", "target = tls://"+rs.TLSAddr, "ca_chain_path = "+rs.CAFile,
				fmt.Sprintf("thread_count = %d", threads), "batch_size = 256"), daemon.Options{})
			p.Fill(b.N, 8, func(i int) *collector.Submission {
				sub := collector.NewSubmission(fmt.Sprintf("bench alert %d", i))
				sub.AddObservable(collector.ObsIPv4, fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
				sub.AddObservable(collector.ObsFQDN, fmt.Sprintf("host%d.bench.example", i))
				sub.AddObservable(collector.ObsURL, fmt.Sprintf("https://host%d.bench.example/p?q=%d", i, i))
				return sub
			})
			ctx := grouptest.Ctx(b)
			b.ResetTimer()
			start := time.Now()
			p.Run()
			p.WaitUntil(ctx, "the queue drained", func() bool { return p.Stats().Get("group:siem", "delivered") == int64(b.N) })
			elapsed := time.Since(start)
			b.StopTimer()
			if lines, err := rs.WaitLines(ctx, b.N); err != nil || len(lines) != b.N {
				b.Fatalf("rsyslog received %d lines, want %d: %v", len(lines), b.N, err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "lines/s")
		})
	}
}
