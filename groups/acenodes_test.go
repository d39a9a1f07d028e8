package groups_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/groups"
	"github.com/ace-collector/ace-collector/persistence"
	"github.com/ace-collector/ace-collector/persistence/mysqltest"
)

// An ACE node database that cannot be read (here: its nodes table gone)
// blocks a group without full delivery instead of failing its work; the
// work is delivered once the table is back.
func TestACENodeDatabaseUnreadableLeavesWorkReady(t *testing.T) {
	dsn := groups.ACENodesDB(t)
	n := newNode(t)
	mysqltest.Exec(t, dsn, `INSERT INTO company (id, name) VALUES (3, 'live')`,
		fmt.Sprintf(`INSERT INTO nodes (id, name, location, company_id, last_update, any_mode) VALUES (9, 'live', '%s', 3, NOW(), 1)`, n.location()),
		`RENAME TABLE nodes TO nodes_gone`)
	ctx := testCtx(t)
	db, err := persistence.OpenMySQL(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	src := groups.NewACENodes(db, groups.ACENodesOptions{CompanyID: 3, CacheTTL: 20 * time.Millisecond, Logger: quietLog()})
	p := startPipelineWith(t, t.TempDir(), aceDatabase+"[collection_group_g]\ndatabase = ace\ncompany_id = 3\nfull_delivery = no\n"+fast,
		daemon.Options{NodeSources: map[string]groups.NodeSource{"g": src}})
	p.submit(3, nil)
	p.waitUntil(ctx, "blocked", func() bool {
		return strings.HasPrefix(p.groupStatus("g").Blocked, "node source failing: groups: reading ACE nodes of company 3")
	})
	if got := p.count("g", "READY"); got != 3 {
		t.Fatalf("%d READY, want 3 (ERROR %d)", got, p.count("g", "ERROR"))
	}
	if len(p.logLines("level=WARN", "delivery blocked", "reading ACE nodes of company 3")) != 1 {
		t.Fatalf("no WARN about the node database:\n%s", p.Logs())
	}
	mysqltest.Exec(t, dsn, `RENAME TABLE nodes_gone TO nodes`)
	n.waitFor(ctx, 3)
	p.waitUntil(ctx, "cleanup", func() bool { return p.backlog() == 0 })
	p.waitUntil(ctx, "unblocked", func() bool { return p.groupStatus("g").Blocked == "" })
}
