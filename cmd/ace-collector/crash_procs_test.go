package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"
)

// buildBinary compiles ace-collector (CGO_ENABLED=0) into a temp dir once
// per test binary. GOFLAGS from the environment apply.
var buildOnce struct {
	sync.Once
	path string
	err  error
}

func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ace-collector-crash-bin-")
		if err != nil {
			buildOnce.err = err
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			buildOnce.err = fmt.Errorf("the go command is needed to build the binary under test: %w", err)
			return
		}
		buildOnce.path = filepath.Join(dir, "ace-collector")
		cmd := exec.Command(goBin, "build", "-o", buildOnce.path, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildOnce.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

// proc is a started ace-collector subprocess with its log in a file.
type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func startProc(t *testing.T, bin, logPath string, args ...string) *proc {
	t.Helper()
	p, err := launch(bin, logPath, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	return p
}

// launch starts bin with its output appended to logPath. It does not fail
// the test, so goroutines other than the test's own can use it; the caller
// must see that the process is killed.
func launch(bin, logPath string, args ...string) (*proc, error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening log %s: %w", logPath, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("starting %v: %w", args, err)
	}
	p := &proc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	if !p.exited() {
		p.cmd.Process.Kill()
	}
	<-p.done
}

// stop asks for a graceful shutdown (SIGTERM) and waits up to d.
func (p *proc) stop(t *testing.T, d time.Duration) {
	t.Helper()
	if p.exited() {
		return
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(d):
		t.Errorf("%s did not stop within %s; killing it", p.cmd.Args[1], d)
		p.kill()
	}
}

func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

var sinkAddrRE = regexp.MustCompile(`sink listening"? addr=(127\.0\.0\.1:\d+)`)

// waitLog waits until re matches the process's log and returns the first
// submatch.
func (p *proc) waitLog(ctx context.Context, t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	s, err := p.awaitLog(ctx, re)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// awaitLog is waitLog returning an error instead of failing the test.
func (p *proc) awaitLog(ctx context.Context, re *regexp.Regexp) (string, error) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		b, _ := os.ReadFile(p.log)
		if m := re.FindSubmatch(b); m != nil {
			return string(m[1]), nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%s never logged %q; log:\n%s", p.cmd.Args[1], re, p.tail())
		case <-p.done:
			return "", fmt.Errorf("%s exited (%v) before logging %q; log:\n%s", p.cmd.Args[1], p.err, re, p.tail())
		case <-tick.C:
		}
	}
}

// journalEntry is one line of the sink's received.jsonl.
type journalEntry struct {
	UUID           string `json:"uuid"` // the sink's: its storage dir
	SubmissionUUID string `json:"submission_uuid"`
	Description    string `json:"description"`
	Files          []struct {
		SHA256 string `json:"sha256"`
	} `json:"files"`
}

// readJournal parses the sink's journal. A line cut by a SIGKILL of the
// sink is skipped (the collector did not get its 200, so it delivers
// that submission again).
func readJournal(path string) ([]journalEntry, int) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0
	}
	defer f.Close()
	var out []journalEntry
	bad := 0
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var e journalEntry
			if jerr := json.Unmarshal(line, &e); jerr != nil || err == io.EOF {
				bad++ // torn (killed mid-write) or still being written
			} else {
				out = append(out, e)
			}
		}
		if err != nil {
			return out, bad
		}
	}
}
