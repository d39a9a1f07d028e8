package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/persistence"
)

// benchConfig is the INI of o.Groups groups, group i delivering to node i.
func benchConfig(o *Options, dir string, nodes []*benchNode) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[global]\nnode = bench\ndata_dir = %s\n[collection]\nincoming_dir = incoming\npersistence_dir = store\n", dir)
	for i, n := range nodes {
		fmt.Fprintf(&b, "[node_n%d]\nlocation = %s\n", i, n.location())
		fmt.Fprintf(&b, "[collection_group_g%d]\ncoverage = 100\nfull_delivery = yes\ntarget_nodes = n%d\n"+
			"thread_count = %d\nbatch_size = %d\ntimeout = 30s\nbackoff_min = 100ms\nbackoff_max = 2s\n",
			i, i, o.Threads, o.Batch)
	}
	return b.String()
}

// runBenchPipeline runs source → store → groups → nodes, built by the
// daemon's constructor as the real daemon is, and fills res.
func runBenchPipeline(ctx context.Context, o *Options, dir string, payload []byte, res *Result) error {
	want := int64(o.N) * int64(o.Groups)
	track := newBenchTracker(want)
	var nodes []*benchNode
	defer func() {
		for _, n := range nodes {
			n.stop()
		}
	}()
	for i := range o.Groups {
		n, err := startBenchNode(filepath.Join(dir, fmt.Sprintf("node%d", i)), track, o.Log, o.NodeFsync, o.Node == "light")
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	cfg, p, err := daemon.LoadData("bench.ini", []byte(benchConfig(o, dir, nodes)), daemon.LoadOptions{})
	if err == nil {
		err = p.Err()
	}
	if err != nil {
		return fmt.Errorf("bench: config: %w", err)
	}
	if o.Store == "mysql" {
		cfg.Store.Config = persistence.Config{Driver: "mysql", DSN: o.DSN}
	}
	// Instances share the store (MySQL), as daemons on several hosts do:
	// same configuration, distinct instance names. The first one serves the
	// live stream when there are viewers.
	var sinks []collector.Sink
	var daemons []*daemon.Daemon
	defer func() {
		for _, d := range daemons {
			d.Close()
		}
	}()
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }() // before the daemons close
	for i := range max(o.Instances, 1) {
		c := *cfg
		c.Instance = fmt.Sprintf("bench-%d-%d-%d", os.Getpid(), time.Now().UnixNano(), i)
		dopts := daemon.Options{Version: "bench", Log: o.Log, NoStatus: i > 0 || o.Viewers == 0}
		if !dopts.NoStatus {
			if dopts.StatusListener, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				return fmt.Errorf("bench: status listener: %w", err)
			}
			defer dopts.StatusListener.Close()
		}
		d, err := daemon.New(ctx, &c, dopts)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		daemons = append(daemons, d)
		wg.Add(1)
		go func() { defer wg.Done(); d.Run(pctx) }()
		sinks = append(sinks, d.Sink("bench"))
	}
	if o.Viewers > 0 {
		vs, err := startViewers(pctx, daemons[0].StatusURL(), o.Viewers)
		if err != nil {
			return err
		}
		defer func() { vs.stop(); res.ViewerRows = vs.rows.Load() }()
	}

	src := &benchSource{o: o, sinks: sinks, track: track, payload: payload,
		dir: filepath.Join(dir, "src")}
	if err := os.MkdirAll(src.dir, 0o750); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	srcDone := make(chan error, 1)
	wg.Add(1)
	go func() { defer wg.Done(); srcDone <- src.run(pctx) }()

	if err := waitDelivered(pctx, o, src, track, srcDone); err != nil {
		return err
	}
	for _, n := range nodes {
		res.Duplicates += n.dups.Load()
	}
	first, lastSubmit := src.span()
	res.Deliveries = track.delivered.Load()
	res.EndToEnd = track.last().Sub(first)
	res.Enqueue = lastSubmit.Sub(first)
	res.P50, res.P95, res.P99, res.MaxLatency = track.percentiles()
	res.SubmissionsPerS = float64(o.N) / res.EndToEnd.Seconds()
	res.DeliveriesPerS = float64(res.Deliveries) / res.EndToEnd.Seconds()
	res.EnqueuePerS = float64(o.N) / res.Enqueue.Seconds()
	return nil
}

// waitDelivered prints progress every second until every delivery arrived,
// the source failed, or nothing moved for o.StallAfter.
func waitDelivered(ctx context.Context, o *Options, src *benchSource, track *benchTracker, srcDone <-chan error) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastMove := int64(0), time.Now()
	progress := func(final bool) {
		if o.Progress == nil {
			return
		}
		d := track.delivered.Load()
		end := ""
		if final {
			end = "\n"
		}
		fmt.Fprintf(o.Progress, "\rsubmitted %d/%d  delivered %d/%d  %6d deliveries/s   %s",
			src.submitted.Load(), o.N, d, track.want, d-last, end)
	}
	for {
		select {
		case <-track.done:
			progress(true)
			return nil
		case err := <-srcDone:
			if err != nil {
				progress(true)
				return err
			}
			srcDone = nil
		case <-ctx.Done():
			progress(true)
			return ctx.Err()
		case <-tick.C:
			progress(false)
			d := track.delivered.Load()
			if d != last || src.submitted.Load() < int64(o.N) {
				lastMove = time.Now()
			}
			last = d
			if time.Since(lastMove) > o.StallAfter {
				progress(true)
				return fmt.Errorf("bench: stalled: %d of %d deliveries after nothing moved for %s", d, track.want, o.StallAfter)
			}
		}
	}
}

// benchSource is the synthetic collector: o.Producers goroutines calling
// Sink.Submit, paced to o.Rate when set.
type benchSource struct {
	o         *Options
	sinks     []collector.Sink // one per instance, taken in turn
	track     *benchTracker
	payload   []byte
	dir       string
	next      atomic.Int64
	submitted atomic.Int64
	mu        sync.Mutex
	first     time.Time
	last      time.Time
}

func (s *benchSource) span() (first, last time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first, s.last
}

func (s *benchSource) run(ctx context.Context) error {
	start := time.Now()
	errc := make(chan error, s.o.Producers)
	var wg sync.WaitGroup
	for range s.o.Producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- s.produce(ctx, start)
		}()
	}
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *benchSource) produce(ctx context.Context, start time.Time) error {
	for {
		i := int(s.next.Add(1) - 1)
		if i >= s.o.N {
			return nil
		}
		if s.o.Rate > 0 {
			due := start.Add(time.Duration(float64(i) / s.o.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
					return nil
				case <-t.C:
				}
			}
		}
		sub := benchSubmission(s.o, i)
		if s.o.AttachSize > 0 {
			p := filepath.Join(s.dir, sub.UUID+".bin")
			if err := os.WriteFile(p, s.payload, 0o640); err != nil {
				return fmt.Errorf("bench: writing attachment: %w", err)
			}
			sub.Files = []collector.File{{Path: p, Name: "sample.bin", DeleteSource: true}}
		}
		at := time.Now()
		s.track.start(sub.UUID, at)
		if err := s.sinks[i%len(s.sinks)].Submit(ctx, sub); err != nil {
			s.track.forget(sub.UUID)
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("bench: submission %d: %w", i, err)
		}
		end := time.Now()
		s.submitted.Add(1)
		s.mu.Lock()
		if s.first.IsZero() || at.Before(s.first) {
			s.first = at
		}
		if end.After(s.last) {
			s.last = end
		}
		s.mu.Unlock()
	}
}
