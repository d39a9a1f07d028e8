package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/groups"
	"github.com/ace-collector/ace-collector/persistence"
)

// Options are what the caller adds to a Config: the version to report and
// hooks for tests and the bench. Zero values are the production defaults.
type Options struct {
	Version string
	// Log is the logger; default: one built from the config's log settings
	// writing to LogOutput (default stderr).
	Log       *slog.Logger
	LogOutput io.Writer
	// StatusListener, if set, serves the status endpoints instead of
	// listening on the config's status_listen (tests pass 127.0.0.1:0).
	StatusListener net.Listener
	// NoStatus disables the status server (the bench).
	NoStatus bool
	// CleanupInterval and PollInterval shorten the idle waits of cleanup
	// and delivery workers (tests).
	CleanupInterval time.Duration
	PollInterval    time.Duration
	// Deliveries replace a group's delivery (tests that inject faults);
	// the caller closes them.
	Deliveries map[string]groups.Delivery
	// NodeSources replaces a group's node source (tests that make an ACE
	// node database fail on cue or list nodes it could not hold).
	NodeSources map[string]groups.NodeSource
	// StoreShared opens the store beside a running daemon (admin commands).
	StoreShared bool
}

// Daemon is the assembled pipeline: store, collector runtime, delivery
// groups and status server.
type Daemon struct {
	cfg     *Config
	o       Options
	log     *slog.Logger
	level   *slog.LevelVar
	store   *persistence.Store
	stats   *collector.Stats
	rt      *collector.Runtime
	mgr     *groups.Manager
	sources *groups.NodeSources
	metrics *metrics

	statusLn  net.Listener
	statusTLS bool
	health    *health
	live      *liveHub // nil without a status server

	reloadMu sync.Mutex
}

// New builds the daemon from a validated configuration. It opens the store
// (applying migrations), the ACE node databases and the status listener;
// nothing runs until Run. On failure it releases what it had opened.
func New(ctx context.Context, cfg *Config, o Options) (_ *Daemon, err error) {
	d := &Daemon{cfg: cfg, o: o, stats: collector.NewStats(), level: new(slog.LevelVar), health: newHealth()}
	d.level.Set(cfg.Log.Level)
	d.log = o.Log
	if d.log == nil {
		out := o.LogOutput
		if out == nil {
			out = os.Stderr
		}
		d.log = NewLogger(out, d.level, cfg.Log.JSON)
	}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	sc := cfg.Store.Config
	sc.Logger = d.log
	sc.Shared = o.StoreShared
	sc.Cleaned = func(n int) { d.stats.Add("runtime", "cleaned", int64(n)) }
	if d.store, err = persistence.Open(ctx, sc); err != nil {
		return nil, err
	}
	if d.sources, err = groups.OpenNodeSources(cfg.Groups, cfg.Databases, d.log); err != nil {
		return nil, err
	}
	for g, src := range o.NodeSources {
		d.sources.ByGroup[g] = src
	}
	var onStored func(collector.StoredEvent)
	var onDelivery func(groups.DeliveryEvent)
	if !o.NoStatus {
		d.live = newLiveHub(cfg.LiveRows, cfg.LiveHistory, groupNames(cfg), d.stats)
		onStored, onDelivery = d.live.stored, d.live.delivery
	}
	d.rt, err = collector.NewRuntime(collector.RuntimeOptions{
		Queue:                   d.store,
		IncomingDir:             cfg.IncomingDir,
		Groups:                  cfg.GroupTargets(),
		Routing:                 cfg.Routing,
		Global:                  cfg.Global,
		Log:                     d.log,
		Stats:                   d.stats,
		KeyExpiration:           cfg.KeyExpiration,
		KeyUnmodifiedExpiration: cfg.KeyUnmodifiedExpiration,
		KeyClearInterval:        cfg.KeyClearInterval,
		CleanupInterval:         o.CleanupInterval,
		SharedIncoming:          d.store.Dialect() == "mysql",
		OnStored:                onStored,
	})
	if err != nil {
		return nil, err
	}
	d.metrics = newMetrics(d)
	d.mgr, err = groups.New(groups.Options{
		Config: cfg.Groups, Queue: d.store, Instance: cfg.Instance, Sources: d.sources.ByGroup,
		Deliveries: o.Deliveries, Stats: d.stats, Log: d.log, Grace: cfg.Grace, PollInterval: o.PollInterval,
		Delivered: d.metrics.delivered, OnDelivery: onDelivery,
	})
	if err != nil {
		return nil, err
	}
	if !o.NoStatus {
		d.statusLn = o.StatusListener
		if d.statusLn == nil && cfg.StatusListen != "" {
			if d.statusLn, err = net.Listen("tcp", cfg.StatusListen); err != nil {
				return nil, fmt.Errorf("status listener ([collection] status_listen): %w", err)
			}
		}
		if err := d.wrapStatusTLS(); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Run runs collectors, delivery and the status server until ctx is
// cancelled or one of them fails; then it stops the others (in-flight
// deliveries get the grace period) and returns.
func (d *Daemon) Run(ctx context.Context, opts ...RunOption) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ro runOptions
	for _, o := range opts {
		o(&ro)
	}
	if ro.reload != nil {
		// Owned by Run: stops with runCtx.
		go func() {
			for {
				select {
				case <-runCtx.Done():
					return
				case <-ro.reload:
					d.Reload(runCtx)
				}
			}
		}()
	}
	var srv *http.Server
	// Requests end with the daemon: live streams would otherwise hold
	// the status server's shutdown.
	reqCtx, endRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer endRequests()
	if d.statusLn != nil {
		srv = &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:    slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
			BaseContext: func(net.Listener) context.Context { return reqCtx }}
		go func() {
			if err := srv.Serve(d.statusLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.log.Error("status server stopped", "error", err)
			}
		}()
		d.log.Info("status and metrics", "url", d.StatusURL()+"/status", "live", d.StatusURL()+"/live")
	}
	d.log.Info("ace-collector started", "version", d.o.Version, "instance", d.cfg.Instance,
		"store", d.store.Dialect(), "collectors", len(d.cfg.Collectors), "groups", len(d.cfg.Groups.Enabled()))
	// If either half fails, stop the other: a collector without delivery
	// (or the reverse) would only fill the disk or idle.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); err := d.rt.Run(runCtx, d.cfg.Collectors); cancel(); errs <- err }()
	go func() { defer wg.Done(); err := d.mgr.Run(runCtx); cancel(); errs <- err }()
	wg.Wait()
	close(errs)
	if srv != nil {
		endRequests()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(sctx)
		scancel()
	}
	var all []error
	for e := range errs {
		all = append(all, e)
	}
	d.log.Info("ace-collector stopped")
	return errors.Join(all...)
}

// RunOption changes how Run runs.
type RunOption func(*runOptions)

type runOptions struct{ reload <-chan os.Signal }

// ReloadOn makes Run reload the configuration (Reload) each time ch
// delivers, e.g. on SIGHUP.
func ReloadOn(ch <-chan os.Signal) RunOption {
	return func(o *runOptions) { o.reload = ch }
}

// Close releases the store, node databases, clients and listener. Call it
// after Run returned (or instead of Run).
func (d *Daemon) Close() error {
	var errs []error
	if d.statusLn != nil && d.o.StatusListener == nil {
		d.statusLn.Close()
	}
	if d.mgr != nil {
		d.mgr.Close()
	}
	if d.sources != nil {
		errs = append(errs, d.sources.Close())
	}
	if d.store != nil {
		errs = append(errs, d.store.Close())
	}
	return errors.Join(errs...)
}

// Config is the configuration the daemon runs with.
func (d *Daemon) Config() *Config { return d.cfg }

// Store is the durable store.
func (d *Daemon) Store() *persistence.Store { return d.store }

// Stats are the daemon's counters.
func (d *Daemon) Stats() *collector.Stats { return d.stats }

// Groups is the delivery manager.
func (d *Daemon) Groups() *groups.Manager { return d.mgr }

// Runtime is the collector runtime.
func (d *Daemon) Runtime() *collector.Runtime { return d.rt }

// Log is the daemon's logger.
func (d *Daemon) Log() *slog.Logger { return d.log }

// Sink is a Sink for a source that is not a configured collector (the
// bench's producers, tests), counted under name.
func (d *Daemon) Sink(name string) collector.Sink { return d.rt.Sink(name, name, nil) }

// StatusAddr is where the status server listens ("" if none).
func (d *Daemon) StatusAddr() string {
	if d.statusLn == nil {
		return ""
	}
	return d.statusLn.Addr().String()
}
