// Package filedrop is the drop-directory collector (kind "filedrop").
//
// Anything that can write a file can feed ACE through it: a file that
// appears in the watched directory is submitted as an attachment with a
// `file` observable (its name) and md5/sha1/sha256 observables, then
// deleted or moved to a done directory — only after Sink.Submit returned
// nil, so a crash or a full store never loses a file.
//
// Writers should create NAME.new (or .NAME) and rename it to NAME once it is
// complete; names ending in ".new" and dot-files are ignored until renamed.
// For writers that cannot do that, min_age makes the collector wait until a
// file has not been modified for that long.
//
// The directory is watched with fsnotify; a periodic rescan catches
// anything the watcher missed (queue overflow, a filesystem without
// notifications). Files are taken one at a time, oldest modification time
// first.
//
// Files that cannot be submitted at all — larger than max_file_size, or
// refused by the sink as invalid — are moved to DIRECTORY/.rejected/ (a
// dot-directory, so it is never rescanned), logged and counted. A store
// failure leaves the file in place and retries with a capped exponential
// backoff.
//
// Before a file is hashed it is hard-linked into DIRECTORY/.inflight/ and
// submitted from that link: what is hashed is exactly what is stored, and a
// writer that renames a new file over the same name meanwhile cannot have
// it deleted (the name is removed only if it still is the submitted file).
// In delete mode the link is passed with DeleteSource, so the runtime can
// hard-link it into its incoming directory instead of copying; in move mode
// the runtime copies (the done file must not share the queued inode).
package filedrop

import (
	_ "embed"
	"fmt"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// Kind is the collector type name.
const Kind = "filedrop"

// Defaults for the section's keys.
const (
	DefaultType        = "filedrop"
	DefaultTool        = "ace-collector filedrop"
	DefaultDescription = "filedrop: {{.Name}}"
	DefaultRescan      = 10 * time.Second
	RejectedDir        = ".rejected"
	// InflightDir holds hard links to the files being submitted.
	InflightDir = ".inflight"
)

// After-submit actions.
const (
	AfterDelete = "delete"
	AfterMove   = "move"
)

//go:embed sample.ini
var sampleConfig []byte

func init() {
	collector.Register(collector.Kind{
		Name:    Kind,
		Summary: "drop directory: submits every file written to a watched directory, with its hashes",
		Sample:  sampleConfig,
		New:     New,
	})
}

// Config is the parsed [collector_NAME] section.
type Config struct {
	Dir         string
	Recursive   bool
	Rescan      time.Duration
	Workers     int // files submitted concurrently (each Submit waits for a commit)
	Fields      collector.SubmissionFields
	Description *template.Template
	After       string
	DoneDir     string
	MaxSize     int64 // 0: no limit
	MinAge      time.Duration
	Dedup       bool
	RetryMin    time.Duration
	RetryMax    time.Duration
}

// Collector watches one drop directory.
type Collector struct {
	cfg Config
	now func() time.Time
}

// New builds the collector from its section, reporting every bad value
// through sec.
func New(sec *collector.Section, g collector.Global) (collector.Collector, error) {
	c := Config{
		Dir:       g.Path(sec.Required("directory")),
		Recursive: sec.Bool("recursive", false),
		Rescan:    sec.Duration("rescan_interval", DefaultRescan),
		Workers:   sec.Int("workers", 4, 1, 256),
		Fields: collector.ParseSubmissionFields(sec, collector.SubmissionDefaults{
			Type: DefaultType, Tool: DefaultTool}),
		After:    sec.OneOf("after", AfterDelete, AfterDelete, AfterMove),
		DoneDir:  g.Path(sec.String("done_directory", "")),
		MaxSize:  sec.Size("max_file_size", 0),
		MinAge:   sec.Duration("min_age", 0),
		Dedup:    sec.Bool("dedup", false),
		RetryMin: sec.Duration("retry_backoff", time.Second),
		RetryMax: sec.Duration("retry_max_backoff", 30*time.Second),
	}
	tmpl, err := ParseDescription(sec.String("description", DefaultDescription))
	if err != nil {
		sec.Errorf("description", "%v", err)
	}
	c.Description = tmpl
	if c.Rescan <= 0 {
		sec.Errorf("rescan_interval", "must be positive")
		c.Rescan = DefaultRescan
	}
	if c.RetryMin <= 0 {
		sec.Errorf("retry_backoff", "must be positive")
		c.RetryMin = time.Second
	}
	if c.RetryMax < c.RetryMin {
		sec.Errorf("retry_max_backoff", "must not be less than retry_backoff (%s)", c.RetryMin)
		c.RetryMax = c.RetryMin
	}
	checkDoneDir(sec, &c)
	return &Collector{cfg: c, now: time.Now}, nil
}

var _ collector.DirInputs = (*Collector)(nil)

// InputDirs is the drop directory (collector.DirInputs).
func (c *Collector) InputDirs() []string { return []string{c.cfg.Dir} }

// checkDoneDir validates done_directory against after and directory.
func checkDoneDir(sec *collector.Section, c *Config) {
	if c.After != AfterMove {
		if c.DoneDir != "" {
			sec.Errorf("done_directory", "is only used with after = move")
		}
		return
	}
	if c.DoneDir == "" {
		sec.Errorf("done_directory", "required when after = move")
		return
	}
	if c.Dir == "" {
		return
	}
	dir, done := filepath.Clean(c.Dir), filepath.Clean(c.DoneDir)
	if dir == done {
		sec.Errorf("done_directory", "must not be the watched directory")
		return
	}
	rel, err := filepath.Rel(dir, done)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return // outside directory
	}
	// Inside: fine unless a recursive scan would walk into it again.
	if c.Recursive && !hiddenPath(rel) {
		sec.Errorf("done_directory", "is inside directory %s, which is scanned recursively "+
			"(use a directory outside it, or a dot-directory such as %s)", c.Dir, filepath.Join(c.Dir, ".done"))
	}
}

// hiddenPath reports whether any component of the relative path rel is a
// dot-name (and so skipped by the scan).
func hiddenPath(rel string) bool {
	for _, p := range strings.Split(filepath.ToSlash(rel), "/") {
		if strings.HasPrefix(p, ".") {
			return true
		}
	}
	return false
}

// Description is the data a description template is executed with.
type Description struct {
	Name    string    // the attachment name (base name, sanitised)
	Path    string    // the full path of the file in the drop directory
	Size    int64     // bytes
	SHA256  string    // lower-case hex
	ModTime time.Time // modification time
}

// ParseDescription parses a description template and checks that it
// executes (unknown fields are found here, not on the first file).
func ParseDescription(text string) (*template.Template, error) {
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("empty template")
	}
	t, err := template.New("description").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("bad template: %w", err)
	}
	sample := Description{Name: "sample.bin", Path: "/drop/sample.bin", Size: 1,
		SHA256: strings.Repeat("0", 64), ModTime: time.Unix(0, 0).UTC()}
	if _, err := RenderDescription(t, sample); err != nil {
		return nil, err
	}
	return t, nil
}

// maxDescription bounds a rendered description.
const maxDescription = 4096

// RenderDescription executes t; an empty result falls back to the default
// form so a submission never lacks a description.
func RenderDescription(t *template.Template, d Description) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("executing description template: %w", err)
	}
	s := strings.TrimSpace(b.String())
	if s == "" {
		s = "filedrop: " + d.Name
	}
	if len(s) > maxDescription {
		s = strings.ToValidUTF8(s[:maxDescription], "")
	}
	return s, nil
}
