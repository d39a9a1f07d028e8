package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ace-collector/ace-collector/daemon"
)

// version may be set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise it comes from the module's build info.
var version = ""

// versionString is the module version and the VCS revision the binary
// was built from (daemon.Version).
func versionString() string { return daemon.Version(version) }

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the VCS revision it was built from",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "ace-collector", versionString())
			return nil
		},
	}
}
