package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/ace-collector/ace-collector/persistence"
)

// cmdRecover salvages a damaged embedded store: the damaged file is moved
// aside (never deleted), a fresh store gets every row still readable, and
// incoming directories whose record was lost are moved aside too, so that
// the next `run` does not remove them as orphans.
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
	moved, lostDir, merr := setAsideLostFiles(ctx, c, rep.DamagedPath)
	printRecoverReport(os.Stdout, c.store.Path, rep, moved, lostDir)
	if merr != nil {
		return fmt.Errorf("setting aside files of lost submissions: %w", merr)
	}
	return nil
}

// setAsideLostFiles moves incoming directories that no salvaged submission
// owns to DAMAGED.incoming/.
func setAsideLostFiles(ctx context.Context, c *appConfig, damagedPath string) (int, string, error) {
	entries, err := os.ReadDir(c.incomingDir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return 0, "", nil
	}
	sc := c.store
	sc.Shared = true
	sc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := persistence.Open(ctx, sc)
	if err != nil {
		return 0, "", err
	}
	defer store.Close()
	known, err := store.Existing(ctx, names)
	if err != nil {
		return 0, "", err
	}
	lostDir := damagedPath + ".incoming"
	moved := 0
	for _, name := range names {
		if known[name] {
			continue
		}
		if err := os.MkdirAll(lostDir, 0o750); err != nil {
			return moved, lostDir, err
		}
		if err := os.Rename(filepath.Join(c.incomingDir, name), filepath.Join(lostDir, name)); err != nil {
			return moved, lostDir, err
		}
		moved++
	}
	return moved, lostDir, nil
}

func printRecoverReport(w io.Writer, path string, rep *persistence.RecoverReport, moved int, lostDir string) {
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
	if moved > 0 {
		fmt.Fprintf(w, "incoming directories of lost submissions moved to %s: %d\n", lostDir, moved)
	}
	fmt.Fprintf(w, "lost (upper bound: unreadable row ids): %d; new store ready at %s — start the daemon again\n", rep.Lost(), path)
}
