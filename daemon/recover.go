package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/persistence"
)

// Recover salvages the configuration's damaged embedded store (see
// persistence.Recover), then sorts the incoming directories no salvaged
// record owns (see collector.SetAsideLost): those with a manifest stay for
// the next start to re-enqueue, the others move to <damaged db>.incoming/.
// Nothing is deleted.
func Recover(ctx context.Context, c *Config, log *slog.Logger) (*persistence.RecoverReport, collector.LostFiles, string, error) {
	var names []string
	for _, g := range c.Groups.Enabled() {
		names = append(names, g.Name)
	}
	rep, err := persistence.Recover(ctx, persistence.RecoverOptions{Path: c.Store.Path, Groups: names, Logger: log})
	if err != nil {
		return nil, collector.LostFiles{}, "", err
	}
	dst := rep.DamagedPath + ".incoming"
	sc := c.Store.Config
	sc.Shared = true
	sc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := persistence.Open(ctx, sc)
	if err != nil {
		return rep, collector.LostFiles{}, dst, fmt.Errorf("setting aside files of lost submissions: %w", err)
	}
	defer store.Close()
	lost, err := collector.SetAsideLost(ctx, c.IncomingDir, dst, store.Existing)
	if err != nil {
		err = fmt.Errorf("setting aside files of lost submissions: %w", err)
	}
	return rep, lost, dst, err
}
