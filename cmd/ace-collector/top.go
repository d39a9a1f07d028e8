package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/ace-collector/ace-collector/daemon"
)

func topCmd() *cobra.Command {
	var files []string
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "top -c FILE",
		Short: "Live terminal view of the running daemon (q quits)",
		Long: `Per collector and group: rates (stored/s, delivered/s, failed/s), queue depth by
state, node health and the last submissions; fits 80x24 (over SSH too); q quits.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return daemon.TopTerminal(cmd.Context(), files, cmd.InOrStdin(), cmd.OutOrStdout(), interval)
		},
	}
	configFlag(cmd, &files)
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "refresh interval")
	return cmd
}

func pingCmd() *cobra.Command {
	var files []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ping -c FILE [--json]",
		Short: "Check every group's nodes: DNS, TCP, TLS, ACE's ping and API version",
		Long: `Check every enabled group's nodes as delivery reaches them (target_nodes and
translation applied): DNS, TCP, TLS with the group's verification (naming the
certificate's names when it fails), ACE's ping and API version. Exit 0 only when
every group has at least one usable node.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ok, err := daemon.PrintPing(cmd.Context(), files, asJSON, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err == nil && !ok {
				err = exitError(1)
			}
			return err
		},
	}
	configFlag(cmd, &files)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
