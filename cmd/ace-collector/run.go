package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/groups"
	"github.com/ace-collector/ace-collector/persistence"
)

func cmdValidate(ctx context.Context, args []string) error {
	var cfgs configFlags
	fs := newFlags("validate", &cfgs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, p, err := loadConfig(cfgs)
	if err != nil {
		return err
	}
	if probs := p.List(); len(probs) > 0 {
		for _, e := range probs {
			fmt.Println(e)
		}
		fmt.Printf("%d problem(s) found in %s\n", len(probs), cfgs.String())
		return exitError(1)
	}
	fmt.Printf("%s: configuration is valid\n", cfgs.String())
	return nil
}

// loadValid loads a configuration and fails on any problem, so nothing
// (least of all the backlog) is touched under a config that did not validate.
func loadValid(cfgs []string) (*appConfig, error) {
	c, p, err := loadConfig(cfgs)
	if err != nil {
		return nil, err
	}
	if err := p.Err(); err != nil {
		return nil, fmt.Errorf("invalid configuration (run `ace-collector validate`):\n%w", err)
	}
	return c, nil
}

func openStore(ctx context.Context, c *appConfig, log *slog.Logger) (*persistence.Store, error) {
	sc := c.store
	sc.Logger = log
	return persistence.Open(ctx, sc)
}

func cmdRun(ctx context.Context, args []string) error {
	var cfgs configFlags
	fs := newFlags("run", &cfgs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := loadValid(cfgs)
	if err != nil {
		return err
	}
	log := c.logger(os.Stderr)
	slog.SetDefault(log)
	store, err := openStore(ctx, c, log)
	if err != nil {
		return err
	}
	defer store.Close()
	stats := collector.NewStats()

	sources := map[string]groups.NodeSource{}
	var dbs []*sqlx.DB
	defer func() {
		for _, db := range dbs {
			db.Close()
		}
	}()
	for _, g := range c.groups.Enabled() {
		if g.Database == "" {
			continue
		}
		dsn, err := c.databases[g.Database].DSN()
		if err != nil {
			return fmt.Errorf("[database_%s]: %w", g.Database, err)
		}
		db, err := sqlx.Open("mysql", dsn)
		if err != nil {
			return fmt.Errorf("[database_%s]: %w", g.Database, err)
		}
		dbs = append(dbs, db)
		sources[g.Name] = groups.NewACENodes(db, groups.ACENodesOptions{CompanyID: g.NodeCompanyID, Freshness: c.groups.NodeFreshness, Logger: log})
	}

	rt, err := collector.NewRuntime(collector.RuntimeOptions{
		Queue:                   store.ForCollector(),
		IncomingDir:             c.incomingDir,
		Groups:                  c.groupTargets(),
		Global:                  c.global,
		Log:                     log,
		Stats:                   stats,
		KeyExpiration:           c.keyExp,
		KeyUnmodifiedExpiration: c.keyUnmod,
		KeyClearInterval:        c.keyClear,
		SharedIncoming:          store.Dialect() == "mysql",
	})
	if err != nil {
		return err
	}
	mgr, err := groups.New(groups.Options{
		Config: c.groups, Queue: store, Instance: c.instance, Sources: sources,
		Stats: stats, Log: log, Grace: c.grace,
	})
	if err != nil {
		return err
	}
	defer mgr.Close()

	var srv *http.Server
	if c.statusListen != "" {
		ln, err := net.Listen("tcp", c.statusListen)
		if err != nil {
			return fmt.Errorf("status listener [collection] status_listen: %w", err)
		}
		srv = &http.Server{Handler: newStatusHandler(store, stats, mgr, c), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		log.Info("status and metrics", "url", "http://"+ln.Addr().String()+"/status")
	}

	log.Info("ace-collector started", "version", version, "instance", c.instance, "store", store.Dialect(),
		"collectors", len(c.instances), "groups", len(c.groups.Enabled()))
	// If either half fails, stop the other: a collector without delivery
	// (or the reverse) would only fill the disk or idle.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); err := rt.Run(runCtx, c.instances); cancel(); errs <- err }()
	go func() { defer wg.Done(); err := mgr.Run(runCtx); cancel(); errs <- err }()
	wg.Wait()
	close(errs)
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(sctx)
		cancel()
	}
	var all []error
	for e := range errs {
		all = append(all, e)
	}
	log.Info("ace-collector stopped")
	return errors.Join(all...)
}
