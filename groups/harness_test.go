package groups_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/groups"
	"github.com/ace-collector/ace-collector/groups/grouptest"
)

// node is a real ACE-compatible receiver on loopback whose behaviour a test
// can switch: accept, or answer an HTTP status code.
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return newNodeOn(t, ln)
}

// newNodeOn starts the node serving on ln, which it closes at the end of
// the test.
func newNodeOn(t *testing.T, ln net.Listener) *node {
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
		ln.Close()
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
	n.hs.Listener.Close() // the one NewUnstartedServer made: serve on ln
	n.hs.Listener = ln
	n.hs.Start()
	n.addr = ln.Addr().String()
	t.Cleanup(n.hs.Close)
	return n
}

// newDownNode returns an address that refuses connections, and a function
// that starts a node there. The port stays bound to this test throughout,
// so no other socket can take it before the node comes up.
func newDownNode(t *testing.T) (string, func() *node) {
	t.Helper()
	port := reservePort(t)
	return port.addr, func() *node { return newNodeOn(t, port.listen(t)) }
}

// downPort is a loopback TCP port bound but not listening: the kernel
// refuses connections to it (as to a node that is down), and as it is
// bound without SO_REUSEADDR no other socket can bind it. listen makes it
// the node's listener, so the address is never released and re-bound
// (which would race with any other process picking ports).
type downPort struct {
	fd   int // -1 once listening
	addr string
}

func reservePort(t *testing.T) *downPort {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	syscall.CloseOnExec(fd)
	p := &downPort{fd: fd}
	t.Cleanup(func() {
		if p.fd >= 0 {
			syscall.Close(p.fd)
		}
	})
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("binding 127.0.0.1:0: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	p.addr = fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	return p
}

// listen starts listening on the reserved port and returns it as a
// net.Listener (which the caller closes).
func (p *downPort) listen(t *testing.T) net.Listener {
	t.Helper()
	if p.fd < 0 {
		t.Fatalf("port %s is already listening", p.addr)
	}
	if err := syscall.Listen(p.fd, syscall.SOMAXCONN); err != nil {
		t.Fatalf("listening on %s: %v", p.addr, err)
	}
	f := os.NewFile(uintptr(p.fd), p.addr)
	p.fd = -1
	defer f.Close() // FileListener holds a duplicate
	ln, err := net.FileListener(f)
	if err != nil {
		t.Fatalf("listener on %s: %v", p.addr, err)
	}
	return ln
}

func (n *node) location() string { return "http://" + n.addr }

func (n *node) received() []*api.Received {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*api.Received(nil), n.got...)
}

// waitFor waits until the node received count submissions.
func (n *node) waitFor(ctx context.Context, count int) []*api.Received {
	n.t.Helper()
	return n.waitUntil(ctx, count, "", func(got []*api.Received) int { return len(got) })
}

// waitDistinct waits until the node received count distinct submissions.
func (n *node) waitDistinct(ctx context.Context, count int) []*api.Received {
	n.t.Helper()
	return n.waitUntil(ctx, count, "distinct ", func(got []*api.Received) int {
		seen := map[string]bool{}
		for _, r := range got {
			seen[r.SubmissionUUID] = true
		}
		return len(seen)
	})
}

func (n *node) waitUntil(ctx context.Context, count int, what string, measure func([]*api.Received) int) []*api.Received {
	n.t.Helper()
	for {
		got := n.received()
		if measure(got) >= count {
			return got
		}
		select {
		case <-n.notify:
		case <-ctx.Done():
			n.t.Fatalf("node %s received %d %ssubmissions, want %d", n.addr, measure(n.received()), what, count)
		}
	}
}

func quietLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// pipeline is grouptest's daemon-built pipeline (store, collector runtime,
// delivery groups; no status server), running from the start, with the
// helpers these tests use.
type pipeline struct {
	*grouptest.Pipeline
	t *testing.T
}

func startPipeline(t *testing.T, conf string) *pipeline {
	t.Helper()
	return startPipelineWith(t, t.TempDir(), conf, daemon.Options{})
}

// startPipelineIn keeps the store and incoming files under dir: a restart
// on the same dir finds the previous run's state.
func startPipelineIn(t *testing.T, dir, conf string) *pipeline {
	t.Helper()
	return startPipelineWith(t, dir, conf, daemon.Options{})
}

// startPipelineWith lets the test set daemon options (node sources, for
// instance); grouptest sets the logger, intervals and NoStatus.
func startPipelineWith(t *testing.T, dir, conf string, o daemon.Options) *pipeline {
	t.Helper()
	p := grouptest.NewIn(t, dir, conf, o)
	p.Run()
	return &pipeline{Pipeline: p, t: t}
}

// stop stops the daemon and closes it (its store among others); the test
// may start another on the same dir.
func (p *pipeline) stop() { p.Stop() }

// submit stores n submissions, each with one small attachment.
func (p *pipeline) submit(n int, mutate func(i int, s *collector.Submission)) []*collector.Submission {
	p.t.Helper()
	var out []*collector.Submission
	for i := 0; i < n; i++ {
		s := collector.NewSubmission(fmt.Sprintf("test submission %d", i))
		s.AddObservable(collector.ObsIPv4, "192.0.2.1")
		grouptest.Attach(p.t, s, "sample.txt", []byte(fmt.Sprintf("content %d", i)))
		if mutate != nil {
			mutate(i, s)
		}
		p.Submit(s)
		out = append(out, s)
	}
	return out
}

func (p *pipeline) waitUntil(ctx context.Context, what string, cond func() bool) {
	p.t.Helper()
	p.WaitUntil(ctx, what, cond)
}

func (p *pipeline) count(group, status string) int64 { return p.Count(group, status) }
func (p *pipeline) backlog() int64                   { return p.Backlog() }
func (p *pipeline) incomingDirs() int                { return p.IncomingDirs() }

// errorReasons returns the parked errors' reasons by uuid.
func (p *pipeline) errorReasons(ctx context.Context) map[string]string {
	p.t.Helper()
	errs, err := p.Store().Errors(ctx, 100)
	if err != nil {
		p.t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range errs {
		out[e.UUID] = e.LastError
	}
	return out
}

func (p *pipeline) logLines(fragments ...string) []string { return p.LogLines(fragments...) }

func (p *pipeline) groupStatus(name string) groups.GroupStatus {
	p.t.Helper()
	for _, g := range p.Groups().Groups() {
		if g.Name == name {
			return g
		}
	}
	p.t.Fatalf("no group %s in %+v", name, p.Groups().Groups())
	return groups.GroupStatus{}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func nodeSection(name, loc string) string {
	return fmt.Sprintf("[node_%s]\nlocation = %s\n", name, loc)
}

// aceDatabase is a valid [database_ace] section for groups whose node
// source the test injects (daemon.Options.NodeSources): it is never
// connected to.
const aceDatabase = "[database_ace]\nhostname = 127.0.0.1\ndatabase = ace\n"

// A down node refuses connections, nothing else can bind its port while it
// is down, and once started it serves on the same address.
func TestDownNodeRefusesThenComesUpOnTheSameAddress(t *testing.T) {
	addr, start := newDownNode(t)
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("a down node accepted a connection on %s", addr)
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dialing a down node: %v, want connection refused", err)
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("another socket could listen on the down node's %s", addr)
	}
	n := start()
	if n.addr != addr {
		t.Fatalf("node came up on %s, want %s", n.addr, addr)
	}
	resp, err := http.Get(n.location() + "/")
	if err != nil {
		t.Fatalf("node up: %v", err)
	}
	resp.Body.Close()
	if n.requests.Load() != 1 {
		t.Fatalf("node answered %d requests, want 1", n.requests.Load())
	}
}
