package persistence

import (
	"context"
	"testing"
	"time"
)

// A store's identity is recorded once, with the store's clock, and then
// stays; another store has another.
func TestMetaRecordedOnceAndStable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(now func() time.Time) *Store) {
		ctx := context.Background()
		at := time.UnixMilli(1_700_000_000_000)
		c := &clock{t: at}
		s := open(c.Now)
		first, err := s.Meta(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if first.StoreID == "" || !first.Created.Equal(at) {
			t.Fatalf("meta %+v, want an id and created at %v", first, at)
		}
		c.Advance(time.Hour)
		again, err := s.Meta(ctx)
		if err != nil || again != first {
			t.Fatalf("meta changed: %+v then %+v, %v", first, again, err)
		}
		other, err := open(c.Now).Meta(ctx)
		if err != nil || other.StoreID == first.StoreID || !other.Created.Equal(at.Add(time.Hour)) {
			t.Fatalf("a second store: %+v, %v (first %+v)", other, err, first)
		}
	})
}
