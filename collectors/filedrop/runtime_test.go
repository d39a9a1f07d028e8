package filedrop

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
)

// memQueue is a minimal collector.Queue that records what was enqueued.
type memQueue struct {
	mu    sync.Mutex
	works []collector.QueuedWork
}

func (q *memQueue) Enqueue(_ context.Context, w collector.QueuedWork) (bool, []string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.works = append(q.works, w)
	return false, nil, nil
}
func (q *memQueue) Finished(context.Context, int) ([]collector.FinishedWork, error) { return nil, nil }
func (q *memQueue) Delete(context.Context, []int64) error                           { return nil }
func (q *memQueue) Existing(context.Context, []string) (map[string]bool, error)     { return nil, nil }
func (q *memQueue) ExpireKeys(context.Context, time.Duration, time.Duration) (int64, error) {
	return 0, nil
}
func (q *memQueue) State(string) collector.State { return collectortest.NewState() }
func (q *memQueue) Changed() <-chan struct{}     { return nil }
func (q *memQueue) count() int                   { q.mu.Lock(); defer q.mu.Unlock(); return len(q.works) }
func (q *memQueue) uuid(i int) string            { q.mu.Lock(); defer q.mu.Unlock(); return q.works[i].UUID }

// With the real runtime Sink: the runtime stages the file from the
// in-flight link (a hard link in delete mode, a copy in move mode), the
// drop directory ends up empty, and the stored file has the content.
func TestWithRuntimeSink(t *testing.T) {
	for _, mode := range []string{"", "after = move\ndone_directory = DIR/.done\n"} {
		t.Run("after="+map[bool]string{true: "delete", false: "move"}[mode == ""], func(t *testing.T) {
			q := &memQueue{}
			incoming := t.TempDir()
			rt, err := collector.NewRuntime(collector.RuntimeOptions{
				Queue: q, IncomingDir: incoming, Groups: []collector.GroupTarget{{Name: "main", Coverage: 100}},
				Global: collector.Global{Hostname: "rt-host"},
			})
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, mode)
			h.run(rt.Sink("drop", Kind, nil))
			p := h.drop("sample.exe", []byte("MZ payload"), time.Time{})
			h.eventually("enqueue", func() bool { return q.count() == 1 })
			h.gone(p)
			stored := filepath.Join(incoming, q.uuid(0), "sample.exe")
			b, err := os.ReadFile(stored)
			if err != nil || string(b) != "MZ payload" {
				t.Fatalf("stored %q, %v", b, err)
			}
			h.eventually("in-flight empty", func() bool {
				ents, err := os.ReadDir(filepath.Join(h.dir, InflightDir))
				return err == nil && len(ents) == 0
			})
			if mode != "" {
				done := filepath.Join(h.dir, ".done", "sample.exe")
				di, err := os.Stat(done)
				if err != nil {
					t.Fatal(err)
				}
				si, err := os.Stat(stored)
				if err != nil {
					t.Fatal(err)
				}
				if os.SameFile(di, si) {
					t.Error("the done file shares its inode with the queued file")
				}
			}
		})
	}
}
