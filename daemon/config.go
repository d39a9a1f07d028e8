// Package daemon assembles ace-collector: it loads the INI files into one
// validated Config, builds the store, the collector runtime, the delivery
// groups and the status server with one constructor (New), runs them and
// stops them. The binary, the bench and the end-to-end tests all build the
// pipeline through it, so a test daemon is the real daemon.
package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/groups"
	_ "github.com/ace-collector/ace-collector/groups/all" // every group type
	"github.com/ace-collector/ace-collector/persistence"
)

// Config is a loaded configuration. Load returns it with every problem it
// found; a Config with problems must not be run.
type Config struct {
	Files    []string
	Global   collector.Global
	Instance string // claim owner prefix ([global] instance_name)
	Log      LogSettings
	DataDir  string

	Store        persistence.StoreSettings
	Databases    map[string]persistence.DBSection
	IncomingDir  string
	StatusListen string
	// StatusToken, StatusCert and StatusKey protect the status listener
	// (required off loopback: the live page shows what is collected);
	// LiveRows and LiveHistory bound the live view (see live.go).
	StatusToken           string
	StatusCert, StatusKey string
	LiveRows, LiveHistory int
	// Expiry of volatile persistence keys (ACE's persistence_* settings).
	KeyExpiration           time.Duration
	KeyUnmodifiedExpiration time.Duration
	KeyClearInterval        time.Duration
	Grace                   time.Duration

	Groups     *groups.Config
	Tuning     []*collector.TuningRule
	Routing    []*collector.RoutingRule
	Collectors []collector.Instance // the enabled ones
	// Kinds counts configured collectors per kind, enabled or not.
	Kinds    map[string]int
	Disabled int

	// sections holds each section's text, to tell on reload what changed.
	sections map[string]string
}

// LoadOptions are the outside world Load consults; zero values use the
// process's environment and host name.
type LoadOptions struct {
	LookupEnv func(string) (string, bool)
	Hostname  func() (string, error)
	FQDN      func(host string) string
}

// Load reads the INI files (later files override earlier ones), expands
// ${NAME} from the environment, and has every package parse the sections
// it owns. It returns every problem at once; warnings (ACE keys and
// features this project does not use) do not make the result invalid.
// The error is for files that cannot be read or parsed at all.
func Load(paths []string, o LoadOptions) (*Config, *collector.Problems, error) {
	if len(paths) == 0 {
		return nil, nil, fmt.Errorf("no configuration file given (-c FILE)")
	}
	datas := make([][]byte, 0, len(paths))
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("reading configuration: %w", err)
		}
		datas = append(datas, data)
	}
	return load(paths, datas, o)
}

// LoadData is Load for configuration text that is not in a file (the
// bench, tests); name is what problems are reported against.
func LoadData(name string, data []byte, o LoadOptions) (*Config, *collector.Problems, error) {
	return load([]string{name}, [][]byte{data}, o)
}

func load(paths []string, datas [][]byte, o LoadOptions) (*Config, *collector.Problems, error) {
	o.defaults()
	p := &collector.Problems{}
	srcs := make([]any, 0, len(paths))
	for i, data := range datas {
		for _, e := range collector.INIDuplicates(paths[i], data) {
			p.AddErr(e)
		}
		srcs = append(srcs, data)
	}
	f, err := ini.LoadSources(ini.LoadOptions{SpaceBeforeInlineComment: true}, srcs[0], srcs[1:]...)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing %s: %w", strings.Join(paths, ", "), err)
	}
	collector.ExpandEnv(f, p, o.LookupEnv)
	cf := collector.NewConfigFile(f, p)
	c := &Config{Files: paths, Kinds: map[string]int{}, sections: sectionTexts(f)}
	c.parseGlobal(cf, o)
	c.parseCollection(cf)
	c.Databases = persistence.ParseDatabases(cf)
	c.Store = persistence.ParseStore(cf, c.DataDir, c.Databases)
	c.Groups = groups.ParseConfig(cf, c.Global)
	c.Tuning = collector.ParseTuning(cf)
	c.Routing = collector.ParseRouting(cf)
	c.checkRouting(p)
	c.parseCollectors(cf)
	checkACESections(cf)
	cf.Done()
	c.checkDirs(p)
	if len(c.Collectors) == 0 {
		p.Warn("collector_*", "", "no enabled collector: nothing will be collected (queued submissions are still delivered)")
	}
	return c, p, nil
}

func (o *LoadOptions) defaults() {
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.Hostname == nil {
		o.Hostname = os.Hostname
	}
	if o.FQDN == nil {
		o.FQDN = FQDN
	}
}

func (c *Config) parseGlobal(cf *collector.ConfigFile, o LoadOptions) {
	g := cf.Section("global")
	g.Lenient(" (an ACE [global] setting)")
	host, err := o.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	c.Global.Node = g.String("node", host)
	if c.Global.Node == "AUTO" { // ACE: socket.getfqdn()
		c.Global.Node = o.FQDN(host)
	}
	c.Global.Hostname = g.String("hostname", host)
	c.Instance = g.String("instance_name", c.Global.Node)
	if strings.ContainsAny(c.Instance, "/") {
		g.Errorf("instance_name", "must not contain '/'")
	}
	c.DataDir = g.String("data_dir", "data")
	c.Log = parseLog(g)
	g.Ignore("company_id", "company_name")
}

func (c *Config) parseCollection(cf *collector.ConfigFile) {
	col := cf.Section("collection")
	col.Lenient(" (an ACE [collection] setting)")
	c.IncomingDir = underDataDir(c.DataDir, col.String("incoming_dir", filepath.Join("var", "collection", "incoming")))
	c.StatusListen = col.ListenAddr("status_listen", "127.0.0.1:8765")
	c.parseStatusAccess(col)
	c.KeyClearInterval = col.Duration("persistence_clear_seconds", time.Minute)
	c.KeyExpiration = col.Duration("persistence_expiration_seconds", 24*time.Hour)
	c.KeyUnmodifiedExpiration = col.Duration("persistence_unmodified_expiration_seconds", 4*time.Hour)
	c.Grace = col.Duration("shutdown_grace", 10*time.Second)
	for _, k := range col.KeysWithPrefix("tuning_dir_") {
		col.Warnf(k, "ACE's yara tuning directories are not read; write [tuning_rule_NAME] sections instead (see docs/configuration.md)")
	}
	for _, k := range []string{"tuning_update_frequency", "tuning_temp_dir"} {
		if col.Has(k) {
			col.Ignore(k)
			col.Warnf(k, "belongs to ACE's yara tuning, which [tuning_rule_NAME] sections replace")
		}
	}
}

func (c *Config) parseCollectors(cf *collector.ConfigFile) {
	for _, n := range cf.WithPrefix("collector_") {
		sec := n.Section
		kind := sec.Required("type")
		enabled := sec.Bool("enabled", true)
		k, ok := collector.Lookup(kind)
		if !ok {
			if kind != "" {
				msg := fmt.Sprintf("unknown collector type %q (known: %s)", kind, strings.Join(collector.KindNames(), ", "))
				if near := collector.Nearest(kind, collector.KindNames()); near != "" {
					msg += fmt.Sprintf("; did you mean %q?", near)
				}
				sec.Errorf("type", "%s", msg)
			}
			sec.Done() // nothing else can be checked without the kind
			continue
		}
		c.Kinds[kind]++
		coll, err := k.New(sec, c.Global)
		if err != nil {
			cf.Problems().Add(sec.Name(), "", "%v", err)
			continue
		}
		if !enabled || coll == nil {
			c.Disabled++
			continue
		}
		c.Collectors = append(c.Collectors, collector.Instance{
			Name: n.Name, Kind: kind, Collector: coll, Tuning: collector.TuningFor(c.Tuning, n.Name),
		})
	}
}

// Summary is one line saying what the configuration loaded.
func (c *Config) Summary() string {
	var kinds []string
	for k, n := range c.Kinds {
		kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(kinds)
	col := "no collectors"
	if len(kinds) > 0 {
		col = "collectors: " + strings.Join(kinds, ", ")
		if c.Disabled > 0 {
			col += fmt.Sprintf(" (%d disabled)", c.Disabled)
		}
	}
	var gnames []string
	for _, g := range c.Groups.Enabled() {
		gnames = append(gnames, g.Name)
	}
	return fmt.Sprintf("%s; %d group(s): %s; %d node(s); store %s", col, len(gnames), strings.Join(gnames, ", "),
		len(c.Groups.Nodes), c.storeDesc())
}

func (c *Config) storeDesc() string {
	if c.Store.Driver == "mysql" {
		return "mysql ([database_" + c.Store.Database + "])"
	}
	return "embedded (" + c.Store.Path + ")"
}

// GroupTargets are the enabled groups as the runtime enqueues for them.
func (c *Config) GroupTargets() []collector.GroupTarget {
	var out []collector.GroupTarget
	for _, g := range c.Groups.Enabled() {
		out = append(out, collector.GroupTarget{Name: g.Name, Coverage: g.Coverage, Default: g.Default})
	}
	return out
}

// checkRouting reports routing rules naming groups that do not exist (an
// error: a typo would send nothing where it was meant to), or that are
// disabled (a warning), and rules with no enabled default group to take
// what they do not match.
func (c *Config) checkRouting(p *collector.Problems) {
	known := map[string]bool{}
	for _, g := range c.Groups.Groups {
		known[g.Name] = g.Enabled
	}
	for _, r := range c.Routing {
		for _, g := range r.Groups {
			enabled, ok := known[g]
			switch {
			case !ok:
				p.Add("routing_rule_"+r.Name, "groups", "no [collection_group_%s] section", g)
			case !enabled:
				p.Warn("routing_rule_"+r.Name, "groups", "group %s is disabled: nothing is delivered there", g)
			}
		}
	}
	if len(c.Routing) == 0 {
		return
	}
	for _, g := range c.Groups.Enabled() {
		if g.Default {
			return
		}
	}
	p.Warn("routing_rule_*", "", "no enabled group has default = yes: submissions no routing rule matches go to every group")
}

// underDataDir resolves a relative path against data_dir, as ACE resolves
// its directories against DATA_DIR.
func underDataDir(dataDir, p string) string {
	if p == "" || filepath.IsAbs(p) || dataDir == "" {
		return p
	}
	return filepath.Join(dataDir, p)
}

func sectionTexts(f *ini.File) map[string]string {
	out := map[string]string{}
	for _, s := range f.Sections() {
		var b strings.Builder
		for _, k := range s.Keys() {
			b.WriteString(k.Name() + "=" + k.Value() + "\n")
		}
		out[s.Name()] = b.String()
	}
	return out
}

// LogSettings are [global] log_level and log_format.
type LogSettings struct {
	Level slog.Level
	JSON  bool
}

func parseLog(g *collector.Section) LogSettings {
	var l LogSettings
	switch strings.ToLower(g.String("log_level", "info")) {
	case "debug":
		l.Level = slog.LevelDebug
	case "info":
		l.Level = slog.LevelInfo
	case "warn", "warning":
		l.Level = slog.LevelWarn
	case "error":
		l.Level = slog.LevelError
	default:
		g.Errorf("log_level", "want debug, info, warn or error")
	}
	l.JSON = g.OneOf("log_format", "text", "text", "json") == "json"
	return l
}

// checkDirs refuses directories that overlap — the incoming and
// persistence directories with each other or with a collector's input
// directory: the sweep and the collectors would then take each other's
// files — and warns about entries of incoming_dir the project did not make.
func (c *Config) checkDirs(p *collector.Problems) {
	inputs := map[string][]string{}
	for _, inst := range c.Collectors {
		if d, ok := inst.Collector.(collector.DirInputs); ok {
			inputs[inst.Name] = d.InputDirs()
		}
	}
	persist := ""
	if c.Store.Driver == "sqlite" {
		persist = c.Store.Dir
	}
	for _, err := range collector.CheckDirs(c.IncomingDir, persist, inputs) {
		p.AddErr(err)
	}
	foreign, err := collector.ForeignEntries(c.IncomingDir)
	if err == nil && len(foreign) > 0 {
		more := ""
		if len(foreign) > 5 {
			foreign, more = foreign[:5], fmt.Sprintf(" and %d more", len(foreign)-5)
		}
		p.Warn("collection", "incoming_dir", "%s holds entries ace-collector did not create (%s%s); they are left alone, but the directory should be its own",
			c.IncomingDir, strings.Join(foreign, ", "), more)
	}
}
