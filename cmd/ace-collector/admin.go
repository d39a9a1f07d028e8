package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/migrations"
	"github.com/ace-collector/ace-collector/persistence"
)

// openAdminStore opens the store for a short admin command, alongside a
// running daemon if there is one.
func openAdminStore(ctx context.Context, c *daemon.Config) (*persistence.Store, error) {
	sc := c.Store.Config
	sc.Shared = true
	sc.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return persistence.Open(ctx, sc)
}

// withAdminStore loads files and runs fn with the store open.
func withAdminStore(ctx context.Context, files []string, fn func(*persistence.Store) error) error {
	c, err := loadValid(files)
	if err != nil {
		return err
	}
	store, err := openAdminStore(ctx, c)
	if err != nil {
		return err
	}
	defer store.Close()
	return fn(store)
}

func migrateCmd() *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "migrate -c FILE",
		Short: "Apply the store's schema migrations (also done at start)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAdminStore(cmd.Context(), files, func(store *persistence.Store) error {
				cur, latest, err := migrations.Status(cmd.Context(), store.DB().DB, store.Dialect())
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s store schema at version %d (latest %d)\n", store.Dialect(), cur, latest)
				return nil
			})
		},
	}
	configFlag(cmd, &files)
	return cmd
}

func queueCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Inspect failed deliveries and put them back",
	}
	var files []string
	var group string
	var limit int
	list := &cobra.Command{
		Use:   "list -c FILE [--group NAME] [--limit N]",
		Short: "List failed deliveries (parked and terminal), newest first",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAdminStore(cmd.Context(), files, func(store *persistence.Store) error {
				errs, err := store.Errors(cmd.Context(), limit)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "UUID\tGROUP\tATTEMPTS\tPARKED\tUPDATED\tERROR")
				for _, e := range errs {
					if group != "" && e.Group != group {
						continue
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%v\t%s\t%s\n", e.UUID, e.Group, e.Attempts, e.Parked,
						time.UnixMilli(e.UpdatedAt).Format(time.RFC3339), daemon.OneLine(e.LastError, 160))
				}
				return tw.Flush()
			})
		},
	}
	retry := &cobra.Command{
		Use:   "retry -c FILE [--group NAME]",
		Short: "Put failed deliveries back to READY",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAdminStore(cmd.Context(), files, func(store *persistence.Store) error {
				n, err := store.RetryErrors(cmd.Context(), group)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d failed deliveries put back to READY\n", n)
				return nil
			})
		},
	}
	var olderThan time.Duration
	purge := &cobra.Command{
		Use:   "purge -c FILE --older-than DURATION",
		Short: "Release parked errors not updated for DURATION for cleanup",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if olderThan <= 0 {
				return usageError{errors.New("--older-than DURATION (e.g. 72h) is required")}
			}
			return withAdminStore(cmd.Context(), files, func(store *persistence.Store) error {
				n, err := store.PurgeParked(cmd.Context(), time.Now().Add(-olderThan))
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d parked errors released for cleanup\n", n)
				return nil
			})
		},
	}
	for _, c := range []*cobra.Command{list, retry, purge} {
		configFlag(c, &files)
	}
	list.Flags().StringVar(&group, "group", "", "only this group")
	retry.Flags().StringVar(&group, "group", "", "only this group")
	list.Flags().IntVar(&limit, "limit", 100, "list at most this many")
	purge.Flags().DurationVar(&olderThan, "older-than", 0, "parked errors not updated for this long (e.g. 72h)")
	cmd.AddCommand(list, retry, purge)
	return cmd
}

func persistenceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "persistence",
		Short: "Inspect and clear collectors' persistence keys (bookmarks, offsets, dedup keys)",
	}
	var files []string
	var source, name, typ string
	var keys bool
	var limit int
	list := &cobra.Command{
		Use:   "list -c FILE [-s SOURCE] [-k] [-n SUBSTR] [--type permanent|volatile|all]",
		Short: "List sources, or with -k (or -n) their keys",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := keyFilter(source, name, typ)
			if err != nil {
				return err
			}
			return withAdminStore(cmd.Context(), files, func(store *persistence.Store) error {
				return listKeys(cmd.Context(), cmd.OutOrStdout(), store, f, keys || name != "", limit)
			})
		},
	}
	var all, dry bool
	var older time.Duration
	clear := &cobra.Command{
		Use:   "clear -c FILE -s SOURCE (KEY... | --all | --older-than DURATION) [--dry-run]",
		Short: "Delete keys of one source",
		Long: `Delete keys of one source: the KEYs named, every key (--all), or volatile keys not
updated for DURATION (--older-than). Flags may stand before or after the KEYs;
--dry-run counts and deletes nothing.`,
		RunE: func(cmd *cobra.Command, names []string) error {
			f, err := keyFilter(source, name, typ)
			if err != nil {
				return err
			}
			if source == "" {
				return usageError{errors.New("-s SOURCE is required")}
			}
			chosen := 0
			for _, b := range []bool{len(names) > 0, all, older > 0} {
				if b {
					chosen++
				}
			}
			if chosen != 1 {
				return usageError{errors.New("name exactly one of KEY..., --all or --older-than")}
			}
			if older > 0 {
				v := false
				f.Permanent = &v
				f.OlderThan = time.Now().Add(-older)
			}
			return withAdminStore(cmd.Context(), files, func(store *persistence.Store) error {
				n, err := store.ClearKeys(cmd.Context(), f, names, dry)
				if err != nil {
					return err
				}
				if dry {
					fmt.Fprintf(cmd.OutOrStdout(), "would delete %d keys (dry run)\n", n)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "deleted %d keys\n", n)
				}
				return nil
			})
		},
	}
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
	cmd.AddCommand(list, clear)
	return cmd
}

func keyFilter(source, name, typ string) (persistence.KeyFilter, error) {
	f := persistence.KeyFilter{Source: source, NameContains: name}
	switch typ {
	case "permanent":
		t := true
		f.Permanent = &t
	case "volatile":
		v := false
		f.Permanent = &v
	case "all":
	default:
		return f, usageError{fmt.Errorf("--type %q: want permanent, volatile or all", typ)}
	}
	return f, nil
}

func listKeys(ctx context.Context, out io.Writer, store *persistence.Store, f persistence.KeyFilter, keys bool, limit int) error {
	if !keys {
		srcs, err := store.Sources(ctx, f.Source)
		if err != nil {
			return err
		}
		for _, s := range srcs {
			fmt.Fprintln(out, s)
		}
		return nil
	}
	ks, err := store.Keys(ctx, f, limit)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tKEY\tTYPE\tCREATED\tUPDATED\tVALUE")
	for _, k := range ks {
		typ := "volatile"
		if k.Permanent {
			typ = "permanent"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.Source, k.Key, typ,
			time.UnixMilli(k.CreatedAt).Format(time.RFC3339), time.UnixMilli(k.LastUpdate).Format(time.RFC3339),
			daemon.OneLine(string(k.Value), 60))
	}
	return tw.Flush()
}

func sinkCmd() *cobra.Command {
	var o api.SinkOptions
	cmd := &cobra.Command{
		Use:   "sink --listen ADDR --dir DIR [--http] [--cert F --key F]",
		Short: "Run an ACE-compatible receiver that stores what it accepts",
		Long: `Run an ACE-compatible receiver (/api/analysis/submit, /api/common/ping) that stores
each submission it accepts under DIR/<uuid>/ and appends a line per submission to
DIR/received.jsonl. It serves HTTPS with a generated CA written to DIR/ca.pem
(kept across restarts) unless --http or a certificate is given. For demos, tests,
benchmarks and dry runs of a configuration.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
	return cmd
}
