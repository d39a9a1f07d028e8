// Command ace-collector collects security telemetry and delivers it to ACE
// analysis nodes. See README.md.
//
// The CLI is built on cobra: it is what kubectl, Hugo and the GitHub CLI
// use, so operators get the conventions they know (--help on every
// command, flags anywhere among the arguments, generated shell completion)
// from a library that is maintained for them. This package holds only flags,
// dispatch and printing; the daemon is package daemon.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	_ "github.com/ace-collector/ace-collector/collectors/all" // every collector kind
	_ "github.com/ace-collector/ace-collector/groups/all"     // every group type
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitError exits with a code after the command printed its own message.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// usageError is a mistake in the command line (exit 2).
type usageError struct{ error }

// execute runs the command line args and returns the exit status.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return int(ee)
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", cmd.CommandPath(), ue.error, cmd.CommandPath())
		return 2
	}
	fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
	return 1
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "ace-collector",
		Short:         "Collect security telemetry and deliver it to ACE",
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("{{.Name}} {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		runCmd(), validateCmd(), statusCmd(), queueCmd(), persistenceCmd(), migrateCmd(),
		recoverCmd(), sinkCmd(), benchCmd(), kindsCmd(), sampleCmd(), versionCmd(), huntCmd(),
		pingCmd(), topCmd(),
	)
	return root
}

// configFlag adds the repeatable -c/--config flag.
func configFlag(cmd *cobra.Command, into *[]string) {
	cmd.Flags().StringArrayVarP(into, "config", "c", nil, "configuration file (repeatable; later files override earlier ones)")
	cmd.MarkFlagRequired("config")
	cmd.MarkFlagFilename("config", "ini")
}

// noArgs refuses positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", args[0])}
	}
	return nil
}
