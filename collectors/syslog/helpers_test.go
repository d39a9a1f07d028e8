package syslog

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
)

// build makes a collector from the body of a [collector_test] section.
func build(t testing.TB, body string) (*Collector, error) {
	t.Helper()
	c, err := collectortest.Build(t, body, New)
	if err != nil {
		return nil, err
	}
	return c.(*Collector), nil
}

// started is a collector running in the background.
type started struct {
	r      *run
	env    *collector.Env
	sink   *collectortest.Sink
	logs   *collectortest.LogRecorder
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func start(t testing.TB, body string) *started {
	t.Helper()
	return startWith(t, body, nil)
}

// startWith is start with setup run on the run before it serves (to
// set clocks).
func startWith(t testing.TB, body string, setup func(*run)) *started {
	t.Helper()
	c, err := build(t, body)
	if err != nil {
		t.Fatal(err)
	}
	sink := collectortest.NewSink()
	env := collectortest.Env(t, "test", sink, collectortest.NewState())
	logs := collectortest.RecordLogs(env)
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{r: c.start(env), env: env, sink: sink, logs: logs, cancel: cancel, done: make(chan error, 1)}
	if setup != nil {
		setup(s.r)
	}
	go func() { s.done <- s.r.serve(ctx) }()
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *started) addr(t testing.TB, transport string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := s.r.Addr(ctx, transport)
	if err != nil || a == nil {
		t.Fatalf("no %s address: %v", transport, err)
	}
	return a.String()
}

// stop cancels Run and waits for it to return.
func (s *started) stop(t testing.TB) {
	t.Helper()
	s.once.Do(func() {
		s.cancel()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			} else {
				s.logs.CheckStartStop(t, "listen")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return")
		}
	})
}

func (s *started) count(event string) int64 { return s.env.Stats.Get("test", event) }

// waitCount waits until counter event reaches n.
func (s *started) waitCount(t testing.TB, event string, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.count(event) < n {
		if time.Now().After(deadline) {
			t.Fatalf("counter %s = %d, want %d", event, s.count(event), n)
		}
		time.Sleep(2 * time.Millisecond) // polling a counter, not synchronising on time
	}
}

func waitSubs(t testing.TB, sink *collectortest.Sink, n int) []*collector.Submission {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	subs, err := sink.WaitFor(ctx, n)
	if err != nil {
		t.Fatalf("got %d submissions, want %d: %v", len(subs), n, err)
	}
	return subs
}

func dial(t testing.TB, network, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
