package groups

import (
	"math/rand/v2"
	"sync"
	"time"
)

// backoff returns the capped exponential delay before attempt n+1 (n ≥ 1
// failures so far), with "equal jitter": between half and all of it, so
// many items failing together do not retry in lockstep.
func backoff(n int, min, max time.Duration) time.Duration {
	if n < 1 {
		n = 1
	}
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half+1)
}

// nodeHealth tracks, per node location, deliveries in flight (for the
// least-loaded choice), the smooth weighted round robin's running weight,
// and a circuit breaker: after a transient failure the node is skipped
// until its backoff passes, then tried again with one item.
type nodeHealth struct {
	mu    sync.Mutex
	nodes map[string]*nodeState
}

type nodeState struct {
	name      string // the node's name (metrics label), not its address
	inFlight  int
	failures  int
	downUntil time.Time
	current   int // smooth weighted round robin: the node's running weight
}

func newNodeHealth() *nodeHealth { return &nodeHealth{nodes: map[string]*nodeState{}} }

func (h *nodeHealth) state(loc string) *nodeState {
	st, ok := h.nodes[loc]
	if !ok {
		st = &nodeState{}
		h.nodes[loc] = st
	}
	return st
}

// pick returns the index of the candidate to deliver to, marking it in
// flight, or -1 and the earliest time a candidate becomes usable.
//
// Candidates backing off are skipped, and so is avoid (the node that just
// failed this item) while another candidate is usable. Of the rest, a node
// holding more than its weighted share of the deliveries in flight (plus
// one) is passed over — a slow node gets less — and so is any with more
// reported workload than the least. Smooth weighted round robin decides
// among the others, so nodes that keep up share deliveries in proportion
// to their weights, however many workers deliver at once.
func (h *nodeHealth) pick(cands []Node, now time.Time, avoid string) (int, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var soonest time.Time
	usable := make([]int, 0, len(cands))
	for i, n := range cands {
		st := h.state(n.Location)
		st.name = n.Name
		if now.Before(st.downUntil) {
			if soonest.IsZero() || st.downUntil.Before(soonest) {
				soonest = st.downUntil
			}
			continue
		}
		usable = append(usable, i)
	}
	if avoid != "" && len(usable) > 1 {
		others := usable[:0:0]
		for _, i := range usable {
			if cands[i].Location != avoid {
				others = append(others, i)
			}
		}
		if len(others) > 0 {
			usable = others
		}
	}
	if len(usable) == 0 {
		return -1, soonest
	}
	best, total := -1, 0
	for _, i := range h.eligible(cands, usable) {
		st := h.state(cands[i].Location)
		st.current += cands[i].weight()
		total += cands[i].weight()
		if best < 0 || st.current > h.state(cands[best].Location).current {
			best = i
		}
	}
	st := h.state(cands[best].Location)
	st.current -= total
	st.inFlight++
	return best, soonest
}

// eligible narrows usable candidates to those within their share of the
// deliveries in flight — inFlight ≤ weight/Σweight × (Σinflight+1) + 1;
// the node with the least in flight per weight always is — and then to
// those with the least reported workload.
func (h *nodeHealth) eligible(cands []Node, usable []int) []int {
	flying, weights := 0, 0
	for _, i := range usable {
		flying += h.state(cands[i].Location).inFlight
		weights += cands[i].weight()
	}
	out := make([]int, 0, len(usable))
	least := -1
	for _, i := range usable {
		n := cands[i]
		if h.state(n.Location).inFlight*weights > n.weight()*(flying+1)+weights {
			continue
		}
		switch {
		case least < 0 || n.Workload < least:
			least, out = n.Workload, append(out[:0], i)
		case n.Workload == least:
			out = append(out, i)
		}
	}
	return out
}

// usableBesides reports whether a candidate other than loc is out of its
// backoff window at now: a retried item can go there at once.
func (h *nodeHealth) usableBesides(cands []Node, loc string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range cands {
		if n.Location != loc && !now.Before(h.state(n.Location).downUntil) {
			return true
		}
	}
	return false
}

// allDown reports whether every node is in its backoff window, and when
// the first one comes out of it.
func (h *nodeHealth) allDown(nodes []Node, now time.Time) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var soonest time.Time
	for _, n := range nodes {
		st := h.state(n.Location)
		if !now.Before(st.downUntil) {
			return time.Time{}, false
		}
		if soonest.IsZero() || st.downUntil.Before(soonest) {
			soonest = st.downUntil
		}
	}
	return soonest, true
}

// done records the end of a delivery to loc.
func (h *nodeHealth) done(loc string, transientFailure bool, now time.Time, min, max time.Duration) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.state(loc)
	st.inFlight--
	if !transientFailure {
		st.failures = 0
		st.downUntil = time.Time{}
		return time.Time{}
	}
	st.failures++
	st.downUntil = now.Add(backoff(st.failures, min, max))
	return st.downUntil
}

// down reports whether loc is in its backoff window, for status.
func (h *nodeHealth) snapshot() map[string]nodeState {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]nodeState, len(h.nodes))
	for k, v := range h.nodes {
		out[k] = *v
	}
	return out
}
