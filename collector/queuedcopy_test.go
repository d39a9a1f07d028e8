package collector_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
)

// subQueue is a recording queue that says whether it uses QueuedWork.Sub.
type subQueue struct {
	collectortest.Queue
	uses bool
}

func (q *subQueue) UsesSubmissions() bool { return q.uses }

// The runtime hands a queue that uses it a copy of the submission that the
// collector's later changes do not reach, and copies nothing for others.
func TestQueuedWorkCarriesACopyOfTheSubmission(t *testing.T) {
	for _, uses := range []bool{true, false} {
		q := &subQueue{uses: uses}
		rt, err := collector.NewRuntime(collector.RuntimeOptions{Queue: q, IncomingDir: filepath.Join(t.TempDir(), "incoming"), Groups: oneGroup})
		if err != nil {
			t.Fatal(err)
		}
		sub := collector.NewSubmission("copied")
		sub.AddObservable(collector.ObsIPv4, "192.0.2.1")
		sub.Observables[0].Tags = []string{"first"}
		sub.Tags = []string{"t"}
		if err := rt.Sink("c", "test", nil).Submit(context.Background(), sub); err != nil {
			t.Fatal(err)
		}
		// The collector reuses its submission.
		sub.Description, sub.Tags[0], sub.Observables[0].Tags[0] = "changed", "x", "changed"
		got := q.Works()[0].Sub
		if !uses {
			if got != nil {
				t.Fatal("a queue that does not use it was given the submission")
			}
			continue
		}
		if got == nil || got.Description != "copied" || got.Tags[0] != "t" || got.Observables[0].Tags[0] != "first" {
			t.Fatalf("queued submission %+v: not an independent copy", got)
		}
	}
}
