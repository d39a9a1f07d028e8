package persistence

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/jmoiron/sqlx"
)

// Statements are written once, for both dialects, with "IN (?)" standing
// for a list of values passed as one slice argument. On MySQL the list is
// expanded into placeholders (interpolated client side: one round trip per
// statement). On SQLite it becomes "IN (SELECT value FROM json_each(?))"
// with the slice passed as one JSON array, so the statement's text does not
// depend on the list's length and is prepared once per connection: the
// profile of the pipeline showed statement preparation as the store's
// largest cost after the disk.

const inList = "IN (?)"

// stmtCache keeps the statements of one SQLite connection pool, each
// prepared once per connection (database/sql re-prepares a statement on a
// connection it has not seen, and a transaction reuses the preparation of
// its connection).
type stmtCache struct {
	db *sqlx.DB
	// lazy: statements not prepared at open are prepared on first use.
	// Only the read pool may do that: preparing takes a connection, and
	// the writer's only connection is held by the transaction asking.
	lazy bool
	mu   sync.Mutex
	m    map[string]*sqlx.Stmt
}

func newStmtCache(ctx context.Context, db *sqlx.DB, lazy bool, eager []string) (*stmtCache, error) {
	c := &stmtCache{db: db, lazy: lazy, m: map[string]*sqlx.Stmt{}}
	for _, q := range eager {
		st, err := db.PreparexContext(ctx, q)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("persistence: preparing %q: %w", oneLineSQL(q), err)
		}
		c.m[q] = st
	}
	return c, nil
}

// get returns the prepared statement for q, or nil when it has none (the
// caller then runs q unprepared).
func (c *stmtCache) get(ctx context.Context, q string) *sqlx.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[q]; ok || !c.lazy {
		return st
	}
	st, err := c.db.PreparexContext(ctx, q)
	if err != nil {
		return nil // run unprepared; the error, if real, shows there
	}
	c.m[q] = st
	return st
}

func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = map[string]*sqlx.Stmt{}
}

func oneLineSQL(q string) string { return strings.Join(strings.Fields(q), " ") }

// sqliteIn is how SQLite reads a list argument.
const sqliteIn = "IN (SELECT value FROM json_each(?))"

// bind turns a statement written with list arguments into what the
// dialect runs.
func (s *Store) bind(q string, args []any) (string, []any, error) {
	if !hasList(args) {
		return q, args, nil
	}
	if s.d.name != "sqlite" {
		q, args, err := sqlx.In(q, args...)
		if err != nil {
			return "", nil, fmt.Errorf("expanding %q: %w", oneLineSQL(q), err)
		}
		return q, args, nil
	}
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a
		if isList(a) {
			js, err := jsonList(a)
			if err != nil {
				return "", nil, err
			}
			out[i] = js
		}
	}
	return strings.ReplaceAll(q, inList, sqliteIn), out, nil
}

func hasList(args []any) bool {
	for _, a := range args {
		if isList(a) {
			return true
		}
	}
	return false
}

func isList(a any) bool {
	switch a.(type) {
	case []int64, []string:
		return true
	case []byte, nil:
		return false
	}
	return reflect.TypeOf(a).Kind() == reflect.Slice
}

// jsonList encodes a list argument as a JSON array for json_each.
func jsonList(a any) (string, error) {
	if ids, ok := a.([]int64); ok { // the common case, without reflection
		b := make([]byte, 0, 2+len(ids)*8)
		b = append(b, '[')
		for i, id := range ids {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, id, 10)
		}
		return string(append(b, ']')), nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		return "", fmt.Errorf("encoding a list argument: %w", err)
	}
	return string(b), nil
}

// wtx is a write transaction of the store: statements run prepared where
// the store has them, with list arguments bound for the dialect.
type wtx struct {
	tx  *sqlx.Tx
	s   *Store
	ctx context.Context
	// r is the writer's round the transaction writes; nil outside rounds.
	r *round
}

func (t wtx) stmt(q string) *sqlx.Stmt {
	if st := t.s.wstmts.get(t.ctx, q); st != nil {
		return t.tx.StmtxContext(t.ctx, st)
	}
	return nil
}

func (t wtx) exec(q string, args ...any) (sql.Result, error) {
	q, args, err := t.s.bind(q, args)
	if err != nil {
		return nil, err
	}
	if st := t.stmt(q); st != nil {
		return st.ExecContext(t.ctx, args...)
	}
	return t.tx.ExecContext(t.ctx, q, args...)
}

func (t wtx) sel(dest any, q string, args ...any) error {
	q, args, err := t.s.bind(q, args)
	if err != nil {
		return err
	}
	if st := t.stmt(q); st != nil {
		return st.SelectContext(t.ctx, dest, args...)
	}
	return t.tx.SelectContext(t.ctx, dest, q, args...)
}

// rsel runs a query on the read connections.
func (s *Store) rsel(ctx context.Context, dest any, q string, args ...any) error {
	q, args, err := s.bind(q, args)
	if err != nil {
		return err
	}
	if st := s.rstmts.get(ctx, q); st != nil {
		return st.SelectContext(ctx, dest, args...)
	}
	return s.rdb.SelectContext(ctx, dest, q, args...)
}

// rget reads one row on the read connections.
func (s *Store) rget(ctx context.Context, dest any, q string, args ...any) error {
	q, args, err := s.bind(q, args)
	if err != nil {
		return err
	}
	if st := s.rstmts.get(ctx, q); st != nil {
		return st.GetContext(ctx, dest, args...)
	}
	return s.rdb.GetContext(ctx, dest, q, args...)
}
