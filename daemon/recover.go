package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/ace-collector/ace-collector/persistence"
)

// Recover salvages the configuration's damaged embedded store (see
// persistence.Recover) and moves the incoming directories that no salvaged
// submission owns to <damaged db>.incoming/, so the next start does not
// take them for crash leftovers. It returns the report, how many
// directories it moved and where.
func Recover(ctx context.Context, c *Config, log *slog.Logger) (*persistence.RecoverReport, int, string, error) {
	var names []string
	for _, g := range c.Groups.Enabled() {
		names = append(names, g.Name)
	}
	rep, err := persistence.Recover(ctx, persistence.RecoverOptions{Path: c.Store.Path, Groups: names, Logger: log})
	if err != nil {
		return nil, 0, "", err
	}
	moved, lostDir, err := setAsideLostFiles(ctx, c, rep.DamagedPath)
	if err != nil {
		err = errors.Join(errors.New("setting aside files of lost submissions"), err)
	}
	return rep, moved, lostDir, err
}

// setAsideLostFiles moves incoming directories that no salvaged submission
// owns to DAMAGED.incoming/.
func setAsideLostFiles(ctx context.Context, c *Config, damagedPath string) (int, string, error) {
	entries, err := os.ReadDir(c.IncomingDir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return 0, "", nil
	}
	sc := c.Store.Config
	sc.Shared = true
	sc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := persistence.Open(ctx, sc)
	if err != nil {
		return 0, "", err
	}
	defer store.Close()
	known, err := store.Existing(ctx, names)
	if err != nil {
		return 0, "", err
	}
	lostDir := damagedPath + ".incoming"
	moved := 0
	for _, name := range names {
		if known[name] {
			continue
		}
		if err := os.MkdirAll(lostDir, 0o750); err != nil {
			return moved, lostDir, err
		}
		if err := os.Rename(filepath.Join(c.IncomingDir, name), filepath.Join(lostDir, name)); err != nil {
			return moved, lostDir, err
		}
		moved++
	}
	return moved, lostDir, nil
}
