package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ace-collector/ace-collector/collectors/hunter"
	"github.com/ace-collector/ace-collector/collectors/hunter/huntcli"
)

func huntCmd() *cobra.Command {
	var files []string
	list := &cobra.Command{Use: "list -c FILE", Short: "List every hunt: type, name, enabled, schedule, next run and last window", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return huntcli.List(cmd.Context(), files, cmd.OutOrStdout(), cmd.ErrOrStderr())
		}}
	verify := &cobra.Command{Use: "verify -c FILE", Short: "Load every hunt rule and name each one that does not load (exit 1)", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := huntcli.Verify(files, cmd.OutOrStdout())
			if err == nil && n > 0 {
				err = exitError(1)
			}
			return err
		}}
	configFlag(list, &files)
	configFlag(verify, &files)
	cmd := &cobra.Command{Use: "hunt", Short: "List, verify and run the scheduled hunts of hunter collectors"}
	cmd.AddCommand(list, verify, huntExecuteCmd())
	return cmd
}

func huntExecuteCmd() *cobra.Command {
	e := huntcli.Execution{}
	var start, end, tz string
	cmd := &cobra.Command{
		Use:   "execute -c FILE TYPE:NAME [--start T] [--end T] [-z TZ] [--json-dir DIR] [--submit]",
		Short: "Run one hunt now, without its offset (default window: its last time_range); print its submissions as JSON, queue them only with --submit",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("want one TYPE:NAME argument, got %d", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if e.Start, e.End, err = hunter.ParseWindow(start, end, tz); err != nil {
				return usageError{err}
			}
			e.Target, e.Version, e.Out, e.Log = args[0], versionString(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			return huntcli.Execute(cmd.Context(), e)
		},
	}
	configFlag(cmd, &e.Files)
	f := cmd.Flags()
	f.StringVar(&start, "start", "", "window start (RFC 3339 or MM/DD/YYYY:HH:MM:SS)")
	f.StringVar(&end, "end", "", "window end (RFC 3339 or MM/DD/YYYY:HH:MM:SS)")
	f.StringVarP(&tz, "timezone", "z", "Local", "time zone of MM/DD/YYYY:HH:MM:SS times")
	f.StringVar(&e.JSONDir, "json-dir", "", "also write each submission to DIR/UUID.json")
	f.BoolVar(&e.Submit, "submit", false, "queue the submissions for delivery")
	f.StringVar(&e.Collector, "collector", "", "the hunter collector (NAME of [collector_NAME]) when several have the hunt")
	return cmd
}
