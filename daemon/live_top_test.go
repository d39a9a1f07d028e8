package daemon_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/daemon"
)

// screen records what top draws and signals when it shows want.
type screen struct {
	mu   sync.Mutex
	buf  strings.Builder
	want string
	seen chan struct{}
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	if s.want != "" && strings.Contains(s.buf.String(), s.want) {
		s.want = ""
		close(s.seen)
	}
	return len(p), nil
}

func (s *screen) expect(want string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.want, s.seen = want, make(chan struct{})
	return s.seen
}

// wait waits for what expect asked for (with a generous guard that fails
// the test showing the last frame).
func (s *screen) wait(t *testing.T, seen chan struct{}) {
	t.Helper()
	guard := time.NewTimer(30 * time.Second)
	defer guard.Stop()
	select {
	case <-seen:
	case <-guard.C:
		s.mu.Lock()
		frames := strings.Split(s.buf.String(), "\x1b[H")
		s.mu.Unlock()
		t.Fatalf("top never showed %q; last frame:\n%s", s.want, strings.ReplaceAll(frames[len(frames)-1], "\r\n", "\n"))
	}
}

func TestTopShowsRatesQueueNodesAndLastSubmissions(t *testing.T) {
	loc, received := sinkNode(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("[global]\ndata_dir = %s\n[node_a]\nlocation = %s\n[collection_group_g]\n[collection]\nstatus_listen = %s\n",
		t.TempDir(), loc, ln.Addr())
	cfg, err := daemon.LoadValid([]string{writeConfig(t, conf)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(context.Background(), cfg, daemon.Options{StatusListener: ln, LogOutput: testLogOutput(),
		PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done; d.Close(); ln.Close() }()

	scr := &screen{}
	seen := scr.expect("LAST SUBMISSIONS")
	keys := make(chan byte, 1)
	topDone := make(chan error, 1)
	go func() {
		topDone <- daemon.RunTop(context.Background(), cfg, daemon.TopOptions{Out: scr, Keys: keys, Interval: 20 * time.Millisecond})
	}()
	scr.wait(t, seen)
	seen = scr.expect("top test submission")
	sub := collector.NewSubmission("top test submission with a description far longer than eighty columns can show at all")
	if err := d.Sink("src").Submit(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	scr.wait(t, seen)
	eventually(t, "delivery", func() bool { return received() == 1 })
	seen = scr.expect("completed")
	scr.wait(t, seen)
	keys <- 'q'
	if err := <-topDone; err != nil {
		t.Fatal(err)
	}
	out := scr.buf.String()
	frames := strings.Split(out, "\x1b[H")
	last := frames[len(frames)-1]
	for _, f := range frames[1:] {
		lines := strings.Split(f, "\r\n")
		if len(lines) > 24 {
			t.Fatalf("a frame of %d lines", len(lines))
		}
		for _, l := range lines {
			l = strings.NewReplacer("\x1b[K", "", "\x1b[J", "").Replace(l)
			if n := utf8.RuneCountInString(l); n > 80 {
				t.Fatalf("a line of %d columns: %q", n, l)
			}
		}
	}
	for _, want := range []string{"COLLECTOR", "src", "GROUP", "READY", "COMPLETED", "DELIV/S", "NODE", "LAST SUBMISSIONS", "completed  top test"} {
		if !strings.Contains(last, want) {
			t.Errorf("last frame lacks %q:\n%s", want, strings.ReplaceAll(last, "\r\n", "\n"))
		}
	}
}
