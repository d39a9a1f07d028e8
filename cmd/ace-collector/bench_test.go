package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestBenchSmall runs the bench end to end on a small load: every
// submission must reach every group's node exactly once, and the summary
// must report it.
func TestBenchSmall(t *testing.T) {
	tests := []struct {
		name string
		o    benchOptions
	}{
		{"one group", benchOptions{n: 200, observables: 5, groups: 1, threads: 2, batch: 16, producers: 4,
			store: "embedded", ceilingFor: 200 * time.Millisecond}},
		{"two groups attachments paced", benchOptions{n: 100, observables: 2, attachSize: 2048, groups: 2, threads: 2,
			batch: 8, producers: 3, rate: 400, store: "embedded", node: "store"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			o := tt.o
			res, err := runBench(ctx, &o)
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(o.n * o.groups); res.Deliveries != want || res.Duplicates != 0 {
				t.Fatalf("deliveries %d (duplicates %d), want %d", res.Deliveries, res.Duplicates, want)
			}
			if res.P50 <= 0 || res.P99 < res.P50 || res.MaxLatency < res.P99 || res.EndToEnd < res.Enqueue {
				t.Errorf("implausible timings: %+v", res)
			}
			if o.rate > 0 && res.Enqueue < time.Duration(float64(o.n-1)/o.rate*float64(time.Second))-50*time.Millisecond {
				t.Errorf("rate %v not respected: %d submissions enqueued in %s", o.rate, o.n, res.Enqueue)
			}
			if (o.ceilingFor > 0) != (res.CeilingReqPerS > 0) {
				t.Errorf("ceiling %v measured for ceiling-time %s", res.CeilingReqPerS, o.ceilingFor)
			}
			var out bytes.Buffer
			printBench(&out, &o, res)
			for _, w := range []string{"end-to-end:", "enqueue only:", "p99", "peak RSS:"} {
				if !strings.Contains(out.String(), w) {
					t.Errorf("summary lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestBenchOptionsCheck(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    benchOptions
		want string
	}{
		{"zero n", benchOptions{groups: 1, threads: 1, batch: 1, producers: 1, store: "embedded"}, "--n must be positive"},
		{"mysql without dsn", benchOptions{n: 1, groups: 1, threads: 1, batch: 1, producers: 1, store: "mysql"}, "needs --dsn"},
		{"bad store", benchOptions{n: 1, groups: 1, threads: 1, batch: 1, producers: 1, store: "redis"}, "want embedded or mysql"},
		{"negative rate", benchOptions{n: 1, groups: 1, threads: 1, batch: 1, producers: 1, store: "embedded", rate: -1}, "must not be negative"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.check()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("check() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestPeakRSS(t *testing.T) {
	if rss := peakRSS(); rss <= 0 {
		t.Skip("no /proc/self/status VmHWM on this system")
	} else if rss < 1<<20 {
		t.Errorf("peak RSS %d bytes is implausibly small", rss)
	}
}

// BenchmarkPipeline pushes b.N submissions through the whole pipeline (no
// HTTP ceiling phase) and reports end-to-end and enqueue rates and p99.
func BenchmarkPipeline(b *testing.B) {
	o := benchOptions{n: max(b.N, 1), observables: 5, groups: 1, threads: 4, batch: 64, producers: 8, store: "embedded"}
	b.ResetTimer()
	res, err := runBench(context.Background(), &o)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.SubmissionsPerS, "submissions/s")
	b.ReportMetric(res.EnqueuePerS, "enqueued/s")
	b.ReportMetric(float64(res.P99)/float64(time.Millisecond), "p99-ms")
}
