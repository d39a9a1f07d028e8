// Package email is the mailbox spool collector (kind "email"): ACE's
// Mailbox Scanner done right. An MDA writes each message to
// SPOOL/<subdir>/<name>.new and renames it to drop the suffix once it is
// complete; the collector submits every complete file, oldest first, with
// the original attached as email.rfc822 and the observables of
// collectors/common/mailparse, and deletes it only after Submit returned.
package email

import (
	_ "embed"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/common/mailparse"
	"github.com/ace-collector/ace-collector/collectors/common/mailrules"
)

// Kind is the collector type name.
const Kind = "email"

// Submission constants (ACE's Mailbox Scanner values).
const (
	Tool         = "ACE - Mailbox Scanner"
	Type         = "mailbox"
	AnalysisMode = "email"
	FileName     = "email.rfc822"
)

//go:embed sample.ini
var sampleConfig []byte

func init() {
	collector.Register(collector.Kind{
		Name:    Kind,
		Summary: "mailbox spool: submits each message an MDA writes to a spool directory (ACE's Mailbox Scanner)",
		Sample:  sampleConfig,
		New:     New,
	})
}

// Config is the parsed [collector_NAME] section.
type Config struct {
	SpoolDir      string
	SubdirFormat  string // as configured
	SubdirLayout  string // Go time layout
	ScanInterval  time.Duration
	RetryMin      time.Duration
	RetryMax      time.Duration
	EmptyDirGrace time.Duration
	MaxParseSize  int64
	ErrorDir      string
	NonEmail      string // NonEmailSubmit or NonEmailReject
	NonEmailMode  string // analysis mode of a non-email file's submission
	Fields        collector.SubmissionFields
	Parse         mailparse.Options
	Rules         *mailrules.Set
	RulesCheck    time.Duration
}

// New builds the collector from its section.
func New(sec *collector.Section, g collector.Global) (collector.Collector, error) {
	c := Config{
		SpoolDir:      g.Path(sec.Required("spool_dir")),
		SubdirFormat:  sec.String("subdir_format", "YYYYMMDDHH"),
		ScanInterval:  sec.Duration("scan_interval", time.Second),
		RetryMin:      sec.Duration("retry_backoff", time.Second),
		RetryMax:      sec.Duration("retry_max_backoff", time.Minute),
		EmptyDirGrace: sec.Duration("empty_dir_grace", time.Minute),
		MaxParseSize:  sec.Size("max_parse_size", 64<<20),
		ErrorDir:      g.Path(sec.String("error_dir", "")),
		NonEmail:      strings.ToLower(sec.String("non_email", NonEmailSubmit)),
		NonEmailMode:  sec.String("non_email_analysis_mode", "analysis"),
		Fields: collector.ParseSubmissionFields(sec, collector.SubmissionDefaults{
			AnalysisMode: AnalysisMode, Type: Type, Tool: Tool}),
		Parse: mailparse.OptionsFromConfig(sec),
	}
	c.Rules, c.RulesCheck = mailrules.FromConfig(sec, g)
	layout, err := SubdirLayout(c.SubdirFormat)
	if err != nil {
		sec.Errorf("subdir_format", "%v", err)
	}
	c.SubdirLayout = layout
	if c.ScanInterval <= 0 {
		sec.Errorf("scan_interval", "must be positive")
		c.ScanInterval = time.Second
	}
	if c.RetryMin <= 0 {
		c.RetryMin = time.Second
	}
	if c.RetryMax < c.RetryMin {
		sec.Errorf("retry_max_backoff", "must not be less than retry_backoff (%s)", c.RetryMin)
		c.RetryMax = c.RetryMin
	}
	if c.NonEmail != NonEmailSubmit && c.NonEmail != NonEmailReject {
		sec.Errorf("non_email", "%q is not one of %s, %s", c.NonEmail, NonEmailSubmit, NonEmailReject)
	}
	if strings.TrimSpace(c.NonEmailMode) == "" {
		sec.Errorf("non_email_analysis_mode", "must not be empty (leave the key out for the default)")
		c.NonEmailMode = "analysis"
	}
	if c.MaxParseSize <= 0 {
		sec.Errorf("max_parse_size", "must be positive")
	}
	if c.ErrorDir == "" && c.SpoolDir != "" {
		c.ErrorDir = filepath.Join(c.SpoolDir, ".rejected")
	}
	return &Collector{cfg: c}, nil
}

// SubdirLayout turns a subdirectory format (YYYY MM DD HH tokens, or
// amc_mda's strftime %Y %m %d %H) into a Go time layout.
func SubdirLayout(format string) (string, error) {
	if format == "" {
		return "", fmt.Errorf("empty format")
	}
	r := strings.NewReplacer("YYYY", "2006", "MM", "01", "DD", "02", "HH", "15",
		"%Y", "2006", "%m", "01", "%d", "02", "%H", "15")
	layout := r.Replace(format)
	if !strings.Contains(layout, "2006") {
		return "", fmt.Errorf("%q has no year (YYYY or %%Y)", format)
	}
	if strings.ContainsAny(layout, `/\`) {
		return "", fmt.Errorf("%q must name a single directory level", format)
	}
	for _, ch := range layout {
		if ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch == '%' {
			return "", fmt.Errorf("%q: unknown token near %q (use YYYY, MM, DD, HH)", format, string(ch))
		}
	}
	return layout, nil
}
