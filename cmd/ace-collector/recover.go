package main

import (
	"github.com/spf13/cobra"

	"github.com/ace-collector/ace-collector/daemon"
)

func recoverCmd() *cobra.Command {
	var files []string
	var check, force bool
	cmd := &cobra.Command{
		Use:   "recover -c FILE [--check] [--force]",
		Short: "Salvage a damaged embedded store into a fresh one (keeps the damaged file)",
		Long: `Check the embedded store and, when it is damaged, salvage every row still readable
into a fresh store. The damaged file is kept as <db>.damaged-<timestamp>; the files
of submissions whose records were lost are moved beside it, never deleted.

--check only reports whether the store is damaged (exit 1 when it is). A healthy
store is not rebuilt unless --force is given. Refused while a daemon holds the store.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			damaged, err := daemon.RecoverStore(cmd.Context(), files, check, force, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err == nil && check && damaged {
				err = exitError(1)
			}
			return err
		},
	}
	configFlag(cmd, &files)
	cmd.Flags().BoolVar(&check, "check", false, "report whether the store is damaged; change nothing")
	cmd.Flags().BoolVar(&force, "force", false, "rebuild the store even if it passes its integrity check")
	return cmd
}
