package syslog

import (
	"testing"

	"github.com/ace-collector/ace-collector/collector/collectortest"
)

// TestExampleConfig builds the collector section of configs/syslog.ini.
func TestExampleConfig(t *testing.T) {
	if n := collectortest.ExampleConfig(t, "../../configs/syslog.ini", Kind, New); n != 1 {
		t.Errorf("%d sections of type %s", n, Kind)
	}
}
