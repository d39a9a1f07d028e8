package persistence

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/ace-collector/ace-collector/migrations"
	"github.com/ace-collector/ace-collector/persistence/mysqltest"
)

// Every pooled connection runs READ COMMITTED with strict SQL mode, and
// the schema is at the newest migration.
func TestMySQLSession(t *testing.T) {
	s := openMySQLTestStore(t, nil)
	ctx := context.Background()
	cur, latest, err := migrations.Status(ctx, s.DB().DB, migrations.MySQL)
	if err != nil || cur != latest || cur == 0 {
		t.Fatalf("schema version %d of %d, %v", cur, latest, err)
	}
	// Hold several connections at once so they are distinct sessions.
	var conns []*sql.Conn
	for i := 0; i < 4; i++ {
		c, err := s.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		var iso, mode string
		err := c.QueryRowContext(ctx, "SELECT @@SESSION.transaction_isolation").Scan(&iso)
		if err != nil {
			err = c.QueryRowContext(ctx, "SELECT @@SESSION.tx_isolation").Scan(&iso)
		}
		if err != nil || iso != "READ-COMMITTED" {
			t.Errorf("connection %d: isolation %q, %v", i, iso, err)
		}
		if err := c.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode").Scan(&mode); err != nil || !strings.Contains(mode, "STRICT_ALL_TABLES") {
			t.Errorf("connection %d: sql_mode %q, %v", i, mode, err)
		}
		c.Close()
	}
}

// Keys and names compare byte for byte, as in SQLite.
func TestMySQLKeysAreExact(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(func() time.Time) *Store) {
		s := open(nil)
		ctx := context.Background()
		st := s.State("files")
		keys := []string{"/var/log/Mail.log", "/var/log/mail.log", "/var/log/mail.log ", "straße", "strasse"}
		for i, k := range keys {
			if err := st.Put(ctx, k, []byte{byte('0' + i)}); err != nil {
				t.Fatal(err)
			}
		}
		for i, k := range keys {
			v, ok, err := st.Get(ctx, k)
			if err != nil || !ok || string(v) != string([]byte{byte('0' + i)}) {
				t.Errorf("key %q = %q %v %v", k, v, ok, err)
			}
		}
		a, _ := s.GroupID(ctx, "Main")
		b, _ := s.GroupID(ctx, "main")
		if a == b {
			t.Errorf("groups Main and main share id %d", a)
		}
	})
}

// Two instances enqueueing the same dedup key at the same time: exactly
// one of them stores the submission.
func TestMySQLDedupAcrossInstances(t *testing.T) {
	dsn := mysqltest.NewDatabase(t)
	s1 := openMySQLStoreAt(t, dsn, nil)
	s2 := openMySQLStoreAt(t, dsn, nil)
	ctx := context.Background()
	for round := 0; round < 20; round++ {
		var fresh atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 6; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				// Different groups, so the coverage-counter row locks do
				// not serialise the two instances' transactions.
				s, g := s1, "g1"
				if i%2 == 1 {
					s, g = s2, "g2"
				}
				w := work(round*10+i, target(g, 100))
				w.DedupSource, w.DedupKey = "mail", "msg-"+string(rune('a'+round))
				dup, _, err := s.Enqueue(ctx, w)
				if err != nil {
					t.Error(err)
					return
				}
				if !dup {
					fresh.Add(1)
				}
			}(i)
		}
		wg.Wait()
		if n := fresh.Load(); n != 1 {
			t.Fatalf("round %d: %d enqueues stored the same dedup key", round, n)
		}
	}
	if n, _ := s1.Backlog(ctx); n != 20 {
		t.Fatalf("backlog %d, want 20", n)
	}
}

// A real InnoDB deadlock is classified retryable.
func TestMySQLDeadlockIsRetryable(t *testing.T) {
	s := openMySQLTestStore(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := s.DB()
	if _, err := db.ExecContext(ctx, "INSERT INTO work_distribution_groups (name) VALUES ('x'), ('y')"); err != nil {
		t.Fatal(err)
	}
	tx1, _ := db.BeginTxx(ctx, nil)
	tx2, _ := db.BeginTxx(ctx, nil)
	defer tx1.Rollback()
	defer tx2.Rollback()
	lock := func(tx *sqlx.Tx, name string) error {
		_, err := tx.ExecContext(ctx, "UPDATE work_distribution_groups SET coverage_counter = coverage_counter + 1 WHERE name = ?", name)
		return err
	}
	if err := lock(tx1, "x"); err != nil {
		t.Fatal(err)
	}
	if err := lock(tx2, "y"); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() { errs <- lock(tx1, "y") }()
	go func() { errs <- lock(tx2, "x") }()
	var got []error
	for i := 0; i < 2; i++ {
		select {
		case err := <-errs:
			got = append(got, err)
			if err != nil { // the victim's rollback lets the other proceed
				tx1.Rollback()
				tx2.Rollback()
			}
		case <-ctx.Done():
			t.Fatal("no deadlock detected")
		}
	}
	var victim error
	for _, err := range got {
		if err != nil {
			victim = err
		}
	}
	var me *mysqldrv.MySQLError
	if !errors.As(victim, &me) || me.Number != mysqlErrDeadlock || !mysqlRetryable(victim) {
		t.Fatalf("want a retryable deadlock error, got %v", got)
	}
}

// withTx and exec retry lock-race errors a bounded number of times and
// nothing else.
func TestRetryIsBounded(t *testing.T) {
	s, err := Open(context.Background(), Config{Path: filepath.Join(t.TempDir(), "q.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.d.retryable = mysqlRetryable
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		errs  []error
		calls int
		ok    bool
	}{
		{"deadlock forever", []error{&mysqldrv.MySQLError{Number: 1213}}, txAttempts, false},
		{"lock wait then ok", []error{&mysqldrv.MySQLError{Number: 1205}, nil}, 2, true},
		{"duplicate key", []error{&mysqldrv.MySQLError{Number: 1062}}, 1, false},
		{"other error", []error{errors.New("boom")}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := s.withTx(ctx, func(*sqlx.Tx) error {
				e := tc.errs[min(calls, len(tc.errs)-1)]
				calls++
				return e
			})
			if calls != tc.calls || (err == nil) != tc.ok {
				t.Fatalf("%d calls, err %v; want %d calls, ok=%v", calls, err, tc.calls, tc.ok)
			}
		})
	}
}
