package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// benchOptions are the flags of `ace-collector bench`.
type benchOptions struct {
	n           int
	observables int
	attachSize  int
	groups      int
	threads     int
	batch       int
	rate        float64
	producers   int
	store       string
	dsn         string
	cpuprofile  string
	ceilingFor  time.Duration
	stallAfter  time.Duration
	progress    io.Writer // progress line destination; nil = none
	log         *slog.Logger
	keepTempDir bool
	nodeFsync   bool
	node        string
}

// benchResult is what one bench run measured.
type benchResult struct {
	Submissions     int
	Deliveries      int64
	Duplicates      int64
	EndToEnd        time.Duration // first submit → last delivery
	Enqueue         time.Duration // first submit start → last submit returned
	P50, P95, P99   time.Duration
	MaxLatency      time.Duration
	PeakRSSBytes    int64
	CeilingReqPerS  float64 // 0 when not measured
	SubmissionsPerS float64
	DeliveriesPerS  float64
	EnqueuePerS     float64
}

func cmdBench(ctx context.Context, args []string) error {
	fs := newFlags("bench", nil)
	o := &benchOptions{}
	fs.IntVar(&o.n, "n", 20000, "number of submissions")
	fs.IntVar(&o.observables, "observables", 5, "observables per submission")
	fs.IntVar(&o.attachSize, "attachment-size", 0, "bytes of one attachment per submission (0 = none)")
	fs.IntVar(&o.groups, "groups", 1, "collection groups, each delivering to its own node")
	fs.IntVar(&o.threads, "threads", 4, "thread_count of each group")
	fs.IntVar(&o.batch, "batch", 64, "batch_size of each group")
	fs.Float64Var(&o.rate, "rate", 0, "offered submissions per second (0 = as fast as possible)")
	fs.IntVar(&o.producers, "producers", 64, "goroutines calling Sink.Submit (concurrent sources: group commit batches what they offer together)")
	fs.StringVar(&o.node, "node", "light", "receivers: light (parse ACE's request, answer, store nothing) or store (api.Server, as `sink`)")
	fs.BoolVar(&o.nodeFsync, "node-fsync", false, "with --node store: fsync each submission")
	fs.StringVar(&o.store, "store", "embedded", "store: embedded (SQLite in a temp dir) or mysql")
	fs.StringVar(&o.dsn, "dsn", "", "go-sql-driver/mysql DSN for --store mysql")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the pipeline phase to FILE")
	fs.DurationVar(&o.ceilingFor, "ceiling-time", 3*time.Second, "how long to measure the raw HTTP ceiling (0 = skip)")
	fs.DurationVar(&o.stallAfter, "stall-timeout", time.Minute, "fail when nothing is delivered for this long")
	fs.BoolVar(&o.keepTempDir, "keep", false, "keep the temporary directory (store, node storage)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	o.progress = os.Stderr
	o.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res, err := runBench(ctx, o)
	if err != nil {
		return err
	}
	printBench(os.Stdout, o, res)
	return nil
}

func (o *benchOptions) check() error {
	var errs []error
	positive := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("--%s must be positive (got %d)", name, v))
		}
	}
	positive("n", o.n)
	positive("groups", o.groups)
	positive("threads", o.threads)
	positive("batch", o.batch)
	positive("producers", o.producers)
	if o.observables < 0 || o.attachSize < 0 || o.rate < 0 {
		errs = append(errs, errors.New("--observables, --attachment-size and --rate must not be negative"))
	}
	if o.threads > 256 || o.batch > 10000 {
		errs = append(errs, errors.New("--threads is at most 256 and --batch at most 10000 (thread_count, batch_size limits)"))
	}
	if o.node == "" {
		o.node = "light"
	}
	if o.node != "light" && o.node != "store" {
		errs = append(errs, fmt.Errorf("--node %q: want light or store", o.node))
	}
	switch o.store {
	case "embedded", "sqlite":
	case "mysql":
		if o.dsn == "" {
			errs = append(errs, errors.New("--store mysql needs --dsn"))
		}
	default:
		errs = append(errs, fmt.Errorf("--store %q: want embedded or mysql", o.store))
	}
	if o.stallAfter <= 0 {
		o.stallAfter = time.Minute
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	return errors.Join(errs...)
}

// runBench measures the HTTP ceiling, then runs the pipeline.
func runBench(ctx context.Context, o *benchOptions) (*benchResult, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ace-collector-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: creating temp dir: %w", err)
	}
	if o.keepTempDir {
		fmt.Fprintln(os.Stderr, "bench: working directory", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	payload := make([]byte, o.attachSize)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range payload {
		payload[i] = byte(r.Uint32())
	}
	res := &benchResult{Submissions: o.n}
	if o.ceilingFor > 0 {
		if o.progress != nil {
			fmt.Fprintf(o.progress, "measuring loopback HTTP ceiling (%d clients, %s)...\n", o.threads*o.groups, o.ceilingFor)
		}
		if res.CeilingReqPerS, err = measureCeiling(ctx, o, filepath.Join(dir, "ceiling"), payload, o.log); err != nil {
			return nil, err
		}
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return nil, fmt.Errorf("bench: creating CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, fmt.Errorf("bench: starting CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if err := runBenchPipeline(ctx, o, dir, payload, res); err != nil {
		return nil, err
	}
	res.PeakRSSBytes = peakRSS()
	return res, nil
}

// benchSubmission is synthetic submission i with o.observables observables.
func benchSubmission(o *benchOptions, i int) *collector.Submission {
	sub := collector.NewSubmission("bench submission " + strconv.Itoa(i))
	sub.Tool = "ace-collector bench"
	sub.ToolInstance = "bench"
	sub.Tags = []string{"bench"}
	for k := range o.observables {
		switch k % 3 {
		case 0:
			sub.AddObservable(collector.ObsIPv4, fmt.Sprintf("10.%d.%d.%d", (i>>16)&255, (i>>8)&255, (i+k)&255))
		case 1:
			sub.AddObservable(collector.ObsFQDN, fmt.Sprintf("host%d-%d.bench.example", i, k))
		default:
			sub.AddObservable(collector.ObsURL, fmt.Sprintf("https://host%d.bench.example/path/%d?q=%d", i, k, i*k))
		}
	}
	return sub
}

func printBench(w io.Writer, o *benchOptions, r *benchResult) {
	fmt.Fprintf(w, "ace-collector bench: %d submissions, %d observables, attachment %d B, %d group(s) × %d threads, batch %d, producers %d, rate %s, store %s\n",
		o.n, o.observables, o.attachSize, o.groups, o.threads, o.batch, o.producers, rateText(o.rate), o.store)
	fmt.Fprintf(w, "  end-to-end:     %.0f submissions/s (%.0f deliveries/s; %d deliveries in %s, first submit → last delivery)\n",
		r.SubmissionsPerS, r.DeliveriesPerS, r.Deliveries, r.EndToEnd.Round(time.Millisecond))
	fmt.Fprintf(w, "  enqueue only:   %.0f submissions/s (%s)\n", r.EnqueuePerS, r.Enqueue.Round(time.Millisecond))
	fmt.Fprintf(w, "  latency:        p50 %s  p95 %s  p99 %s  max %s (Submit start → node received, per group)\n",
		ms(r.P50), ms(r.P95), ms(r.P99), ms(r.MaxLatency))
	if r.Duplicates > 0 {
		fmt.Fprintf(w, "  duplicates:     %d\n", r.Duplicates)
	}
	fmt.Fprintf(w, "  peak RSS:       %.1f MiB\n", float64(r.PeakRSSBytes)/(1<<20))
	if r.CeilingReqPerS > 0 {
		fmt.Fprintf(w, "  HTTP ceiling:   %.0f requests/s (plain net/http client, %d connections, same receiver)\n",
			r.CeilingReqPerS, o.threads*o.groups)
		fmt.Fprintf(w, "  pipeline/ceiling: %.2f (deliveries/s ÷ ceiling requests/s)\n", r.DeliveriesPerS/r.CeilingReqPerS)
	}
}

func rateText(r float64) string {
	if r <= 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%.0f/s", r)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

// peakRSS reads VmHWM (peak resident set size) from /proc/self/status; 0
// where that is not available.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			fields := strings.Fields(v)
			if len(fields) == 2 && fields[1] == "kB" {
				kb, err := strconv.ParseInt(fields[0], 10, 64)
				if err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}
