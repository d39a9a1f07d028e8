package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/groups"
	"github.com/ace-collector/ace-collector/persistence"
)

// benchConfig is the INI of o.groups groups, group i delivering to node i.
func benchConfig(o *benchOptions, nodes []*benchNode) string {
	var b strings.Builder
	b.WriteString("[global]\nnode = bench\n")
	for i, n := range nodes {
		fmt.Fprintf(&b, "[node_n%d]\nlocation = %s\n", i, n.location())
		fmt.Fprintf(&b, "[collection_group_g%d]\ncoverage = 100\nfull_delivery = yes\ntarget_nodes = n%d\n"+
			"thread_count = %d\nbatch_size = %d\ntimeout = 30s\nbackoff_min = 100ms\nbackoff_max = 2s\n",
			i, i, o.threads, o.batch)
	}
	return b.String()
}

// runBenchPipeline runs source → store → groups → nodes and fills res.
func runBenchPipeline(ctx context.Context, o *benchOptions, dir string, payload []byte, res *benchResult) error {
	want := int64(o.n) * int64(o.groups)
	track := newBenchTracker(want)
	var nodes []*benchNode
	defer func() {
		for _, n := range nodes {
			n.stop()
		}
	}()
	for i := range o.groups {
		n, err := startBenchNode(filepath.Join(dir, fmt.Sprintf("node%d", i)), track, o.log, o.nodeFsync, o.node == "light")
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	f, err := ini.Load([]byte(benchConfig(o, nodes)))
	if err != nil {
		return fmt.Errorf("bench: config: %w", err)
	}
	p := &collector.Problems{}
	cfg := groups.ParseConfig(f, p)
	if err := p.Err(); err != nil {
		return fmt.Errorf("bench: config: %w", err)
	}
	sc := persistence.Config{Driver: "sqlite", Path: filepath.Join(dir, "store", "collection.db"), Logger: o.log}
	if o.store == "mysql" {
		sc = persistence.Config{Driver: "mysql", DSN: o.dsn, Logger: o.log}
	} else if err := os.MkdirAll(filepath.Dir(sc.Path), 0o750); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	store, err := persistence.Open(ctx, sc)
	if err != nil {
		return fmt.Errorf("bench: opening store: %w", err)
	}
	defer store.Close()
	stats := collector.NewStats()
	var targets []collector.GroupTarget
	for _, g := range cfg.Enabled() {
		targets = append(targets, collector.GroupTarget{Name: g.Name, Coverage: g.Coverage})
	}
	rt, err := collector.NewRuntime(collector.RuntimeOptions{
		Queue: store.ForCollector(), IncomingDir: filepath.Join(dir, "incoming"), Groups: targets,
		Global: collector.Global{Node: "bench", Hostname: "bench"}, Log: o.log, Stats: stats,
	})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	instance := fmt.Sprintf("bench-%d-%d", os.Getpid(), time.Now().UnixNano())
	mgr, err := groups.New(groups.Options{Config: cfg, Queue: store, Instance: instance, Stats: stats,
		Log: o.log, Grace: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer mgr.Close()

	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Add(2)
	go func() { defer wg.Done(); rt.Run(pctx, nil) }()
	go func() { defer wg.Done(); mgr.Run(pctx) }()

	src := &benchSource{o: o, sink: rt.Sink("bench", "bench", nil), track: track, payload: payload,
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
	res.SubmissionsPerS = float64(o.n) / res.EndToEnd.Seconds()
	res.DeliveriesPerS = float64(res.Deliveries) / res.EndToEnd.Seconds()
	res.EnqueuePerS = float64(o.n) / res.Enqueue.Seconds()
	return nil
}

// waitDelivered prints progress every second until every delivery arrived,
// the source failed, or nothing moved for o.stallAfter.
func waitDelivered(ctx context.Context, o *benchOptions, src *benchSource, track *benchTracker, srcDone <-chan error) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastMove := int64(0), time.Now()
	progress := func(final bool) {
		if o.progress == nil {
			return
		}
		d := track.delivered.Load()
		end := ""
		if final {
			end = "\n"
		}
		fmt.Fprintf(o.progress, "\rsubmitted %d/%d  delivered %d/%d  %6d deliveries/s   %s",
			src.submitted.Load(), o.n, d, track.want, d-last, end)
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
			if d != last || src.submitted.Load() < int64(o.n) {
				lastMove = time.Now()
			}
			last = d
			if time.Since(lastMove) > o.stallAfter {
				progress(true)
				return fmt.Errorf("bench: stalled: %d of %d deliveries after nothing moved for %s", d, track.want, o.stallAfter)
			}
		}
	}
}

// benchSource is the synthetic collector: o.producers goroutines calling
// Sink.Submit, paced to o.rate when set.
type benchSource struct {
	o         *benchOptions
	sink      collector.Sink
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
	errc := make(chan error, s.o.producers)
	var wg sync.WaitGroup
	for range s.o.producers {
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
		if i >= s.o.n {
			return nil
		}
		if s.o.rate > 0 {
			due := start.Add(time.Duration(float64(i) / s.o.rate * float64(time.Second)))
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
		if s.o.attachSize > 0 {
			p := filepath.Join(s.dir, sub.UUID+".bin")
			if err := os.WriteFile(p, s.payload, 0o640); err != nil {
				return fmt.Errorf("bench: writing attachment: %w", err)
			}
			sub.Files = []collector.File{{Path: p, Name: "sample.bin", DeleteSource: true}}
		}
		at := time.Now()
		s.track.start(sub.UUID, at)
		if err := s.sink.Submit(ctx, sub); err != nil {
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
