package groups

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// ACENodesOptions configures ACENodes.
type ACENodesOptions struct {
	// CompanyID selects nodes.company_id (the group's company_id, or its
	// target_node_as_company_id).
	CompanyID int
	// Freshness: a node counts only if its last_update is at most this old
	// by the database's clock. ACE: 2 × node_status_update_frequency.
	// Default 60 s.
	Freshness time.Duration
	// CacheTTL: how long one answer is reused. Default 5 s.
	CacheTTL time.Duration
	// Now is the clock for the cache; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// DefaultFreshness is ACE's window: 2 × the default node_status_update_frequency (30 s).
const DefaultFreshness = 2 * 30 * time.Second

// ACENodes reads the nodes a group may deliver to from ACE's own tables
// (nodes, node_modes, node_modes_excluded, workload), read-only, with
// ACE's rules: fresh (last_update within Freshness of the database's
// NOW()), not is_local, of the company. Unlike ACE (reference §10.14) the
// mode lists and exclusions are aggregated per node, so Node.Accepts
// decides per node and no joined row can leak an excluded mode.
type ACENodes struct {
	db  *sqlx.DB
	o   ACENodesOptions
	sem chan struct{} // one query at a time; waiters reuse its answer

	mu       sync.Mutex
	cached   []Node
	fetched  time.Time
	ok       bool
	lastErr  error     // the last failed read, reused for CacheTTL
	failedAt time.Time // when it failed
	warnedAt time.Time // last WARN about serving the previous list
}

// NewACENodes returns a node source over an ACE database.
func NewACENodes(db *sqlx.DB, o ACENodesOptions) *ACENodes {
	if o.Freshness <= 0 {
		o.Freshness = DefaultFreshness
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &ACENodes{db: db, o: o, sem: make(chan struct{}, 1)}
}

// Nodes returns the available nodes, least loaded first (COUNT(workload),
// then the oldest last_update, as ACE orders them). If the database cannot
// be read, the last answer is reused while it is younger than Freshness;
// after that the error is returned. A failed read is not repeated for
// CacheTTL, so waiting workers do not hammer a database that is down.
func (a *ACENodes) Nodes(ctx context.Context) ([]Node, error) {
	if nodes, ok := a.fromCache(a.o.CacheTTL); ok {
		return nodes, nil
	}
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-a.sem }()
	// Another caller may have refreshed (or failed) while this one waited.
	if nodes, ok := a.fromCache(a.o.CacheTTL); ok {
		return nodes, nil
	}
	err := a.recentError()
	var nodes []Node
	if err == nil {
		nodes, err = a.query(ctx)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		a.failed(err)
		if old, ok := a.fromCache(a.o.Freshness); ok {
			a.warnStale(err)
			return old, nil
		}
		return nil, err
	}
	a.mu.Lock()
	a.cached, a.fetched, a.ok, a.lastErr = nodes, a.o.Now(), true, nil
	a.mu.Unlock()
	return cloneNodes(nodes), nil
}

func (a *ACENodes) recentError() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lastErr != nil && a.o.Now().Sub(a.failedAt) < a.o.CacheTTL {
		return a.lastErr
	}
	return nil
}

func (a *ACENodes) failed(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lastErr != err {
		a.lastErr, a.failedAt = err, a.o.Now()
	}
}

// warnStale logs, at most once a minute, that the previous list is used.
func (a *ACENodes) warnStale(err error) {
	a.mu.Lock()
	now := a.o.Now()
	due := now.Sub(a.warnedAt) >= time.Minute
	if due {
		a.warnedAt = now
	}
	age := now.Sub(a.fetched)
	a.mu.Unlock()
	if due {
		a.o.Logger.Warn("reading ACE nodes failed; using the previous list", "company_id", a.o.CompanyID,
			"list_age", age, "error", err)
	}
}

func (a *ACENodes) fromCache(maxAge time.Duration) ([]Node, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.ok || a.o.Now().Sub(a.fetched) >= maxAge {
		return nil, false
	}
	return cloneNodes(a.cached), true
}

func cloneNodes(in []Node) []Node {
	out := make([]Node, len(in))
	for i, n := range in {
		n.Modes = slices.Clone(n.Modes)
		n.Excluded = slices.Clone(n.Excluded)
		out[i] = n
	}
	return out
}

// aceNodesSQL: ACE's node query (reference §3.7 step 2) without the mode
// joins, which are read per node below. Args: company_id, freshness (s).
const aceNodesSQL = `SELECT n.id, n.name, n.location, n.any_mode, COUNT(w.id) AS workload
	FROM nodes n LEFT JOIN workload w ON w.node_id = n.id
	WHERE n.company_id = ? AND n.is_local = 0
	  AND TIMESTAMPDIFF(SECOND, n.last_update, NOW()) <= ?
	GROUP BY n.id, n.name, n.location, n.any_mode, n.last_update
	ORDER BY workload, n.last_update, n.id`

func (a *ACENodes) query(ctx context.Context) ([]Node, error) {
	var rows []struct {
		ID       int64  `db:"id"`
		Name     string `db:"name"`
		Location string `db:"location"`
		AnyMode  bool   `db:"any_mode"`
		Workload int    `db:"workload"`
	}
	secs := max(int64(a.o.Freshness/time.Second), 1)
	if err := a.db.SelectContext(ctx, &rows, aceNodesSQL, a.o.CompanyID, secs); err != nil {
		return nil, fmt.Errorf("groups: reading ACE nodes of company %d: %w", a.o.CompanyID, err)
	}
	if len(rows) == 0 {
		return []Node{}, nil
	}
	ids := make([]int64, len(rows))
	byID := make(map[int64]*Node, len(rows))
	nodes := make([]Node, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
		nodes[i] = Node{Name: r.Name, Location: r.Location, AnyMode: r.AnyMode, Workload: r.Workload}
		byID[r.ID] = &nodes[i]
	}
	for _, t := range []struct {
		table string
		add   func(n *Node, mode string)
	}{
		{"node_modes", func(n *Node, m string) { n.Modes = append(n.Modes, m) }},
		{"node_modes_excluded", func(n *Node, m string) { n.Excluded = append(n.Excluded, m) }},
	} {
		q, args, err := sqlx.In("SELECT node_id, analysis_mode FROM "+t.table+" WHERE node_id IN (?) ORDER BY node_id, analysis_mode", ids)
		if err != nil {
			return nil, err
		}
		var modes []struct {
			NodeID int64  `db:"node_id"`
			Mode   string `db:"analysis_mode"`
		}
		if err := a.db.SelectContext(ctx, &modes, a.db.Rebind(q), args...); err != nil {
			return nil, fmt.Errorf("groups: reading ACE %s: %w", t.table, err)
		}
		for _, m := range modes {
			if n, ok := byID[m.NodeID]; ok {
				t.add(n, m.Mode)
			}
		}
	}
	return nodes, nil
}
