package daemon

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// TopTerminal is `ace-collector top`: it loads files and runs RunTop on a
// terminal — the alternate screen and raw keys when in and out are one —
// and as a plain refreshing print otherwise.
func TopTerminal(ctx context.Context, files []string, in io.Reader, out io.Writer, interval time.Duration) error {
	cfg, err := LoadValid(files)
	if err != nil {
		return err
	}
	o := TopOptions{Out: out, Interval: interval, Keys: readKeys(in)}
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
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if old, err := term.MakeRaw(int(f.Fd())); err == nil {
			defer term.Restore(int(f.Fd()), old)
		}
	}
	return RunTop(ctx, cfg, o)
}

// readKeys delivers the bytes typed on in; the channel closes at its end.
// The reading goroutine ends with in (a terminal is read until the process
// exits, which is when top stops reading keys anyway).
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

// PrintPing is `ace-collector ping`: the table (or JSON) of every group's
// nodes; ok is false unless every group has a usable node.
func PrintPing(ctx context.Context, files []string, asJSON bool, out, logTo io.Writer) (ok bool, err error) {
	rep, err := Ping(ctx, files, logTo)
	if err != nil {
		return false, err
	}
	if asJSON {
		err = jsonEncode(out, rep)
	} else {
		WritePingTable(out, rep)
	}
	return rep.OK(), err
}

func jsonEncode(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }
