package syslog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// message is one framed message waiting to be parsed.
type message struct {
	data      []byte
	peer      netip.Addr
	transport string
	received  time.Time
}

// run is the state of one Run call.
type run struct {
	cfg   *Config
	env   *collector.Env
	queue chan message
	agg   *aggregator
	drops *logLimiter      // WARN lines about dropped messages, rate limited
	now   func() time.Time // receive times

	// subCtx outlives the Run context by ShutdownTimeout so that queued
	// messages and pending aggregates are still submitted on shutdown.
	subCtx context.Context

	mu        sync.Mutex
	addrs     map[string]net.Addr // transport -> bound address
	ready     chan struct{}
	closers   []func()
	receivers sync.WaitGroup
}

// Run listens until ctx is cancelled, then stops the listeners, submits
// what was already received and flushes pending aggregates (bounded by
// shutdown_timeout) before returning.
func (c *Collector) Run(ctx context.Context, env *collector.Env) error {
	r := c.start(env)
	return r.serve(ctx)
}

func (c *Collector) start(env *collector.Env) *run {
	r := &run{cfg: &c.cfg, env: env, queue: make(chan message, c.cfg.QueueSize),
		addrs: map[string]net.Addr{}, ready: make(chan struct{}),
		drops: newLogLimiter(env.Log, dropLogInterval), now: time.Now}
	if c.cfg.aggregates() {
		r.agg = newAggregator(r)
	}
	return r
}

func (r *run) serve(ctx context.Context) error {
	subCtx, cancelSub := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSub()
	r.subCtx = subCtx
	if err := r.listen(ctx); err != nil {
		r.closeAll()
		r.receivers.Wait()
		return err
	}
	close(r.ready)
	listening := r.listening()
	r.env.Log.Info("collector started", "listen", listening, "workers", r.cfg.Workers,
		"rules", len(r.cfg.Rules), "extractors", len(r.cfg.Extractors), "aggregate_by", r.cfg.AggregateBy)
	defer r.env.Log.Info("collector stopped", "listen", listening)

	var workers sync.WaitGroup
	for range r.cfg.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			r.work()
		}()
	}
	flusherDone := make(chan struct{})
	go func() {
		defer close(flusherDone)
		if r.agg != nil {
			r.agg.flushLoop(ctx)
		}
	}()

	<-ctx.Done()
	stop := time.AfterFunc(r.cfg.ShutdownTimeout, cancelSub)
	defer stop.Stop()
	r.closeAll()
	r.receivers.Wait()
	close(r.queue)
	workers.Wait()
	<-flusherDone
	if r.agg != nil {
		r.agg.flushAll(subCtx)
	}
	if n := len(r.queue); n > 0 { // only when the shutdown timeout hit
		r.env.Drop("shutdown", int64(n))
	}
	return nil
}

// work parses queued messages and submits or aggregates selected events.
func (r *run) work() {
	p := newParser(r.cfg.RFC3164Location)
	for m := range r.queue {
		if r.subCtx.Err() != nil {
			r.env.Drop("shutdown", 1)
			continue
		}
		r.handle(p, m)
	}
}

func (r *run) handle(p *parser, m message) {
	ev, err := p.parse(m.data, m.received)
	if err != nil {
		r.drops.logf(slog.LevelWarn, "malformed", "syslog message dropped: malformed",
			"transport", m.transport, "peer", m.peer.String(), "size", len(m.data), "error", err)
		r.env.Drop("malformed", 1)
		return
	}
	r.env.Count("parsed", 1)
	if ev.ParseError != "" {
		r.env.Count("parsed_partial", 1)
	}
	ev.Received, ev.Transport = m.received, m.transport
	if m.peer.IsValid() {
		ev.Peer = m.peer.String()
	}
	ev.Extracted = r.cfg.Extractors.Apply(ev.Field)
	rule, ok := r.cfg.Rules.Match(ev.Field)
	if !ok {
		r.env.Drop("not_selected", 1)
		return
	}
	r.env.Count("accepted", 1)
	if r.agg != nil && r.agg.add(ev, rule) {
		return
	}
	sub, err := r.single(ev, rule)
	if err != nil {
		r.env.Drop("invalid", 1)
		r.env.Log.Error("building syslog submission", "error", err)
		return
	}
	r.submit(sub)
}

// submit hands sub to the sink, retrying while the store is unavailable
// (the queue then fills and UDP overflow is counted, TCP senders block).
func (r *run) submit(sub *collector.Submission) {
	backoff := 100 * time.Millisecond
	for {
		err := r.env.Sink.Submit(r.subCtx, sub)
		if err == nil {
			r.env.Count("submitted", 1)
			return
		}
		if errors.Is(err, collector.ErrInvalid) {
			r.env.Drop("invalid", 1)
			r.env.Log.Error("syslog submission rejected", "description", sub.Description, "error", err)
			return
		}
		r.env.Count("submit_retry", 1)
		r.env.Log.Warn("store unavailable, retrying syslog submission", "error", err, "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-r.subCtx.Done():
			t.Stop()
			r.env.Drop("shutdown", 1)
			r.env.Log.Error("syslog submission lost at shutdown: store unavailable", "description", sub.Description)
			return
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (r *run) newSubmission(title string, t time.Time) *collector.Submission {
	sub := collector.NewSubmission(title)
	r.cfg.Fields.Apply(sub, r.env.Global)
	sub.EventTime = t.UTC()
	return sub
}

// single builds the submission for one selected event.
func (r *run) single(ev *Event, rule string) (*collector.Submission, error) {
	sub := r.newSubmission(ev.Title(), ev.EventTime())
	var set collector.ObservableSet
	ev.observables(&set)
	sub.Observables = set.List()
	if err := sub.SetDetails(map[string]any{"rule": rule, "event": ev}); err != nil {
		return nil, err
	}
	return sub, nil
}

// listening names the bound addresses as TRANSPORT://HOST:PORT.
func (r *run) listening() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, t := range []string{"udp", "tcp", "tls"} {
		if a := r.addrs[t]; a != nil {
			out = append(out, t+"://"+a.String())
		}
	}
	return out
}

// Addr waits until the listeners are bound and returns the address of
// transport ("udp", "tcp", "tls"), or nil.
func (r *run) Addr(ctx context.Context, transport string) (net.Addr, error) {
	select {
	case <-r.ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for syslog listeners: %w", ctx.Err())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addrs[transport], nil
}
