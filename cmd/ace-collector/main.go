// Command ace-collector collects security telemetry and delivers it to ACE
// analysis nodes. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	_ "github.com/ace-collector/ace-collector/collectors/all" // every collector kind
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	name, usage string
	run         func(ctx context.Context, args []string) error
}

var commands = []command{
	{"run", "run -c FILE [-c FILE...]   run the collector daemon", cmdRun},
	{"validate", "validate -c FILE         check a configuration and print every problem", cmdValidate},
	{"sink", "sink --listen ADDR --dir DIR [--http] [--cert F --key F]   run an ACE-compatible receiver", cmdSink},
	{"status", "status -c FILE            show queue and delivery status of a running daemon", cmdStatus},
	{"queue", "queue list|retry|purge -c FILE   inspect and retry failed deliveries", cmdQueue},
	{"persistence", "persistence list|clear -c FILE   inspect and clear persistence keys", cmdPersistence},
	{"migrate", "migrate -c FILE           apply the store's schema migrations", cmdMigrate},
	{"recover", "recover -c FILE           salvage a damaged embedded store into a fresh one (keeps the damaged file)", cmdRecover},
	{"bench", "bench [flags]             measure end-to-end throughput on loopback", cmdBench},
	{"version", "version                   print the version", func(context.Context, []string) error {
		fmt.Println("ace-collector", version)
		return nil
	}},
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ace-collector COMMAND [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintln(os.Stderr, "  "+c.usage)
	}
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	name := os.Args[1]
	for _, c := range commands {
		if c.name == name {
			err := c.run(ctx, os.Args[2:])
			if err == nil {
				return
			}
			if errors.Is(err, flag.ErrHelp) {
				os.Exit(2)
			}
			var ee exitError
			if errors.As(err, &ee) {
				os.Exit(int(ee))
			}
			fmt.Fprintln(os.Stderr, "ace-collector "+name+": "+err.Error())
			os.Exit(1)
		}
	}
	if name == "-h" || name == "--help" || name == "help" {
		usage()
		return
	}
	fmt.Fprintf(os.Stderr, "ace-collector: unknown command %q\n", name)
	usage()
	os.Exit(2)
}

// exitError exits with a code after the command printed its own message.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// configFlags is a repeatable -c flag.
type configFlags []string

func (c *configFlags) String() string     { return strings.Join(*c, ",") }
func (c *configFlags) Set(v string) error { *c = append(*c, v); return nil }

func newFlags(name string, cfg *configFlags) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	if cfg != nil {
		fs.Var(cfg, "c", "configuration file (repeatable; later files override)")
	}
	return fs
}
