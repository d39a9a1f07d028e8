package bench

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
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/ace-collector/ace-collector/collector"
)

// Options are the flags of `ace-collector bench`.
type Options struct {
	N           int     // submissions
	Observables int     // observables per submission
	AttachSize  int     // bytes of one attachment per submission (0: none)
	Groups      int     // collection groups, each delivering to its own node
	Threads     int     // thread_count of each group
	Batch       int     // batch_size of each group
	Rate        float64 // offered submissions/s (0: as fast as possible)
	Producers   int     // goroutines calling Sink.Submit
	Store       string  // embedded or mysql
	DSN         string  // with Store mysql
	CPUProfile  string  // write a CPU profile of the pipeline phase here
	CeilingFor  time.Duration
	StallAfter  time.Duration
	Progress    io.Writer // progress line destination; nil = none
	Log         *slog.Logger
	KeepTempDir bool
	NodeFsync   bool   // store receivers fsync each submission
	Node        string // light or store
	// Viewers is how many live-page clients read the daemon's live stream
	// during the run (0: no status server at all).
	Viewers int
	// CPUs is GOMAXPROCS for the run (0: every core of the machine).
	CPUs int
	// Scaling runs at 1, 2, 4, … cores up to the machine's (the command
	// prints a table; Run ignores it).
	Scaling bool
	// Instances is how many daemons share the store (MySQL only), each
	// with every group's threads; producers take turns between them.
	Instances int
	// ACEBaseline (MySQL only): after the pipeline, run ACE's own queue
	// pattern on the same database with the same load and receivers.
	ACEBaseline bool
}

// Result is what one bench run measured.
type Result struct {
	Submissions     int
	Deliveries      int64
	Duplicates      int64
	EndToEnd        time.Duration // first submit → last delivery
	Enqueue         time.Duration // first submit start → last submit returned
	P50, P95, P99   time.Duration
	MaxLatency      time.Duration
	PeakRSSBytes    int64
	CPU             time.Duration // user + system CPU of the process during the pipeline phase
	CeilingReqPerS  float64       // 0 when not measured
	SubmissionsPerS float64
	DeliveriesPerS  float64
	EnqueuePerS     float64
	ViewerRows      int64      // rows the live viewers received, all together
	CPUs            int        // GOMAXPROCS of the run
	ACE             *ACEResult // ACE's queue pattern, when measured
}

func (o *Options) check() error {
	var errs []error
	positive := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("--%s must be positive (got %d)", name, v))
		}
	}
	positive("n", o.N)
	positive("groups", o.Groups)
	positive("threads", o.Threads)
	positive("batch", o.Batch)
	positive("producers", o.Producers)
	if o.Observables < 0 || o.AttachSize < 0 || o.Rate < 0 || o.Viewers < 0 {
		errs = append(errs, errors.New("--observables, --attachment-size, --rate and --viewers must not be negative"))
	}
	if o.Threads > 256 || o.Batch > 10000 {
		errs = append(errs, errors.New("--threads is at most 256 and --batch at most 10000 (thread_count, batch_size limits)"))
	}
	if o.Node == "" {
		o.Node = "light"
	}
	if o.Node != "light" && o.Node != "store" {
		errs = append(errs, fmt.Errorf("--node %q: want light or store", o.Node))
	}
	if o.NodeFsync && o.Node != "store" {
		errs = append(errs, errors.New("--node-fsync needs --node store (light receivers write nothing)"))
	}
	if o.CPUs < 0 {
		errs = append(errs, fmt.Errorf("--cpus must not be negative (got %d)", o.CPUs))
	}
	errs = append(errs, o.checkStore()...)
	if o.StallAfter <= 0 {
		o.StallAfter = time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return errors.Join(errs...)
}

// checkStore checks --store and what depends on it.
func (o *Options) checkStore() []error {
	var errs []error
	switch o.Store {
	case "embedded", "sqlite":
	case "mysql":
		if o.DSN == "" {
			errs = append(errs, errors.New("--store mysql needs --dsn"))
		}
	default:
		errs = append(errs, fmt.Errorf("--store %q: want embedded or mysql", o.Store))
	}
	if o.Instances == 0 {
		o.Instances = 1
	}
	if o.Instances < 0 || o.Instances > 16 {
		errs = append(errs, fmt.Errorf("--instances must be 1 to 16 (got %d)", o.Instances))
	}
	if o.Store != "mysql" && o.Instances > 1 {
		errs = append(errs, errors.New("--instances above 1 needs --store mysql (one daemon per embedded store)"))
	}
	if o.Store != "mysql" && o.ACEBaseline {
		errs = append(errs, errors.New("--ace-baseline needs --store mysql (ACE's queue is MySQL SQL)"))
	}
	return errs
}

// Run measures the HTTP ceiling, then runs the pipeline.
func Run(ctx context.Context, o *Options) (*Result, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ace-collector-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: creating temp dir: %w", err)
	}
	if o.KeepTempDir {
		fmt.Fprintln(os.Stderr, "bench: working directory", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	payload := make([]byte, o.AttachSize)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range payload {
		payload[i] = byte(r.Uint32())
	}
	if o.CPUs > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(o.CPUs))
	}
	res := &Result{Submissions: o.N, CPUs: runtime.GOMAXPROCS(0)}
	if o.CeilingFor > 0 {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "measuring loopback HTTP ceiling (%d clients, %s)...\n", o.Threads*o.Groups*o.Instances, o.CeilingFor)
		}
		if res.CeilingReqPerS, err = measureCeiling(ctx, o, filepath.Join(dir, "ceiling"), payload, o.Log); err != nil {
			return nil, err
		}
	}
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return nil, fmt.Errorf("bench: creating CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, fmt.Errorf("bench: starting CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	cpu0 := cpuTime()
	if err := runBenchPipeline(ctx, o, dir, payload, res); err != nil {
		return nil, err
	}
	res.CPU = cpuTime() - cpu0
	res.PeakRSSBytes = peakRSS()
	if o.ACEBaseline {
		pprof.StopCPUProfile() // the profile is of the pipeline
		if o.Progress != nil {
			fmt.Fprintln(o.Progress, "running ACE's queue pattern on the same database...")
		}
		if res.ACE, err = runACEBaseline(ctx, o); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// benchSubmission is synthetic submission i with o.Observables observables.
func benchSubmission(o *Options, i int) *collector.Submission {
	sub := collector.NewSubmission("bench submission " + strconv.Itoa(i))
	sub.Tool = "ace-collector bench"
	sub.ToolInstance = "bench"
	sub.Tags = []string{"bench"}
	for k := range o.Observables {
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

// Print writes the summary of one run; the ratios come last.
func Print(w io.Writer, o *Options, r *Result) {
	fmt.Fprintf(w, "ace-collector bench: %d submissions, %d observables, attachment %d B, %d group(s) × %d threads, batch %d, producers %d, rate %s, store %s%s, %d cores\n",
		o.N, o.Observables, o.AttachSize, o.Groups, o.Threads, o.Batch, o.Producers, rateText(o.Rate), o.Store, instancesText(o), r.CPUs)
	fmt.Fprintf(w, "  receivers:      %s\n", receiverText(o))
	if o.Viewers > 0 {
		fmt.Fprintf(w, "  live viewers:   %d reading /live/events (%d rows received in all)\n", o.Viewers, r.ViewerRows)
	} else {
		fmt.Fprintf(w, "  live viewers:   none (no status server)\n")
	}
	fmt.Fprintf(w, "  end-to-end:     %.0f submissions/s (%.0f deliveries/s; %d deliveries in %s, first submit → last delivery)\n",
		r.SubmissionsPerS, r.DeliveriesPerS, r.Deliveries, r.EndToEnd.Round(time.Millisecond))
	fmt.Fprintf(w, "  enqueue only:   %.0f submissions/s (%s)\n", r.EnqueuePerS, r.Enqueue.Round(time.Millisecond))
	fmt.Fprintf(w, "  latency:        p50 %s  p95 %s  p99 %s  max %s (Submit start → node received, per group)\n",
		ms(r.P50), ms(r.P95), ms(r.P99), ms(r.MaxLatency))
	if r.Duplicates > 0 {
		fmt.Fprintf(w, "  duplicates:     %d\n", r.Duplicates)
	}
	fmt.Fprintf(w, "  peak RSS:       %.1f MiB\n", float64(r.PeakRSSBytes)/(1<<20))
	if r.CPU > 0 && r.EndToEnd > 0 {
		fmt.Fprintf(w, "  CPU used:       %.2f of %d cores (%.0f µs per submission, whole process, pipeline phase)\n",
			r.CPU.Seconds()/r.EndToEnd.Seconds(), r.CPUs, float64(r.CPU.Microseconds())/float64(r.Submissions))
	}
	if r.CeilingReqPerS > 0 {
		fmt.Fprintf(w, "  HTTP ceiling:   %.0f requests/s (plain net/http client, %d connections, same receiver)\n",
			r.CeilingReqPerS, o.Threads*o.Groups*o.Instances)
	}
	if a := r.ACE; a != nil {
		fmt.Fprintf(w, "  ACE queue pattern: %.0f submissions/s end to end (%.0f deliveries/s; enqueue only %.0f/s; p99 %s), same database, load, receivers and client\n",
			a.SubmissionsPerS, a.DeliveriesPerS, a.EnqueuePerS, ms(a.P99))
	}
	if r.CeilingReqPerS > 0 {
		fmt.Fprintf(w, "  pipeline/ceiling: %.2f (deliveries/s ÷ ceiling requests/s)\n", r.DeliveriesPerS/r.CeilingReqPerS)
	}
	if a := r.ACE; a != nil && a.SubmissionsPerS > 0 {
		fmt.Fprintf(w, "  ace-collector/ACE: %.1f× (end-to-end submissions/s ÷ ACE's queue pattern's)\n", r.SubmissionsPerS/a.SubmissionsPerS)
	}
}

func instancesText(o *Options) string {
	if o.Instances > 1 {
		return fmt.Sprintf(" (%d instances)", o.Instances)
	}
	return ""
}

// receiverText says what the receivers did, so a figure is never read as
// measured against a storing node when it was not.
func receiverText(o *Options) string {
	if o.Node == "store" {
		if o.NodeFsync {
			return "store (api.Server as `sink` runs it: every submission written and fsync'd)"
		}
		return "store (api.Server as `sink` runs it: every submission written, not fsync'd)"
	}
	return "light (parse ACE's request and answer; nothing stored, no fsync)"
}

func rateText(r float64) string {
	if r <= 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%.0f/s", r)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

// cpuTime is the user and system CPU the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

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

// AddFlags defines the bench's command-line flags on f, bound to o, with
// their defaults.
func (o *Options) AddFlags(f *pflag.FlagSet) {
	f.IntVarP(&o.N, "n", "n", 20000, "number of submissions")
	f.IntVar(&o.Observables, "observables", 5, "observables per submission")
	f.IntVar(&o.AttachSize, "attachment-size", 0, "bytes of one attachment per submission (0 = none)")
	f.IntVar(&o.Groups, "groups", 1, "collection groups, each delivering to its own receiver")
	f.IntVar(&o.Threads, "threads", 4, "thread_count of each group")
	f.IntVar(&o.Batch, "batch", 64, "batch_size of each group")
	f.Float64Var(&o.Rate, "rate", 0, "offered submissions per second (0 = as fast as possible)")
	f.IntVar(&o.Producers, "producers", 64, "goroutines calling Sink.Submit (concurrent sources share store commits)")
	f.StringVar(&o.Node, "node", "light", "receivers: light (parse ACE's request, store nothing) or store (api.Server, as sink)")
	f.BoolVar(&o.NodeFsync, "node-fsync", false, "with --node store: fsync each received submission")
	f.StringVar(&o.Store, "store", "embedded", "store: embedded (SQLite in a temp dir) or mysql")
	f.StringVar(&o.DSN, "dsn", "", "go-sql-driver/mysql DSN for --store mysql")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the pipeline phase to FILE")
	f.DurationVar(&o.CeilingFor, "ceiling-time", 3*time.Second, "how long to measure the loopback HTTP ceiling (0 = skip)")
	f.DurationVar(&o.StallAfter, "stall-timeout", time.Minute, "fail when nothing is delivered for this long")
	f.BoolVar(&o.Scaling, "scaling", false, "run once at 1, 2, 4, … cores up to the machine's and print a table")
	f.IntVar(&o.CPUs, "cpus", 0, "cores the pipeline may use (GOMAXPROCS; 0 = all of the machine's)")
	f.IntVar(&o.Instances, "instances", 1, "with --store mysql: daemons sharing the store, each with every group's threads")
	f.BoolVar(&o.ACEBaseline, "ace-baseline", false, "with --store mysql: also run ACE's own queue pattern on the same database and print both rates and their ratio")
	f.IntVar(&o.Viewers, "viewers", 0, "live-page clients reading the daemon's /live/events during the run (0 = no status server)")
	f.BoolVar(&o.KeepTempDir, "keep", false, "keep the temporary directory (store, receiver storage)")
}
