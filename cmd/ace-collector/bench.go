package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/ace-collector/ace-collector/bench"
)

func benchCmd() *cobra.Command {
	o := bench.Options{}
	cmd := &cobra.Command{
		Use:   "bench [flags]",
		Short: "Measure the whole pipeline on loopback",
		Long: `Measure the whole pipeline in one process (the daemon's own constructor) against
receivers on 127.0.0.1, after measuring the loopback HTTP ceiling; see README
"Benchmark" for the receivers (--node light or store) and what each figure means.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Progress = cmd.ErrOrStderr()
			o.Log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			res, err := bench.Run(cmd.Context(), &o)
			if err != nil {
				return err
			}
			bench.Print(cmd.OutOrStdout(), &o, res)
			return nil
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
