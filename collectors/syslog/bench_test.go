package syslog

import (
	"bufio"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
)

// countSink accepts every submission without storing it, so benchmarks
// measure the collector (receive, parse, select, build), not a store.
type countSink struct{ n atomic.Int64 }

func (s *countSink) Submit(_ context.Context, sub *collector.Submission) error {
	if err := sub.Validate(); err != nil {
		return err
	}
	s.n.Add(1)
	return nil
}

var benchMsgs = []string{
	"<38>Nov 23 23:30:00 bastion sshd[42]: Failed password for root from 203.0.113.5 port 22 ssh2",
	"<134>1 2024-01-02T03:04:05Z fw asa - - - CEF:0|Cisco|ASA|9|106023|Deny tcp|8|src=198.51.100.7 spt=5555 dst=10.0.0.9 dpt=445 shost=evil.example.net",
}

func benchStart(b *testing.B, body string) (*run, *collector.Env, *countSink, func()) {
	c, err := build(b, body)
	if err != nil {
		b.Fatal(err)
	}
	sink := &countSink{}
	env := collectortest.Env(b, "test", sink, collectortest.NewState())
	ctx, cancel := context.WithCancel(context.Background())
	r := c.start(env)
	done := make(chan struct{})
	go func() { defer close(done); _ = r.serve(ctx) }()
	return r, env, sink, func() { cancel(); <-done }
}

// BenchmarkTCP: events/s received over one loopback TCP connection and
// parsed; "all" selects and submits every event (to a counting sink),
// "none" selects none (the usual high-volume case: parse, count, drop).
func BenchmarkTCP(b *testing.B) {
	for _, bc := range []struct{ name, rule string }{{"all", "message ~ ."}, {"none", "message ~ ^NEVER"}} {
		b.Run(bc.name, func(b *testing.B) {
			r, env, sink, stop := benchStart(b, "listen_tcp = 127.0.0.1:0\nworkers = 2\nrule_x = "+bc.rule)
			defer stop()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			a, _ := r.Addr(ctx, "tcp")
			conn := dial(b, "tcp", a.String())
			w := bufio.NewWriterSize(conn, 64<<10)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				fmt.Fprintf(w, "%s\n", benchMsgs[i%2])
			}
			w.Flush()
			done := func() int64 {
				return env.Stats.Get("test", "dropped_not_selected") + sink.n.Load() + env.Stats.Get("test", "dropped_malformed")
			}
			for done() < int64(b.N) {
				time.Sleep(time.Millisecond)
			}
			el := time.Since(start)
			b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
			if d := env.Stats.Get("test", "dropped_malformed"); d != 0 {
				b.Fatalf("%d malformed", d)
			}
		})
	}
}

// BenchmarkUDP: events/s over loopback UDP ("all" / "none" as for TCP),
// keeping at most 2000 datagrams in flight so the socket buffer does not
// overflow; any loss shows as dropped_queue_full / dropped_kernel_overflow
// and is reported as "lost".
func BenchmarkUDP(b *testing.B) {
	for _, bc := range []struct{ name, rule string }{{"all", "message ~ ."}, {"none", "message ~ ^NEVER"}} {
		b.Run(bc.name, func(b *testing.B) {
			r, env, sink, stop := benchStart(b, "listen_udp = 127.0.0.1:0\nworkers = 2\nrule_x = "+bc.rule)
			defer stop()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			a, _ := r.Addr(ctx, "udp")
			conn := dial(b, "udp", a.String())
			msgs := [][]byte{[]byte(benchMsgs[0]), []byte(benchMsgs[1])}
			get := func(k string) int64 { return env.Stats.Get("test", k) }
			lost := func() int64 { return get("dropped_queue_full") + get("dropped_kernel_overflow") }
			done := func() int64 { return sink.n.Load() + get("dropped_not_selected") + lost() }
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				for int64(i)-done() > 2000 {
					time.Sleep(50 * time.Microsecond)
				}
				if _, err := conn.Write(msgs[i%2]); err != nil {
					b.Fatal(err)
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for done() < int64(b.N) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			el := time.Since(start)
			b.ReportMetric(float64(done()-lost())/el.Seconds(), "events/s")
			b.ReportMetric(float64(lost()), "lost")
		})
	}
}

// BenchmarkParse: parse + rule match + submission build, no network.
func BenchmarkParse(b *testing.B) {
	c, err := build(b, "listen_udp = 127.0.0.1:0\nrule_all = message ~ .")
	if err != nil {
		b.Fatal(err)
	}
	r := c.start(collectortest.Env(b, "test", &countSink{}, collectortest.NewState()))
	p := newParser(nil)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ev, err := p.parse([]byte(benchMsgs[i%2]), time.Now())
		if err != nil {
			b.Fatal(err)
		}
		rule, _ := c.cfg.Rules.Match(ev.Field)
		if _, err := r.single(ev, rule); err != nil {
			b.Fatal(err)
		}
	}
}
