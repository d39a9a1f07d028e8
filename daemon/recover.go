package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/persistence"
)

// Recover salvages the configuration's damaged embedded store (see
// persistence.Recover), then sorts the incoming directories no salvaged
// record owns (see collector.SetAsideLost): those with a manifest stay for
// the next start to re-enqueue, the others move to <damaged db>.incoming/.
// Nothing is deleted.
func Recover(ctx context.Context, c *Config, log *slog.Logger) (*persistence.RecoverReport, collector.LostFiles, string, error) {
	var names []string
	for _, g := range c.Groups.Enabled() {
		names = append(names, g.Name)
	}
	rep, err := persistence.Recover(ctx, persistence.RecoverOptions{Path: c.Store.Path, Groups: names, Logger: log})
	if err != nil {
		return nil, collector.LostFiles{}, "", err
	}
	dst := rep.DamagedPath + ".incoming"
	sc := c.Store.Config
	sc.Shared = true
	sc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := persistence.Open(ctx, sc)
	if err != nil {
		return rep, collector.LostFiles{}, dst, fmt.Errorf("setting aside files of lost submissions: %w", err)
	}
	defer store.Close()
	lost, err := collector.SetAsideLost(ctx, c.IncomingDir, dst, store.Existing)
	if err != nil {
		err = fmt.Errorf("setting aside files of lost submissions: %w", err)
	}
	return rep, lost, dst, err
}

// RecoverStore is `ace-collector recover`: it checks the configuration's
// embedded store and, when it is damaged (or force is set), salvages it and
// prints the report to out. With check it only reports; damaged says what
// the check found. A healthy store is refused without force.
func RecoverStore(ctx context.Context, files []string, check, force bool, out, logTo io.Writer) (damaged bool, err error) {
	c, err := LoadValid(files)
	if err != nil {
		return false, err
	}
	if c.Store.Driver != "sqlite" {
		return false, fmt.Errorf("recover repairs the embedded SQLite store; this configuration uses %s (use the database server's own repair tools)", c.Store.Driver)
	}
	cerr := persistence.Check(ctx, c.Store.Path)
	switch {
	case check && cerr == nil:
		fmt.Fprintf(out, "%s: healthy (integrity check passed)\n", c.Store.Path)
		return false, nil
	case check:
		fmt.Fprintf(out, "%s: damaged: %v\n", c.Store.Path, cerr)
		return true, nil
	case cerr == nil && !force:
		return false, fmt.Errorf("%s passed its integrity check: nothing to recover (--force rebuilds it anyway)", c.Store.Path)
	case cerr != nil && !errors.Is(cerr, persistence.ErrDamaged):
		return false, cerr
	}
	log := slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rep, lost, lostDir, err := Recover(ctx, c, log)
	if rep != nil {
		WriteRecoverReport(out, c.Store.Path, rep, lost, lostDir)
	}
	return cerr != nil, err
}
