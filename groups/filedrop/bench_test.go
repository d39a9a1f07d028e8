package filedrop_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/groups/grouptest"
)

// BenchmarkFileDrop measures files per second sustained from the store
// into a drop directory: b.N submissions with one 4 KiB attachment each
// are stored first, then the timer runs while the group drains them, each
// written under a temporary name, fsync'd and renamed.
//
//	go test -run '^$' -bench FileDrop -benchtime 5000x ./groups/filedrop
func BenchmarkFileDrop(b *testing.B) {
	for _, format := range []string{"json", "eml"} {
		for _, threads := range []int{1, 4} {
			b.Run(fmt.Sprintf("format=%s/threads=%d", format, threads), func(b *testing.B) {
				drop, src := b.TempDir(), b.TempDir()
				p := grouptest.New(b, grouptest.Group("archive", "filedrop", "directory = "+drop, "format = "+format,
					fmt.Sprintf("thread_count = %d", threads), "batch_size = 256"), daemon.Options{})
				payload := make([]byte, 4096)
				p.Fill(b.N, 8, func(i int) *collector.Submission {
					sub := collector.NewSubmission(fmt.Sprintf("bench file %d", i))
					path := filepath.Join(src, fmt.Sprintf("f%d", i))
					if err := os.WriteFile(path, payload, 0o600); err != nil {
						b.Fatal(err)
					}
					sub.Files = []collector.File{{Path: path, Name: "sample.bin", DeleteSource: true}}
					return sub
				})
				ctx := grouptest.Ctx(b)
				b.ResetTimer()
				start := time.Now()
				p.Run()
				p.WaitUntil(ctx, "the queue drained", func() bool { return p.Stats().Get("group:archive", "delivered") == int64(b.N) })
				elapsed := time.Since(start)
				b.StopTimer()
				if entries, err := os.ReadDir(drop); err != nil || len(entries) != b.N {
					b.Fatalf("the drop directory holds %d entries, want %d: %v", len(entries), b.N, err)
				}
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "files/s")
			})
		}
	}
}
