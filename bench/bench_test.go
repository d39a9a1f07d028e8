package bench

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/persistence/mysqltest"
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
		{"negative cpus", Options{N: 1, Groups: 1, Threads: 1, Batch: 1, Producers: 1, Store: "embedded", CPUs: -1}, "--cpus must not be negative"},
		{"instances of an embedded store", Options{N: 1, Groups: 1, Threads: 1, Batch: 1, Producers: 1, Store: "embedded", Instances: 2}, "needs --store mysql"},
		{"ace baseline without mysql", Options{N: 1, Groups: 1, Threads: 1, Batch: 1, Producers: 1, Store: "embedded", ACEBaseline: true}, "--ace-baseline needs --store mysql"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.check()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("check() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestScalingSteps(t *testing.T) {
	for n, want := range map[int][]int{1: {1}, 2: {1, 2}, 6: {1, 2, 4, 6}, 16: {1, 2, 4, 8, 16}} {
		if got := scalingSteps(n); !slices.Equal(got, want) {
			t.Errorf("scalingSteps(%d) = %v, want %v", n, got, want)
		}
	}
}

// --cpus sets GOMAXPROCS for the run, reports it, and gives it back.
func TestBenchCPUs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	o := Options{N: 50, Observables: 1, Groups: 1, Threads: 1, Batch: 8, Producers: 2, Store: "embedded", CPUs: 1}
	res, err := Run(context.Background(), &o)
	if err != nil {
		t.Fatal(err)
	}
	if res.CPUs != 1 || runtime.GOMAXPROCS(0) != before {
		t.Fatalf("run at %d cores, GOMAXPROCS %d after (was %d)", res.CPUs, runtime.GOMAXPROCS(0), before)
	}
	var out bytes.Buffer
	PrintScaling(&out, &o, []ScalingRow{{CPUs: 1, Result: res}})
	if !strings.Contains(out.String(), "| 1 | ") {
		t.Errorf("scaling table lacks the 1-core row:\n%s", out.String())
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

// On MySQL, two instances share the queue and ACE's queue pattern runs on
// the same database: every submission reaches the node exactly once in
// both, and the summary ends with both rates' ratio.
func TestBenchMySQLInstancesAndACEBaseline(t *testing.T) {
	dsn := mysqltest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := Options{N: 300, Observables: 2, Groups: 2, Threads: 2, Batch: 16, Producers: 4,
		Store: "mysql", DSN: dsn, Instances: 2, ACEBaseline: true}
	res, err := Run(ctx, &o)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(o.N * o.Groups); res.Deliveries != want || res.Duplicates != 0 {
		t.Fatalf("deliveries %d (duplicates %d), want %d", res.Deliveries, res.Duplicates, want)
	}
	if res.ACE == nil || res.ACE.Deliveries != int64(o.N*o.Groups) || res.ACE.SubmissionsPerS <= 0 {
		t.Fatalf("ACE baseline: %+v", res.ACE)
	}
	var out bytes.Buffer
	Print(&out, &o, res)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "ace-collector/ACE:") {
		t.Errorf("summary does not end with the ratio to ACE:\n%s", out.String())
	}
}
