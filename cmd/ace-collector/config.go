package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/groups"
	"github.com/ace-collector/ace-collector/persistence"
)

// appConfig is a loaded and validated configuration.
type appConfig struct {
	file         *ini.File
	global       collector.Global
	instance     string
	logLevel     slog.Level
	logJSON      bool
	store        persistence.Config
	storeName    string // [database_NAME] used by a mysql store
	incomingDir  string
	statusListen string
	keyExp       time.Duration
	keyUnmod     time.Duration
	keyClear     time.Duration
	grace        time.Duration
	groups       *groups.Config
	databases    map[string]persistence.DBSection
	instances    []collector.Instance
}

// loadConfig reads the INI files (later ones override earlier ones) and
// checks everything, returning every problem found.
func loadConfig(paths []string) (*appConfig, *collector.Problems, error) {
	if len(paths) == 0 {
		return nil, nil, fmt.Errorf("no configuration file given (-c FILE)")
	}
	srcs := make([]any, 0, len(paths))
	for _, p := range paths {
		srcs = append(srcs, p)
	}
	f, err := ini.LoadSources(ini.LoadOptions{Insensitive: false, AllowBooleanKeys: false, SpaceBeforeInlineComment: true}, srcs[0], srcs[1:]...)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", strings.Join(paths, ", "), err)
	}
	p := &collector.Problems{}
	c := &appConfig{file: f, databases: map[string]persistence.DBSection{}}

	host, _ := os.Hostname()
	g := collector.NewSection(f.Section("global"), p)
	c.global.Node = g.String("node", host)
	c.global.Hostname = g.String("hostname", host)
	c.instance = g.String("instance_name", c.global.Node)
	dataDir := g.String("data_dir", "data")
	switch strings.ToLower(g.String("log_level", "info")) {
	case "debug":
		c.logLevel = slog.LevelDebug
	case "info":
		c.logLevel = slog.LevelInfo
	case "warn", "warning":
		c.logLevel = slog.LevelWarn
	case "error":
		c.logLevel = slog.LevelError
	default:
		g.Errorf("log_level", "want debug, info, warn or error")
	}
	c.logJSON = g.OneOf("log_format", "text", "text", "json") == "json"
	g.Ignore("company_id", "company_name")
	g.Done()
	if strings.ContainsAny(c.instance, "/") {
		p.Add("global", "instance_name", "must not contain '/'")
	}

	col := collector.NewSection(f.Section("collection"), p)
	col.Ignore("stale_lock_timeout", "error_retention", "force_api", "tuning_update_frequency", "tuning_temp_dir")
	col.KeysWithPrefix("tuning_dir_")
	persistDir := col.String("persistence_dir", filepath.Join(dataDir, "var", "collection", "persistence"))
	c.incomingDir = col.String("incoming_dir", filepath.Join(dataDir, "var", "collection", "incoming"))
	c.storeName = col.String("database", "collection")
	switch col.OneOf("store", "embedded", "embedded", "mysql") {
	case "embedded":
		c.store = persistence.Config{Driver: "sqlite", Path: filepath.Join(persistDir, "collection.db")}
	case "mysql":
		c.store = persistence.Config{Driver: "mysql"}
		if !f.HasSection("database_" + c.storeName) {
			col.Errorf("database", "store = mysql needs a [database_%s] section", c.storeName)
		}
	}
	c.statusListen = col.String("status_listen", "127.0.0.1:8765")
	c.keyClear = col.Duration("persistence_clear_seconds", time.Minute)
	c.keyExp = col.Duration("persistence_expiration_seconds", 24*time.Hour)
	c.keyUnmod = col.Duration("persistence_unmodified_expiration_seconds", 4*time.Hour)
	c.grace = col.Duration("shutdown_grace", 10*time.Second)
	col.Done()

	for _, s := range f.Sections() {
		if name, ok := strings.CutPrefix(s.Name(), "database_"); ok {
			c.databases[name] = parseDatabase(collector.NewSection(s, p))
		}
	}
	if c.store.Driver == "mysql" {
		if db, ok := c.databases[c.storeName]; ok {
			dsn, err := db.DSN()
			if err != nil {
				p.Add("database_"+c.storeName, "", "%v", err)
			}
			c.store.DSN = dsn
		}
	}

	c.groups = groups.ParseConfig(f, p)
	if f.HasSection("SSL") {
		ssl := collector.NewSection(f.Section("SSL"), p)
		ca := ssl.String("ca_chain_path", "")
		ssl.Ignore("ca_path", "ca_chain_path")
		for i := range c.groups.Groups {
			if c.groups.Groups[i].CAFile == "" {
				c.groups.Groups[i].CAFile = ca
			}
		}
	}

	tuning := collector.ParseTuning(f, p)
	for _, s := range f.Sections() {
		name, ok := strings.CutPrefix(s.Name(), "collector_")
		if !ok {
			continue
		}
		sec := collector.NewSection(s, p)
		kind := sec.Required("type")
		enabled := sec.Bool("enabled", true)
		k, ok := collector.Lookup(kind)
		if !ok {
			if kind != "" {
				sec.Errorf("type", "unknown collector type %q (known: %s)", kind, strings.Join(collector.KindNames(), ", "))
			}
			continue
		}
		coll, err := k.New(sec, c.global)
		sec.Done()
		if err != nil {
			p.Add(s.Name(), "", "%v", err)
			continue
		}
		if enabled && coll != nil {
			c.instances = append(c.instances, collector.Instance{
				Name: name, Kind: kind, Collector: coll, Tuning: collector.TuningFor(tuning, name),
			})
		}
	}
	return c, p, nil
}

func parseDatabase(s *collector.Section) persistence.DBSection {
	d := persistence.DBSection{
		Hostname:   s.String("hostname", ""),
		Port:       s.Int("port", 3306, 1, 65535),
		UnixSocket: s.String("unix_socket", ""),
		Database:   s.String("database", ""),
		Username:   s.String("username", ""),
		Password:   s.String("password", ""),
		SSLCA:      s.String("ssl_ca", ""),
		SSLCert:    s.String("ssl_cert", ""),
		SSLKey:     s.String("ssl_key", ""),
		SSLVerify:  s.Bool("ssl_verify", true),
	}
	s.Ignore("max_allowed_packet", "max_connection_lifetime")
	if d.Hostname == "" && d.UnixSocket == "" {
		s.Errorf("hostname", "hostname or unix_socket is required")
	}
	if d.Database == "" {
		s.Errorf("database", "required")
	}
	s.Done()
	return d
}

func (c *appConfig) groupTargets() []collector.GroupTarget {
	var out []collector.GroupTarget
	for _, g := range c.groups.Enabled() {
		out = append(out, collector.GroupTarget{Name: g.Name, Coverage: g.Coverage})
	}
	return out
}

func (c *appConfig) logger(w *os.File) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.logLevel}
	if c.logJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
