// Package eve is the "eve" collector: it follows Suricata EVE JSON-lines
// files, selects events by event_type and rules, and submits each selected
// event with its observables:
//
//   - src_ip, dest_ip: ipv4 (ipv6) tagged src / dst; with ports an
//     ipv4_full_conversation "src_ip:src_port:dest_ip:dest_port"
//   - http.hostname: fqdn; http.url: url ("http://host[:port]/path")
//   - dns.rrname (and dns.queries[].rrname), tls.sni: fqdn
//   - fileinfo.filename: file_name; fileinfo md5/sha1/sha256: hashes
//   - alert: snort_sig "gid:signature_id:rev" (ACE's SnortSignatureObservable
//     form); the signature text is the description
//
// Details carry the event as Suricata wrote it, plus the file and offset.
//
// The read position of each file — its path, (device, inode) identity and
// byte offset — is a persistence key, advanced only after Submit returned,
// so a restart neither skips nor repeats a file.
package eve

import (
	"fmt"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/common/netobs"
)

// Kind is the collector type name.
const Kind = "eve"

func init() { collector.Register(Kind, New) }

// Config is the parsed [collector_NAME] section.
type Config struct {
	Paths        []string
	EventTypes   map[string]bool // empty: all
	PollInterval time.Duration
	RotateWait   time.Duration
	MaxLineSize  int
	StartAtEnd   bool
	Rules        netobs.Rules

	AnalysisMode, Queue, Type, Tool, ToolInstance string
	Tags                                          []string
}

// Collector follows the configured files.
type Collector struct{ cfg Config }

// New builds the collector from its section.
func New(sec *collector.Section, g collector.Global) (collector.Collector, error) {
	c := Config{
		Paths:        sec.List("paths"),
		EventTypes:   map[string]bool{},
		PollInterval: sec.Duration("poll_interval", time.Second),
		RotateWait:   sec.Duration("rotate_wait", 5*time.Second),
		MaxLineSize:  int(sec.Size("max_line_size", 1<<20)),
		StartAtEnd:   sec.OneOf("start_at", "beginning", "beginning", "end") == "end",
		Rules:        netobs.LoadRules(sec),
		AnalysisMode: sec.String("analysis_mode", "correlation"),
		Queue:        sec.String("queue", collector.DefaultQueue),
		Type:         sec.String("submission_type", "suricata"),
		Tool:         sec.String("tool", "suricata"),
		ToolInstance: sec.String("tool_instance", g.Hostname),
		Tags:         sec.List("tags"),
	}
	if len(c.Paths) == 0 {
		sec.Errorf("paths", "required: one or more EVE files, comma-separated")
	}
	for i, p := range c.Paths {
		c.Paths[i] = g.Path(p)
	}
	types := []string{"alert"}
	if sec.Has("event_types") {
		types = sec.List("event_types")
	} else {
		sec.Ignore("event_types")
	}
	for _, t := range types {
		if t != "*" && t != "all" {
			c.EventTypes[strings.ToLower(t)] = true
		}
	}
	if c.PollInterval <= 0 {
		sec.Errorf("poll_interval", "must be positive")
		c.PollInterval = time.Second
	}
	if c.MaxLineSize < 1024 || c.MaxLineSize > 64<<20 {
		sec.Errorf("max_line_size", "%d is out of range 1k..64M", c.MaxLineSize)
		c.MaxLineSize = 1 << 20
	}
	return &Collector{cfg: c}, nil
}

// buildSubmission turns a selected event into a submission.
func (c *Collector) buildSubmission(ev *Event, rule, path string, offset int64, received time.Time) (*collector.Submission, error) {
	sub := collector.NewSubmission(ev.Title())
	sub.AnalysisMode, sub.Queue, sub.Type = c.cfg.AnalysisMode, c.cfg.Queue, c.cfg.Type
	sub.Tool, sub.ToolInstance = c.cfg.Tool, c.cfg.ToolInstance
	sub.Tags = append(sub.Tags, c.cfg.Tags...)
	if t, ok := ev.Time(); ok {
		sub.EventTime = t
	} else {
		sub.EventTime = received.UTC()
	}
	var set collector.ObservableSet
	ev.Observables(&set)
	sub.Observables = set.List()
	det := map[string]any{"file": path, "offset": offset, "event": ev.raw}
	if rule != "" {
		det["rule"] = rule
	}
	if err := sub.SetDetails(det); err != nil {
		return nil, fmt.Errorf("eve %s offset %d: %w", path, offset, err)
	}
	return sub, nil
}
