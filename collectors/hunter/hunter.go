// Package hunter is the scheduled-hunt collector (kind "hunter"): ACE's
// hunting system. A [collector_NAME] section with type = hunter runs the
// hunt rules of one hunt_type (sql, splunk or elasticsearch) found under
// rule_dirs: ACE rule files, read as they are. Each rule runs on its
// frequency (an interval or a robfig/cron expression) over a time window,
// and every event or group of events it finds becomes a submission. A
// hunt's last_executed_time and last_end_time are persistence keys written
// only after every submission of the run was stored, so full-coverage
// windows continue exactly where the last stored run ended, across
// restarts and rule edits.
package hunter

import (
	_ "embed"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/hunter/elastic"
	"github.com/ace-collector/ace-collector/collectors/hunter/rules"
	"github.com/ace-collector/ace-collector/collectors/hunter/search"
	"github.com/ace-collector/ace-collector/collectors/hunter/splunk"
	"github.com/ace-collector/ace-collector/collectors/hunter/sqlhunt"
)

// Kind is the collector type name.
const Kind = "hunter"

// Hunt types.
const (
	TypeSQL           = "sql"
	TypeSplunk        = "splunk"
	TypeElasticsearch = "elasticsearch"
)

//go:embed sample.ini
var sampleConfig []byte

func init() {
	collector.Register(collector.Kind{
		Name:    Kind,
		Summary: "scheduled hunts: runs ACE hunt rules (SQL, Splunk, Elasticsearch) on a schedule and submits what they find",
		Sample:  sampleConfig,
		New:     New,
	})
}

// Config is the parsed [collector_NAME] section.
type Config struct {
	HuntType string
	RuleDirs []string
	// ConcurrencyLimit bounds the hunts running at once (0: no bound).
	ConcurrencyLimit int
	// UpdateFrequency is how often the rule files are checked for changes.
	UpdateFrequency time.Duration
	// FailureBackoff is the first wait after a failed run (doubling up to
	// the hunt's frequency, at most an hour).
	FailureBackoff time.Duration
	Defaults       rules.Defaults
	Fields         collector.SubmissionFields

	SQL     sqlhunt.Config
	Splunk  splunk.Config
	Elastic elastic.Config
}

// ParseConfig reads sec (every problem reported through it).
func ParseConfig(sec *collector.Section, g collector.Global) Config {
	c := Config{HuntType: sec.OneOf("hunt_type", "", TypeSQL, TypeSplunk, TypeElasticsearch)}
	if c.HuntType == "" && !sec.Has("hunt_type") {
		sec.Errorf("hunt_type", "required: sql, splunk or elasticsearch")
	}
	for _, d := range sec.List("rule_dirs") {
		c.RuleDirs = append(c.RuleDirs, g.Path(d))
	}
	if len(c.RuleDirs) == 0 {
		sec.Errorf("rule_dirs", "required: comma-separated directories of *.ini hunt rules")
	}
	if v := sec.String("concurrency_limit", ""); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			sec.Errorf("concurrency_limit", "%q is not a number (ACE's network semaphores are not supported)", v)
		case n < 0:
			sec.Errorf("concurrency_limit", "must not be negative")
		default:
			c.ConcurrencyLimit = n
		}
	}
	c.UpdateFrequency = sec.Duration("update_frequency", time.Minute)
	if c.UpdateFrequency <= 0 {
		sec.Errorf("update_frequency", "must be longer than zero")
		c.UpdateFrequency = time.Minute
	}
	c.FailureBackoff = sec.Duration("failure_backoff", 30*time.Second)
	if c.FailureBackoff <= 0 {
		sec.Errorf("failure_backoff", "must be longer than zero")
		c.FailureBackoff = 30 * time.Second
	}
	c.Defaults = rules.Defaults{
		MaxResultCount: sec.Int("max_result_count", rules.ACEDefaults.MaxResultCount, 1, 1_000_000),
		MaxTimeRange:   sec.Duration("max_time_range", rules.ACEDefaults.MaxTimeRange),
		QueryTimeout:   sec.Duration("query_timeout", rules.ACEDefaults.QueryTimeout),
	}
	c.Fields = collector.ParseSubmissionFields(sec, collector.SubmissionDefaults{
		AnalysisMode: "correlation",
		Tool:         "hunter-" + c.HuntType,
		Type:         "hunter - " + c.HuntType,
	})
	switch c.HuntType {
	case TypeSQL:
		c.SQL = sqlhunt.ParseConfig(sec, g)
	case TypeSplunk:
		c.Splunk = splunk.ParseConfig(sec, g)
	case TypeElasticsearch:
		c.Elastic = elastic.ParseConfig(sec, g)
	}
	return c
}

// Hunter is one configured hunter: the rules of one hunt type and the
// backend they search.
type Hunter struct {
	cfg     Config
	g       collector.Global
	backend search.Backend

	mu  sync.Mutex
	set *ruleSet
}

var _ collector.Collector = (*Hunter)(nil)

// New is the kind's factory. It loads the rules now, so validate reports
// every rule that cannot load (file and key) as a warning on rule_dirs;
// the daemon still runs the others.
func New(sec *collector.Section, g collector.Global) (collector.Collector, error) {
	cfg := ParseConfig(sec, g)
	backend, err := newBackend(cfg)
	if err != nil { // only reading a CA file can fail
		sec.Errorf(cfg.HuntType+"_ca_file", "%v", err)
		return nil, nil
	}
	if backend == nil { // hunt_type already reported
		return nil, nil
	}
	h := &Hunter{cfg: cfg, g: g, backend: backend}
	h.set = h.loadRuleSet(nil)
	for _, d := range h.set.missingDirs {
		sec.Warnf("rule_dirs", "%s does not exist: no hunts from it until it does", d)
	}
	for _, err := range h.set.errs() {
		sec.Warnf("rule_dirs", "rule not loaded: %v", err)
	}
	for _, f := range h.set.sortedFiles() {
		if f.rule != nil {
			for _, w := range f.rule.Warnings {
				sec.Warnf("rule_dirs", "%s", w)
			}
		}
	}
	return h, nil
}

func newBackend(c Config) (search.Backend, error) {
	switch c.HuntType {
	case TypeSQL:
		return sqlhunt.New(c.SQL), nil
	case TypeSplunk:
		return splunk.New(c.Splunk)
	case TypeElasticsearch:
		return elastic.New(c.Elastic)
	}
	return nil, nil
}

// NewWithBackend builds a hunter on a given backend (tests and tools that
// search something of their own).
func NewWithBackend(cfg Config, g collector.Global, b search.Backend) *Hunter {
	h := &Hunter{cfg: cfg, g: g, backend: b}
	h.set = h.loadRuleSet(nil)
	return h
}

// HuntType is the type of hunt this hunter runs.
func (h *Hunter) HuntType() string { return h.cfg.HuntType }

// Config is the parsed configuration.
func (h *Hunter) Config() Config { return h.cfg }

// Rules returns the loaded rules, enabled or not, in file order.
func (h *Hunter) Rules() []*rules.Rule {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*rules.Rule
	for _, f := range h.set.sortedFiles() {
		if f.rule != nil {
			out = append(out, f.rule)
		}
	}
	return out
}

// Rule returns the loaded rule called name.
func (h *Hunter) Rule(name string) (*rules.Rule, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.set.byName()[name]
	return r, ok
}

// Problems lists the rule files that did not load (each error names its
// file and key) and unreadable rule directories.
func (h *Hunter) Problems() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.set.errs()
}

// Skipped lists rule files of another hunt type (not an error, as in ACE).
func (h *Hunter) Skipped() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, f := range h.set.sortedFiles() {
		if f.skipped {
			out = append(out, f.path)
		}
	}
	return out
}

// reload re-reads changed rule files; it reports whether anything changed.
func (h *Hunter) reload() (changed []string) {
	h.mu.Lock()
	prev := h.set
	h.mu.Unlock()
	next := h.loadRuleSet(prev)
	for p, f := range next.files {
		if old, ok := prev.files[p]; !ok || old != f {
			changed = append(changed, p)
		}
	}
	for p := range prev.files {
		if _, ok := next.files[p]; !ok {
			changed = append(changed, p)
		}
	}
	h.mu.Lock()
	h.set = next
	h.mu.Unlock()
	return changed
}

// stateKey is the persistence key of one of a hunt's times.
func stateKey(hunt, what string) string { return "hunt:" + hunt + ":" + what }

// Persistence key suffixes.
const (
	keyLastExecuted = "last_executed_time"
	keyLastEnd      = "last_end_time"
	keyLastStart    = "last_start_time" // the start of the last window (for hunt list)
	keySuppressed   = "suppressed_until"
)

func formatTime(t time.Time) []byte { return []byte(t.UTC().Format(time.RFC3339Nano)) }

func parseTime(b []byte) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", b, err)
	}
	return t, nil
}
