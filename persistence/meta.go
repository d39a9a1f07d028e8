package persistence

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ace-collector/ace-collector/collector"
)

// Meta identifies a store: a random id and when it was first used. A store
// that was deleted, truncated or rebuilt gets a new id and a new time.
type Meta struct {
	StoreID string
	Created time.Time
}

// Meta returns the store's identity, recording it at the first call. The
// row is written with the daemon's clock (not a database server's), since
// it is compared with the times of files staged by the daemon.
func (s *Store) Meta(ctx context.Context) (Meta, error) {
	if _, err := s.exec(ctx, s.d.insertIgnore+" INTO store_meta (id, store_id, created_at) VALUES (1, ?, ?)",
		uuid.NewString(), s.nowMs()); err != nil {
		return Meta{}, fmt.Errorf("persistence: recording the store's identity: %w", err)
	}
	var row struct {
		StoreID   string `db:"store_id"`
		CreatedAt int64  `db:"created_at"`
	}
	if err := s.db.GetContext(ctx, &row, "SELECT store_id, created_at FROM store_meta WHERE id = 1"); err != nil {
		return Meta{}, fmt.Errorf("persistence: reading the store's identity: %w", err)
	}
	return Meta{StoreID: row.StoreID, Created: time.UnixMilli(row.CreatedAt)}, nil
}

// StoreMeta implements collector.StoreIdentity.
func (s *Store) StoreMeta(ctx context.Context) (collector.StoreMeta, error) {
	m, err := s.Meta(ctx)
	return collector.StoreMeta{ID: m.StoreID, Created: m.Created}, err
}

var _ collector.StoreIdentity = (*Store)(nil)
