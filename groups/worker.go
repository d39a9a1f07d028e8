package groups

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/persistence"
)

// work is one delivery worker: claim a batch, deliver it, record outcomes.
func (g *group) work(ctx, hard context.Context, owner string) {
	q := g.m.o.Queue
	errWait := time.Second
	for ctx.Err() == nil {
		// With every node backing off (or none listed), claiming would only
		// put the backlog back again: wait for a node instead.
		if until, blocked := g.blocked(ctx); blocked {
			sleep(ctx, time.Until(until))
			continue
		}
		changed := q.Changed() // taken before the claim so no wake-up is missed
		items, err := q.Claim(ctx, g.cfg.Name, owner, g.cfg.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			g.log.Error("claiming work failed", "err", err, "retry_in", errWait)
			sleep(ctx, errWait)
			errWait = min(errWait*2, 30*time.Second)
			continue
		}
		errWait = time.Second
		if len(items) == 0 {
			g.idle(ctx, changed)
			continue
		}
		// Outcomes are recorded every few items rather than once per batch,
		// so a crash re-delivers at most that many already-delivered items.
		for start := 0; start < len(items); start += finishEvery {
			chunk := items[start:min(start+finishEvery, len(items))]
			results := g.deliverBatch(ctx, hard, chunk)
			g.finish(ctx, owner, results)
		}
	}
}

// blocked reports whether a full-delivery group has no usable node now, and
// until when to wait. Without full delivery the items are claimed and failed
// (ACE's behaviour), so such a group is never blocked.
func (g *group) blocked(ctx context.Context) (time.Time, bool) {
	if !g.cfg.FullDelivery {
		return time.Time{}, false
	}
	nodes, err := g.nodes(ctx)
	now := time.Now()
	if err != nil || len(nodes) == 0 {
		return now.Add(g.m.o.PollInterval), true
	}
	soonest, ok := g.m.health.allDown(nodes, now)
	if !ok {
		return time.Time{}, false
	}
	return soonest, true
}

// finishEvery is how many delivered items share one outcome transaction.
const finishEvery = 8

// finish records outcomes; it must work during shutdown too.
func (g *group) finish(ctx context.Context, owner string, results []persistence.Result) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := g.m.o.Queue.Finish(fctx, g.cfg.Name, owner, results); err != nil {
		// The claims stay LOCKED; they are released at the next start or
		// taken over as stale, and the items delivered again.
		g.log.Error("recording delivery outcomes failed", "err", err, "items", len(results))
	}
}

// idle waits until new work is committed, the earliest backed-off item is
// due, or the poll interval passes.
func (g *group) idle(ctx context.Context, changed <-chan struct{}) {
	wait := g.m.o.PollInterval
	if next, ok, err := g.m.o.Queue.NextDue(ctx, g.cfg.Name); err == nil && ok {
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
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// nodes lists the group's usable nodes: target_nodes applied, locations
// translated.
func (g *group) nodes(ctx context.Context) ([]Node, error) {
	all, err := g.source.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Node, 0, len(all))
	for _, n := range all {
		if len(g.cfg.TargetNodes) > 0 && !slices.Contains(g.cfg.TargetNodes, n.Name) {
			continue
		}
		n.Location = g.m.o.Config.Translation.Apply(n.Location)
		out = append(out, n)
	}
	return out, nil
}

func (g *group) deliverBatch(ctx, hard context.Context, items []persistence.Item) []persistence.Result {
	results := make([]persistence.Result, 0, len(items))
	nodes, err := g.nodes(ctx)
	if err != nil {
		g.log.Error("listing nodes failed", "err", err)
	}
	if len(nodes) == 0 && !g.cfg.FullDelivery {
		// ACE: without full delivery, work for a group with no node is
		// failed instead of piling up — but only this group's READY work.
		for _, it := range items {
			results = append(results, persistence.Result{WorkID: it.WorkID, Outcome: persistence.Failed, Error: "no node available"})
		}
		n, ferr := g.m.o.Queue.FailReady(ctx, g.cfg.Name, "no node available")
		g.m.o.Stats.Add(g.scope, "errors", int64(len(items))+n)
		g.log.Warn("no node available; failing waiting work (full_delivery = no)", "items", int64(len(items))+n, "err", ferr)
		return results
	}
	for i, it := range items {
		if ctx.Err() != nil {
			// Shutting down: what has not started goes back to READY.
			for _, rest := range items[i:] {
				results = append(results, persistence.Result{WorkID: rest.WorkID, Outcome: persistence.Release, NextAttempt: time.Now()})
			}
			break
		}
		results = append(results, g.deliverOne(hard, it, nodes))
	}
	return results
}

func (g *group) deliverOne(ctx context.Context, it persistence.Item, nodes []Node) persistence.Result {
	res := persistence.Result{WorkID: it.WorkID}
	stats := g.m.o.Stats
	sub, err := decode(it)
	if err != nil {
		stats.Add(g.scope, "quarantined", 1)
		g.log.Error("quarantining unreadable submission", "uuid", it.UUID, "err", err)
		res.Outcome, res.Error = g.failOutcome(), err.Error()
		return res
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
			res.Outcome, res.Error = persistence.Failed, msg
			stats.Add(g.scope, "errors", 1)
			return res
		}
		res.Outcome, res.Error = persistence.Release, msg
		res.NextAttempt = now.Add(backoff(2, g.cfg.BackoffMin, g.cfg.BackoffMax))
		return res
	}
	idx, soonest := g.m.health.pick(cands, now)
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
	if g.cfg.CompanyID != 0 {
		sub.CompanyID = g.cfg.CompanyID
	}
	start := time.Now()
	out, err := g.client.Submit(ctx, node.Location, sub)
	transient := err != nil && api.Transient(err)
	downUntil := g.m.health.done(node.Location, transient && ctx.Err() == nil, time.Now(), g.cfg.BackoffMin, g.cfg.BackoffMax)
	log := g.log.With("uuid", sub.UUID, "node", node.Name, "location", node.Location)
	switch {
	case err == nil:
		stats.Add(g.scope, "delivered", 1)
		log.Debug("delivered", "remote_uuid", out.UUID, "took", time.Since(start))
		res.Outcome = persistence.Completed
	case ctx.Err() != nil:
		res.Outcome, res.NextAttempt = persistence.Release, time.Now()
	case !g.cfg.FullDelivery:
		stats.Add(g.scope, "errors", 1)
		log.Warn("delivery failed; not retried (full_delivery = no)", "err", err)
		res.Outcome, res.Error = persistence.Failed, err.Error()
	case transient:
		stats.Add(g.scope, "retried", 1)
		wait := backoff(it.Attempts+1, g.cfg.BackoffMin, g.cfg.BackoffMax)
		next := time.Now().Add(wait)
		if downUntil.After(next) {
			next = downUntil
		}
		log.Info("delivery failed; will retry", "err", err, "attempt", it.Attempts+1, "retry_at", next.Format(time.RFC3339))
		res.Outcome, res.Error, res.NextAttempt = persistence.Retry, err.Error(), next
	default:
		stats.Add(g.scope, "errors", 1)
		log.Error("delivery rejected; parked as ERROR (ace-collector queue retry puts it back)", "err", err)
		res.Outcome, res.Error = persistence.Park, err.Error()
	}
	return res
}

// failOutcome is how a permanently undeliverable item ends: parked for
// inspection with full delivery, failed (and cleaned up) without.
func (g *group) failOutcome() persistence.Outcome {
	if g.cfg.FullDelivery {
		return persistence.Park
	}
	return persistence.Failed
}

var _ Submitter = (*api.Client)(nil)
