package groups

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/persistence"
)

// node is a real ACE-compatible receiver on loopback whose behaviour a test
// can switch: accept, answer a status code, or refuse connections.
type node struct {
	t        *testing.T
	srv      *api.Server
	hs       *httptest.Server
	addr     string
	mode     atomic.Value // "accept" or an HTTP status code as string
	requests atomic.Int64
	mu       sync.Mutex
	got      []*api.Received
	notify   chan struct{}
	dir      string
}

func newNode(t *testing.T) *node {
	t.Helper()
	n := &node{t: t, notify: make(chan struct{}, 1<<16), dir: t.TempDir()}
	srv, err := api.NewServer(api.ServerOptions{Dir: n.dir, Logger: quietLog(), OnSubmit: func(r *api.Received) {
		n.mu.Lock()
		n.got = append(n.got, r)
		n.mu.Unlock()
		select {
		case n.notify <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	n.srv = srv
	n.mode.Store("accept")
	inner := srv.Handler()
	n.hs = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.requests.Add(1)
		if m := n.mode.Load().(string); m != "accept" {
			code := 0
			fmt.Sscan(m, &code)
			http.Error(w, "node says "+m, code)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	n.hs.Start()
	n.addr = n.hs.Listener.Addr().String()
	t.Cleanup(n.hs.Close)
	return n
}

// newDownNode returns an address nothing listens on, and a function that
// starts the node there.
func newDownNode(t *testing.T) (string, func() *node) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, func() *node {
		n := newNode(t)
		n.hs.Close()
		n.hs = httptest.NewUnstartedServer(n.hs.Config.Handler)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("restarting node on %s: %v", addr, err)
		}
		n.hs.Listener = l
		n.hs.Start()
		n.addr = addr
		return n
	}
}

func (n *node) location() string { return "http://" + n.addr }

func (n *node) received() []*api.Received {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*api.Received(nil), n.got...)
}

func (n *node) waitFor(ctx context.Context, count int) []*api.Received {
	n.t.Helper()
	for {
		if got := n.received(); len(got) >= count {
			return got
		}
		select {
		case <-n.notify:
		case <-ctx.Done():
			n.t.Fatalf("node %s received %d submissions, want %d", n.addr, len(n.received()), count)
		}
	}
}

func quietLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(ioDiscard{}, nil))
}

type ioDiscard struct{}

func (ioDiscard) Write(p []byte) (int, error) { return len(p), nil }

// syncBuffer is a log destination tests can read while the pipeline writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pipeline is the real runtime, store and group manager, configured from INI.
type pipeline struct {
	t      *testing.T
	store  *persistence.Store
	rt     *collector.Runtime
	mgr    *Manager
	sink   collector.Sink
	stats  *collector.Stats
	dir    string
	cancel context.CancelFunc
	done   chan struct{}
	logs   *syncBuffer
}

func startPipeline(t *testing.T, conf string) *pipeline {
	t.Helper()
	dir := t.TempDir()
	return startPipelineIn(t, dir, conf)
}

func startPipelineIn(t *testing.T, dir, conf string) *pipeline {
	t.Helper()
	return startPipelineWith(t, dir, conf, nil)
}

// startPipelineWith lets the test adjust the manager's options (node
// sources, for instance) before it starts.
func startPipelineWith(t *testing.T, dir, conf string, adjust func(*Options)) *pipeline {
	t.Helper()
	f, err := ini.Load([]byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	p := &collector.Problems{}
	cf := collector.NewConfigFile(f, p)
	cfg := ParseConfig(cf, cf.Section("global").String("node", ""))
	if err := p.Err(); err != nil {
		t.Fatalf("config: %v", err)
	}
	store, err := persistence.Open(context.Background(), persistence.Config{Path: filepath.Join(dir, "q.db")})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	stats := collector.NewStats()
	var targets []collector.GroupTarget
	for _, g := range cfg.Enabled() {
		targets = append(targets, collector.GroupTarget{Name: g.Name, Coverage: g.Coverage})
	}
	rt, err := collector.NewRuntime(collector.RuntimeOptions{
		Queue: store.ForCollector(), IncomingDir: filepath.Join(dir, "incoming"), Groups: targets,
		Global: collector.Global{Node: cfg.LocalNode, Hostname: "test"}, Log: log, Stats: stats,
		CleanupInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Config: cfg, Queue: store, Instance: "test", Stats: stats, Log: log,
		PollInterval: 50 * time.Millisecond, Grace: 2 * time.Second}
	if adjust != nil {
		adjust(&o)
	}
	mgr, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pl := &pipeline{t: t, store: store, rt: rt, mgr: mgr, stats: stats, dir: dir, cancel: cancel,
		done: make(chan struct{}), logs: logs, sink: rt.Sink("test", "test", nil)}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); rt.Run(ctx, nil) }()
	go func() { defer wg.Done(); mgr.Run(ctx) }()
	go func() { wg.Wait(); close(pl.done) }()
	t.Cleanup(pl.stop)
	return pl
}

func (p *pipeline) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cancel()
	<-p.done
	p.mgr.Close()
	p.store.Close()
}

// submit stores n submissions, each with one small attachment.
func (p *pipeline) submit(n int, mutate func(i int, s *collector.Submission)) []*collector.Submission {
	p.t.Helper()
	var out []*collector.Submission
	for i := 0; i < n; i++ {
		s := collector.NewSubmission(fmt.Sprintf("test submission %d", i))
		s.AddObservable(collector.ObsIPv4, "192.0.2.1")
		src := filepath.Join(p.t.TempDir(), "f.txt")
		os.WriteFile(src, []byte(fmt.Sprintf("content %d", i)), 0o600)
		s.Files = []collector.File{{Path: src, Name: "sample.txt", DeleteSource: true}}
		if mutate != nil {
			mutate(i, s)
		}
		if err := p.sink.Submit(context.Background(), s); err != nil {
			p.t.Fatalf("submit %d: %v", i, err)
		}
		out = append(out, s)
	}
	return out
}

// waitUntil polls cond (cheap store reads) until it holds or ctx ends.
func (p *pipeline) waitUntil(ctx context.Context, what string, cond func() bool) {
	p.t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			p.t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func (p *pipeline) count(group, status string) int64 {
	counts, err := p.store.Counts(context.Background())
	if err != nil {
		p.t.Fatal(err)
	}
	var n int64
	for _, c := range counts {
		if c.Group == group && c.Status == status {
			n += c.Count
		}
	}
	return n
}

func (p *pipeline) backlog() int64 {
	n, err := p.store.Backlog(context.Background())
	if err != nil {
		p.t.Fatal(err)
	}
	return n
}

func (p *pipeline) incomingDirs() int {
	entries, _ := os.ReadDir(filepath.Join(p.dir, "incoming"))
	return len(entries)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func nodeSection(name, loc string) string {
	return fmt.Sprintf("[node_%s]\nlocation = %s\n", name, loc)
}

var _ = strings.Contains
