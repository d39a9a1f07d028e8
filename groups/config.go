// Package groups delivers queued submissions through collection groups:
// the [collection_group_NAME], [node_NAME] and [node_translation]
// configuration, node sources and weighted selection, coverage, and the
// delivery workers with their retry and backoff policy. What a group
// delivers to is its type (Type, Delivery): ACE nodes, a SIEM over
// syslog, a directory, a mail server, a webhook; each type is a package
// of its own (groups/ace, groups/syslog, ...) that registers itself.
package groups

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// TypeACE is the default group type: ACE nodes over ACE's HTTP API.
const TypeACE = "ace"

// GroupConfig is one [collection_group_NAME] section.
type GroupConfig struct {
	Name         string
	Type         string // the group type (TypeACE by default)
	Enabled      bool
	Coverage     int  // percentage of submissions delivered, 0..100
	FullDelivery bool // retry until delivered (yes) or try once (no)
	// Default: with routing rules, this group receives what no rule matched.
	Default     bool
	BatchSize   int
	ThreadCount int
	BackoffMin  time.Duration
	BackoffMax  time.Duration

	// Node selection, for types that deliver to nodes (Type.Nodes).
	TargetNodes []string
	CompanyID   int
	// NodeCompanyID filters ACE's nodes table (target_node_as_company_id;
	// default CompanyID).
	NodeCompanyID int
	Database      string // [database_NAME] with ACE's nodes tables; empty = [node_*] sections

	// Settings are the type's own keys, as its Parse returned them.
	Settings any
}

// Translation rewrites node locations ([node_translation], ACE §3.10).
type Translation []struct{ From, To string }

// Apply returns the translated location (first exact match wins).
func (t Translation) Apply(loc string) string {
	for _, r := range t {
		if r.From == loc {
			return r.To
		}
	}
	return loc
}

// Config is everything groups read from the INI file.
type Config struct {
	LocalNode   string
	Groups      []GroupConfig
	Nodes       StaticNodes
	Translation Translation
	// StaleLockTimeout: another instance's claim older than this (not
	// refreshed) is taken over.
	StaleLockTimeout time.Duration
	// NodeFreshness: an ACE node whose last_update is older is ignored
	// (2 × [service_engine] node_status_update_frequency, ACE's rule).
	NodeFreshness time.Duration
	// ErrorRetention: parked errors older than this are released for cleanup
	// (0 = keep until `queue retry` or `queue purge`).
	ErrorRetention time.Duration
}

// Enabled returns the enabled groups.
func (c *Config) Enabled() []GroupConfig {
	var out []GroupConfig
	for _, g := range c.Groups {
		if g.Enabled {
			out = append(out, g)
		}
	}
	return out
}

// ParseConfig reads groups, nodes and translation, and the keys of
// [collection], [SSL] and [service_engine] that delivery uses, from the
// shared configuration. g.Node is [global] node (LOCAL in target_nodes).
// Every problem goes to cf's Problems, named by section and key.
func ParseConfig(cf *collector.ConfigFile, glob collector.Global) *Config {
	p := cf.Problems()
	c := &Config{LocalNode: glob.Node}
	col := cf.Section("collection")
	c.StaleLockTimeout = col.Duration("stale_lock_timeout", 2*time.Minute)
	c.ErrorRetention = col.Duration("error_retention", 7*24*time.Hour)
	// ACE's rule: a node is fresh for 2 × node_status_update_frequency.
	engine := cf.Section("service_engine")
	engine.Lenient(" (an ACE engine setting)")
	c.NodeFreshness = 2 * engine.Duration("node_status_update_frequency", 30*time.Second)
	ssl := cf.Section("SSL")
	ssl.Lenient(" (an ACE setting)")
	ca := ssl.String("ca_chain_path", "")
	checkFile(ssl, "ca_chain_path")
	seen := map[string]bool{}
	env := ParseEnv{Global: glob, SSLCAFile: ca}
	for _, n := range cf.WithPrefix("collection_group_") {
		c.Groups = append(c.Groups, parseGroup(n.Section, n.Name, env))
	}
	for _, n := range cf.WithPrefix("node_") {
		if n.Name == "translation" {
			continue
		}
		nd, ok := parseNode(n.Section, n.Name)
		if ok {
			if seen[nd.Name] {
				p.Add("node_"+n.Name, "name", "node name %q is used twice", nd.Name)
			}
			seen[nd.Name] = true
			c.Nodes = append(c.Nodes, nd)
		}
	}
	if cf.Has("node_translation") {
		tr := cf.Section("node_translation")
		for _, k := range tr.Keys() {
			from, to, err := parseTranslation(tr.Value(k))
			if err != nil {
				p.Add("node_translation", k, "%v", err)
				continue
			}
			c.Translation = append(c.Translation, struct{ From, To string }{from, to})
		}
	}
	for _, g := range c.Enabled() {
		if t, ok := LookupType(g.Type); !ok || !t.Nodes {
			continue
		}
		for _, t := range g.TargetNodes {
			if g.Database == "" && !seen[t] {
				p.Add("collection_group_"+g.Name, "target_nodes", "no [node_%s] section defines node %q", t, t)
			}
		}
		if g.Database != "" && !cf.Has("database_"+g.Database) {
			p.Add("collection_group_"+g.Name, "database", "no [database_%s] section", g.Database)
		}
	}
	c.checkTranslation(p)
	if len(c.Enabled()) == 0 {
		p.Add("collection_group_*", "", "no enabled collection group: nothing would be delivered")
	}
	return c
}

// checkTranslation warns about [node_translation] entries that match no
// configured node: a typo there silently sends nothing where it was meant
// to. Groups reading an ACE node database learn their locations at run
// time, so then nothing can be said.
func (c *Config) checkTranslation(p *collector.Problems) {
	for _, g := range c.Enabled() {
		if g.Database != "" {
			return
		}
	}

	for _, t := range c.Translation {
		found := false
		for _, n := range c.Nodes {
			if n.Location == t.From {
				found = true
				break
			}
		}
		if !found {
			p.Add("node_translation", "", "%q matches no configured node location", t.From)
		}
	}
}

func parseGroup(s *collector.Section, name string, env ParseEnv) GroupConfig {
	g := GroupConfig{
		Name:         name,
		Type:         s.String("type", TypeACE),
		Enabled:      s.Bool("enabled", true),
		Coverage:     s.Int("coverage", 100, 0, 100),
		FullDelivery: s.Bool("full_delivery", true),
		Default:      s.Bool("default", false),
		BatchSize:    s.Int("batch_size", 32, 1, 10000),
		ThreadCount:  s.Int("thread_count", 1, 1, 256),
		BackoffMin:   s.Duration("backoff_min", time.Second),
		BackoffMax:   s.Duration("backoff_max", 60*time.Second),
	}
	if g.BackoffMax < g.BackoffMin {
		s.Errorf("backoff_max", "backoff_max %s is below backoff_min %s", g.BackoffMax, g.BackoffMin)
	}
	t, ok := LookupType(g.Type)
	if !ok {
		msg := fmt.Sprintf("unknown group type %q (known: %s)", g.Type, strings.Join(TypeNames(), ", "))
		if near := collector.Nearest(g.Type, TypeNames()); near != "" {
			msg += fmt.Sprintf("; did you mean %q?", near)
		}
		s.Errorf("type", "%s", msg)
		s.Done() // nothing else can be checked without the type
		return g
	}
	if t.Nodes {
		parseNodeSelection(s, &g, env.Global.Node)
	}
	g.Settings = t.Parse(s, g, env)
	return g
}

// parseNodeSelection reads the keys that choose a group's nodes.
func parseNodeSelection(s *collector.Section, g *GroupConfig, local string) {
	g.CompanyID = s.Int("company_id", 0, 0, 1<<31-1)
	g.Database = s.String("database", "")
	g.NodeCompanyID = s.Int("target_node_as_company_id", g.CompanyID, 0, 1<<31-1)
	// ACE documents these keys but its code does not read them.
	if s.Has("secondary_company_ids") {
		s.Ignore("secondary_company_ids")
		s.Warnf("secondary_company_ids", "documented by ACE but not read by ACE or ace-collector")
	}
	if s.Has("target_node_company_id") {
		s.Ignore("target_node_company_id")
		s.Warnf("target_node_company_id", "ACE's documentation names this key but its code reads target_node_as_company_id; so does ace-collector")
	}
	for _, t := range s.List("target_nodes") {
		if t == "LOCAL" {
			if local == "" {
				s.Errorf("target_nodes", "LOCAL needs [global] node")
				continue
			}
			t = local
		}
		g.TargetNodes = append(g.TargetNodes, t)
	}
}

// CheckFile reports a configured file that does not exist: delivery would
// otherwise fail on every item at run time. Types call it for their
// certificate and template files.
func CheckFile(s *collector.Section, key string) {
	checkFile(s, key)
}

// checkFile reports a configured file that does not exist: delivery would
// otherwise fail on every item at run time.
func checkFile(s *collector.Section, key string) {
	if v := s.Value(key); v != "" {
		if _, err := os.Stat(v); err != nil {
			s.Errorf(key, "%v", err)
		}
	}
}

func parseNode(s *collector.Section, name string) (Node, bool) {
	n := Node{Name: s.String("name", name)}
	n.Location = s.Required("location")
	if !s.Bool("enabled", true) {
		return n, false
	}
	modes := s.List("analysis_modes")
	if len(modes) == 0 || (len(modes) == 1 && (modes[0] == "any" || modes[0] == "*")) {
		n.AnyMode = true
	} else {
		n.Modes = modes
	}
	n.Excluded = s.List("excluded_analysis_modes")
	n.Weight = s.Int("weight", 1, 1, 1000)
	if n.Location != "" {
		if err := checkLocation(n.Location); err != nil {
			s.Errorf("location", "%v", err)
		}
	}
	return n, true
}
