// Package eve is the "eve" collector: it follows Suricata EVE JSON-lines
// files, selects events by event_type and rules, and submits each selected
// event with its observables:
//
//   - src_ip, dest_ip: ipv4 (ipv6) tagged src / dst; with ports an
//     ipv4_full_conversation "client:port:server:port", client first also
//     where Suricata wrote the server as src (to_client alerts, downloads)
//   - http.hostname: fqdn; http.url: url ("http://host[:port]/path")
//   - dns.rrname (and dns.queries[].rrname), tls.sni: fqdn
//   - fileinfo.filename: file_name, its last segment (for HTTP it is the
//     URL path, kept as url); fileinfo md5/sha1/sha256: hashes
//   - alert: snort_sig "gid:signature_id:rev" (ACE's SnortSignatureObservable
//     form); the signature text is the description
//
// Details carry the event as Suricata wrote it, plus the file and offset.
// stats records are never submitted.
//
// The read position of each file — its path, (device, inode) identity and
// byte offset — is a persistence key, advanced only after Submit returned,
// so a restart neither skips nor repeats a file.
package eve

import (
	_ "embed"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/common/netobs"
)

// Kind is the collector type name.
const Kind = "eve"

//go:embed sample.ini
var sampleConfig []byte

func init() {
	collector.Register(collector.Kind{
		Name:    Kind,
		Summary: "Suricata EVE follower: submits the EVE JSON events its rules select, resuming at the stored offset",
		Sample:  sampleConfig,
		New:     New,
	})
}

// Config is the parsed [collector_NAME] section.
type Config struct {
	Paths        []string
	EventTypes   map[string]bool // empty: all
	PollInterval time.Duration
	RotateWait   time.Duration
	MaxLineSize  int
	StartAtEnd   bool
	Rules        netobs.Rules
	Fields       collector.SubmissionFields
}

// Collector follows the configured files.
type Collector struct {
	cfg Config
	// A lasting problem (a configured file that does not exist, a file
	// that cannot be read) is logged when it starts, then again every
	// remindEvery while it lasts.
	remindEvery time.Duration
	now         func() time.Time
}

// remindEvery is how often a lasting problem is logged again.
const remindEvery = 5 * time.Minute

// clock is the time for the reminders (injectable for tests).
func (c *Collector) clock() time.Time {
	if c.now == nil {
		return time.Now()
	}
	return c.now()
}

// reminderInterval is remindEvery unless a test set another.
func (c *Collector) reminderInterval() time.Duration {
	if c.remindEvery <= 0 {
		return remindEvery
	}
	return c.remindEvery
}

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
		Fields: collector.ParseSubmissionFields(sec, collector.SubmissionDefaults{
			AnalysisMode: "correlation", Type: "suricata", Tool: "suricata"}),
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
		t = strings.ToLower(t)
		switch {
		case t == "*" || t == "all":
		case !submittable(t):
			sec.Errorf("event_types", "%s records are the engine's counters, not events: they are never submitted", t)
		default:
			c.EventTypes[t] = true
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
	return &Collector{cfg: c, remindEvery: remindEvery, now: time.Now}, nil
}

// submittable reports whether records of an event type can be
// submitted: "stats" records (the engine's counters, every few seconds)
// say nothing about traffic and would make empty submissions.
func submittable(eventType string) bool { return eventType != "stats" }

var _ collector.DirInputs = (*Collector)(nil)

// InputDirs lists the directories of the followed files, each once
// (collector.DirInputs): rotation creates the new file there.
func (c *Collector) InputDirs() []string {
	var out []string
	for _, p := range c.cfg.Paths {
		if d := filepath.Dir(p); !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// buildSubmission turns a selected event into a submission.
func (c *Collector) buildSubmission(g collector.Global, ev *Event, rule, path string, offset int64, received time.Time) (*collector.Submission, error) {
	sub := collector.NewSubmission(ev.Title())
	c.cfg.Fields.Apply(sub, g)
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
