package filedrop

import (
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/go-ini/ini"
)

// build runs the factory on a [collector_t] section and returns the
// collector and every problem validate would print.
func build(t testing.TB, body string) (*Collector, error) {
	t.Helper()
	f, err := ini.Load([]byte("[collector_t]\n" + body))
	if err != nil {
		t.Fatalf("loading ini: %v", err)
	}
	var p collector.Problems
	sec := collector.NewSection(f.Section("collector_t"), &p)
	c, err := New(sec, collector.Global{Hostname: "host", BaseDir: "/base"})
	if err != nil {
		t.Fatalf("factory: %v", err)
	}
	sec.Done()
	return c.(*Collector), p.Err()
}

func TestConfigDefaults(t *testing.T) {
	c, err := build(t, "directory = drop\n")
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.cfg
	if cfg.Dir != "/base/drop" || cfg.Recursive || cfg.Rescan != 10*time.Second ||
		cfg.Fields.AnalysisMode != "analysis" || cfg.Fields.Type != "filedrop" || cfg.Fields.Tool != "ace-collector filedrop" ||
		cfg.Fields.Queue != "default" || cfg.After != AfterDelete || cfg.MaxSize != 0 || cfg.MinAge != 0 ||
		cfg.Dedup || cfg.RetryMin != time.Second || cfg.RetryMax != 30*time.Second || cfg.Fields.ToolInstance != "" {
		t.Errorf("defaults: %+v", cfg)
	}
	d, err := RenderDescription(cfg.Description, Description{Name: "x.exe"})
	if err != nil || d != "filedrop: x.exe" {
		t.Errorf("default description = %q, %v", d, err)
	}
}

func TestConfigAll(t *testing.T) {
	c, err := build(t, `directory = /in
recursive = yes
rescan_interval = 2s
analysis_mode = correlation
submission_type = drop
tool = t
tool_instance = ti
description = {{.Name}} {{.Size}}
tags = a, b
queue = q
group_assignments = g1,g2
after = move
done_directory = /done
max_file_size = 1M
min_age = 5s
dedup = yes
retry_backoff = 100ms
retry_max_backoff = 1m
`)
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.cfg
	if cfg.Dir != "/in" || !cfg.Recursive || cfg.Rescan != 2*time.Second || cfg.Fields.AnalysisMode != "correlation" ||
		cfg.Fields.Type != "drop" || cfg.Fields.Tool != "t" || cfg.Fields.ToolInstance != "ti" ||
		strings.Join(cfg.Fields.Tags, "|") != "a|b" || cfg.Fields.Queue != "q" || strings.Join(cfg.Fields.Groups, "|") != "g1|g2" || cfg.After != AfterMove ||
		cfg.DoneDir != "/done" || cfg.MaxSize != 1<<20 || cfg.MinAge != 5*time.Second || !cfg.Dedup ||
		cfg.RetryMin != 100*time.Millisecond || cfg.RetryMax != time.Minute {
		t.Errorf("parsed: %+v", cfg)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string // substrings of the joined problems
	}{
		{"no directory", "", []string{"directory: required"}},
		{"bad template", "directory = d\ndescription = {{.Name\n", []string{"description: bad template"}},
		{"unknown field", "directory = d\ndescription = {{.Nope}}\n", []string{"description: executing"}},
		{"move without done", "directory = d\nafter = move\n", []string{"done_directory: required"}},
		{"done without move", "directory = d\ndone_directory = x\n", []string{"done_directory: is only used"}},
		{"bad after", "directory = d\nafter = keep\n", []string{"after: \"keep\" is not one of"}},
		{"done is dir", "directory = /d\nafter = move\ndone_directory = /d/\n", []string{"must not be the watched"}},
		{"done inside recursive", "directory = /d\nrecursive = yes\nafter = move\ndone_directory = /d/done\n",
			[]string{"is inside directory"}},
		{"bad durations", "directory = d\nrescan_interval = 0\nmin_age = soon\nretry_backoff = 0\n",
			[]string{"rescan_interval: must be positive", "min_age: duration", "retry_backoff: must be positive"}},
		{"max below min", "directory = d\nretry_backoff = 10s\nretry_max_backoff = 1s\n",
			[]string{"retry_max_backoff: must not be less"}},
		{"bad size", "directory = d\nmax_file_size = lots\n", []string{"max_file_size: size"}},
		{"bad bools", "directory = d\nrecursive = maybe\ndedup = perhaps\n",
			[]string{"recursive: \"maybe\"", "dedup: \"perhaps\""}},
		{"empty tool", "directory = d\ntool =\n", []string{"tool: must not be empty"}},
		{"unknown key", "directory = d\ntype_ = x\n", []string{"type_: unknown key"}},
		{"empty template", "directory = d\ndescription = \" \"\n", []string{"description: empty template"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(t, tt.body)
			if err == nil {
				t.Fatalf("no error; want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestConfigDoneDirAccepted(t *testing.T) {
	for _, body := range []string{
		"directory = /d\nafter = move\ndone_directory = /d/done\n",                   // not recursive: subdirs ignored
		"directory = /d\nrecursive = yes\nafter = move\ndone_directory = /d/.done\n", // dot-dir is skipped
		"directory = /d\nrecursive = yes\nafter = move\ndone_directory = /done\n",
		"directory = /d\nrecursive = yes\nafter = move\ndone_directory = /d..x\n",
	} {
		if _, err := build(t, body); err != nil {
			t.Errorf("%q: %v", body, err)
		}
	}
}

func TestRenderDescription(t *testing.T) {
	mt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d := Description{Name: "a.pdf", Path: "/in/a.pdf", Size: 42, SHA256: "ab", ModTime: mt}
	tests := []struct{ tmpl, want string }{
		{"{{.Name}}", "a.pdf"},
		{"{{.Path}} {{.Size}} {{.SHA256}}", "/in/a.pdf 42 ab"},
		{`{{.ModTime.Format "2006-01-02"}}`, "2026-01-02"},
		{`{{if gt .Size 100}}big{{end}}`, "filedrop: a.pdf"}, // empty falls back
		{"  x  ", "x"},
	}
	for _, tt := range tests {
		tmpl, err := ParseDescription(tt.tmpl)
		if err != nil {
			t.Fatalf("%q: %v", tt.tmpl, err)
		}
		got, err := RenderDescription(tmpl, d)
		if err != nil || got != tt.want {
			t.Errorf("%q = %q, %v; want %q", tt.tmpl, got, err, tt.want)
		}
	}
	long, err := ParseDescription(`{{printf "%05000d" .Size}}`)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := RenderDescription(long, d); err != nil || len(got) != maxDescription {
		t.Errorf("description not bounded: %d bytes, %v", len(got), err)
	}
}
