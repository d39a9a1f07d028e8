package eve

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// readLines handles every complete line from the current offset to EOF.
// A partial last line is left for the next poll.
func (fl *follower) readLines(ctx context.Context) error {
	if fl.rd == nil || fl.rdOffset != fl.pos.Offset {
		if _, err := fl.f.Seek(fl.pos.Offset, io.SeekStart); err != nil {
			return fmt.Errorf("eve: seeking %s: %w", fl.pos.Path, err)
		}
		fl.rd = bufio.NewReaderSize(fl.f, 64<<10)
		fl.rdOffset = fl.pos.Offset
	}
	defer func() {
		if err := fl.save(context.WithoutCancel(ctx)); err != nil {
			fl.env.Log.Error("saving EVE position", "error", err)
		}
	}()
	for ctx.Err() == nil {
		line, n, tooLong, err := fl.nextLine()
		if err == io.EOF {
			fl.rd = nil // re-read the partial line next time
			return nil
		}
		if err != nil {
			return fmt.Errorf("eve: reading %s: %w", fl.pos.Path, err)
		}
		if tooLong {
			fl.env.Drop("line_too_long", 1)
			fl.env.Log.Warn("EVE line exceeds max_line_size, skipped", "path", fl.pos.Path, "offset", fl.pos.Offset, "bytes", n)
			fl.pos.Offset += n
			fl.rdOffset = fl.pos.Offset
			continue
		}
		if err := fl.handle(ctx, line, fl.pos.Offset, n); err != nil {
			return err
		}
		fl.rdOffset = fl.pos.Offset
	}
	return errStopped
}

// nextLine returns the next newline-terminated line (without the
// newline) and the bytes it occupies. At EOF before a newline it returns
// io.EOF and consumes nothing (the caller re-seeks). A line longer than
// max_line_size is consumed and reported as tooLong.
func (fl *follower) nextLine() (line []byte, n int64, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := fl.rd.ReadSlice('\n')
		n += int64(len(chunk))
		if !tooLong {
			if len(buf)+len(chunk) > fl.c.cfg.MaxLineSize+1 {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case err == nil:
			return bytes.TrimRight(buf, "\r\n"), n, tooLong, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, 0, false, err
		}
	}
}

// handle processes one line that occupies n bytes at offset: decode,
// filter, submit. The position moves past the line only when the line was
// filtered or Submit returned (nil, or ErrInvalid which is counted).
func (fl *follower) handle(ctx context.Context, line []byte, offset, n int64) error {
	advance := func() { fl.pos.Offset = offset + n }
	if len(bytes.TrimSpace(line)) == 0 {
		advance()
		return nil
	}
	fl.env.Count("lines", 1)
	if len(fl.c.cfg.EventTypes) > 0 {
		// Most lines on a busy sensor are filtered out by type: look at
		// event_type alone before building the whole event.
		var head struct {
			EventType string `json:"event_type"`
		}
		if err := json.Unmarshal(line, &head); err == nil && !fl.c.cfg.EventTypes[head.EventType] {
			fl.env.Drop("event_type", 1)
			advance()
			return nil
		}
	}
	ev, err := decode(line)
	if err != nil {
		fl.env.Drop("malformed", 1)
		fl.env.Log.Debug("malformed EVE line", "path", fl.pos.Path, "offset", offset, "error", err)
		advance()
		return nil
	}
	if len(fl.c.cfg.EventTypes) > 0 && !fl.c.cfg.EventTypes[ev.Type()] {
		fl.env.Drop("event_type", 1)
		advance()
		return nil
	}
	if !submittable(ev.Type()) {
		fl.env.Drop(ev.Type(), 1)
		advance()
		return nil
	}
	rule, ok := fl.c.cfg.Rules.Match(ev.Field)
	if !ok {
		fl.env.Drop("not_selected", 1)
		advance()
		return nil
	}
	fl.env.Count("accepted", 1)
	sub, err := fl.c.buildSubmission(fl.env.Global, ev, rule, fl.pos.Path, offset, time.Now())
	if err != nil {
		fl.env.Drop("invalid", 1)
		fl.env.Log.Error("building EVE submission", "error", err)
		advance()
		return nil
	}
	// A crash between Submit and saving the offset repeats this line; the
	// dedup key (file identity, offset, content) lets the runtime drop it.
	h := sha256.Sum256(line)
	sub.DedupKey = "eve:" + strconv.FormatUint(fl.pos.ID.Dev, 10) + ":" + strconv.FormatUint(fl.pos.ID.Ino, 10) +
		":" + strconv.FormatInt(offset, 10) + ":" + hex.EncodeToString(h[:8])
	if err := fl.submit(ctx, sub); err != nil {
		return err
	}
	advance()
	return fl.save(ctx)
}

// submit retries while the store is unavailable; only ctx ends the wait.
func (fl *follower) submit(ctx context.Context, sub *collector.Submission) error {
	backoff := 100 * time.Millisecond
	for {
		err := fl.env.Sink.Submit(ctx, sub)
		if err == nil {
			fl.env.Count("submitted", 1)
			return nil
		}
		if errors.Is(err, collector.ErrInvalid) {
			fl.env.Drop("invalid", 1)
			fl.env.Log.Error("EVE submission rejected", "description", sub.Description, "error", err)
			return nil
		}
		fl.env.Count("submit_retry", 1)
		fl.env.Log.Warn("store unavailable, retrying EVE submission", "error", err, "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return errStopped
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// Run follows every configured path until ctx ends.
func (c *Collector) Run(ctx context.Context, env *collector.Env) error {
	fls := make([]*follower, len(c.cfg.Paths))
	for i, p := range c.cfg.Paths {
		fls[i] = &follower{c: c, env: env, path: p}
	}
	defer func() {
		for _, fl := range fls {
			fl.close()
		}
	}()
	types := "*"
	if len(c.cfg.EventTypes) > 0 {
		types = strings.Join(slices.Sorted(maps.Keys(c.cfg.EventTypes)), ",")
	}
	env.Log.Info("collector started", "path", c.cfg.Paths, "event_types", types, "poll_interval", c.cfg.PollInterval)
	defer env.Log.Info("collector stopped", "path", c.cfg.Paths)
	t := time.NewTicker(c.cfg.PollInterval)
	defer t.Stop()
	for {
		for _, fl := range fls {
			if err := fl.poll(ctx); err != nil {
				if errors.Is(err, errStopped) || ctx.Err() != nil {
					return nil
				}
				env.Count("errors", 1)
				fl.close()
				if fl.failing.due(c.clock(), err.Error(), c.reminderInterval()) {
					env.Log.Error("following EVE file", "path", fl.path, "error", err, "repeated", fl.failing.suppressed)
					fl.failing.suppressed = 0
				}
				continue
			}
			if d, ok := fl.failing.clear(c.clock()); ok {
				env.Log.Info("following EVE file again", "path", fl.path, "failing_for", d)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
