package persistence

import (
	"github.com/ace-collector/ace-collector/collector"

	"context"
	"fmt"
	"testing"
	"time"
)

// Recent walks the store newest first in pages, with each submission's
// state per group; Lookup finds one by uuid.
func TestRecentAndLookup(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(func() time.Time) *Store) {
		s := open(nil)
		ctx := context.Background()
		for i := range 5 {
			mustEnqueue(t, s, work(i, collector.GroupTarget{Name: "g", Coverage: 100}, collector.GroupTarget{Name: "h", Coverage: 0}))
		}
		var got []string
		var before int64
		for {
			page, err := s.Recent(ctx, before, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, w := range page {
				got = append(got, fmt.Sprintf("%s %s %s/%s", w.UUID[len(w.UUID)-1:], w.Payload, w.States["g"], w.States["h"]))
				before = w.ID
			}
		}
		want := `[4 {"n":4} READY/SKIPPED 3 {"n":3} READY/SKIPPED 2 {"n":2} READY/SKIPPED 1 {"n":1} READY/SKIPPED 0 {"n":0} READY/SKIPPED]`
		if fmt.Sprint(got) != want {
			t.Fatalf("recent %v\nwant %s", got, want)
		}
		w, found, err := s.Lookup(ctx, work(2).UUID)
		if err != nil || !found || string(w.Payload) != `{"n":2}` || w.Collector != "test" || w.InsertDate == 0 {
			t.Fatalf("lookup: %+v %v %v", w, found, err)
		}
		if _, found, err := s.Lookup(ctx, work(9).UUID); found || err != nil {
			t.Fatalf("lookup of a missing uuid: %v %v", found, err)
		}
	})
}
