package persistence

import (
	"path/filepath"

	"github.com/ace-collector/ace-collector/collector"
)

// ParseDatabases reads every [database_NAME] section (ACE's keys). It is the
// one parser of those sections: the store and the groups' ACE node sources
// both take their connections from what it returns.
func ParseDatabases(cf *collector.ConfigFile) map[string]DBSection {
	out := map[string]DBSection{}
	for _, n := range cf.WithPrefix("database_") {
		out[n.Name] = parseDatabase(n.Section)
	}
	return out
}

func parseDatabase(s *collector.Section) DBSection {
	// ACE's own database sections carry pool and driver tuning this project
	// does not use; they are warnings, not errors.
	s.Lenient(" (an ACE database setting)")
	d := DBSection{
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
	if d.Hostname == "" && d.UnixSocket == "" {
		s.Errorf("hostname", "hostname or unix_socket is required")
	}
	if d.Database == "" {
		s.Errorf("database", "required")
	}
	return d
}

// StoreSettings is the store part of [collection].
type StoreSettings struct {
	Config
	// Database names the [database_NAME] section of a mysql store.
	Database string
	// Dir is persistence_dir (the embedded store's directory).
	Dir string
}

// ParseStore reads [collection]'s store keys: store = embedded (default,
// SQLite under persistence_dir, which defaults to DATA_DIR/var/collection/
// persistence as in ACE) or mysql (the [database_NAME] named by database).
func ParseStore(cf *collector.ConfigFile, dataDir string, dbs map[string]DBSection) StoreSettings {
	col := cf.Section("collection")
	st := StoreSettings{Database: col.String("database", "collection")}
	st.Dir = underDataDir(dataDir, col.String("persistence_dir", filepath.Join("var", "collection", "persistence")))
	switch col.OneOf("store", "embedded", "embedded", "mysql") {
	case "embedded":
		st.Config = Config{Driver: "sqlite", Path: filepath.Join(st.Dir, "collection.db")}
	case "mysql":
		st.Config = Config{Driver: "mysql"}
		db, ok := dbs[st.Database]
		if !ok {
			col.Errorf("database", "store = mysql needs a [database_%s] section", st.Database)
			break
		}
		dsn, err := db.DSN()
		if err != nil {
			cf.Problems().Add("database_"+st.Database, "", "%v", err)
		}
		st.DSN = dsn
	}
	return st
}

// underDataDir resolves a relative path against data_dir, as ACE resolves
// its directories against DATA_DIR.
func underDataDir(dataDir, p string) string {
	if p == "" || filepath.IsAbs(p) || dataDir == "" {
		return p
	}
	return filepath.Join(dataDir, p)
}
