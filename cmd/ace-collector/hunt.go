package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/hunter"
	"github.com/ace-collector/ace-collector/daemon"
)

func huntCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "hunt", Short: "List, verify and run the scheduled hunts of hunter collectors"}
	cmd.AddCommand(huntListCmd(), huntVerifyCmd(), huntExecuteCmd())
	return cmd
}

func huntListCmd() *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "list -c FILE",
		Short: "List every hunt: type, name, enabled, schedule, next run and last window",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := daemon.OpenAdmin(cmd.Context(), files, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer a.Close()
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "COLLECTOR\tTYPE\tNAME\tENABLED\tSCHEDULE\tNEXT RUN\tLAST WINDOW")
			now := time.Now()
			for _, inst := range hunter.Instances(a.Config.Collectors) {
				hs, err := inst.Hunter.Status(cmd.Context(), a.Store.State(inst.Name), now)
				if err != nil {
					return err
				}
				for _, s := range hs {
					next := stamp(s.NextRun)
					switch {
					case !s.Enabled:
						next = "-"
					case !s.SuppressedUntil.IsZero():
						next += " (suppressed)"
					}
					last := "never"
					if !s.LastWindow.End.IsZero() {
						last = stamp(s.LastWindow.Start) + " .. " + stamp(s.LastWindow.End)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\t%s\n", inst.Name, inst.Hunter.HuntType(), s.Name,
						yesNo(s.Enabled), s.Schedule, next, last)
				}
			}
			return tw.Flush()
		},
	}
	configFlag(cmd, &files)
	return cmd
}

func huntVerifyCmd() *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "verify -c FILE",
		Short: "Load every hunt rule and name each one that does not load (exit 1)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, p, err := daemon.Load(files, daemon.LoadOptions{})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			broken := len(p.List())
			for _, e := range p.List() {
				fmt.Fprintln(out, "error:", e)
			}
			for _, inst := range hunter.Instances(c.Collectors) {
				h := inst.Hunter
				for _, r := range h.Rules() {
					fmt.Fprintf(out, "ok: [collector_%s] %s:%s (%s)\n", inst.Name, h.HuntType(), r.Name, r.Path)
					for _, w := range r.Warnings {
						fmt.Fprintln(out, "warning:", w)
					}
				}
				for _, s := range h.Skipped() {
					fmt.Fprintf(out, "skipped: [collector_%s] %s: not a %s rule\n", inst.Name, s, h.HuntType())
				}
				for _, e := range h.Problems() {
					fmt.Fprintf(out, "broken: [collector_%s] %v\n", inst.Name, e)
					broken++
				}
			}
			if broken > 0 {
				fmt.Fprintf(out, "%d problem(s)\n", broken)
				return exitError(1)
			}
			fmt.Fprintln(out, "every hunt rule loads")
			return nil
		},
	}
	configFlag(cmd, &files)
	return cmd
}

func huntExecuteCmd() *cobra.Command {
	var files []string
	var start, end, tz, jsonDir, in string
	var submit bool
	cmd := &cobra.Command{
		Use:   "execute -c FILE TYPE:NAME [--start T] [--end T] [-z TZ] [--json-dir DIR] [--submit]",
		Short: "Run one hunt now and print its submissions as JSON (a dry run unless --submit)",
		Long: `Run one hunt now, over --start..--end (RFC 3339, or ACE's MM/DD/YYYY:HH:MM:SS in
the -z time zone; default: the hunt's last time_range), without its offset.
The submissions are printed as JSON; nothing is queued and no hunt time is
recorded unless --submit, which queues them in the store for delivery (still
recording no time, so the scheduled runs are not affected).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("want one TYPE:NAME argument, got %d", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			loc, err := time.LoadLocation(tz)
			if err != nil {
				return usageError{fmt.Errorf("-z %q: %w", tz, err)}
			}
			var from, to time.Time
			for _, t := range []struct {
				flag, v string
				dst     *time.Time
			}{{"--start", start, &from}, {"--end", end, &to}} {
				if t.v == "" {
					continue
				}
				if *t.dst, err = hunter.ParseTime(t.v, loc); err != nil {
					return usageError{fmt.Errorf("%s: %w", t.flag, err)}
				}
			}
			cfg, err := daemon.LoadValid(files)
			if err != nil {
				return err
			}
			inst, name, err := hunter.Find(cfg.Collectors, args[0], in)
			if err != nil {
				return err
			}
			logs := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			subs, w, err := inst.Hunter.Execute(cmd.Context(), name, from, to, logs)
			if err != nil {
				return err
			}
			if err := printSubmissions(cmd.OutOrStdout(), subs, jsonDir); err != nil {
				return err
			}
			if !submit {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s over %s: %d submission(s); dry run, nothing queued\n", args[0], w, len(subs))
				return nil
			}
			d, err := daemon.New(cmd.Context(), cfg, daemon.Options{Version: versionString(), StoreShared: true, NoStatus: true,
				LogOutput: cmd.ErrOrStderr()})
			if err != nil {
				return err
			}
			defer d.Close()
			sink := d.Sink(inst.Name)
			for i, sub := range subs {
				if err := sink.Submit(cmd.Context(), sub); err != nil {
					return fmt.Errorf("queued %d of %d: %w", i, len(subs), err)
				}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s over %s: %d submission(s) queued\n", args[0], w, len(subs))
			return nil
		},
	}
	configFlag(cmd, &files)
	cmd.Flags().StringVar(&start, "start", "", "window start (RFC 3339 or MM/DD/YYYY:HH:MM:SS)")
	cmd.Flags().StringVar(&end, "end", "", "window end (RFC 3339 or MM/DD/YYYY:HH:MM:SS)")
	cmd.Flags().StringVarP(&tz, "timezone", "z", "Local", "time zone of MM/DD/YYYY:HH:MM:SS times")
	cmd.Flags().StringVar(&jsonDir, "json-dir", "", "also write each submission to DIR/UUID.json")
	cmd.Flags().BoolVar(&submit, "submit", false, "queue the submissions for delivery")
	cmd.Flags().StringVar(&in, "collector", "", "the hunter collector (NAME of [collector_NAME]) when several have the hunt")
	return cmd
}

// printSubmissions writes subs as a JSON array, and each to dir/UUID.json.
func printSubmissions(out io.Writer, subs []*collector.Submission, dir string) error {
	if subs == nil {
		subs = []*collector.Submission{}
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(subs); err != nil {
		return err
	}
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("--json-dir: %w", err)
	}
	for _, s := range subs {
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, s.UUID+".json"), append(b, '\n'), 0o640); err != nil {
			return fmt.Errorf("--json-dir: %w", err)
		}
	}
	return nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
