package eve

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
)

type countSink struct{ n atomic.Int64 }

func (s *countSink) Submit(_ context.Context, sub *collector.Submission) error {
	s.n.Add(1)
	return sub.Validate()
}

// BenchmarkLines: EVE lines/s read, decoded and filtered: "alerts10" has
// one line in ten an alert that is submitted, the rest flow records that
// are counted and dropped (as on a busy sensor with flow logging on);
// "alerts100" submits every line.
func BenchmarkLines(b *testing.B) {
	b.Run("alerts10", func(b *testing.B) { benchLines(b, 10) })
	b.Run("alerts100", func(b *testing.B) { benchLines(b, 1) })
}

func benchLines(b *testing.B, every int) {
	flow := `{"timestamp":"2024-01-02T03:04:05.123456+0000","flow_id":123456789,"event_type":"flow","src_ip":"10.0.0.1","src_port":5555,"dest_ip":"192.0.2.1","dest_port":443,"proto":"TCP","flow":{"pkts_toserver":10,"pkts_toclient":12,"bytes_toserver":1000,"bytes_toclient":20000,"start":"2024-01-02T03:04:00.000000+0000","end":"2024-01-02T03:04:05.000000+0000","age":5,"state":"closed","reason":"timeout","alerted":false}}` + "\n"
	var sb strings.Builder
	for i := range b.N {
		if i%every == 0 {
			sb.WriteString(alert(i))
		} else {
			sb.WriteString(flow)
		}
	}
	path := filepath.Join(b.TempDir(), "eve.json")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	c := &Collector{cfg: Config{Paths: []string{path}, MaxLineSize: 1 << 20, EventTypes: map[string]bool{"alert": true},
		Fields: collector.SubmissionFields{Type: "suricata"}}}
	sink := &countSink{}
	fl := &follower{c: c, env: collectortest.Env(b, "b", sink, collectortest.NewState()), path: path}
	defer fl.close()
	b.SetBytes(int64(sb.Len() / max(b.N, 1)))
	b.ResetTimer()
	if err := fl.poll(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	if want := int64((b.N + every - 1) / every); sink.n.Load() != want {
		b.Fatalf("submitted %d, want %d", sink.n.Load(), want)
	}
}
