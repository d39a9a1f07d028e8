package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/persistence"
)

func recoverCmd() *cobra.Command {
	var files []string
	var check, force bool
	cmd := &cobra.Command{
		Use:   "recover -c FILE [--check] [--force]",
		Short: "Salvage a damaged embedded store into a fresh one (keeps the damaged file)",
		Long: `Check the embedded store and, when it is damaged, salvage every row still readable
into a fresh store. The damaged file is kept as <db>.damaged-<timestamp>; the files
of submissions whose records were lost are moved beside it, never deleted.

--check only reports whether the store is damaged (exit 1 when it is). A healthy
store is not rebuilt unless --force is given. Refused while a daemon holds the store.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadValid(files)
			if err != nil {
				return err
			}
			if c.Store.Driver != "sqlite" {
				return fmt.Errorf("recover repairs the embedded SQLite store; this configuration uses %s (use the database server's own repair tools)", c.Store.Driver)
			}
			out := cmd.OutOrStdout()
			cerr := persistence.Check(cmd.Context(), c.Store.Path)
			switch {
			case check && cerr == nil:
				fmt.Fprintf(out, "%s: healthy (integrity check passed)\n", c.Store.Path)
				return nil
			case check:
				fmt.Fprintf(out, "%s: damaged: %v\n", c.Store.Path, cerr)
				return exitError(1)
			case cerr == nil && !force:
				return fmt.Errorf("%s passed its integrity check: nothing to recover (--force rebuilds it anyway)", c.Store.Path)
			case cerr != nil && !errors.Is(cerr, persistence.ErrDamaged):
				return cerr
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			rep, moved, lostDir, err := daemon.Recover(cmd.Context(), c, log)
			if rep != nil {
				printRecoverReport(out, c.Store.Path, rep, moved, lostDir)
			}
			return err
		},
	}
	configFlag(cmd, &files)
	cmd.Flags().BoolVar(&check, "check", false, "report whether the store is damaged; change nothing")
	cmd.Flags().BoolVar(&force, "force", false, "rebuild the store even if it passes its integrity check")
	return cmd
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
