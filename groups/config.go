// Package groups delivers queued submissions to ACE nodes: the
// [collection_group_NAME] and [node_translation] configuration, node
// sources and selection, coverage, and the delivery workers with their
// retry and backoff policy.
package groups

import (
	"strings"
	"time"

	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/collector"
)

// GroupConfig is one [collection_group_NAME] section.
type GroupConfig struct {
	Name         string
	Enabled      bool
	Coverage     int  // percentage of submissions delivered, 0..100
	FullDelivery bool // retry until delivered (yes) or try once (no)
	TargetNodes  []string
	BatchSize    int
	ThreadCount  int
	CompanyID    int
	// NodeCompanyID filters ACE's nodes table (target_node_as_company_id;
	// default CompanyID).
	NodeCompanyID int
	Database      string // [database_NAME] with ACE's nodes tables; empty = [node_*] sections

	// Delivery client settings.
	VerifyTLS    bool
	CAFile       string
	ClientCert   string
	ClientKey    string
	APIKey       string
	APIKeyHeader string
	Timeout      time.Duration
	RetryMax     int
	BackoffMin   time.Duration
	BackoffMax   time.Duration
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

// ParseConfig reads groups, nodes and translation from f. Every problem
// goes to p, named by section and key.
func ParseConfig(f *ini.File, p *collector.Problems) *Config {
	c := &Config{}
	if f.HasSection("global") {
		sec := collector.NewSection(f.Section("global"), p)
		c.LocalNode = sec.String("node", "")
	}
	if f.HasSection("collection") {
		sec := collector.NewSection(f.Section("collection"), p)
		c.StaleLockTimeout = sec.Duration("stale_lock_timeout", 2*time.Minute)
		c.ErrorRetention = sec.Duration("error_retention", 7*24*time.Hour)
	} else {
		c.StaleLockTimeout = 2 * time.Minute
		c.ErrorRetention = 7 * 24 * time.Hour
	}
	c.NodeFreshness = 60 * time.Second
	if f.HasSection("service_engine") && f.Section("service_engine").HasKey("node_status_update_frequency") {
		sec := collector.NewSection(f.Section("service_engine"), p)
		c.NodeFreshness = 2 * sec.Duration("node_status_update_frequency", 30*time.Second)
	}
	seen := map[string]bool{}
	for _, s := range f.Sections() {
		name := s.Name()
		switch {
		case strings.HasPrefix(name, "collection_group_"):
			g := parseGroup(collector.NewSection(s, p), strings.TrimPrefix(name, "collection_group_"), c.LocalNode)
			c.Groups = append(c.Groups, g)
		case strings.HasPrefix(name, "node_") && name != "node_translation":
			n, ok := parseNode(collector.NewSection(s, p), strings.TrimPrefix(name, "node_"))
			if ok {
				if seen[n.Name] {
					p.Add(name, "name", "node name %q is used twice", n.Name)
				}
				seen[n.Name] = true
				c.Nodes = append(c.Nodes, n)
			}
		case name == "node_translation":
			for _, k := range s.Keys() {
				from, to, err := parseTranslation(k.String())
				if err != nil {
					p.Add(name, k.Name(), "%v", err)
					continue
				}
				c.Translation = append(c.Translation, struct{ From, To string }{from, to})
			}
		}
	}
	for _, g := range c.Enabled() {
		for _, t := range g.TargetNodes {
			if g.Database == "" && !seen[t] {
				p.Add("collection_group_"+g.Name, "target_nodes", "no [node_%s] section defines node %q", t, t)
			}
		}
		if g.Database != "" && !f.HasSection("database_"+g.Database) {
			p.Add("collection_group_"+g.Name, "database", "no [database_%s] section", g.Database)
		}
	}
	if len(c.Enabled()) == 0 {
		p.Add("collection_group_*", "", "no enabled collection group: nothing would be delivered")
	}
	return c
}

func parseGroup(s *collector.Section, name, local string) GroupConfig {
	g := GroupConfig{
		Name:         name,
		Enabled:      s.Bool("enabled", true),
		Coverage:     s.Int("coverage", 100, 0, 100),
		FullDelivery: s.Bool("full_delivery", true),
		BatchSize:    s.Int("batch_size", 32, 1, 10000),
		ThreadCount:  s.Int("thread_count", 1, 1, 256),
		CompanyID:    s.Int("company_id", 0, 0, 1<<31-1),
		Database:     s.String("database", ""),
		VerifyTLS:    s.Bool("verify_tls", true),
		CAFile:       s.String("ca_chain_path", ""),
		ClientCert:   s.String("client_cert", ""),
		ClientKey:    s.String("client_key", ""),
		APIKey:       s.String("api_key", ""),
		APIKeyHeader: s.String("api_key_header", "x-ace-auth"),
		Timeout:      s.Duration("timeout", 30*time.Second),
		BackoffMin:   s.Duration("backoff_min", time.Second),
		BackoffMax:   s.Duration("backoff_max", 60*time.Second),
	}
	g.RetryMax = s.Int("retry_max", map[bool]int{true: 1, false: 0}[g.FullDelivery], 0, 10)
	g.NodeCompanyID = s.Int("target_node_as_company_id", g.CompanyID, 0, 1<<31-1)
	s.Ignore("secondary_company_ids")
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
	if (g.ClientCert == "") != (g.ClientKey == "") {
		s.Errorf("client_cert", "client_cert and client_key go together")
	}
	if g.BackoffMax < g.BackoffMin {
		s.Errorf("backoff_max", "backoff_max %s is below backoff_min %s", g.BackoffMax, g.BackoffMin)
	}
	if !g.FullDelivery && s.Has("retry_max") && g.RetryMax > 0 {
		s.Errorf("retry_max", "full_delivery = no means exactly one attempt; retry_max must be 0")
	}
	s.Done()
	return g
}

func parseNode(s *collector.Section, name string) (Node, bool) {
	n := Node{Name: s.String("name", name)}
	n.Location = s.Required("location")
	if s.Bool("enabled", true) == false {
		s.Done()
		return n, false
	}
	modes := s.List("analysis_modes")
	if len(modes) == 0 || (len(modes) == 1 && (modes[0] == "any" || modes[0] == "*")) {
		n.AnyMode = true
	} else {
		n.Modes = modes
	}
	n.Excluded = s.List("excluded_analysis_modes")
	if n.Location != "" {
		if err := checkLocation(n.Location); err != nil {
			s.Errorf("location", "%v", err)
		}
	}
	s.Done()
	return n, true
}
