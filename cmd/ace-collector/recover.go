package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/persistence"
)

// cmdRecover salvages a damaged embedded store: the damaged file is moved
// aside (never deleted) and a fresh store gets every row still readable.
// Incoming directories whose record was lost stay where they are when
// their manifest can rebuild the record (the next `run` re-enqueues them);
// the others are moved aside with the damaged store.
func cmdRecover(ctx context.Context, args []string) error {
	var cfgs configFlags
	fs := newFlags("recover", &cfgs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := loadValid(cfgs)
	if err != nil {
		return err
	}
	if c.store.Driver != "" && c.store.Driver != "sqlite" {
		return fmt.Errorf("recover repairs the embedded SQLite store; this configuration uses %s (use the database server's own repair tools)", c.store.Driver)
	}
	var names []string
	for _, g := range c.groups.Enabled() {
		names = append(names, g.Name)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rep, err := persistence.Recover(ctx, persistence.RecoverOptions{Path: c.store.Path, Groups: names, Logger: log})
	if err != nil {
		return err
	}
	lost, lostDir, merr := setAsideLostFiles(ctx, c, rep.DamagedPath)
	printRecoverReport(os.Stdout, c.store.Path, rep, lost, lostDir)
	if merr != nil {
		return fmt.Errorf("setting aside files of lost submissions: %w", merr)
	}
	return nil
}

// setAsideLostFiles moves the submission directories of incoming_dir that
// no salvaged record owns and no manifest describes to DAMAGED.incoming/
// (see collector.SetAsideLost).
func setAsideLostFiles(ctx context.Context, c *appConfig, damagedPath string) (collector.LostFiles, string, error) {
	dst := damagedPath + ".incoming"
	sc := c.store
	sc.Shared = true
	sc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := persistence.Open(ctx, sc)
	if err != nil {
		return collector.LostFiles{}, dst, err
	}
	defer store.Close()
	lost, err := collector.SetAsideLost(ctx, c.incomingDir, dst, store.Existing)
	return lost, dst, err
}

func printRecoverReport(w io.Writer, path string, rep *persistence.RecoverReport, lost collector.LostFiles, lostDir string) {
	fmt.Fprintf(w, "damaged store moved to %s (kept; delete it yourself once you no longer need it)\n", rep.DamagedPath)
	if rep.OpenError != "" {
		fmt.Fprintf(w, "the damaged store could not be read at all (%s): the new store at %s is empty\n", rep.OpenError, path)
	}
	for _, t := range rep.Tables {
		fmt.Fprintf(w, "  %-26s salvaged %8d   lost %8d\n", t.Table, t.Copied, t.Lost)
		for _, p := range t.Problems {
			fmt.Fprintf(w, "      %s\n", p)
		}
	}
	fmt.Fprintf(w, "delivery states re-queued (lost, may be delivered twice): %d\n", rep.Requeued)
	fmt.Fprintf(w, "delivery states of lost submissions dropped: %d\n", rep.Dangling)
	fmt.Fprintf(w, "claims of the stopped daemon released: %d\n", rep.Unlocked)
	if rep.Stateless > 0 {
		fmt.Fprintf(w, "submissions with no delivery state and no configured group (kept, not delivered): %d\n", rep.Stateless)
	}
	if lost.Requeue > 0 {
		fmt.Fprintf(w, "lost submissions whose staged files carry a manifest (re-enqueued by the next run, may be delivered twice): %d\n", lost.Requeue)
	}
	if lost.Moved > 0 {
		fmt.Fprintf(w, "incoming directories of lost submissions without a manifest moved to %s: %d\n", lostDir, lost.Moved)
	}
	fmt.Fprintf(w, "lost (upper bound: unreadable row ids): %d; new store ready at %s — start the daemon again\n", rep.Lost(), path)
}
