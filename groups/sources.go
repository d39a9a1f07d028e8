package groups

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/jmoiron/sqlx"

	"github.com/ace-collector/ace-collector/persistence"
)

// NodeSources are the ACE node databases the groups read, opened by
// OpenNodeSources; Close closes their connections.
type NodeSources struct {
	ByGroup map[string]NodeSource
	dbs     []*sqlx.DB
}

// OpenNodeSources opens, for every enabled group with `database = NAME`, a
// read-only node source over ACE's nodes tables in [database_NAME]. Groups
// without a database use the [node_*] sections and get no entry. Opening
// does not connect: an unreachable database shows as the group's blocked
// reason at run time, not as a start-up failure.
func OpenNodeSources(c *Config, dbs map[string]persistence.DBSection, log *slog.Logger) (*NodeSources, error) {
	ns := &NodeSources{ByGroup: map[string]NodeSource{}}
	for _, g := range c.Enabled() {
		if g.Database == "" {
			continue
		}
		sec, ok := dbs[g.Database]
		if !ok {
			ns.Close()
			return nil, fmt.Errorf("[collection_group_%s] database: no [database_%s] section", g.Name, g.Database)
		}
		dsn, err := sec.DSN()
		if err != nil {
			ns.Close()
			return nil, fmt.Errorf("[database_%s]: %w", g.Database, err)
		}
		db, err := sqlx.Open("mysql", dsn)
		if err != nil {
			ns.Close()
			return nil, fmt.Errorf("[database_%s]: %w", g.Database, err)
		}
		ns.dbs = append(ns.dbs, db)
		ns.ByGroup[g.Name] = NewACENodes(db, ACENodesOptions{CompanyID: g.NodeCompanyID, Freshness: c.NodeFreshness, Logger: log})
	}
	return ns, nil
}

// Close closes every database connection pool.
func (ns *NodeSources) Close() error {
	var errs []error
	for _, db := range ns.dbs {
		errs = append(errs, db.Close())
	}
	ns.dbs = nil
	return errors.Join(errs...)
}
