package main

import (
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/ace-collector/ace-collector/daemon"
)

func pingCmd() *cobra.Command {
	var files []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ping -c FILE [--json]",
		Short: "Check every group's nodes: DNS, TCP, TLS, ACE's ping and API version",
		Long: `Check every enabled group's nodes as delivery reaches them (target_nodes and
[node_translation] applied, ACE node databases read): DNS, TCP connect, the TLS
handshake with the group's verification settings (naming the certificate's names
when it fails), ACE's ping and get_supported_api_version. Exit 0 only when every
group has at least one usable node.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := daemon.Ping(cmd.Context(), files, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if asJSON {
				json.NewEncoder(cmd.OutOrStdout()).Encode(rep)
			} else {
				daemon.WritePingTable(cmd.OutOrStdout(), rep)
			}
			if !rep.OK() {
				return exitError(1)
			}
			return nil
		},
	}
	configFlag(cmd, &files)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
