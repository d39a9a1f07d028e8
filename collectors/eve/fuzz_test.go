package eve

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
)

// FuzzEVELine feeds arbitrary bytes through decode, field lookup and
// submission building: never a panic, and every built submission valid.
func FuzzEVELine(f *testing.F) {
	f.Add([]byte(alert(7)))
	f.Add([]byte(`{"event_type":"http","http":{"hostname":"a.b","url":"/x"},"src_ip":"1.2.3.4","src_port":"99999"}`))
	f.Add([]byte(`{"event_type":"dns","dns":{"queries":[{"rrname":5},null]}}`))
	f.Add([]byte(`{"alert":{"signature_id":{"x":1}},"timestamp":7}`))
	f.Add([]byte(`{"event_type":"fileinfo","src_port":"80","dest_port":0,"http":{"http_port":"x"},"fileinfo":{"filename":"/%zz/..?q"}}`))
	if b, err := os.ReadFile("testdata/suricata7-eve.json"); err == nil {
		for line := range bytes.Lines(b) {
			f.Add(line)
		}
	}
	c := &Collector{cfg: Config{Fields: collector.SubmissionFields{Type: "suricata"}}}
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, err := decode(line)
		if err != nil {
			return
		}
		for _, k := range []string{"event_type", "alert.signature_id", "http", "a.b.c"} {
			ev.Field(k)
		}
		sub, err := c.buildSubmission(collector.Global{}, ev, "", "/x", 0, time.Unix(0, 0))
		if err != nil {
			return
		}
		if err := sub.Validate(); err != nil {
			t.Fatalf("invalid submission from %q: %v", line, err)
		}
		for _, o := range sub.Observables {
			if o.Type == collector.ObsFileName && (o.Value == "" || strings.ContainsAny(o.Value, `/\`)) {
				t.Fatalf("file name %q from %q", o.Value, line)
			}
		}
	})
}

// FuzzFollow writes arbitrary content (split in two appends) and checks
// the follower consumes exactly the complete lines.
func FuzzFollow(f *testing.F) {
	f.Add([]byte(alert(1)+alert(2)), 10)
	f.Add([]byte("\n\n{}\n{\"event_type\":\"alert\"}"), 3)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		if cut < 0 || cut > len(data) {
			cut = len(data) / 2
		}
		path := filepath.Join(t.TempDir(), "eve.json")
		c := &Collector{cfg: Config{Paths: []string{path}, MaxLineSize: 64, EventTypes: map[string]bool{}}}
		st := collectortest.NewState()
		env := collectortest.Env(t, "f", collectortest.NewSink(), st)
		fl := &follower{c: c, env: env, path: path}
		defer fl.close()
		if err := os.WriteFile(path, data[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		if err := fl.poll(context.Background()); err != nil {
			t.Fatal(err)
		}
		fh, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		fh.Write(data[cut:])
		fh.Close()
		if err := fl.poll(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := int64(strings.LastIndexByte(string(data), '\n') + 1)
		if fl.pos.Offset != want {
			t.Fatalf("offset %d, want %d", fl.pos.Offset, want)
		}
	})
}
