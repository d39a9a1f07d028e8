package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/migrations"
	"github.com/ace-collector/ace-collector/persistence"
)

// openAdminStore opens the store for a short admin command, alongside a
// running daemon if there is one.
func openAdminStore(ctx context.Context, cfgs []string) (*persistence.Store, error) {
	c, err := loadValid(cfgs)
	if err != nil {
		return nil, err
	}
	sc := c.store
	sc.Shared = true
	sc.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return persistence.Open(ctx, sc)
}

func cmdMigrate(ctx context.Context, args []string) error {
	var cfgs configFlags
	fs := newFlags("migrate", &cfgs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	store, err := openAdminStore(ctx, cfgs) // Open applies pending migrations
	if err != nil {
		return err
	}
	defer store.Close()
	cur, latest, err := migrations.Status(ctx, store.DB().DB, store.Dialect())
	if err != nil {
		return err
	}
	fmt.Printf("%s store schema at version %d (latest %d)\n", store.Dialect(), cur, latest)
	return nil
}

func cmdQueue(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: queue list|retry|purge -c FILE [--group NAME]")
	}
	sub := args[0]
	var cfgs configFlags
	fs := newFlags("queue "+sub, &cfgs)
	group := fs.String("group", "", "only this group")
	limit := fs.Int("limit", 100, "list at most this many errors")
	olderThan := fs.Duration("older-than", 0, "purge: parked errors not updated for this long")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	store, err := openAdminStore(ctx, cfgs)
	if err != nil {
		return err
	}
	defer store.Close()
	switch sub {
	case "list":
		errs, err := store.Errors(ctx, *limit)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "UUID\tGROUP\tATTEMPTS\tPARKED\tUPDATED\tERROR")
		for _, e := range errs {
			if *group != "" && e.Group != *group {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%v\t%s\t%s\n", e.UUID, e.Group, e.Attempts, e.Parked,
				time.UnixMilli(e.UpdatedAt).Format(time.RFC3339), oneLine(e.LastError, 160))
		}
		return tw.Flush()
	case "retry":
		n, err := store.RetryErrors(ctx, *group)
		if err != nil {
			return err
		}
		fmt.Printf("%d failed deliveries put back to READY\n", n)
		return nil
	case "purge":
		if *olderThan <= 0 {
			return errors.New("queue purge needs --older-than DURATION (e.g. 72h)")
		}
		n, err := store.PurgeParked(ctx, time.Now().Add(-*olderThan))
		if err != nil {
			return err
		}
		fmt.Printf("%d parked errors released for cleanup\n", n)
		return nil
	}
	return fmt.Errorf("unknown queue command %q (list, retry, purge)", sub)
}

func cmdPersistence(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: persistence list|clear -c FILE [flags]")
	}
	sub := args[0]
	var cfgs configFlags
	fs := newFlags("persistence "+sub, &cfgs)
	source := fs.String("s", "", "source (collector name); list: substring of source names when listing sources")
	keys := fs.Bool("k", false, "list keys instead of sources")
	name := fs.String("n", "", "only keys containing this substring")
	perm := fs.String("type", "all", "permanent, volatile or all")
	all := fs.Bool("all", false, "clear: every key of the source")
	older := fs.Duration("older-than", 0, "clear: volatile keys not updated for this long")
	dry := fs.Bool("dry-run", false, "clear: count, delete nothing")
	limit := fs.Int("limit", 1000, "list at most this many keys")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	store, err := openAdminStore(ctx, cfgs)
	if err != nil {
		return err
	}
	defer store.Close()
	f := persistence.KeyFilter{Source: *source, NameContains: *name}
	switch *perm {
	case "permanent":
		t := true
		f.Permanent = &t
	case "volatile":
		v := false
		f.Permanent = &v
	case "all":
	default:
		return fmt.Errorf("-type %q: want permanent, volatile or all", *perm)
	}
	switch sub {
	case "list":
		if !*keys && *name == "" {
			srcs, err := store.Sources(ctx, *source)
			if err != nil {
				return err
			}
			for _, s := range srcs {
				fmt.Println(s)
			}
			return nil
		}
		ks, err := store.Keys(ctx, f, *limit)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SOURCE\tKEY\tTYPE\tCREATED\tUPDATED\tVALUE")
		for _, k := range ks {
			typ := "volatile"
			if k.Permanent {
				typ = "permanent"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.Source, k.Key, typ,
				time.UnixMilli(k.CreatedAt).Format(time.RFC3339), time.UnixMilli(k.LastUpdate).Format(time.RFC3339),
				oneLine(string(k.Value), 60))
		}
		return tw.Flush()
	case "clear":
		if *source == "" {
			return errors.New("persistence clear needs -s SOURCE")
		}
		names := fs.Args()
		switch {
		case len(names) > 0:
		case *all:
		case *older > 0:
			v := false
			f.Permanent = &v
			f.OlderThan = time.Now().Add(-*older)
		default:
			return errors.New("persistence clear needs KEY..., --all or --older-than")
		}
		n, err := store.ClearKeys(ctx, f, names, *dry)
		if err != nil {
			return err
		}
		if *dry {
			fmt.Printf("would delete %d keys (dry run)\n", n)
		} else {
			fmt.Printf("deleted %d keys\n", n)
		}
		return nil
	}
	return fmt.Errorf("unknown persistence command %q (list, clear)", sub)
}

func cmdSink(ctx context.Context, args []string) error {
	fs := newFlags("sink", nil)
	listen := fs.String("listen", "127.0.0.1:24443", "address to listen on")
	dir := fs.String("dir", "sink-data", "directory to store received submissions")
	plain := fs.Bool("http", false, "serve plain HTTP instead of HTTPS")
	cert := fs.String("cert", "", "TLS certificate (PEM); default: a generated self-signed one")
	key := fs.String("key", "", "TLS key (PEM)")
	caOut := fs.String("ca-out", "", "where to write the generated CA (default DIR/ca.pem)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return api.ServeSink(ctx, api.SinkOptions{
		Listen: *listen, Dir: *dir, PlainHTTP: *plain, CertFile: *cert, KeyFile: *key, CAOut: *caOut, Logger: log,
	})
}
