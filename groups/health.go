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

// nodeHealth tracks, per node location, deliveries in flight (for least-
// loaded choice) and a circuit breaker: after a transient failure the node
// is skipped until its backoff passes, then tried again with one item.
type nodeHealth struct {
	mu    sync.Mutex
	nodes map[string]*nodeState
}

type nodeState struct {
	name      string // the node's name (metrics label), not its address
	inFlight  int
	failures  int
	downUntil time.Time
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

// pick returns the index of the usable candidate with the fewest deliveries
// in flight (ties: lowest reported workload, then list order), marking it
// in flight, or -1 and the earliest time a candidate becomes usable.
func (h *nodeHealth) pick(cands []Node, now time.Time) (int, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	best := -1
	var soonest time.Time
	for i, n := range cands {
		st := h.state(n.Location)
		st.name = n.Name
		if now.Before(st.downUntil) {
			if soonest.IsZero() || st.downUntil.Before(soonest) {
				soonest = st.downUntil
			}
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		b := h.state(cands[best].Location)
		if st.inFlight < b.inFlight || (st.inFlight == b.inFlight && n.Workload < cands[best].Workload) {
			best = i
		}
	}
	if best >= 0 {
		h.state(cands[best].Location).inFlight++
	}
	return best, soonest
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
