// Package pcap is the "pcap" collector: it picks up pcap and pcapng
// captures from a spool directory, attaches each file to a submission
// (file and pcap observables) and puts a flow summary in the details —
// per flow (one connection) the server and client address and port,
// protocol (6/17), packets, bytes, first and last time — with
// observables for the
// addresses, an ipv4_full_conversation "client_ip:client_port:server_ip:
// server_port" per flow, and, read from the reassembled TCP streams and
// UDP, DNS query names, HTTP Host and URL, and TLS SNI.
// A truncated or corrupt capture is submitted with what could be read and
// the error in the details.
package pcap

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// Kind is the collector type name.
const Kind = "pcap"

//go:embed sample.ini
var sampleConfig []byte

func init() {
	collector.Register(collector.Kind{
		Name:    Kind,
		Summary: "PCAP spool: submits each capture dropped in a directory, with a flow summary",
		Sample:  sampleConfig,
		New:     New,
	})
}

// Config is the parsed [collector_NAME] section.
type Config struct {
	SpoolDir       string
	ErrorDir       string
	PollInterval   time.Duration
	SettleTime     time.Duration
	MaxFileSize    int64
	MaxFlows       int
	MaxItems       int
	FlowTimeout    time.Duration
	MaxObservables int
	Fields         collector.SubmissionFields
}

// Collector watches the spool directory.
type Collector struct{ cfg Config }

// New builds the collector from its section.
func New(sec *collector.Section, g collector.Global) (collector.Collector, error) {
	c := Config{
		SpoolDir:       sec.Required("spool_dir"),
		ErrorDir:       sec.String("error_dir", ""),
		PollInterval:   sec.Duration("poll_interval", 5*time.Second),
		SettleTime:     sec.Duration("settle_time", 2*time.Second),
		MaxFileSize:    sec.Size("max_file_size", 512<<20),
		MaxFlows:       sec.Int("max_flows", 1000, 1, 1_000_000),
		MaxItems:       sec.Int("max_names", 500, 1, 100_000),
		FlowTimeout:    sec.Duration("flow_timeout", DefaultFlowTimeout),
		MaxObservables: sec.Int("max_observables", 2000, 1, 1_000_000),
		Fields: collector.ParseSubmissionFields(sec, collector.SubmissionDefaults{
			Type: "pcap", Tool: "pcap"}),
	}
	c.SpoolDir = g.Path(c.SpoolDir)
	if c.ErrorDir == "" {
		c.ErrorDir = filepath.Join(c.SpoolDir, ".error")
	} else {
		c.ErrorDir = g.Path(c.ErrorDir)
	}
	if c.PollInterval <= 0 {
		sec.Errorf("poll_interval", "must be positive")
		c.PollInterval = 5 * time.Second
	}
	if c.FlowTimeout <= 0 {
		sec.Errorf("flow_timeout", "must be positive")
		c.FlowTimeout = DefaultFlowTimeout
	}
	if c.MaxFileSize <= 0 {
		sec.Errorf("max_file_size", "must be positive")
	}
	return &Collector{cfg: c}, nil
}

var _ collector.DirInputs = (*Collector)(nil)

// InputDirs is the spool directory (collector.DirInputs).
func (c *Collector) InputDirs() []string { return []string{c.cfg.SpoolDir} }

// Run scans the spool directory every poll_interval until ctx ends.
func (c *Collector) Run(ctx context.Context, env *collector.Env) error {
	if err := os.MkdirAll(c.cfg.SpoolDir, 0o750); err != nil {
		return fmt.Errorf("pcap: creating spool_dir: %w", err)
	}
	env.Log.Info("collector started", "directory", c.cfg.SpoolDir, "error_dir", c.cfg.ErrorDir,
		"poll_interval", c.cfg.PollInterval, "flow_timeout", c.cfg.FlowTimeout)
	defer env.Log.Info("collector stopped", "directory", c.cfg.SpoolDir)
	t := time.NewTicker(c.cfg.PollInterval)
	defer t.Stop()
	for {
		if err := c.scan(ctx, env); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ignored reports spool names that are not (yet) captures: dot files and
// files still being written under a ".new" or ".tmp" name.
func ignored(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".new") || strings.HasSuffix(name, ".tmp")
}

// scan submits every settled capture in the spool directory, oldest first.
// It stops early (returning nil) when the store is unavailable: the files
// stay and are retried on the next scan.
func (c *Collector) scan(ctx context.Context, env *collector.Env) error {
	entries, err := os.ReadDir(c.cfg.SpoolDir)
	if err != nil {
		return fmt.Errorf("pcap: reading spool_dir: %w", err)
	}
	type cand struct {
		path string
		fi   os.FileInfo
	}
	var files []cand
	now := time.Now()
	for _, e := range entries {
		if ignored(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // vanished
		}
		if now.Sub(fi.ModTime()) < c.cfg.SettleTime {
			continue // may still be written
		}
		files = append(files, cand{filepath.Join(c.cfg.SpoolDir, e.Name()), fi})
	}
	slices.SortFunc(files, func(a, b cand) int { return a.fi.ModTime().Compare(b.fi.ModTime()) })
	for _, f := range files {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := c.process(ctx, env, f.path, f.fi); err != nil {
			env.Log.Warn("pcap submission postponed: store unavailable", "file", f.path, "error", err)
			env.Count("submit_retry", 1)
			return nil
		}
	}
	return nil
}

// process submits one capture. It returns an error only when the store
// was unavailable (the file is left for the next scan).
func (c *Collector) process(ctx context.Context, env *collector.Env, path string, fi os.FileInfo) error {
	name := filepath.Base(path)
	if fi.Size() > c.cfg.MaxFileSize {
		env.Drop("too_large", 1)
		env.Log.Error("capture exceeds max_file_size, moved to error_dir", "file", path, "size", fi.Size())
		c.quarantine(env, path)
		return nil
	}
	sub, sum, err := c.build(env.Global, path, name, fi)
	if err != nil {
		env.Drop("unreadable", 1)
		env.Log.Error("reading capture, moved to error_dir", "file", path, "error", err)
		c.quarantine(env, path)
		return nil
	}
	if sum.Error != "" {
		env.Count("truncated", 1)
		env.Log.Warn("capture read partially", "file", path, "packets", sum.Packets, "error", sum.Error)
	}
	if err := env.Sink.Submit(ctx, sub); err != nil {
		if errors.Is(err, collector.ErrInvalid) {
			env.Drop("invalid", 1)
			env.Log.Error("pcap submission rejected, moved to error_dir", "file", path, "error", err)
			c.quarantine(env, path)
			return nil
		}
		return err
	}
	env.Count("submitted", 1)
	env.Count("packets", sum.Packets)
	env.Count("bytes", fi.Size())
	// DeleteSource asked the runtime to remove the file; make sure it is
	// gone either way so it is not submitted twice.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		env.Log.Error("removing submitted capture", "file", path, "error", err)
	}
	return nil
}

func (c *Collector) quarantine(env *collector.Env, path string) {
	if err := os.MkdirAll(c.cfg.ErrorDir, 0o750); err != nil {
		env.Log.Error("creating error_dir", "error", err)
		return
	}
	dst := filepath.Join(c.cfg.ErrorDir, time.Now().UTC().Format("20060102T150405.000000000-")+filepath.Base(path))
	if err := os.Rename(path, dst); err != nil {
		env.Log.Error("moving capture to error_dir", "file", path, "error", err)
	}
}
