package persistence

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/ace-collector/ace-collector/collector"
)

// SourceID returns (creating) the id of a persistence source.
func (s *Store) SourceID(ctx context.Context, source string) (int64, error) {
	return s.idFor(ctx, s.sources, "persistence_source", source)
}

// KeyGet returns a key's value.
func (s *Store) KeyGet(ctx context.Context, source, key string) ([]byte, bool, error) {
	src, err := s.SourceID(ctx, source)
	if err != nil {
		return nil, false, err
	}
	var v []byte
	err = s.rget(ctx, &v, "SELECT value FROM persistence WHERE source_id = ? AND uuid = ?", src, key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("persistence: reading key %s/%s: %w", source, key, err)
	}
	return v, true, nil
}

// KeyPut stores a key. A permanent key's value is replaced; a volatile
// key is refreshed (last_update) and its value replaced when one is given.
func (s *Store) KeyPut(ctx context.Context, source, key string, value []byte, permanent bool) error {
	src, err := s.SourceID(ctx, source)
	if err != nil {
		return err
	}
	now := s.nowMs()
	perm := 0
	if permanent {
		perm = 1
	}
	if _, err := s.exec(ctx, s.d.upsertKey, src, perm, key, value, now, now); err != nil {
		return fmt.Errorf("persistence: writing key %s/%s: %w", source, key, err)
	}
	return nil
}

// KeyDelete deletes one key.
func (s *Store) KeyDelete(ctx context.Context, source, key string) error {
	src, err := s.SourceID(ctx, source)
	if err != nil {
		return err
	}
	if _, err := s.exec(ctx, "DELETE FROM persistence WHERE source_id = ? AND uuid = ?", src, key); err != nil {
		return fmt.Errorf("persistence: deleting key %s/%s: %w", source, key, err)
	}
	return nil
}

// Key is one persistence key as listed by the CLI.
type Key struct {
	Source     string `db:"source"`
	Key        string `db:"uuid"`
	Permanent  bool   `db:"permanent"`
	Value      []byte `db:"value"`
	CreatedAt  int64  `db:"created_at"`
	LastUpdate int64  `db:"last_update"`
}

// KeyFilter selects keys. Empty fields match everything.
type KeyFilter struct {
	Source       string // exact source name
	NameContains string // substring of the key
	Permanent    *bool  // only permanent (true) or volatile (false) keys
	OlderThan    time.Time
}

func (f KeyFilter) where() (string, []any) {
	var conds []string
	var args []any
	if f.Source != "" {
		conds = append(conds, "s.name = ?")
		args = append(args, f.Source)
	}
	if f.NameContains != "" {
		conds = append(conds, "INSTR(p.uuid, ?) > 0")
		args = append(args, f.NameContains)
	}
	if f.Permanent != nil {
		conds = append(conds, "p.permanent = ?")
		args = append(args, *f.Permanent)
	}
	if !f.OlderThan.IsZero() {
		conds = append(conds, "p.last_update < ?")
		args = append(args, f.OlderThan.UnixMilli())
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// Sources lists persistence source names containing substr.
func (s *Store) Sources(ctx context.Context, substr string) ([]string, error) {
	var out []string
	if err := s.db.SelectContext(ctx, &out, "SELECT name FROM persistence_source WHERE INSTR(name, ?) > 0 ORDER BY name", substr); err != nil {
		return nil, fmt.Errorf("persistence: listing sources: %w", err)
	}
	return out, nil
}

// Keys lists keys matching f.
func (s *Store) Keys(ctx context.Context, f KeyFilter, limit int) ([]Key, error) {
	where, args := f.where()
	var out []Key
	q := `SELECT s.name AS source, p.uuid, p.permanent, p.value, p.created_at, p.last_update
		FROM persistence p JOIN persistence_source s ON s.id = p.source_id` + where + " ORDER BY s.name, p.uuid LIMIT ?"
	if err := s.db.SelectContext(ctx, &out, q, append(args, limit)...); err != nil {
		return nil, fmt.Errorf("persistence: listing keys: %w", err)
	}
	return out, nil
}

// ClearKeys deletes keys matching f (and, if names is non-empty, only those
// names). With dryRun it counts without deleting.
func (s *Store) ClearKeys(ctx context.Context, f KeyFilter, names []string, dryRun bool) (int64, error) {
	where, args := f.where()
	if len(names) > 0 {
		in, inArgs, err := sqlx.In("p.uuid IN (?)", names)
		if err != nil {
			return 0, err
		}
		if where == "" {
			where = " WHERE " + in
		} else {
			where += " AND " + in
		}
		args = append(args, inArgs...)
	}
	var n int64
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		var ids []int64
		if err := tx.SelectContext(ctx, &ids, "SELECT p.id FROM persistence p JOIN persistence_source s ON s.id = p.source_id"+where, args...); err != nil {
			return err
		}
		n = int64(len(ids))
		if dryRun || n == 0 {
			return nil
		}
		for start := 0; start < len(ids); start += 500 {
			q, qa, err := sqlx.In("DELETE FROM persistence WHERE id IN (?)", ids[start:min(start+500, len(ids))])
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, q, qa...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("persistence: clearing keys: %w", err)
	}
	return n, nil
}

// SourceState is a collector's view of its persistence keys (it satisfies
// collector.State).
type SourceState struct {
	s      *Store
	source string
}

// State returns the key store of one source.
func (s *Store) State(source string) collector.State { return &SourceState{s: s, source: source} }

func (st *SourceState) Get(ctx context.Context, key string) ([]byte, bool, error) {
	return st.s.KeyGet(ctx, st.source, key)
}

func (st *SourceState) Put(ctx context.Context, key string, value []byte) error {
	return st.s.KeyPut(ctx, st.source, key, value, true)
}

func (st *SourceState) PutVolatile(ctx context.Context, key string, value []byte) error {
	return st.s.KeyPut(ctx, st.source, key, value, false)
}

func (st *SourceState) Delete(ctx context.Context, key string) error {
	return st.s.KeyDelete(ctx, st.source, key)
}
