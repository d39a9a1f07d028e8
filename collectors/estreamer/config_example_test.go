package estreamer

import (
	"testing"

	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/collector"
)

// TestExampleConfig builds the collector section of configs/estreamer.ini.
func TestExampleConfig(t *testing.T) {
	f, err := ini.Load("../../configs/estreamer.ini")
	if err != nil {
		t.Fatal(err)
	}
	var p collector.Problems
	sec := collector.NewSection(f.Section("collector_fmc"), &p)
	sec.Ignore("type", "enabled")
	c, err := New(sec, collector.Global{Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	sec.Done()
	for _, err := range p.List() {
		t.Errorf("configs/estreamer.ini: %v", err)
	}
	cfg := c.(*Collector).cfg
	if cfg.Port != 8302 || cfg.Verify != VerifyChain || !cfg.Rules.Kinds[KindIntrusion] || !cfg.Rules.Kinds[KindFileMalware] || cfg.Rules.Kinds[KindConnection] {
		t.Errorf("example config parsed as %+v", cfg)
	}
}
