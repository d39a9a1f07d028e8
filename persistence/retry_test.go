package persistence

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// `queue retry --group G` opens a fresh store (no group ids cached) beside
// the daemon: resolving the group inside the retry transaction asked the
// one-connection SQLite pool for a second connection and waited forever.
func TestRetryErrorsForOneGroupOnAFreshStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	ctx := context.Background()
	s, err := Open(ctx, Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, s, work(1, target("g", 100)))
	it, _ := s.Claim(ctx, "g", "o", 1)
	if err := s.Finish(ctx, "g", "o", []Result{{WorkID: it[0].WorkID, Outcome: Park, Error: "HTTP 400"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	admin, err := Open(ctx, Config{Path: path, Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	n, err := admin.RetryErrors(tctx, "g")
	if err != nil || n != 1 {
		t.Fatalf("RetryErrors(g) = %d, %v; want 1, nil", n, err)
	}
}
