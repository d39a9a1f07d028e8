package groups

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/persistence"
)

// work is one delivery worker: take the work handed over to it and claim
// more, deliver it, record outcomes.
func (g *group) work(ctx, hard context.Context, owner string) {
	rec := newRecorder(g, ctx, owner)
	defer rec.close()
	lane := g.lane(ctx, owner)
	if lane != nil {
		defer func() { // before rec.close: what is still on the lane goes back to READY
			if left := lane.Close(); len(left) > 0 {
				rec.record(left, release(left, time.Now()))
			}
		}()
	}
	var next []persistence.Item // received while idle
	var lastClaim time.Time
	errWait := time.Second
	for ctx.Err() == nil {
		// With the node source failing, or (full delivery) no node listed
		// or every node backing off, claiming would only put the backlog
		// back again: wait for a node instead.
		if until, blocked := g.blocked(ctx); blocked {
			lane.Pause()
			next = append(next, lane.Take(g.cfg.BatchSize)...)
			if len(next) > 0 {
				rec.record(next, release(next, until))
				next = nil
			}
			sleep(ctx, time.Until(until))
			continue
		}
		lane.Resume()
		changed := g.m.o.Queue.Changed() // taken before the claim so no wake-up is missed
		items := append(next, lane.Take(g.cfg.BatchSize-len(next))...)
		next = nil
		// Claim when nothing was handed over, and at least once per poll
		// interval while work is (READY work must not wait behind it).
		if len(items) < g.cfg.BatchSize && (len(items) == 0 || time.Since(lastClaim) >= g.m.o.PollInterval) {
			claimed, err := g.m.o.Queue.Claim(ctx, g.cfg.Name, owner, g.cfg.BatchSize-len(items))
			lastClaim = time.Now()
			if err != nil && ctx.Err() == nil {
				g.log.Error("claiming work failed", "error", err, "retry_in", errWait)
				if len(items) == 0 {
					sleep(ctx, errWait)
					errWait = min(errWait*2, 30*time.Second)
					continue
				}
			} else if err == nil {
				errWait = time.Second
			}
			items = append(items, claimed...)
		}
		if len(items) == 0 {
			var waiting bool
			if next, waiting = g.idle(ctx, changed, lane); !waiting && len(next) == 0 {
				// Nothing waits, so no mode is held back any more.
				g.block.clear(modeLayer, "")
			}
			continue
		}
		// Outcomes are recorded every few items rather than once per batch,
		// so a crash re-delivers few already-delivered items.
		for start := 0; start < len(items); start += finishEvery {
			chunk := items[start:min(start+finishEvery, len(items))]
			rec.record(chunk, g.deliverBatch(ctx, hard, chunk))
		}
	}
}

// directQueue is a queue that hands new work straight to idle workers
// (the embedded store; see persistence.Lane).
type directQueue interface {
	Direct(ctx context.Context, group, owner string, n int) (*persistence.Lane, error)
}

// lane registers the worker for work handed over at enqueue; nil when the
// queue does not hand work over (then it only claims).
func (g *group) lane(ctx context.Context, owner string) *persistence.Lane {
	dq, ok := g.m.o.Queue.(directQueue)
	if !ok {
		return nil
	}
	l, err := dq.Direct(ctx, g.cfg.Name, owner, g.cfg.BatchSize)
	if err != nil {
		g.log.Warn("work cannot be handed to this worker directly; claiming only", "owner", owner, "error", err)
		return nil
	}
	return l
}

// recorder records one worker's outcomes in the background, one set at a
// time: the worker hands a set over and goes on delivering, and waits only
// when its next set is ready before the last one is recorded. (Letting
// sets queue up and merging them was measured too: no gain on the
// embedded store, whose writer merges outcomes into its rounds anyway,
// and a fifth less end to end on MySQL, where each Finish is a commit
// competing with enqueues.)
type recorder struct {
	g     *group
	ctx   context.Context
	owner string
	sets  chan outcomeSet
	done  chan struct{}
}

type outcomeSet struct {
	items   []persistence.Item
	results []persistence.Result
}

func newRecorder(g *group, ctx context.Context, owner string) *recorder {
	r := &recorder{g: g, ctx: ctx, owner: owner, sets: make(chan outcomeSet), done: make(chan struct{})}
	go r.loop()
	return r
}

// record hands over the results of items; once recorded, their outcomes
// go to the live view.
func (r *recorder) record(items []persistence.Item, results []persistence.Result) {
	r.sets <- outcomeSet{items: items, results: results}
}

// close returns once every set handed over is recorded.
func (r *recorder) close() {
	close(r.sets)
	<-r.done
}

func (r *recorder) loop() {
	defer close(r.done)
	for set := range r.sets {
		if r.g.finish(r.ctx, r.owner, set.results) {
			r.g.emitOutcomes(set.items, set.results)
		}
	}
}

// blocked reports whether the group cannot deliver now, and until when to
// wait, recording the reason for logs and status. A failing node source
// blocks every group: its work stays READY (never failed for it). Without
// full delivery an empty list or backed-off nodes do not block: the items
// are claimed and failed or tried once (ACE's behaviour).
func (g *group) blocked(ctx context.Context) (time.Time, bool) {
	list, err := g.nodes(ctx)
	now := time.Now()
	if err != nil {
		if ctx.Err() == nil {
			g.block.set(nodeLayer, "source", "node source failing: "+api.Redact(err.Error()))
		}
		return now.Add(g.m.o.PollInterval), true
	}
	if !g.cfg.FullDelivery {
		g.block.clear(nodeLayer, "")
		return time.Time{}, false
	}
	if len(list.usable) == 0 {
		g.block.set(nodeLayer, "none", list.none(g.cfg.TargetNodes))
		return now.Add(g.m.o.PollInterval), true
	}
	soonest, ok := g.m.health.allDown(list.usable, now)
	if !ok {
		g.block.clear(nodeLayer, "")
		return time.Time{}, false
	}
	g.block.set(nodeLayer, "backoff", "all nodes backing off until "+soonest.Format(time.RFC3339))
	return soonest, true
}

// finishEvery is how many delivered items share one outcome transaction.
const finishEvery = 16

// finish records outcomes, reporting whether that worked; it must work
// during shutdown too.
func (g *group) finish(ctx context.Context, owner string, results []persistence.Result) bool {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := g.m.o.Queue.Finish(fctx, g.cfg.Name, owner, results); err != nil {
		// The claims stay LOCKED; they are released at the next start or
		// taken over as stale, and the items delivered again.
		g.log.Error("recording delivery outcomes failed", "error", err, "items", len(results))
		return false
	}
	return true
}

// idle waits until work is handed over, new work is committed, the
// earliest backed-off item is due, or the poll interval passes. It returns
// what was handed over, and whether the group has READY items waiting
// (true when that could not be read).
func (g *group) idle(ctx context.Context, changed <-chan struct{}, lane *persistence.Lane) ([]persistence.Item, bool) {
	wait := g.m.o.PollInterval
	next, waiting, err := g.m.o.Queue.NextDue(ctx, g.cfg.Name)
	if err == nil && waiting {
		if d := time.Until(next); d < wait {
			wait = max(d, 5*time.Millisecond)
		}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-changed:
	case <-t.C:
	case it := <-lane.C():
		return []persistence.Item{it}, waiting || err != nil
	}
	return nil, waiting || err != nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// nodes lists the group's nodes: target_nodes applied, locations
// translated and checked. A node whose location cannot be delivered to
// (from an ACE node database: config validation refuses static ones) is
// left out and reported, rather than parking every item sent its way.
func (g *group) nodes(ctx context.Context) (nodeList, error) {
	all, err := g.source.Nodes(ctx)
	if err != nil {
		return nodeList{}, err
	}
	if g.fixed {
		return nodeList{usable: all}, nil // a type's own targets: not ACE locations
	}
	l := nodeList{usable: make([]Node, 0, len(all))}
	for _, n := range all {
		if len(g.cfg.TargetNodes) > 0 && !slices.Contains(g.cfg.TargetNodes, n.Name) {
			continue
		}
		n.Location = g.m.translation().Apply(n.Location)
		if err := checkLocation(n.Location); err != nil {
			l.refused = append(l.refused, fmt.Sprintf("node %s: %v", n.Name, err))
			g.block.warn("location:"+n.Name, "node left out: its location is unusable", "node", n.Name, "error", err)
			continue
		}
		l.usable = append(l.usable, n)
	}
	return l, nil
}

func (g *group) deliverBatch(ctx, hard context.Context, items []persistence.Item) []persistence.Result {
	list, err := g.nodes(ctx)
	if err != nil {
		// The source failed after the check before the claim. An error
		// listing nodes says nothing about whether nodes exist: the work
		// goes back to READY, never failed.
		if ctx.Err() == nil {
			g.block.set(nodeLayer, "source", "node source failing: "+api.Redact(err.Error()))
		}
		return release(items, time.Now().Add(g.m.o.PollInterval))
	}
	if len(list.usable) == 0 && !g.cfg.FullDelivery {
		return g.failNoNode(ctx, items, list.none(g.cfg.TargetNodes))
	}
	results := make([]persistence.Result, 0, len(items))
	var missing string             // an analysis mode no node accepts
	attempted := map[string]bool{} // modes a node was found for
	for i, it := range items {
		if ctx.Err() != nil {
			// Shutting down: what has not started goes back to READY.
			results = append(results, release(items[i:], time.Now())...)
			break
		}
		res, mode, found := g.deliverOne(hard, it, list.usable)
		if found {
			attempted[mode] = true
		} else if mode != "" {
			missing = mode
		}
		results = append(results, res)
	}
	if missing != "" {
		g.block.set(modeLayer, "mode:"+missing, fmt.Sprintf("no node for analysis mode %q", missing))
	} else {
		for mode := range attempted {
			g.block.clear(modeLayer, "mode:"+mode)
		}
	}
	return results
}

// failNoNode is ACE's rule for a group without full delivery whose node
// list (read successfully) is empty: its waiting work is failed instead of
// piling up — but only this group's READY work.
func (g *group) failNoNode(ctx context.Context, items []persistence.Item, reason string) []persistence.Result {
	results := make([]persistence.Result, 0, len(items))
	for _, it := range items {
		results = append(results, persistence.Result{WorkID: it.WorkID, Outcome: persistence.Failed, Error: reason})
	}
	n, ferr := g.m.o.Queue.FailReady(ctx, g.cfg.Name, reason)
	g.m.o.Stats.Add(g.scope, "errors", int64(len(items))+n)
	args := []any{"items", int64(len(items)) + n, "reason", reason}
	if ferr != nil {
		args = append(args, "error", ferr)
	}
	g.log.Warn("no node available; failing waiting work (full_delivery = no)", args...)
	return results
}

func release(items []persistence.Item, at time.Time) []persistence.Result {
	out := make([]persistence.Result, len(items))
	for i, it := range items {
		out[i] = persistence.Result{WorkID: it.WorkID, Outcome: persistence.Release, NextAttempt: at}
	}
	return out
}

// deliverOne delivers one item. It also returns the item's analysis mode
// and whether some node accepts it (mode "" when the record is unreadable).
func (g *group) deliverOne(ctx context.Context, it persistence.Item, nodes []Node) (persistence.Result, string, bool) {
	res := persistence.Result{WorkID: it.WorkID}
	stats := g.m.o.Stats
	sub, err := it.Sub, error(nil)
	if sub == nil { // claimed, not handed over: decode what was stored
		sub, err = decode(it)
	}
	if err != nil {
		stats.Add(g.scope, "quarantined", 1)
		g.log.Error("quarantining unreadable submission", "uuid", it.UUID, "error", err)
		res.Outcome, res.Error = g.failOutcome(), err.Error()
		return res, "", false
	}
	var cands []Node
	for _, n := range nodes {
		if n.Accepts(sub.AnalysisMode) {
			cands = append(cands, n)
		}
	}
	now := time.Now()
	if len(cands) == 0 {
		stats.Add(g.scope, "no_node", 1)
		msg := fmt.Sprintf("no node accepts analysis mode %q", sub.AnalysisMode)
		if !g.cfg.FullDelivery {
			g.log.Warn("delivery failed; not retried (full_delivery = no)", "uuid", sub.UUID, "reason", msg)
			res.Outcome, res.Error = persistence.Failed, msg
			stats.Add(g.scope, "errors", 1)
			return res, sub.AnalysisMode, false
		}
		res.Outcome, res.Error = persistence.Release, msg
		res.NextAttempt = now.Add(backoff(2, g.cfg.BackoffMin, g.cfg.BackoffMax))
		return res, sub.AnalysisMode, false
	}
	return g.submit(ctx, it, sub, cands), sub.AnalysisMode, true
}

// submit delivers sub to the candidate selection picks (see
// nodeHealth.pick) and turns the answer into the item's outcome.
func (g *group) submit(ctx context.Context, it persistence.Item, sub *collector.Submission, cands []Node) persistence.Result {
	res := persistence.Result{WorkID: it.WorkID}
	stats := g.m.o.Stats
	idx, soonest := g.m.health.pick(cands, time.Now(), g.retries.avoid(it.WorkID))
	if idx < 0 {
		if g.cfg.FullDelivery {
			// Every candidate is backing off: wait for the first to return.
			res.Outcome, res.NextAttempt = persistence.Release, soonest
			return res
		}
		// One attempt means one attempt, even at a node that just failed.
		idx = 0
		g.m.health.mu.Lock()
		g.m.health.state(cands[0].Location).inFlight++
		g.m.health.mu.Unlock()
	}
	node := cands[idx]
	g.m.emit(DeliveryEvent{Group: g.cfg.Name, UUID: sub.UUID, State: "LOCKED", Node: node.Name})
	start := time.Now()
	err := g.delivery.Deliver(ctx, node, sub)
	transient, kind := Classify(err)
	downUntil := g.m.health.done(node.Location, transient && ctx.Err() == nil, time.Now(), g.cfg.BackoffMin, g.cfg.BackoffMax)
	log := g.log.With("uuid", sub.UUID, "node", node.Name, "location", node.Location)
	if err != nil {
		err = api.RedactError(err)
		log = log.With("kind", kind, "error", err)
	}
	switch {
	case err == nil:
		stats.Add(g.scope, "delivered", 1)
		if f := g.m.o.Delivered; f != nil && it.InsertDate > 0 {
			f(g.cfg.Name, time.Since(time.UnixMilli(it.InsertDate)))
		}
		log.Debug("delivered", "took", time.Since(start))
		res.Outcome = persistence.Completed
	case ctx.Err() != nil:
		res.Outcome, res.NextAttempt = persistence.Release, time.Now()
	case !g.cfg.FullDelivery:
		stats.Add(g.scope, "errors", 1)
		log.Warn("delivery failed; not retried (full_delivery = no)")
		res.Outcome, res.Error = persistence.Failed, err.Error()
	case transient:
		stats.Add(g.scope, "retried", 1)
		next := g.retryAt(it, node, cands, downUntil)
		log.Warn("delivery failed; will retry", "attempt", it.Attempts+1, "retry_at", next.Format(time.RFC3339))
		res.Outcome, res.Error, res.NextAttempt = persistence.Retry, err.Error(), next
	default:
		stats.Add(g.scope, "errors", 1)
		log.Warn("delivery rejected; parked as ERROR (ace-collector queue retry puts it back)")
		res.Outcome, res.Error = persistence.Park, err.Error()
	}
	return res
}

// retryAt is when an item that node just failed transiently is tried
// again. While another candidate is usable the item goes there at once
// (and prefers it over node); otherwise it waits out its own capped backoff
// and node's.
func (g *group) retryAt(it persistence.Item, node Node, cands []Node, downUntil time.Time) time.Time {
	now := time.Now()
	if len(cands) > 1 {
		g.retries.failed(it.WorkID, node.Location)
		if g.m.health.usableBesides(cands, node.Location, now) {
			return now
		}
	}
	next := now.Add(backoff(it.Attempts+1, g.cfg.BackoffMin, g.cfg.BackoffMax))
	if downUntil.After(next) {
		next = downUntil
	}
	return next
}

// failOutcome is how a permanently undeliverable item ends: parked for
// inspection with full delivery, failed (and cleaned up) without.
func (g *group) failOutcome() persistence.Outcome {
	if g.cfg.FullDelivery {
		return persistence.Park
	}
	return persistence.Failed
}
