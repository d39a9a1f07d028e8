package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/migrations"
	"github.com/ace-collector/ace-collector/persistence"
)

// LoadValid loads a configuration and fails on any problem, so nothing
// (least of all the backlog) is touched under a configuration that did not
// validate.
func LoadValid(files []string) (*Config, error) {
	c, p, err := Load(files, LoadOptions{})
	if err != nil {
		return nil, err
	}
	if err := p.Err(); err != nil {
		return nil, fmt.Errorf("invalid configuration (run `ace-collector validate`):\n%w", err)
	}
	return c, nil
}

// Admin runs the operator's short commands against the store, beside a
// running daemon if there is one, and prints their results to Out.
type Admin struct {
	Config *Config
	Store  *persistence.Store
	Out    io.Writer
}

// OpenAdmin loads files and opens the store shared (no daemon lock).
func OpenAdmin(ctx context.Context, files []string, out, logTo io.Writer) (*Admin, error) {
	c, err := LoadValid(files)
	if err != nil {
		return nil, err
	}
	sc := c.Store.Config
	sc.Shared = true
	sc.Logger = slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := persistence.Open(ctx, sc)
	if err != nil {
		return nil, err
	}
	return &Admin{Config: c, Store: store, Out: out}, nil
}

// Close closes the store.
func (a *Admin) Close() error { return a.Store.Close() }

// Migrate reports the schema version (Open applied pending migrations).
func (a *Admin) Migrate(ctx context.Context) error {
	cur, latest, err := migrations.Status(ctx, a.Store.DB().DB, a.Store.Dialect())
	if err != nil {
		return err
	}
	fmt.Fprintf(a.Out, "%s store schema at version %d (latest %d)\n", a.Store.Dialect(), cur, latest)
	return nil
}

// QueueList prints failed deliveries, newest first.
func (a *Admin) QueueList(ctx context.Context, group string, limit int) error {
	errs, err := a.Store.Errors(ctx, limit)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "UUID\tGROUP\tATTEMPTS\tPARKED\tUPDATED\tERROR")
	for _, e := range errs {
		if group != "" && e.Group != group {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%v\t%s\t%s\n", e.UUID, e.Group, e.Attempts, e.Parked,
			time.UnixMilli(e.UpdatedAt).Format(time.RFC3339), OneLine(e.LastError, 160))
	}
	return tw.Flush()
}

// QueueRetry puts failed deliveries (of group, or all) back to READY.
func (a *Admin) QueueRetry(ctx context.Context, group string) error {
	n, err := a.Store.RetryErrors(ctx, group)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.Out, "%d failed deliveries put back to READY\n", n)
	return nil
}

// QueuePurge releases parked errors not updated for olderThan for cleanup.
func (a *Admin) QueuePurge(ctx context.Context, olderThan time.Duration) error {
	n, err := a.Store.PurgeParked(ctx, time.Now().Add(-olderThan))
	if err != nil {
		return err
	}
	fmt.Fprintf(a.Out, "%d parked errors released for cleanup\n", n)
	return nil
}

// KeysList prints the sources matching f.Source, or with keys their keys.
func (a *Admin) KeysList(ctx context.Context, f persistence.KeyFilter, keys bool, limit int) error {
	if !keys {
		srcs, err := a.Store.Sources(ctx, f.Source)
		if err != nil {
			return err
		}
		for _, s := range srcs {
			fmt.Fprintln(a.Out, s)
		}
		return nil
	}
	ks, err := a.Store.Keys(ctx, f, limit)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tKEY\tTYPE\tCREATED\tUPDATED\tVALUE")
	for _, k := range ks {
		typ := "volatile"
		if k.Permanent {
			typ = "permanent"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.Source, k.Key, typ,
			time.UnixMilli(k.CreatedAt).Format(time.RFC3339), time.UnixMilli(k.LastUpdate).Format(time.RFC3339),
			OneLine(string(k.Value), 60))
	}
	return tw.Flush()
}

// KeysClear deletes the keys f and names select (counts only when dry).
func (a *Admin) KeysClear(ctx context.Context, f persistence.KeyFilter, names []string, dry bool) error {
	n, err := a.Store.ClearKeys(ctx, f, names, dry)
	if err != nil {
		return err
	}
	if dry {
		fmt.Fprintf(a.Out, "would delete %d keys (dry run)\n", n)
	} else {
		fmt.Fprintf(a.Out, "deleted %d keys\n", n)
	}
	return nil
}

// WriteRecoverReport prints what Recover did.
func WriteRecoverReport(w io.Writer, path string, rep *persistence.RecoverReport, lost collector.LostFiles, lostDir string) {
	fmt.Fprintf(w, "damaged store moved to %s (kept; delete it yourself once you no longer need it)\n", rep.DamagedPath)
	if rep.OpenError != "" {
		fmt.Fprintf(w, "the damaged store could not be read at all (%s): the new store at %s is empty\n", rep.OpenError, path)
	}
	for _, t := range rep.Tables {
		fmt.Fprintf(w, "  %-26s salvaged %8d   lost %8d\n", t.Table, t.Copied, t.Lost)
		for _, p := range t.Problems {
			fmt.Fprintf(w, "      %s\n", p)
		}
	}
	fmt.Fprintf(w, "delivery states re-queued (lost, may be delivered twice): %d\n", rep.Requeued)
	fmt.Fprintf(w, "delivery states of lost submissions dropped: %d\n", rep.Dangling)
	fmt.Fprintf(w, "claims of the stopped daemon released: %d\n", rep.Unlocked)
	if rep.Stateless > 0 {
		fmt.Fprintf(w, "submissions with no delivery state and no configured group (kept, not delivered): %d\n", rep.Stateless)
	}
	if lost.Requeue > 0 {
		fmt.Fprintf(w, "lost submissions whose staged files carry a manifest (re-enqueued by the next run, may be delivered twice): %d\n", lost.Requeue)
	}
	if lost.Moved > 0 {
		fmt.Fprintf(w, "incoming directories of lost submissions without a manifest moved to %s: %d\n", lostDir, lost.Moved)
	}
	fmt.Fprintf(w, "lost (upper bound: unreadable row ids): %d; new store ready at %s — start the daemon again\n", rep.Lost(), path)
}

// PrintStatus prints the running daemon's status page (from its status
// endpoint); when no daemon answers, the queue part read from the store
// itself (no live counters then).
func PrintStatus(ctx context.Context, files []string, asJSON bool, version string, out, logTo io.Writer) error {
	c, err := LoadValid(files)
	if err != nil {
		return err
	}
	if c.StatusListen != "" {
		path := "/status"
		if asJSON {
			path = "/status.json"
		}
		if err := fetchStatus(ctx, c, path, out); err == nil {
			return nil
		}
	}
	a, err := OpenAdmin(ctx, files, out, logTo)
	if err != nil {
		return err
	}
	defer a.Close()
	rep, err := StoreReport(ctx, a.Store, c.Instance, version)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(out).Encode(rep)
	}
	fmt.Fprintln(out, "(no daemon answering on", c.StatusListen+"; showing the store only)")
	rep.WriteText(out)
	return nil
}

// KeyFilter selects persistence keys: of source, whose name contains name,
// of type permanent, volatile or all; with older > 0, volatile keys not
// updated for that long.
func KeyFilter(source, name, typ string, older time.Duration) (persistence.KeyFilter, error) {
	f := persistence.KeyFilter{Source: source, NameContains: name}
	switch typ {
	case "permanent", "volatile":
		perm := typ == "permanent"
		f.Permanent = &perm
	case "all":
	default:
		return f, fmt.Errorf("--type %q: want permanent, volatile or all", typ)
	}
	if older > 0 {
		volatile := false
		f.Permanent, f.OlderThan = &volatile, time.Now().Add(-older)
	}
	return f, nil
}

// PrintValidate is `ace-collector validate`: every warning and error, the
// summary line and a verdict; it returns the number of errors.
func PrintValidate(files []string, out io.Writer) (int, error) {
	c, p, err := Load(files, LoadOptions{})
	if err != nil {
		return 0, err
	}
	for _, w := range p.Warnings() {
		fmt.Fprintln(out, "warning:", w)
	}
	for _, e := range p.List() {
		fmt.Fprintln(out, "error:", e)
	}
	fmt.Fprintln(out, c.Summary())
	n := len(p.List())
	if n > 0 {
		fmt.Fprintf(out, "%d error(s), %d warning(s) in %s\n", n, len(p.Warnings()), strings.Join(files, ", "))
	} else {
		fmt.Fprintf(out, "%s: configuration is valid (%d warning(s))\n", strings.Join(files, ", "), len(p.Warnings()))
	}
	return n, nil
}
