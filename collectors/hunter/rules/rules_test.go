package rules

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testdata(p string) string { return filepath.Join("testdata", p) }

// resolveIn resolves search paths against dir, as the hunter resolves
// them against the base directory (ACE: SAQ_HOME).
func resolveIn(dir string) func(string) string {
	return func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
}

func load(t *testing.T, path, typ string) (*Rule, error) {
	t.Helper()
	return Load(testdata(path), Options{Type: typ, Resolve: resolveIn(testdata("ace")), Defaults: ACEDefaults})
}

// ACE's Splunk test rule shape loads with every key as ACE reads it.
func TestACESplunkRuleLoads(t *testing.T) {
	r, err := load(t, "ace/splunk/proxy_fc.ini", "splunk")
	if err != nil {
		t.Fatal(err)
	}
	want := &Rule{
		Path: testdata("ace/splunk/proxy_fc.ini"), Files: []string{testdata("ace/splunk/proxy_fc.ini"), testdata("ace/splunk/proxy_fc.query")},
		Type: "splunk", Enabled: true, Name: "proxy_full_coverage", Description: "Proxy hits from watched addresses",
		Tags: []string{"proxy", "watchlist"}, Schedule: Every(time.Minute),
		TimeRange: time.Minute, MaxTimeRange: time.Hour, FullCoverage: true, Offset: 5 * time.Minute,
		GroupBy: "field1", UseIndexTime: true, MaxResultCount: 100, QueryTimeout: 30 * time.Minute,
		SearchPath: testdata("ace/splunk/proxy_fc.query"), Query: "\nindex=proxy {time_spec} src_ip=10.1.1.1\n",
		SplunkApp: "-", SplunkUser: "-",
		Observables: []Mapping{{"src_ip", "ipv4"}, {"dst_ip", "ipv4"}},
		Temporal:    map[string]bool{"src_ip": true, "dst_ip": true},
		Directives:  map[string][]Directive{},
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("got  %+v\nwant %+v", r, want)
	}
}

// Every ACE-shaped rule file under testdata/ace loads unchanged or is
// skipped as another hunt type, as ACE's managers do.
func TestACERuleFilesLoadOrSkip(t *testing.T) {
	for _, tc := range []struct {
		file, typ string
		skipped   bool
	}{
		{"ace/splunk/proxy_fc.ini", "splunk", false},
		{"ace/splunk/namespaced.ini", "splunk", false},
		{"ace/splunk/with_includes.ini", "splunk", false},
		{"ace/splunk/file_names.ini", "splunk", false},
		{"ace/splunk/alt_type.ini", "splunk", true},
		{"ace/qradar/offenses.ini", "sql", true},
		{"ace/generic/unit_hunt_2.ini", "splunk", true},
		{"own/sql/failed_logins.ini", "sql", false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			r, err := load(t, tc.file, tc.typ)
			if tc.skipped {
				if !errors.Is(err, ErrOtherType) {
					t.Fatalf("want ErrOtherType, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !r.Enabled || r.Description == "" || r.TimeRange <= 0 || strings.TrimSpace(r.Query) == "" {
				t.Errorf("incomplete rule %+v", r)
			}
			if len(r.Warnings) > 0 {
				t.Errorf("warnings: %v", r.Warnings)
			}
		})
	}
}

func TestRuleDetails(t *testing.T) {
	r, err := load(t, "own/sql/failed_logins.ini", "sql")
	if err != nil {
		t.Fatal(err)
	}
	// A cron frequency without time_range gets the gap between ticks.
	if !r.Schedule.IsCron() || r.Schedule.Spec != "*/5 * * * *" || r.TimeRange != 5*time.Minute {
		t.Errorf("schedule %v, time_range %v", r.Schedule, r.TimeRange)
	}
	// "field = no" is not temporal (ACE treats it as temporal).
	if !r.Temporal["src_ip"] || r.Temporal["username"] {
		t.Errorf("temporal %v", r.Temporal)
	}
	// Directive options parse (ACE raises on any).
	want := []Directive{{Name: "no_scan"}, {Name: "extract_pcap", Options: map[string]string{"max_size": "10M"}}}
	if !reflect.DeepEqual(r.Directives["src_ip"], want) {
		t.Errorf("directives %+v", r.Directives)
	}
	if r.MaxResultCount != 500 || r.QueryTimeout != 30*time.Second || r.GroupBy != "username" {
		t.Errorf("max_result_count %d, query_timeout %v, group_by %q", r.MaxResultCount, r.QueryTimeout, r.GroupBy)
	}
	if !strings.Contains(r.Query, "\nWHERE outcome") {
		t.Errorf("multi-line query %q", r.Query)
	}
}

func TestDefaults(t *testing.T) {
	const body = "[rule]\ndescription = d\ntype = sql\nfrequency = 00:10:00\nquery = SELECT 1\n"
	r, err := Parse("/x/unit_hunt_2.ini", []byte(body), Options{Defaults: ACEDefaults})
	if err != nil {
		t.Fatal(err)
	}
	if r.Enabled {
		t.Error("a rule without enabled is disabled, as in ACE")
	}
	if r.Name != "Unit Hunt 2" {
		t.Errorf("default name %q, want ACE's title-cased file name", r.Name)
	}
	if r.TimeRange != 10*time.Minute || r.MaxTimeRange != 24*time.Hour || r.FullCoverage || r.Offset != 0 ||
		r.MaxResultCount != 100 || r.QueryTimeout != 30*time.Minute || r.SplunkApp != "-" || r.SplunkUser != "-" ||
		r.AlertType != "" || r.AnalysisMode != "" || r.Queue != "" || len(r.Tags) != 0 {
		t.Errorf("defaults %+v", r)
	}
	// [temporal_fields] and [directives] are optional (ACE requires them).
	if len(r.Temporal) != 0 || len(r.Directives) != 0 || len(r.Observables) != 0 {
		t.Errorf("sections %+v", r)
	}
}

func TestSchedules(t *testing.T) {
	at := time.Date(2024, 5, 1, 10, 2, 3, 0, time.UTC)
	for _, tc := range []struct {
		keys      string
		next      time.Time
		timeRange time.Duration
	}{
		{"frequency = 00:15:00", at.Add(15 * time.Minute), 15 * time.Minute},
		{"frequency = 01:00:00:00", at.Add(24 * time.Hour), 24 * time.Hour},
		{"frequency = @hourly", time.Date(2024, 5, 1, 11, 0, 0, 0, time.UTC), time.Hour},
		{"frequency = */10 * * * *", time.Date(2024, 5, 1, 10, 10, 0, 0, time.UTC), 10 * time.Minute},
		{"frequency = cron\ncron_schedule = 30 3 * * *", time.Date(2024, 5, 2, 3, 30, 0, 0, time.UTC), 24 * time.Hour},
		{"cron_schedule = 0 9 * * 1-5\ntime_range = 00:30:00", time.Date(2024, 5, 2, 9, 0, 0, 0, time.UTC), 30 * time.Minute},
		{"frequency = @every 90m", at.Add(90 * time.Minute), 90 * time.Minute},
	} {
		r, err := Parse("r.ini", []byte("[rule]\ndescription = d\ntype = sql\nquery = q\n"+tc.keys+"\n"), Options{Defaults: ACEDefaults})
		if err != nil {
			t.Errorf("%q: %v", tc.keys, err)
			continue
		}
		if got := r.Schedule.Next(at); !got.Equal(tc.next) {
			t.Errorf("%q: next %v, want %v", tc.keys, got, tc.next)
		}
		if r.TimeRange != tc.timeRange {
			t.Errorf("%q: time_range %v, want %v", tc.keys, r.TimeRange, tc.timeRange)
		}
	}
}

func TestInterpolation(t *testing.T) {
	body := "[rule]\ndescription = 100%% sure\ntype = sql\nfrequency = 00:01:00\nbase = events\n" +
		"query = SELECT * FROM %(base)s WHERE url LIKE '%%.exe' AND a = '50%'\n"
	r, err := Parse("r.ini", []byte(body), Options{Defaults: ACEDefaults})
	if err != nil {
		t.Fatal(err)
	}
	if r.Description != "100% sure" || r.Query != "SELECT * FROM events WHERE url LIKE '%.exe' AND a = '50%'" {
		t.Errorf("description %q, query %q", r.Description, r.Query)
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "base: unknown key") {
		t.Errorf("warnings %v", r.Warnings)
	}
}

// Every problem names the file, section and key.
func TestErrorsNameFileAndKey(t *testing.T) {
	dir := t.TempDir()
	const base = "[rule]\nenabled = yes\ntype = sql\ndescription = d\nfrequency = 00:01:00\nquery = SELECT 1\n"
	for _, tc := range []struct {
		name, body   string
		section, key string
	}{
		{"no rule", "[other]\nx = 1\n", "", ""},
		{"no description", "[rule]\ntype = sql\nfrequency = 00:01:00\nquery = q\n", "rule", "description"},
		{"no type", "[rule]\ndescription = d\nfrequency = 00:01:00\nquery = q\n", "rule", "type"},
		{"no frequency", "[rule]\ntype = sql\ndescription = d\nquery = q\n", "rule", "frequency"},
		{"bad frequency", strings.Replace(base, "00:01:00", "00:xx:00", 1), "rule", "frequency"},
		{"zero frequency", strings.Replace(base, "00:01:00", "00:00:00", 1), "rule", "frequency"},
		{"bad cron", strings.Replace(base, "00:01:00", "61 * * * *", 1), "rule", "frequency"},
		{"bad cron_schedule", strings.Replace(base, "00:01:00", "cron", 1) + "cron_schedule = * * *\n", "rule", "cron_schedule"},
		{"bad enabled", strings.Replace(base, "enabled = yes", "enabled = maybe", 1), "rule", "enabled"},
		{"both queries", base + "search = x.sql\n", "rule", "query"},
		{"no query", strings.Replace(base, "query = SELECT 1\n", "", 1), "rule", "search"},
		{"missing search file", strings.Replace(base, "query = SELECT 1", "search = nowhere.sql", 1), "rule", "search"},
		{"bad max_result_count", base + "max_result_count = -3\n", "rule", "max_result_count"},
		{"bad time_range", base + "time_range = soon\n", "rule", "time_range"},
		{"max below range", base + "time_range = 02:00:00\nmax_time_range = 01:00:00\n", "rule", "max_time_range"},
		{"bad offset", base + "offset = -00:05:00\n", "rule", "offset"},
		{"duplicate key", base + "frequency = 00:02:00\n", "rule", "frequency"},
		{"bad interpolation", base + "tags = %(nope)s\n", "rule", "tags"},
		{"bad observable type", base + "[observable_mapping]\nsrc = ip v4\n", "observable_mapping", "src"},
		{"bad temporal", base + "[temporal_fields]\nsrc = perhaps\n", "temporal_fields", "src"},
		{"bad directive option", base + "[directives]\nsrc = extract_pcap:size\n", "directives", "src"},
		{"bad directive", base + "[directives]\nsrc = no scan\n", "directives", "src"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".ini")
			if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path, Options{Resolve: resolveIn(dir), Defaults: ACEDefaults})
			if err == nil {
				t.Fatal("loaded")
			}
			if !strings.HasPrefix(err.Error(), path+": ") {
				t.Errorf("error %q does not start with the file", err)
			}
			errs := Errors(err)
			if len(errs) == 0 {
				t.Fatalf("no *Error in %v", err)
			}
			found := false
			for _, e := range errs {
				found = found || (e.Section == tc.section && e.Key == tc.key)
			}
			if !found {
				t.Errorf("no error for [%s] %s in %v", tc.section, tc.key, err)
			}
		})
	}
}

// A missing search file is still a dependency of the (broken) rule, so
// the hunter can reload it when the file appears.
func TestMissingSearchFileIsWatched(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.ini")
	os.WriteFile(path, []byte("[rule]\ntype = sql\ndescription = d\nfrequency = 00:01:00\nsearch = later.sql\n"), 0o600)
	r, err := Load(path, Options{Resolve: resolveIn(dir)})
	if err == nil || r == nil {
		t.Fatalf("rule %v, error %v", r, err)
	}
	if want := []string{path, filepath.Join(dir, "later.sql")}; !reflect.DeepEqual(r.Files, want) {
		t.Errorf("files %v, want %v", r.Files, want)
	}
}

func TestTagsDropBlankItems(t *testing.T) {
	r, err := Parse("r.ini", []byte("[rule]\ntype = sql\ndescription = d\nfrequency = 00:01:00\nquery = q\ntags = a, ,b,, \n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Tags, []string{"a", "b"}) {
		t.Errorf("tags %q (ACE keeps whitespace-only items as empty tags)", r.Tags)
	}
}

func TestDefaultName(t *testing.T) {
	for in, want := range map[string]string{
		"test_2.ini": "Test 2", "query_test_1.ini": "Query Test 1", "ABC_def.ini": "Abc Def", "2nd_try.ini": "2Nd Try",
	} {
		if got := defaultName("/r/" + in); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}
