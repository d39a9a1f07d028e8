package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ace-collector/ace-collector/collector"
)

func kindsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "kinds",
		Short: "List the collector kinds this binary has, with a one-line summary",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KIND\tSUMMARY")
			for _, k := range collector.Kinds() {
				fmt.Fprintf(tw, "%s\t%s\n", k.Name, k.Summary)
			}
			return tw.Flush()
		},
	}
}

func sampleCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "sample KIND",
		Short: "Print a collector kind's documented sample section",
		Long: `Print a collector kind's documented sample [collector_NAME] section: every key
with its default and what it means. Append it to a configuration and edit it.`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			var out []cobra.Completion
			for _, k := range collector.Kinds() {
				out = append(out, cobra.CompletionWithDesc(k.Name, k.Summary))
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			k, ok := collector.Lookup(args[0])
			if !ok {
				var names []string
				for _, k := range collector.Kinds() {
					names = append(names, k.Name)
				}
				return usageError{fmt.Errorf("unknown kind %q (known: %s)", args[0], strings.Join(names, ", "))}
			}
			_, err := cmd.OutOrStdout().Write(k.Sample)
			return err
		},
	}
}
