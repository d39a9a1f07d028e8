package filedrop

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
)

// With the real runtime Sink: the runtime stages the file from the
// in-flight link (a hard link in delete mode, a copy in move mode), the
// drop directory ends up empty, and the stored file has the content.
func TestWithRuntimeSink(t *testing.T) {
	for _, mode := range []string{"", "after = move\ndone_directory = DIR/.done\n"} {
		t.Run("after="+map[bool]string{true: "delete", false: "move"}[mode == ""], func(t *testing.T) {
			q := &collectortest.Queue{}
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
			h.eventually("enqueue", func() bool { return len(q.Works()) == 1 })
			h.gone(p)
			stored := filepath.Join(incoming, q.Works()[0].UUID, "sample.exe")
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
