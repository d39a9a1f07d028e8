package filedrop

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkBacklog1KiB measures files/s for a backlog of 1 KiB files
// already in the directory when the collector starts: list, claim, hash,
// submit to collectortest.Sink (which reads each file), delete.
func BenchmarkBacklog1KiB(b *testing.B) {
	h := newHarness(b, "")
	data := make([]byte, 1024)
	for i := range b.N {
		copy(data, fmt.Sprintf("file %d", i))
		writeAt(b, filepath.Join(h.dir, fmt.Sprintf("f%08d", i)), data, time.Time{})
	}
	b.ResetTimer()
	start := time.Now()
	h.run(nil)
	waitDrained(b, h, b.N)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "files/s")
}

// BenchmarkLive1KiB measures files/s for 1 KiB files renamed into the
// directory while the collector runs, found through fsnotify events. The
// files are written beforehand (into a dot-directory, which is ignored),
// so the timing is the collector's, not the writer's.
func BenchmarkLive1KiB(b *testing.B) {
	h := start(b, "", nil)
	stage := filepath.Join(h.dir, ".stage")
	if err := os.Mkdir(stage, 0o750); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 1024)
	for i := range b.N {
		copy(data, fmt.Sprintf("file %d", i))
		writeAt(b, filepath.Join(stage, fmt.Sprintf("f%08d", i)), data, time.Time{})
	}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		name := fmt.Sprintf("f%08d", i)
		if err := os.Rename(filepath.Join(stage, name), filepath.Join(h.dir, name)); err != nil {
			b.Fatal(err)
		}
	}
	waitDrained(b, h, b.N)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "files/s")
}

// waitDrained waits until n submissions were recorded and the drop
// directory holds no more files.
func waitDrained(b *testing.B, h *harness, n int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	// The counter, not sink.WaitFor: that copies the whole list per file.
	for h.count("submitted") < int64(n) {
		select {
		case <-ctx.Done():
			b.Fatalf("%d of %d submitted", h.count("submitted"), n)
		case <-tick.C:
		}
	}
	if got := len(h.sink.Submissions()); got != n {
		b.Fatalf("sink has %d submissions, want %d", got, n)
	}
	for {
		ents, err := os.ReadDir(h.dir)
		if err != nil {
			b.Fatal(err)
		}
		left := 0
		for _, e := range ents {
			if !ignoredName(e.Name()) {
				left++
			}
		}
		if left == 0 {
			return
		}
		select {
		case <-ctx.Done():
			b.Fatalf("%d files left", left)
		case <-tick.C:
		}
	}
}
