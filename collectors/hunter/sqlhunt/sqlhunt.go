// Package sqlhunt is the hunter's SQL backend (hunt_type = sql): a rule's
// query runs on MySQL/MariaDB (or SQLite) through sqlx, with the window
// bound as the named parameters :start and :end (never pasted into the
// SQL text), under the rule's query_timeout, and each row is an event.
package sqlhunt

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // driver "sqlite"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/hunter/rules"
	"github.com/ace-collector/ace-collector/collectors/hunter/search"
	"github.com/ace-collector/ace-collector/persistence"
)

// DefaultTimeField is the column holding an event's time when the rule
// names none (time_field).
const DefaultTimeField = "event_time"

// Config is the connection of a sql hunter: ACE's [database_NAME] keys
// with a sql_ prefix in the collector's own section.
type Config struct {
	Driver string // mysql or sqlite
	DB     persistence.DBSection
	Path   string // sqlite database file
	// Loc is the time zone of DATETIME values without one: how the window
	// is bound and columns are read (the driver's loc).
	Loc      *time.Location
	MaxConns int
}

// ParseConfig reads the sql_* keys of sec.
func ParseConfig(sec *collector.Section, g collector.Global) Config {
	c := Config{Driver: sec.OneOf("sql_driver", "mysql", "mysql", "sqlite")}
	c.DB = persistence.DBSection{
		Hostname:   sec.String("sql_hostname", ""),
		Port:       sec.Int("sql_port", 3306, 1, 65535),
		UnixSocket: g.Path(sec.String("sql_unix_socket", "")),
		Database:   sec.String("sql_database", ""),
		Username:   sec.String("sql_username", ""),
		Password:   sec.String("sql_password", ""),
		SSLCA:      g.Path(sec.String("sql_ssl_ca", "")),
		SSLCert:    g.Path(sec.String("sql_ssl_cert", "")),
		SSLKey:     g.Path(sec.String("sql_ssl_key", "")),
		SSLVerify:  sec.Bool("sql_ssl_verify", true),
	}
	c.Path = g.Path(sec.String("sql_path", ""))
	tz := sec.String("sql_timezone", "UTC")
	loc, err := time.LoadLocation(tz)
	if err != nil {
		sec.Errorf("sql_timezone", "%v", err)
		loc = time.UTC
	}
	c.Loc = loc
	c.MaxConns = sec.Int("sql_max_connections", 4, 1, 1000)
	switch c.Driver {
	case "mysql":
		if err := c.DB.Validate(); err != nil {
			sec.Errorf("sql_database", "the sql_* connection keys: %v", err)
		}
	case "sqlite":
		if c.Path == "" {
			sec.Errorf("sql_path", "required with sql_driver = sqlite")
		}
	}
	return c
}

// ConfigFromDSN is the Config of a go-sql-driver/mysql DSN over TCP
// (tests and tools that already hold one).
func ConfigFromDSN(dsn string) (Config, error) {
	mc, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		return Config{}, err
	}
	host, port, err := net.SplitHostPort(mc.Addr)
	if err != nil {
		return Config{}, fmt.Errorf("dsn address %q: %w", mc.Addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return Config{}, fmt.Errorf("dsn port %q: %w", port, err)
	}
	return Config{Driver: "mysql", Loc: time.UTC, MaxConns: 4,
		DB: persistence.DBSection{Hostname: host, Port: p, Database: mc.DBName, Username: mc.User, Password: mc.Passwd}}, nil
}

// DSN is the driver's data source name.
func (c Config) DSN() (string, error) {
	if c.Driver == "sqlite" {
		return "file:" + c.Path + "?_pragma=busy_timeout(10000)&_pragma=query_only(1)&_time_format=sqlite", nil
	}
	dsn, err := c.DB.DSN()
	if err != nil {
		return "", err
	}
	mc, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		return "", err
	}
	mc.ParseTime = true
	mc.Loc = c.Loc
	return mc.FormatDSN(), nil
}

// Instance names the database for tool_instance (no password).
func (c Config) Instance() string {
	if c.Driver == "sqlite" {
		return "sqlite:" + c.Path
	}
	return "mysql:" + c.DB.String()
}

// Backend runs rules' queries on one database.
type Backend struct {
	cfg Config

	mu sync.Mutex
	db *sqlx.DB
}

var _ search.Backend = (*Backend)(nil)

// New returns a backend; it connects on first use.
func New(cfg Config) *Backend { return &Backend{cfg: cfg} }

func (b *Backend) open() (*sqlx.DB, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.db != nil {
		return b.db, nil
	}
	dsn, err := b.cfg.DSN()
	if err != nil {
		return nil, fmt.Errorf("sql hunter: %w", err)
	}
	db, err := sqlx.Open(b.cfg.Driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("sql hunter: opening %s: %w", b.cfg.Instance(), err)
	}
	db.SetMaxOpenConns(b.cfg.MaxConns)
	db.SetMaxIdleConns(b.cfg.MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	b.db = db
	return db, nil
}

// Instance implements search.Backend.
func (b *Backend) Instance() string { return b.cfg.Instance() }

// Close implements search.Backend.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.db == nil {
		return nil
	}
	err := b.db.Close()
	b.db = nil
	return err
}

// Prepare checks that the query's named parameters are :start and :end
// only.
func (b *Backend) Prepare(r *rules.Rule) error {
	key := "query"
	if r.SearchPath != "" {
		key = "search"
	}
	_, args, err := bind(r.Query, search.Window{})
	if err != nil {
		return &rules.Error{File: r.Path, Section: "rule", Key: key, Msg: err.Error()}
	}
	if len(args) == 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s: [rule] %s: the query uses neither :start nor :end, so every run reads the same rows", r.Path, key))
	}
	return nil
}

// bind turns :start and :end into driver placeholders with the window's
// ends as arguments.
func bind(query string, w search.Window) (string, []any, error) {
	q, args, err := sqlx.Named(query, map[string]any{"start": w.Start, "end": w.End})
	if err != nil {
		return "", nil, fmt.Errorf("named parameters: %w (only :start and :end are bound; write a literal colon before a letter or digit as ::)", err)
	}
	return q, args, nil
}

// Search implements search.Backend: it reads every row (counting those
// past max_result_count without keeping them).
func (b *Backend) Search(ctx context.Context, r *rules.Rule, w search.Window) (*search.Result, error) {
	db, err := b.open()
	if err != nil {
		return nil, err
	}
	w = search.Window{Start: w.Start.In(b.cfg.Loc), End: w.End.In(b.cfg.Loc)}
	q, args, err := bind(r.Query, w)
	if err != nil {
		return nil, err
	}
	if r.QueryTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.QueryTimeout)
		defer cancel()
	}
	// A hunt only reads: on MySQL the query runs in a READ ONLY
	// transaction (SQLite opens the file query_only), so a rule cannot
	// change the data it hunts in.
	var qx sqlx.QueryerContext = db
	if b.cfg.Driver == "mysql" {
		tx, err := db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return nil, b.queryError(ctx, r, err)
		}
		defer tx.Rollback()
		qx = tx
	}
	rows, err := qx.QueryxContext(ctx, q, args...)
	if err != nil {
		return nil, b.queryError(ctx, r, err)
	}
	defer rows.Close()
	res := &search.Result{Query: r.Query}
	timeField := r.TimeField
	if timeField == "" {
		timeField = DefaultTimeField
	}
	for rows.Next() {
		res.Total++
		if len(res.Events) >= r.MaxResultCount {
			continue
		}
		m := map[string]any{}
		if err := rows.MapScan(m); err != nil {
			return nil, fmt.Errorf("sql hunter: hunt %s: reading a row: %w", r.Name, err)
		}
		ev, err := b.event(m, timeField)
		if err != nil {
			return nil, fmt.Errorf("sql hunter: hunt %s: %w", r.Name, err)
		}
		res.Events = append(res.Events, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, b.queryError(ctx, r, err)
	}
	return res, nil
}

func (b *Backend) queryError(ctx context.Context, r *rules.Rule, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("sql hunter: hunt %s: query_timeout %v exceeded on %s: %w", r.Name, r.QueryTimeout, b.cfg.Instance(), err)
	}
	return fmt.Errorf("sql hunter: hunt %s: query on %s: %w", r.Name, b.cfg.Instance(), err)
}

// event normalises a row: text columns as strings, times in UTC.
func (b *Backend) event(m map[string]any, timeField string) (search.Event, error) {
	for k, v := range m {
		switch x := v.(type) {
		case []byte:
			m[k] = string(x)
		case time.Time:
			m[k] = x.UTC()
		}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return search.Event{}, fmt.Errorf("encoding a row: %w", err)
	}
	return search.Event{Fields: m, Time: b.rowTime(m[timeField]), Raw: raw}, nil
}

// rowTime reads an event time column: a DATETIME/TIMESTAMP, or text in
// RFC 3339 or "YYYY-MM-DD HH:MM:SS[.frac]" (in the configured zone).
func (b *Backend) rowTime(v any) time.Time {
	switch x := v.(type) {
	case time.Time:
		return x
	case string:
		x = strings.TrimSpace(x)
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t.UTC()
		}
		for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999"} {
			if t, err := time.ParseInLocation(layout, x, b.cfg.Loc); err == nil {
				return t.UTC()
			}
		}
	}
	return time.Time{}
}
