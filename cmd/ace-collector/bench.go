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
		Short: "Measure the whole pipeline on loopback (README, \"Benchmark\")",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Progress = cmd.ErrOrStderr()
			o.Log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			if o.Scaling {
				rows, err := bench.Scaling(cmd.Context(), &o)
				if len(rows) > 0 {
					bench.PrintScaling(cmd.OutOrStdout(), &o, rows)
				}
				return err
			}
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
