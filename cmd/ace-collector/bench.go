package main

import (
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/ace-collector/ace-collector/bench"
)

func benchCmd() *cobra.Command {
	o := bench.Options{}
	var scaling bool
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
			if scaling {
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
	f := cmd.Flags()
	f.IntVarP(&o.N, "n", "n", 20000, "number of submissions")
	f.IntVar(&o.Observables, "observables", 5, "observables per submission")
	f.IntVar(&o.AttachSize, "attachment-size", 0, "bytes of one attachment per submission (0 = none)")
	f.IntVar(&o.Groups, "groups", 1, "collection groups, each delivering to its own receiver")
	f.IntVar(&o.Threads, "threads", 4, "thread_count of each group")
	f.IntVar(&o.Batch, "batch", 64, "batch_size of each group")
	f.Float64Var(&o.Rate, "rate", 0, "offered submissions per second (0 = as fast as possible)")
	f.IntVar(&o.Producers, "producers", 64, "goroutines calling Sink.Submit (concurrent sources share store commits)")
	f.StringVar(&o.Node, "node", "light", "receivers: light (parse ACE's request, store nothing) or store (api.Server, as sink)")
	f.BoolVar(&o.NodeFsync, "node-fsync", false, "with --node store: fsync each received submission")
	f.StringVar(&o.Store, "store", "embedded", "store: embedded (SQLite in a temp dir) or mysql")
	f.StringVar(&o.DSN, "dsn", "", "go-sql-driver/mysql DSN for --store mysql")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the pipeline phase to FILE")
	f.DurationVar(&o.CeilingFor, "ceiling-time", 3*time.Second, "how long to measure the loopback HTTP ceiling (0 = skip)")
	f.DurationVar(&o.StallAfter, "stall-timeout", time.Minute, "fail when nothing is delivered for this long")
	f.BoolVar(&o.KeepTempDir, "keep", false, "keep the temporary directory (store, receiver storage)")
	f.IntVar(&o.CPUs, "cpus", 0, "cores the pipeline may use (GOMAXPROCS; 0 = all of the machine's)")
	f.BoolVar(&scaling, "scaling", false, "run once at 1, 2, 4, … cores up to the machine's and print a table")
	f.IntVar(&o.Instances, "instances", 1, "with --store mysql: daemons sharing the store, each with every group's threads")
	f.BoolVar(&o.ACEBaseline, "ace-baseline", false, "with --store mysql: also run ACE's own queue pattern on the same database and print both rates and their ratio")
	return cmd
}
