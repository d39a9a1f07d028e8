package persistence

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/persistence/mysqltest"
)

// Throughput benchmarks for the closing note, on both backends:
//
//	go test -run '^$' -bench . -benchtime 20000x ./persistence
//	ACE_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/' go test -run '^$' -bench . -benchtime 20000x ./persistence
//
// rows/s is the figure to quote (submissions per second).

type benchBackend struct {
	name string
	open func(b *testing.B) *Store
}

func benchBackends() []benchBackend {
	return []benchBackend{
		{"sqlite", func(b *testing.B) *Store {
			s, err := Open(context.Background(), Config{Path: filepath.Join(b.TempDir(), "q.db")})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"mysql", func(b *testing.B) *Store { return openMySQLStoreAt(b, mysqltest.NewDatabase(b), nil) }},
	}
}

var benchPayload = []byte(`{"analysis_mode":"analysis","tool":"bench","description":"` + strings.Repeat("x", 900) + `"}`)

func benchWork(i int64) collector.QueuedWork {
	return collector.QueuedWork{
		UUID:    fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
		Type:    "bench",
		Mode:    "analysis",
		Payload: benchPayload,
		Groups:  []collector.GroupTarget{{Name: "g", Coverage: 100}},
	}
}

// fill enqueues n items with 32 concurrent callers.
func fill(b *testing.B, s *Store, n int) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if _, _, err := s.Enqueue(context.Background(), benchWork(i)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

func reportRows(b *testing.B, rows int) {
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkEnqueue: durable enqueues of 1 KiB submissions, by one caller
// (one commit each) and by 64 concurrent callers (group commit).
func BenchmarkEnqueue(b *testing.B) {
	for _, be := range benchBackends() {
		for _, callers := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/callers=%d", be.name, callers), func(b *testing.B) {
				s := be.open(b)
				var next atomic.Int64
				b.ResetTimer()
				var wg sync.WaitGroup
				for w := 0; w < callers; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							if _, _, err := s.Enqueue(context.Background(), benchWork(i)); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				reportRows(b, b.N)
			})
		}
	}
}

// BenchmarkClaimFinish: claim batches of 100 and mark them COMPLETED, by
// one worker and by 4 concurrent workers (distinct owners), over a backlog
// of b.N items.
func BenchmarkClaimFinish(b *testing.B) {
	for _, be := range benchBackends() {
		for _, workers := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/workers=%d", be.name, workers), func(b *testing.B) {
				s := be.open(b)
				fill(b, s, b.N)
				ctx := context.Background()
				var done atomic.Int64
				b.ResetTimer()
				var wg sync.WaitGroup
				for w := 0; w < workers; w++ {
					wg.Add(1)
					go func(owner string) {
						defer wg.Done()
						for {
							items, err := s.Claim(ctx, "g", owner, 100)
							if err != nil {
								b.Error(err)
								return
							}
							if len(items) == 0 {
								return
							}
							res := make([]Result, len(items))
							for k, it := range items {
								res[k] = Result{WorkID: it.WorkID, Outcome: Completed}
							}
							if err := s.Finish(ctx, "g", owner, res); err != nil {
								b.Error(err)
								return
							}
							done.Add(int64(len(items)))
						}
					}(fmt.Sprintf("bench/g/%d", w))
				}
				wg.Wait()
				if int(done.Load()) != b.N {
					b.Fatalf("finished %d of %d", done.Load(), b.N)
				}
				reportRows(b, b.N)
			})
		}
	}
}
