package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
)

// ScalingRow is one run of a scaling table.
type ScalingRow struct {
	CPUs   int
	Result *Result
}

// scalingSteps is 1, 2, 4, … below n, then n: the core counts a scaling
// table shows on a machine of n cores.
func scalingSteps(n int) []int {
	var steps []int
	for c := 1; c < n; c *= 2 {
		steps = append(steps, c)
	}
	return append(steps, max(n, 1))
}

// Scaling runs the bench once for each step of scalingSteps(machine's
// cores), GOMAXPROCS set to it, ceiling included, each in a fresh store.
func Scaling(ctx context.Context, o *Options) ([]ScalingRow, error) {
	if o.CPUs != 0 {
		return nil, errors.New("--scaling sets the cores itself: leave out --cpus")
	}
	var rows []ScalingRow
	for _, c := range scalingSteps(runtime.NumCPU()) {
		run := *o
		run.CPUs = c
		run.CPUProfile = ""
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "--- %d core(s)\n", c)
		}
		res, err := Run(ctx, &run)
		if err != nil {
			return rows, fmt.Errorf("bench at %d cores: %w", c, err)
		}
		rows = append(rows, ScalingRow{CPUs: c, Result: res})
	}
	return rows, nil
}

// PrintScaling writes the scaling table (Markdown), the ratio last in
// each row.
func PrintScaling(w io.Writer, o *Options, rows []ScalingRow) {
	fmt.Fprintf(w, "ace-collector bench --scaling: %d submissions, %d group(s) × %d threads, batch %d, producers %d, store %s%s, receivers %s, machine of %d cores\n\n",
		o.N, o.Groups, o.Threads, o.Batch, o.Producers, o.Store, instancesText(o), o.Node, runtime.NumCPU())
	fmt.Fprintln(w, "| cores | end to end (submissions/s) | deliveries/s | enqueue only (/s) | p99 | CPU used (cores) | HTTP ceiling (req/s) | pipeline/ceiling |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, row := range rows {
		r := row.Result
		used := 0.0
		if r.EndToEnd > 0 {
			used = r.CPU.Seconds() / r.EndToEnd.Seconds()
		}
		ratio := "—"
		if r.CeilingReqPerS > 0 {
			ratio = fmt.Sprintf("%.2f", r.DeliveriesPerS/r.CeilingReqPerS)
		}
		fmt.Fprintf(w, "| %d | %.0f | %.0f | %.0f | %s | %.2f | %.0f | %s |\n",
			row.CPUs, r.SubmissionsPerS, r.DeliveriesPerS, r.EnqueuePerS, ms(r.P99), used, r.CeilingReqPerS, ratio)
	}
}
