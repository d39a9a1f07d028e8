package groups

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/persistence"
)

// Queue is the part of the store delivery uses.
type Queue interface {
	Claim(ctx context.Context, group, owner string, limit int) ([]persistence.Item, error)
	Finish(ctx context.Context, group, owner string, results []persistence.Result) error
	NextDue(ctx context.Context, group string) (time.Time, bool, error)
	Changed() <-chan struct{}
	Touch(ctx context.Context, owner string) error
	FailReady(ctx context.Context, group, reason string) (int64, error)
	ReleaseOwners(ctx context.Context, prefix string) (int64, error)
	ReleaseStale(ctx context.Context, olderThan time.Duration) (int64, error)
	PurgeParked(ctx context.Context, before time.Time) (int64, error)
}

// Options configure a Manager.
type Options struct {
	Config   *Config
	Queue    Queue
	Instance string                // prefix of this process's claim owners
	Sources  map[string]NodeSource // per group; default: the [node_*] sections
	// Deliveries replace a group's delivery (tests that inject faults);
	// default: opened by the group's type. The caller closes them.
	Deliveries map[string]Delivery
	Stats      *collector.Stats
	Log        *slog.Logger
	// Delivered, if set, is told how long each delivered submission took
	// from being stored to being delivered (the latency histogram).
	Delivered func(group string, sinceStored time.Duration)
	// OnDelivery, if set, is told of delivery state changes after they are
	// recorded (live views); it runs on a delivery worker: never block.
	OnDelivery func(DeliveryEvent)
	// Grace is how long in-flight deliveries may take after shutdown starts.
	Grace time.Duration
	// PollInterval bounds how long an idle worker waits before looking
	// again (other instances' enqueues do not wake it).
	PollInterval time.Duration
}

// Manager runs every enabled group's delivery workers.
type Manager struct {
	o      Options
	health *nodeHealth
	groups []*group
	opened []Delivery                // the deliveries New opened (Close closes them)
	static atomic.Pointer[staticSet] // [node_*] and translation (SetNodes)
}

type group struct {
	m        *Manager
	cfg      GroupConfig
	source   NodeSource
	delivery Delivery
	scope    string
	log      *slog.Logger
	block    *blocker
	retries  *retryMemory
	fixed    bool // the type names its own targets (not nodes)
}

// New validates options and builds the per-group clients.
func New(o Options) (*Manager, error) {
	if o.Config == nil || o.Queue == nil {
		return nil, errors.New("groups: config and queue are required")
	}
	if o.Instance == "" {
		return nil, errors.New("groups: instance name is required")
	}
	if o.Stats == nil {
		o.Stats = collector.NewStats()
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Grace <= 0 {
		o.Grace = 10 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	m := &Manager{o: o, health: newNodeHealth()}
	m.SetNodes(o.Config.Nodes, o.Config.Translation)
	for _, gc := range o.Config.Enabled() {
		g, err := m.newGroup(gc)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("groups: [collection_group_%s]: %w", gc.Name, err)
		}
		m.groups = append(m.groups, g)
	}
	return m, nil
}

// newGroup opens a group's delivery (unless one was given) and finds its
// targets: nodes for a node type, the delivery's own otherwise.
func (m *Manager) newGroup(gc GroupConfig) (*group, error) {
	o := m.o
	g := &group{m: m, cfg: gc, scope: "group:" + gc.Name, log: o.Log.With("group", gc.Name), retries: newRetryMemory()}
	g.block = newBlocker(g.log)
	t, ok := LookupType(gc.Type)
	if !ok {
		return nil, fmt.Errorf("unknown group type %q (known: %s)", gc.Type, strings.Join(TypeNames(), ", "))
	}
	g.delivery = o.Deliveries[gc.Name]
	if g.delivery == nil {
		d, err := t.Open(gc, g.log)
		if err != nil {
			return nil, err
		}
		m.opened = append(m.opened, d)
		g.delivery = d
	}
	if !t.Nodes {
		tg, ok := g.delivery.(Targeted)
		if !ok {
			return nil, fmt.Errorf("type %s delivers to no nodes and names no targets", gc.Type)
		}
		g.source, g.fixed = StaticNodes(tg.Targets()), true
		return g, nil
	}
	g.source = o.Sources[gc.Name]
	if g.source == nil {
		if gc.Database != "" {
			return nil, fmt.Errorf("group uses database %s but no node source was given", gc.Database)
		}
		g.source = liveNodes{&m.static}
	}
	return g, nil
}

// Close closes the deliveries New opened (their connections).
func (m *Manager) Close() {
	for _, d := range m.opened {
		if err := d.Close(); err != nil {
			m.o.Log.Warn("closing a group's delivery failed", "error", err)
		}
	}
	m.opened = nil
}

func (m *Manager) owner(group string, i int) string {
	return fmt.Sprintf("%s/%s/%d", m.o.Instance, group, i)
}

// Run delivers until ctx is cancelled. It first releases claims this
// instance left behind (a crash), then runs each group's workers; on
// shutdown it stops claiming, lets in-flight deliveries finish within the
// grace period, and returns unstarted claims to READY.
func (m *Manager) Run(ctx context.Context) error {
	n, err := m.o.Queue.ReleaseOwners(ctx, m.o.Instance+"/")
	if err != nil {
		return err
	}
	if n > 0 {
		m.o.Log.Info("released claims left by a previous run", "count", n)
	}
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	go func() {
		select {
		case <-ctx.Done():
			t := time.NewTimer(m.o.Grace)
			defer t.Stop()
			select {
			case <-t.C:
				cancelHard()
			case <-hard.Done():
			}
		case <-hard.Done():
		}
	}()
	var wg sync.WaitGroup
	var owners []string
	for _, g := range m.groups {
		for i := 0; i < g.cfg.ThreadCount; i++ {
			owner := m.owner(g.cfg.Name, i)
			owners = append(owners, owner)
			wg.Add(1)
			go func() {
				defer wg.Done()
				g.work(ctx, hard, owner)
			}()
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.housekeeping(ctx, owners)
	}()
	wg.Wait()
	return nil
}

// housekeeping refreshes this instance's claims, takes over other
// instances' stale claims, and releases expired parked errors.
func (m *Manager) housekeeping(ctx context.Context, owners []string) {
	stale := m.o.Config.StaleLockTimeout
	if stale <= 0 {
		stale = 2 * time.Minute
	}
	tick := time.NewTicker(stale / 4)
	defer tick.Stop()
	lastPurge := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, o := range owners {
			if err := m.o.Queue.Touch(ctx, o); err != nil && ctx.Err() == nil {
				m.o.Log.Warn("refreshing claims failed", "owner", o, "error", err)
			}
		}
		if n, err := m.o.Queue.ReleaseStale(ctx, stale); err != nil && ctx.Err() == nil {
			m.o.Log.Warn("releasing stale claims failed", "error", err)
		} else if n > 0 {
			m.o.Log.Warn("took over stale claims of a stopped instance", "count", n, "older_than", stale)
		}
		if r := m.o.Config.ErrorRetention; r > 0 && time.Since(lastPurge) > time.Hour {
			lastPurge = time.Now()
			if n, err := m.o.Queue.PurgeParked(ctx, time.Now().Add(-r)); err == nil && n > 0 {
				m.o.Log.Warn("released parked errors past their retention for cleanup", "count", n, "retention", r)
			}
		}
	}
}

// Groups reports every running group and what, if anything, holds up its
// delivery.
func (m *Manager) Groups() []GroupStatus {
	out := make([]GroupStatus, 0, len(m.groups))
	for _, g := range m.groups {
		reason, since := g.block.status()
		out = append(out, GroupStatus{Name: g.cfg.Name, Type: g.cfg.Type, Blocked: reason, BlockedSince: since})
	}
	return out
}

// NodeStatus is one node's delivery health, for status pages.
type NodeStatus struct {
	Name      string // the node's name ([node_NAME] or ACE's nodes.name)
	Location  string // the address delivered to, after translation
	InFlight  int
	Failures  int
	DownUntil time.Time
}

// Nodes reports the health of every node delivered to so far.
func (m *Manager) Nodes() []NodeStatus {
	var out []NodeStatus
	for loc, st := range m.health.snapshot() {
		out = append(out, NodeStatus{Name: st.name, Location: loc, InFlight: st.inFlight, Failures: st.failures, DownUntil: st.downUntil})
	}
	slices.SortFunc(out, func(a, b NodeStatus) int {
		if a.Location < b.Location {
			return -1
		}
		if a.Location > b.Location {
			return 1
		}
		return 0
	})
	return out
}

// decode turns a stored payload back into a submission.
func decode(it persistence.Item) (*collector.Submission, error) {
	var sub collector.Submission
	if err := json.Unmarshal(it.Payload, &sub); err != nil {
		return nil, fmt.Errorf("corrupt record %s: %w", it.UUID, err)
	}
	if sub.Description == "" {
		return nil, fmt.Errorf("corrupt record %s: no description", it.UUID)
	}
	return &sub, nil
}
