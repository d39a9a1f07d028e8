package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

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
	lost, merr := setAsideLostFiles(ctx, c, rep.DamagedPath)
	printRecoverReport(os.Stdout, c.store.Path, rep, lost)
	if merr != nil {
		return fmt.Errorf("setting aside files of lost submissions: %w", merr)
	}
	return nil
}

// lostFiles says what setAsideLostFiles did.
type lostFiles struct {
	requeue int    // kept: the next run re-enqueues them from their manifests
	moved   int    // moved to dir: no manifest to rebuild the record from
	dir     string // where
}

// setAsideLostFiles moves the submission directories of incoming_dir that
// no salvaged record owns and no manifest describes to DAMAGED.incoming/.
// Entries the runtime did not create are not touched.
func setAsideLostFiles(ctx context.Context, c *appConfig, damagedPath string) (lostFiles, error) {
	res := lostFiles{dir: damagedPath + ".incoming"}
	entries, err := os.ReadDir(c.incomingDir)
	if errors.Is(err, os.ErrNotExist) {
		return res, nil
	}
	if err != nil {
		return res, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && collector.IsSubmissionDirName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return res, nil
	}
	sc := c.store
	sc.Shared = true
	sc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := persistence.Open(ctx, sc)
	if err != nil {
		return res, err
	}
	defer store.Close()
	known, err := store.Existing(ctx, names)
	if err != nil {
		return res, err
	}
	for _, name := range names {
		if known[name] {
			continue
		}
		if _, err := collector.ReadManifest(filepath.Join(c.incomingDir, name)); err == nil {
			res.requeue++
			continue
		}
		if err := os.MkdirAll(res.dir, 0o750); err != nil {
			return res, err
		}
		if err := os.Rename(filepath.Join(c.incomingDir, name), filepath.Join(res.dir, name)); err != nil {
			return res, err
		}
		res.moved++
	}
	return res, nil
}

func printRecoverReport(w io.Writer, path string, rep *persistence.RecoverReport, lost lostFiles) {
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
	if lost.requeue > 0 {
		fmt.Fprintf(w, "lost submissions whose staged files carry a manifest (re-enqueued by the next run, may be delivered twice): %d\n", lost.requeue)
	}
	if lost.moved > 0 {
		fmt.Fprintf(w, "incoming directories of lost submissions without a manifest moved to %s: %d\n", lost.dir, lost.moved)
	}
	fmt.Fprintf(w, "lost (upper bound: unreadable row ids): %d; new store ready at %s — start the daemon again\n", rep.Lost(), path)
}
