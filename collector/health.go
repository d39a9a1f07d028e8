package collector

import (
	"sort"
	"sync"
	"time"
)

// CollectorHealth is one collector's state as the runtime supervises it.
type CollectorHealth struct {
	Name, Kind string
	Running    bool // false while it is waiting to be restarted after a failure
	LastError  string
	Since      time.Time // when it entered the current state
	Restarts   int64
}

// healthBook records each supervised collector's state.
type healthBook struct {
	mu sync.Mutex
	m  map[string]*CollectorHealth
}

func (b *healthBook) set(inst Instance, running bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]*CollectorHealth{}
	}
	h, ok := b.m[inst.Name]
	if !ok {
		h = &CollectorHealth{Name: inst.Name, Kind: inst.Kind}
		b.m[inst.Name] = h
	}
	if h.Running != running || !ok {
		h.Since = time.Now()
	}
	h.Running = running
	if err != nil {
		h.LastError = err.Error()
		h.Restarts++
	}
}

// Health reports every collector's state, sorted by name.
func (r *Runtime) Health() []CollectorHealth {
	r.health.mu.Lock()
	defer r.health.mu.Unlock()
	out := make([]CollectorHealth, 0, len(r.health.m))
	for _, h := range r.health.m {
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
