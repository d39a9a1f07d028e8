package daemon

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// HealthReport is /healthz's body: ok only when the store answers, every
// collector is running and no group is blocked.
type HealthReport struct {
	Status     string               `json:"status"` // "ok" or "unhealthy"
	Problems   []string             `json:"problems,omitempty"`
	Store      Component            `json:"store"`
	Collectors map[string]Component `json:"collectors"`
	Groups     map[string]Component `json:"groups"`
}

// Component is one part's health.
type Component struct {
	OK    bool       `json:"ok"`
	Error string     `json:"error,omitempty"`
	Since *time.Time `json:"since,omitempty"`
}

type health struct{}

func newHealth() *health { return &health{} }

// Health checks the store, every collector and every group.
func (d *Daemon) Health(ctx context.Context) *HealthReport {
	h := &HealthReport{Status: "ok", Store: Component{OK: true}, Collectors: map[string]Component{}, Groups: map[string]Component{}}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := d.store.DB().PingContext(pctx); err != nil {
		h.Store = Component{Error: err.Error()}
		h.Problems = append(h.Problems, "store: "+err.Error())
	}
	for _, c := range d.rt.Health() {
		comp := Component{OK: c.Running}
		if !c.Running {
			comp.Error = c.LastError
			since := c.Since
			comp.Since = &since
			h.Problems = append(h.Problems, fmt.Sprintf("collector %s: %s", c.Name, c.LastError))
		}
		h.Collectors[c.Name] = comp
	}
	for _, g := range d.mgr.Groups() {
		comp := Component{OK: g.Blocked == ""}
		if g.Blocked != "" {
			comp.Error = g.Blocked
			since := g.BlockedSince
			comp.Since = &since
			h.Problems = append(h.Problems, fmt.Sprintf("group %s: %s", g.Name, g.Blocked))
		}
		h.Groups[g.Name] = comp
	}
	sort.Strings(h.Problems)
	if len(h.Problems) > 0 {
		h.Status = "unhealthy"
	}
	return h
}
