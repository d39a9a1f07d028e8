// Package huntcli holds what the `ace-collector hunt` commands do, so the
// binary keeps only their flags: listing hunts with their stored times,
// verifying rule files, and running one hunt by hand.
package huntcli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/hunter"
	"github.com/ace-collector/ace-collector/daemon"
)

// List prints every hunt of every hunter collector: type, name, enabled,
// schedule, next run and last window (from the store's persistence keys).
func List(ctx context.Context, files []string, out, logTo io.Writer) error {
	a, err := daemon.OpenAdmin(ctx, files, out, logTo)
	if err != nil {
		return err
	}
	defer a.Close()
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COLLECTOR\tTYPE\tNAME\tENABLED\tSCHEDULE\tNEXT RUN\tLAST WINDOW")
	now := time.Now()
	for _, inst := range hunter.Instances(a.Config.Collectors) {
		hs, err := inst.Hunter.Status(ctx, a.Store.State(inst.Name), now)
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
}

// Verify loads every hunt rule and prints each that loads, is skipped or
// is broken; it returns how many problems it found.
func Verify(files []string, out io.Writer) (int, error) {
	c, p, err := daemon.Load(files, daemon.LoadOptions{})
	if err != nil {
		return 0, err
	}
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
	} else {
		fmt.Fprintln(out, "every hunt rule loads")
	}
	return broken, nil
}

// Execution is one hunt run by hand.
type Execution struct {
	Files      []string
	Target     string // TYPE:NAME
	Collector  string // the hunter collector, when several have the hunt
	Start, End time.Time
	JSONDir    string // also write each submission to DIR/UUID.json
	Submit     bool   // queue the submissions (else a dry run)
	Version    string
	Out, Log   io.Writer
}

// Execute runs the hunt over [Start, End) (zero: the hunt's own window),
// prints its submissions as JSON and, with Submit, queues them through the
// daemon's sink. No hunt time is recorded either way.
func Execute(ctx context.Context, e Execution) error {
	cfg, err := daemon.LoadValid(e.Files)
	if err != nil {
		return err
	}
	inst, name, err := hunter.Find(cfg.Collectors, e.Target, e.Collector)
	if err != nil {
		return err
	}
	logs := slog.New(slog.NewTextHandler(e.Log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	subs, w, err := inst.Hunter.Execute(ctx, name, e.Start, e.End, logs)
	if err != nil {
		return err
	}
	if err := printSubmissions(e.Out, subs, e.JSONDir); err != nil {
		return err
	}
	if !e.Submit {
		fmt.Fprintf(e.Log, "%s over %s: %d submission(s); dry run, nothing queued\n", e.Target, w, len(subs))
		return nil
	}
	d, err := daemon.New(ctx, cfg, daemon.Options{Version: e.Version, StoreShared: true, NoStatus: true, LogOutput: e.Log})
	if err != nil {
		return err
	}
	defer d.Close()
	sink := d.Sink(inst.Name)
	for i, sub := range subs {
		if err := sink.Submit(ctx, sub); err != nil {
			return fmt.Errorf("queued %d of %d: %w", i, len(subs), err)
		}
	}
	fmt.Fprintf(e.Log, "%s over %s: %d submission(s) queued\n", e.Target, w, len(subs))
	return nil
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
