package groups

import (
	"context"
	"slices"
	"sync"

	"github.com/ace-collector/ace-collector/api"
)

// PingRow is one node of one group as `ping` checked it.
type PingRow struct {
	Group string          `json:"group"`
	Node  string          `json:"node"`
	Probe api.ProbeResult `json:"probe"`
}

// PingReport is what Ping found: a row per (group, node), and per group
// whether at least one node is usable (a group whose nodes could not be
// listed has an error and no rows).
type PingReport struct {
	Rows   []PingRow         `json:"rows"`
	Usable map[string]bool   `json:"usable"`
	Errors map[string]string `json:"errors,omitempty"`
}

// OK reports whether every enabled group has a usable node.
func (r *PingReport) OK() bool {
	for _, ok := range r.Usable {
		if !ok {
			return false
		}
	}
	return true
}

// prober is a group type's settings that say how to reach its nodes over
// ACE's API (type ace).
type prober interface{ ProbeOptions() api.ClientOptions }

// Ping checks every enabled ACE group's nodes as delivery would reach them:
// the group's node source (sources[group], else the [node_*] sections),
// its target_nodes, the node translation, and its TLS, client certificate
// and API key settings. Nodes are checked concurrently.
func Ping(ctx context.Context, c *Config, sources map[string]NodeSource) *PingReport {
	rep := &PingReport{Usable: map[string]bool{}, Errors: map[string]string{}}
	type job struct {
		row  *PingRow
		loc  string
		opts api.ClientOptions
	}
	var jobs []job
	for _, g := range c.Enabled() {
		pr, ok := g.Settings.(prober)
		if !ok {
			continue // a group type without ACE nodes: nothing for ping to check
		}
		rep.Usable[g.Name] = false
		src := sources[g.Name]
		if src == nil {
			src = c.Nodes
		}
		nodes, err := src.Nodes(ctx)
		if err != nil {
			rep.Errors[g.Name] = api.Redact(err.Error())
			continue
		}
		opts := pr.ProbeOptions()
		opts.Timeout = min(opts.Timeout, 10e9)
		for _, n := range nodes {
			if len(g.TargetNodes) > 0 && !slices.Contains(g.TargetNodes, n.Name) {
				continue
			}
			rep.Rows = append(rep.Rows, PingRow{Group: g.Name, Node: n.Name})
			jobs = append(jobs, job{loc: c.Translation.Apply(n.Location), opts: opts})
		}
	}
	var wg sync.WaitGroup
	for i := range jobs {
		jobs[i].row = &rep.Rows[i]
		wg.Add(1)
		go func(j job) {
			defer wg.Done()
			j.row.Probe = api.Probe(ctx, j.loc, j.opts)
		}(jobs[i])
	}
	wg.Wait()
	for _, r := range rep.Rows {
		if r.Probe.Usable {
			rep.Usable[r.Group] = true
		}
	}
	return rep
}
