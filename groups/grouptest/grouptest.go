// Package grouptest runs the real daemon (store, collector runtime,
// delivery groups; no status server), built by daemon.New from INI text,
// for the tests of the group types: a test configures a group of its type,
// submits, and watches the store and the receiver.
package grouptest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/persistence"
)

// Pipeline is a running daemon whose store and incoming directory live
// under Dir.
type Pipeline struct {
	*daemon.Daemon
	T      testing.TB
	Dir    string
	sink   collector.Sink
	logs   *collectortest.SyncBuffer
	cancel context.CancelFunc
	done   chan struct{}
	runErr error
	once   sync.Once
}

// Start builds and runs a daemon from conf until the test ends. o may set
// daemon options; the logger, short intervals and NoStatus are set here.
func Start(t testing.TB, conf string, o daemon.Options) *Pipeline {
	t.Helper()
	p := New(t, conf, o)
	p.Run()
	return p
}

// New builds the daemon without running it: submissions are stored and
// wait (benchmarks fill the queue, then time Run draining it).
func New(t testing.TB, conf string, o daemon.Options) *Pipeline {
	t.Helper()
	return NewIn(t, t.TempDir(), conf, o)
}

// NewIn is New with the store and incoming directory under dir, so a test
// can stop the pipeline and start another on the same state.
func NewIn(t testing.TB, dir, conf string, o daemon.Options) *Pipeline {
	t.Helper()
	cfg, problems, err := daemon.LoadData("grouptest.ini", []byte(conf), daemon.LoadOptions{
		LookupEnv: func(string) (string, bool) { return "", false },
		Hostname:  func() (string, error) { return "test", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := problems.Err(); err != nil {
		t.Fatalf("config: %v", err)
	}
	cfg.Store.Config = persistence.Config{Driver: "sqlite", Path: filepath.Join(dir, "q.db")}
	cfg.IncomingDir = filepath.Join(dir, "incoming")
	cfg.Instance = "test"
	cfg.Grace = 2 * time.Second
	logs := &collectortest.SyncBuffer{}
	o.Version = "test"
	level := slog.LevelDebug
	if _, bench := t.(*testing.B); bench {
		level = slog.LevelWarn // a debug line per submission would be what is measured
	}
	if o.Log == nil { // a test that sets its own (a large backlog's debug lines would fill memory)
		o.Log = daemon.NewLogger(logs, level, false)
	}
	o.NoStatus = true
	o.CleanupInterval = 20 * time.Millisecond
	o.PollInterval = 50 * time.Millisecond
	d, err := daemon.New(context.Background(), cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	p := &Pipeline{Daemon: d, T: t, Dir: dir, sink: d.Sink("test"), logs: logs, done: make(chan struct{})}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("pipeline log:\n%s", logs)
		}
	})
	return p
}

// Run starts the daemon (once).
func (p *Pipeline) Run() {
	if p.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.runErr = p.Daemon.Run(ctx); close(p.done) }()
}

// Sink is the test source's sink (collector "test").
func (p *Pipeline) Sink() collector.Sink { return p.sink }

// Logs is everything the daemon logged so far.
func (p *Pipeline) Logs() string { return p.logs.String() }

// Stop stops and closes the daemon.
func (p *Pipeline) Stop() {
	p.once.Do(func() {
		if p.cancel != nil {
			p.cancel()
			<-p.done
		}
		if p.runErr != nil {
			p.T.Errorf("daemon.Run: %v", p.runErr)
		}
		if err := p.Close(); err != nil {
			p.T.Errorf("daemon.Close: %v", err)
		}
	})
}

// Fill stores n submissions made by mk from producers goroutines.
func (p *Pipeline) Fill(n, producers int, mk func(i int) *collector.Submission) {
	p.T.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for w := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += producers {
				if err := p.sink.Submit(context.Background(), mk(i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		p.T.Fatalf("fill: %v", err)
	}
}

// Submit stores sub (through the test sink, as a collector would).
func (p *Pipeline) Submit(sub *collector.Submission) {
	p.T.Helper()
	if err := p.sink.Submit(context.Background(), sub); err != nil {
		p.T.Fatalf("submit: %v", err)
	}
}

// Attach adds a file with content under name to sub (moved into the
// store at Submit).
func Attach(t testing.TB, sub *collector.Submission, name string, content []byte) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, content, 0o600); err != nil {
		t.Fatal(err)
	}
	sub.Files = append(sub.Files, collector.File{Path: src, Name: name, DeleteSource: true})
}

// WaitUntil polls cond (cheap reads) until it holds or ctx ends.
func (p *Pipeline) WaitUntil(ctx context.Context, what string, cond func() bool) {
	p.T.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			p.T.Fatalf("timed out waiting for %s", what)
		case <-p.doneIfRunning():
			p.T.Fatalf("waiting for %s: the daemon stopped: %v", what, p.runErr)
		case <-tick.C:
		}
	}
}

func (p *Pipeline) doneIfRunning() <-chan struct{} {
	if p.cancel == nil {
		return nil
	}
	return p.done
}

// Count is the number of the group's items in status (READY, COMPLETED, ERROR, ...).
func (p *Pipeline) Count(group, status string) int64 {
	counts, err := p.Store().Counts(context.Background())
	if err != nil {
		p.T.Fatal(err)
	}
	var n int64
	for _, c := range counts {
		if c.Group == group && c.Status == status {
			n += c.Count
		}
	}
	return n
}

// Backlog is the number of stored submissions.
func (p *Pipeline) Backlog() int64 {
	n, err := p.Store().Backlog(context.Background())
	if err != nil {
		p.T.Fatal(err)
	}
	return n
}

// IncomingDirs is the number of submissions whose files are stored.
func (p *Pipeline) IncomingDirs() int {
	entries, _ := os.ReadDir(p.Config().IncomingDir)
	return len(entries)
}

// Cleaned reports whether every submission is delivered and deleted.
func (p *Pipeline) Cleaned() bool { return p.Backlog() == 0 && p.IncomingDirs() == 0 }

// LogLines returns the log lines that contain every fragment.
func (p *Pipeline) LogLines(fragments ...string) []string {
	var out []string
	for _, l := range strings.Split(p.logs.String(), "\n") {
		ok := l != ""
		for _, f := range fragments {
			ok = ok && strings.Contains(l, f)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// Ctx is a context that ends with the test or after a minute.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Group is a [collection_group_NAME] section of type typ with fast
// backoff, plus extra lines.
func Group(name, typ string, extra ...string) string {
	return fmt.Sprintf("[collection_group_%s]\ntype = %s\nbackoff_min = 10ms\nbackoff_max = 200ms\n%s\n", name, typ,
		strings.Join(extra, "\n"))
}
