package main

import (
	"errors"
	"fmt"
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
			c, err := daemon.LoadValid(files)
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
			rep, lost, lostDir, err := daemon.Recover(cmd.Context(), c, log)
			if rep != nil {
				daemon.WriteRecoverReport(out, c.Store.Path, rep, lost, lostDir)
			}
			return err
		},
	}
	configFlag(cmd, &files)
	cmd.Flags().BoolVar(&check, "check", false, "report whether the store is damaged; change nothing")
	cmd.Flags().BoolVar(&force, "force", false, "rebuild the store even if it passes its integrity check")
	return cmd
}
