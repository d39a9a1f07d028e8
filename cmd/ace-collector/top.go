package main

import (
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ace-collector/ace-collector/daemon"
)

func topCmd() *cobra.Command {
	var files []string
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "top -c FILE",
		Short: "Live terminal view of the running daemon (q quits)",
		Long: `Show the running daemon live: per collector and per group the rates (stored/s,
delivered/s, failed/s), the queue depth by state, node health and the last
submissions. Fits an 80x24 terminal (over SSH too); q quits.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := daemon.LoadValid(files)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			o := daemon.TopOptions{Out: out, Interval: interval, Keys: readKeys(cmd.InOrStdin())}
			if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				o.Size = func() (int, int) {
					if w, h, err := term.GetSize(int(f.Fd())); err == nil {
						return w, h
					}
					return 80, 24
				}
				io.WriteString(out, "\x1b[?1049h\x1b[?25l") // alternate screen, no cursor
				defer io.WriteString(out, "\x1b[?25h\x1b[?1049l")
			}
			if f, ok := cmd.InOrStdin().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				if old, err := term.MakeRaw(int(f.Fd())); err == nil {
					defer term.Restore(int(f.Fd()), old)
				}
			}
			return daemon.RunTop(cmd.Context(), cfg, o)
		},
	}
	configFlag(cmd, &files)
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "refresh interval")
	return cmd
}

// readKeys delivers the bytes typed on in; the channel closes at its end.
func readKeys(in io.Reader) <-chan byte {
	keys := make(chan byte, 16)
	go func() {
		defer close(keys)
		buf := make([]byte, 16)
		for {
			n, err := in.Read(buf)
			for _, b := range buf[:n] {
				keys <- b
			}
			if err != nil {
				return
			}
		}
	}()
	return keys
}
