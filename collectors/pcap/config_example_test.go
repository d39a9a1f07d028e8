package pcap

import (
	"testing"

	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/collector"
)

// TestExampleConfig builds the collector section of configs/pcap.ini.
func TestExampleConfig(t *testing.T) {
	f, err := ini.Load("../../configs/pcap.ini")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range f.Sections() {
		if s.Key("type").String() != Kind {
			continue
		}
		n++
		var p collector.Problems
		sec := collector.NewSection(s, &p)
		sec.Ignore("type", "enabled")
		if _, err := New(sec, collector.Global{Hostname: "h", BaseDir: t.TempDir()}); err != nil {
			t.Fatal(err)
		}
		sec.Done()
		if err := p.Err(); err != nil {
			t.Errorf("configs/pcap.ini: %v", err)
		}
	}
	if n != 1 {
		t.Errorf("%d sections of type %s", n, Kind)
	}
}
