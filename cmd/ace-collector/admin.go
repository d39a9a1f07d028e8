package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/persistence"
)

// adminRun returns a RunE that opens the store for files and calls fn.
func adminRun(files *[]string, fn func(ctx context.Context, a *daemon.Admin, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a, err := daemon.OpenAdmin(cmd.Context(), *files, cmd.OutOrStdout(), cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		defer a.Close()
		return fn(cmd.Context(), a, args)
	}
}

func migrateCmd() *cobra.Command {
	var files []string
	cmd := &cobra.Command{Use: "migrate -c FILE", Short: "Apply the store's schema migrations (also done at start)", Args: noArgs,
		RunE: adminRun(&files, func(ctx context.Context, a *daemon.Admin, _ []string) error { return a.Migrate(ctx) })}
	configFlag(cmd, &files)
	return cmd
}

func queueCmd() *cobra.Command {
	var files []string
	var group string
	var limit int
	var olderThan time.Duration
	list := &cobra.Command{Use: "list -c FILE [--group NAME] [--limit N]", Short: "List failed deliveries (parked and terminal), newest first", Args: noArgs,
		RunE: adminRun(&files, func(ctx context.Context, a *daemon.Admin, _ []string) error { return a.QueueList(ctx, group, limit) })}
	retry := &cobra.Command{Use: "retry -c FILE [--group NAME]", Short: "Put failed deliveries back to READY", Args: noArgs,
		RunE: adminRun(&files, func(ctx context.Context, a *daemon.Admin, _ []string) error { return a.QueueRetry(ctx, group) })}
	purge := &cobra.Command{Use: "purge -c FILE --older-than DURATION", Short: "Release parked errors not updated for DURATION for cleanup", Args: noArgs,
		RunE: adminRun(&files, func(ctx context.Context, a *daemon.Admin, _ []string) error {
			if olderThan <= 0 {
				return usageError{errors.New("--older-than DURATION (e.g. 72h) is required")}
			}
			return a.QueuePurge(ctx, olderThan)
		})}
	for _, c := range []*cobra.Command{list, retry, purge} {
		configFlag(c, &files)
	}
	list.Flags().StringVar(&group, "group", "", "only this group")
	retry.Flags().StringVar(&group, "group", "", "only this group")
	list.Flags().IntVar(&limit, "limit", 100, "list at most this many")
	purge.Flags().DurationVar(&olderThan, "older-than", 0, "parked errors not updated for this long (e.g. 72h)")
	cmd := &cobra.Command{Use: "queue", Short: "Inspect failed deliveries and put them back"}
	cmd.AddCommand(list, retry, purge)
	return cmd
}

func persistenceCmd() *cobra.Command {
	var files []string
	var source, name, typ string
	var keys, all, dry bool
	var limit int
	var older time.Duration
	filter := func() (persistence.KeyFilter, error) {
		f, err := daemon.KeyFilter(source, name, typ, older)
		if err != nil {
			return f, usageError{err}
		}
		return f, nil
	}
	list := &cobra.Command{Use: "list -c FILE [-s SOURCE] [-k] [-n SUBSTR] [--type permanent|volatile|all]",
		Short: "List sources, or with -k (or -n) their keys", Args: noArgs,
		RunE: adminRun(&files, func(ctx context.Context, a *daemon.Admin, _ []string) error {
			f, err := filter()
			if err != nil {
				return err
			}
			return a.KeysList(ctx, f, keys || name != "", limit)
		})}
	clear := &cobra.Command{Use: "clear -c FILE -s SOURCE (KEY... | --all | --older-than DURATION) [--dry-run]",
		Short: "Delete keys of one source",
		Long: `Delete keys of one source: the KEYs named, every key (--all), or volatile keys not
updated for DURATION (--older-than). Flags may stand before or after the KEYs;
--dry-run counts and deletes nothing.`,
		RunE: adminRun(&files, func(ctx context.Context, a *daemon.Admin, names []string) error {
			f, err := filter()
			if err != nil {
				return err
			}
			if source == "" {
				return usageError{errors.New("-s SOURCE is required")}
			}
			if n := len(slices.DeleteFunc([]bool{len(names) > 0, all, older > 0}, func(b bool) bool { return !b })); n != 1 {
				return usageError{errors.New("name exactly one of KEY..., --all or --older-than")}
			}
			return a.KeysClear(ctx, f, names, dry)
		})}
	for _, c := range []*cobra.Command{list, clear} {
		configFlag(c, &files)
		c.Flags().StringVarP(&source, "source", "s", "", "source (collector name); list: substring of source names")
		c.Flags().StringVarP(&name, "name", "n", "", "only keys containing this substring")
		c.Flags().StringVar(&typ, "type", "all", "permanent, volatile or all")
	}
	list.Flags().BoolVarP(&keys, "keys", "k", false, "list keys instead of sources")
	list.Flags().IntVar(&limit, "limit", 1000, "list at most this many keys")
	clear.Flags().BoolVar(&all, "all", false, "every key of the source")
	clear.Flags().DurationVar(&older, "older-than", 0, "volatile keys not updated for this long")
	clear.Flags().BoolVar(&dry, "dry-run", false, "count, delete nothing")
	cmd := &cobra.Command{Use: "persistence", Short: "Inspect and clear collectors' persistence keys (bookmarks, offsets, dedup keys)"}
	cmd.AddCommand(list, clear)
	return cmd
}

func sinkCmd() *cobra.Command {
	var o api.SinkOptions
	var maxBody string
	cmd := &cobra.Command{
		Use:   "sink --listen ADDR --dir DIR [--http] [--cert F --key F]",
		Short: "Run an ACE-compatible receiver that stores what it accepts",
		Long: `An ACE-compatible receiver storing each submission under DIR/<uuid>/ and a line in
DIR/received.jsonl; HTTPS with a generated CA (DIR/ca.pem, reused across restarts)
unless --http or --cert. Slow and idle clients are cut off; connections are limited.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := collector.ParseSize(maxBody)
			if err != nil {
				return usageError{fmt.Errorf("--max-body: %w", err)}
			}
			o.MaxBody = n
			o.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
			return api.ServeSink(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", "127.0.0.1:24443", "address to listen on")
	f.StringVar(&o.Dir, "dir", "sink-data", "directory to store received submissions")
	f.BoolVar(&o.PlainHTTP, "http", false, "serve plain HTTP instead of HTTPS")
	f.StringVar(&o.CertFile, "cert", "", "TLS certificate (PEM); default: one signed by the generated CA")
	f.StringVar(&o.KeyFile, "key", "", "TLS key (PEM)")
	f.StringVar(&o.CAOut, "ca-out", "", "where to write the generated CA (default DIR/ca.pem)")
	f.StringVar(&o.APIKey, "api-key", "", "require this API key (header x-ace-auth) on every request")
	f.StringVar(&o.ClientCA, "client-ca", "", "require client certificates signed by this CA bundle (PEM)")
	f.StringVar(&maxBody, "max-body", "0", "largest request body accepted, e.g. 100M (0: the server's default)")
	f.IntVar(&o.MaxConns, "max-conns", 0, "connections served at once (0: the default, 256)")
	return cmd
}
