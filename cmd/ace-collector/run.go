package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ace-collector/ace-collector/daemon"
)

func runCmd() *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "run -c FILE [-c FILE...]",
		Short: "Run the collector daemon",
		Long: `Run the collector daemon. SIGINT and SIGTERM stop it cleanly: in-flight deliveries
finish within [collection] shutdown_grace and unstarted claims are released.
SIGHUP reloads the configuration: tuning rules, node lists, node translation and
the log level take effect at once; other changes are logged as needing a restart.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := daemon.LoadValid(files)
			if err != nil {
				return err
			}
			d, err := daemon.New(cmd.Context(), cfg, daemon.Options{Version: versionString()})
			if err != nil {
				return err
			}
			defer d.Close()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			return d.Run(cmd.Context(), daemon.ReloadOn(hup))
		},
	}
	configFlag(cmd, &files)
	return cmd
}

func validateCmd() *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "validate -c FILE [-c FILE...]",
		Short: "Check a configuration and print every problem",
		Long: `Check a configuration: every problem with its section and key, then a summary.
Warnings (ACE settings this project does not use or replaces) do not fail it.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := daemon.PrintValidate(files, cmd.OutOrStdout())
			if err == nil && n > 0 {
				err = exitError(1)
			}
			return err
		},
	}
	configFlag(cmd, &files)
	return cmd
}

func statusCmd() *cobra.Command {
	var files []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status -c FILE [--json]",
		Short: "Show queue depth, counters, node health and recent errors",
		Long: `Show the running daemon's status (from its status endpoint); when no daemon
answers, the queue part is read from the store itself (no live counters then).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return daemon.PrintStatus(cmd.Context(), files, asJSON, versionString(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	configFlag(cmd, &files)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (snake_case keys)")
	return cmd
}
