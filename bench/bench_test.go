package bench

import (
	"bytes"
	"context"
	"fmt"
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
		o    Options
	}{
		{"one group", Options{N: 200, Observables: 5, Groups: 1, Threads: 2, Batch: 16, Producers: 4,
			Store: "embedded", CeilingFor: 200 * time.Millisecond}},
		{"two groups attachments paced", Options{N: 100, Observables: 2, AttachSize: 2048, Groups: 2, Threads: 2,
			Batch: 8, Producers: 3, Rate: 400, Store: "embedded", Node: "store"}},
		{"live viewers", Options{N: 200, Observables: 3, Groups: 1, Threads: 2, Batch: 16, Producers: 4,
			Store: "embedded", Viewers: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			o := tt.o
			res, err := Run(ctx, &o)
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(o.N * o.Groups); res.Deliveries != want || res.Duplicates != 0 {
				t.Fatalf("deliveries %d (duplicates %d), want %d", res.Deliveries, res.Duplicates, want)
			}
			if res.P50 <= 0 || res.P99 < res.P50 || res.MaxLatency < res.P99 || res.EndToEnd < res.Enqueue {
				t.Errorf("implausible timings: %+v", res)
			}
			if o.Rate > 0 && res.Enqueue < time.Duration(float64(o.N-1)/o.Rate*float64(time.Second))-50*time.Millisecond {
				t.Errorf("rate %v not respected: %d submissions enqueued in %s", o.Rate, o.N, res.Enqueue)
			}
			if (o.CeilingFor > 0) != (res.CeilingReqPerS > 0) {
				t.Errorf("ceiling %v measured for ceiling-time %s", res.CeilingReqPerS, o.CeilingFor)
			}
			var out bytes.Buffer
			Print(&out, &o, res)
			viewers := "live viewers:   none"
			if o.Viewers > 0 {
				viewers = fmt.Sprintf("live viewers:   %d reading /live/events", o.Viewers)
			}
			for _, w := range []string{"end-to-end:", "enqueue only:", "p99", "peak RSS:", "receivers:      " + o.Node, viewers} {
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
		o    Options
		want string
	}{
		{"zero n", Options{Groups: 1, Threads: 1, Batch: 1, Producers: 1, Store: "embedded"}, "--n must be positive"},
		{"mysql without dsn", Options{N: 1, Groups: 1, Threads: 1, Batch: 1, Producers: 1, Store: "mysql"}, "needs --dsn"},
		{"bad store", Options{N: 1, Groups: 1, Threads: 1, Batch: 1, Producers: 1, Store: "redis"}, "want embedded or mysql"},
		{"negative rate", Options{N: 1, Groups: 1, Threads: 1, Batch: 1, Producers: 1, Store: "embedded", Rate: -1}, "must not be negative"},
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
	o := Options{N: max(b.N, 1), Observables: 5, Groups: 1, Threads: 4, Batch: 64, Producers: 8, Store: "embedded"}
	b.ResetTimer()
	res, err := Run(context.Background(), &o)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.SubmissionsPerS, "submissions/s")
	b.ReportMetric(res.EnqueuePerS, "enqueued/s")
	b.ReportMetric(float64(res.P99)/float64(time.Millisecond), "p99-ms")
}

// --node-fsync means something only for receivers that write: refused
// otherwise rather than silently ignored.
func TestNodeFsyncNeedsStoringReceivers(t *testing.T) {
	o := Options{N: 1, Groups: 1, Threads: 1, Batch: 1, Producers: 1, Store: "embedded", Node: "light", NodeFsync: true}
	if _, err := Run(context.Background(), &o); err == nil || !strings.Contains(err.Error(), "--node-fsync needs --node store") {
		t.Fatalf("Run = %v", err)
	}
}
