package persistence

import (
	"context"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// CollectorQueue lets the collector runtime, which imports no backend, use
// the store.
type CollectorQueue struct{ s *Store }

// ForCollector returns the store as the runtime's queue.
func (s *Store) ForCollector() CollectorQueue { return CollectorQueue{s} }

func (q CollectorQueue) Enqueue(ctx context.Context, w collector.QueuedWork) (bool, []string, error) {
	gs := make([]GroupTarget, len(w.Groups))
	for i, g := range w.Groups {
		gs[i] = GroupTarget{Name: g.Name, Coverage: g.Coverage}
	}
	res, err := q.s.Enqueue(ctx, &Work{
		UUID: w.UUID, Type: w.Type, Mode: w.Mode, Payload: w.Payload, HasFiles: w.HasFiles,
		Groups: gs, DedupSource: w.DedupSource, DedupKey: w.DedupKey,
	})
	return res.Duplicate, res.Skipped, diskFull(err)
}

func (q CollectorQueue) Finished(ctx context.Context, limit int) ([]collector.FinishedWork, error) {
	fs, err := q.s.Finished(ctx, limit)
	out := make([]collector.FinishedWork, len(fs))
	for i, f := range fs {
		out[i] = collector.FinishedWork{ID: f.WorkID, UUID: f.UUID, HasFiles: f.HasFiles}
	}
	return out, err
}

func (q CollectorQueue) Delete(ctx context.Context, ids []int64) error { return q.s.Delete(ctx, ids) }

func (q CollectorQueue) Existing(ctx context.Context, uuids []string) (map[string]bool, error) {
	return q.s.Existing(ctx, uuids)
}

func (q CollectorQueue) ExpireKeys(ctx context.Context, a, b time.Duration) (int64, error) {
	return q.s.ExpireKeys(ctx, a, b)
}

func (q CollectorQueue) State(source string) collector.State { return q.s.State(source) }

func (q CollectorQueue) Changed() <-chan struct{} { return q.s.Changed() }
