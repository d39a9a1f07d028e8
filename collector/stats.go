package collector

import (
	"sort"
	"sync"
	"sync/atomic"
)

// Stats is a set of monotonically increasing counters keyed by
// (scope, event), e.g. ("smtp_in", "dropped_too_large"). The status page
// and the metrics endpoint read them.
type Stats struct {
	m sync.Map // [2]string -> *atomic.Int64
}

// NewStats returns an empty counter set.
func NewStats() *Stats { return &Stats{} }

// Add adds n to the counter (scope, event).
func (s *Stats) Add(scope, event string, n int64) {
	k := [2]string{scope, event}
	v, ok := s.m.Load(k)
	if !ok {
		v, _ = s.m.LoadOrStore(k, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(n)
}

// Get returns the counter (scope, event).
func (s *Stats) Get(scope, event string) int64 {
	if v, ok := s.m.Load([2]string{scope, event}); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

// Counter is one counter's value.
type Counter struct {
	Scope, Event string
	Value        int64
}

// Snapshot returns all counters sorted by scope and event.
func (s *Stats) Snapshot() []Counter {
	var out []Counter
	s.m.Range(func(k, v any) bool {
		key := k.([2]string)
		out = append(out, Counter{Scope: key[0], Event: key[1], Value: v.(*atomic.Int64).Load()})
		return true
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Scope != out[j].Scope {
			return out[i].Scope < out[j].Scope
		}
		return out[i].Event < out[j].Event
	})
	return out
}
