package estreamer

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ace-collector/ace-collector/collector/collectortest"
)

func TestTrackerRoundTrip(t *testing.T) {
	ctx := context.Background()
	st := collectortest.NewState()
	tr, err := loadTracker(ctx, st.Get)
	if err != nil || tr.valid {
		t.Fatalf("empty state: %+v %v", tr, err)
	}
	tr.submitted(t0, "a")
	tr.submitted(t0+1, "b")
	tr.advance(t0)
	tr.advance(t0 - 5) // never backwards
	if tr.ts != t0 || !tr.dirty {
		t.Fatalf("tracker %+v", tr)
	}
	if err := st.Put(ctx, bookmarkKey, tr.encode()); err != nil {
		t.Fatal(err)
	}
	tr2, err := loadTracker(ctx, st.Get)
	if err != nil || !tr2.valid || tr2.ts != t0 || !tr2.isDuplicate(t0, "a") || !tr2.isDuplicate(t0+1, "b") || tr2.isDuplicate(t0, "b") {
		t.Fatalf("reloaded %+v %v", tr2, err)
	}
	tr2.advance(t0 + 1) // forgets second t0, keeps t0+1
	if tr2.isDuplicate(t0, "a") || !tr2.isDuplicate(t0+1, "b") {
		t.Fatalf("after advance %+v", tr2.seen)
	}
	// Before the bookmark second: never re-sent, not remembered (the set
	// would otherwise grow until the bookmark moves).
	tr2.submitted(t0-3, "late")
	if tr2.isDuplicate(t0-3, "late") || len(tr2.seen) != 1 {
		t.Fatalf("late event remembered: %+v", tr2.seen)
	}
	// Identities are stored as short digests.
	if v := string(tr2.encode()); strings.Contains(v, `"b"`) || !strings.Contains(v, seenID("b")) {
		t.Fatalf("encoded %s", v)
	}
	if err := st.Put(ctx, bookmarkKey, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if _, err := loadTracker(ctx, st.Get); !errors.Is(err, errCorruptBookmark) {
		t.Fatalf("corrupt bookmark: %v", err)
	}
}
