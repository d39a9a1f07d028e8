package eve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
)

func build(t testing.TB, body string) (*Collector, error) {
	t.Helper()
	c, err := collectortest.Build(t, body, New)
	if err != nil {
		return nil, err
	}
	return c.(*Collector), nil
}

// rig drives one follower's poll directly, so tests need no timers.
type rig struct {
	t     *testing.T
	path  string
	c     *Collector
	sink  *collectortest.Sink
	state *collectortest.State
	env   *collector.Env
	fl    *follower
}

func newRig(t *testing.T, extra string) *rig {
	dir := t.TempDir()
	path := filepath.Join(dir, "eve.json")
	c, err := build(t, "paths = "+path+"\nrotate_wait = 0\n"+extra)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, path: path, c: c, sink: collectortest.NewSink(), state: collectortest.NewState()}
	r.restart()
	return r
}

// restart simulates a new process: a fresh follower, same state.
func (r *rig) restart() {
	if r.fl != nil {
		r.fl.close()
	}
	r.env = collectortest.Env(r.t, "test", r.sink, r.state)
	r.fl = &follower{c: r.c, env: r.env, path: r.path}
	r.t.Cleanup(r.fl.close)
}

func (r *rig) poll() {
	r.t.Helper()
	if err := r.fl.poll(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) appendTo(path, s string) {
	r.t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		r.t.Fatal(err)
	}
}

// sigs lists the alert signature ids submitted so far, in order.
func (r *rig) sigs() []string {
	var out []string
	for _, s := range r.sink.Submissions() {
		var d struct{ Event map[string]any }
		if err := json.Unmarshal(s.Details, &d); err != nil {
			r.t.Fatal(err)
		}
		a, _ := d.Event["alert"].(map[string]any)
		out = append(out, fmt.Sprint(a["signature_id"]))
	}
	return out
}

func (r *rig) wantSigs(want ...string) {
	r.t.Helper()
	if got := strings.Join(r.sigs(), ","); got != strings.Join(want, ",") {
		r.t.Fatalf("submitted %s, want %s", got, strings.Join(want, ","))
	}
}

func alert(sid int) string {
	return fmt.Sprintf(`{"timestamp":"2024-01-02T03:04:05.123456+0000","event_type":"alert","src_ip":"10.0.0.%d","src_port":4444,"dest_ip":"192.0.2.1","dest_port":80,"proto":"TCP","alert":{"gid":1,"signature_id":%d,"rev":2,"signature":"ET TEST %d","severity":2}}`+"\n", sid%250, sid, sid)
}

func TestObservablesAndFilter(t *testing.T) {
	r := newRig(t, "event_types = alert, http, dns, tls, fileinfo\nrule_sev = alert.severity <= 2\nrule_other = event_type !~ ^alert$\n"+
		"tags = from-config\ngroup_assignments = g9")
	lines := []string{
		alert(2010935),
		`{"timestamp":"2024-01-02T03:04:06+0000","event_type":"alert","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","alert":{"signature_id":1,"signature":"low","severity":3}}`,
		`{"timestamp":"2024-01-02T03:04:07.5+0000","event_type":"http","src_ip":"10.0.0.5","src_port":50000,"dest_ip":"203.0.113.9","dest_port":8080,"http":{"hostname":"www.example.com","url":"/a/b?c=d","http_port":8080}}`,
		`{"event_type":"dns","src_ip":"10.0.0.5","dest_ip":"10.0.0.53","dns":{"type":"query","rrname":"evil.example.org","queries":[{"rrname":"other.example.org"}]}}`,
		`{"event_type":"tls","src_ip":"2001:db8::1","dest_ip":"::ffff:192.0.2.44","tls":{"sni":"secure.example.net"}}`,
		`{"event_type":"fileinfo","fileinfo":{"filename":"/x/payload.exe","md5":"D41D8CD98F00B204E9800998ECF8427E","sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}`,
		`{"event_type":"flow","src_ip":"10.0.0.1"}`,
		`not json`,
		`[1,2]`,
		``,
	}
	r.appendTo(r.path, strings.Join(lines, "\n")+"\n")
	r.poll()
	subs := r.sink.Submissions()
	if len(subs) != 5 {
		t.Fatalf("%d submissions, want 5", len(subs))
	}
	for ev, n := range map[string]int64{"dropped_not_selected": 1, "dropped_event_type": 1, "dropped_malformed": 2, "submitted": 5} {
		if got := r.env.Stats.Get("test", ev); got != n {
			t.Errorf("%s = %d, want %d", ev, got, n)
		}
	}
	want := [][]string{
		{"ipv4=10.0.0.185", "ipv4=192.0.2.1", "ipv4_full_conversation=10.0.0.185:4444:192.0.2.1:80", "snort_sig=1:2010935:2"},
		{"fqdn=www.example.com", "url=http://www.example.com:8080/a/b?c=d", "ipv4_full_conversation=10.0.0.5:50000:203.0.113.9:8080"},
		{"fqdn=evil.example.org", "fqdn=other.example.org", "ipv4=10.0.0.53"},
		{"fqdn=secure.example.net", "ipv6=2001:db8::1", "ipv4=192.0.2.44"},
		{"file_name=payload.exe", "md5=d41d8cd98f00b204e9800998ecf8427e", "sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	}
	for i, sub := range subs {
		have := map[string]bool{}
		for _, o := range sub.Observables {
			have[o.Type+"="+o.Value] = true
		}
		for _, w := range want[i] {
			if !have[w] {
				t.Errorf("submission %d (%s) lacks %s: %v", i, sub.Description, w, sub.Observables)
			}
		}
	}
	if s := subs[0]; s.Description != "Suricata alert: ET TEST 2010935" || s.EventTime != time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC) || s.Type != "suricata" {
		t.Errorf("alert submission %q %v %q", s.Description, s.EventTime, s.Type)
	}
	if s := subs[0]; s.AnalysisMode != "correlation" || s.Tool != "suricata" || s.ToolInstance != "test-host" ||
		!slices.Equal(s.Tags, []string{"from-config"}) || !slices.Equal(s.GroupAssignments, []string{"g9"}) {
		t.Errorf("alert submission fields %+v", s)
	}
	if !strings.Contains(string(subs[0].Details), `"signature_id":2010935`) {
		t.Errorf("details %s", subs[0].Details)
	}
}

func TestPartialLine(t *testing.T) {
	r := newRig(t, "")
	full := alert(1)
	r.appendTo(r.path, alert(0)+full[:40])
	r.poll()
	r.wantSigs("0")
	r.poll()
	r.wantSigs("0")
	r.appendTo(r.path, full[40:])
	r.poll()
	r.wantSigs("0", "1")
}

func TestRenameRotation(t *testing.T) {
	r := newRig(t, "")
	r.appendTo(r.path, alert(1)+alert(2))
	r.poll()
	old := r.path + ".1"
	if err := os.Rename(r.path, old); err != nil {
		t.Fatal(err)
	}
	r.appendTo(old, alert(3)) // the writer has not reopened yet
	r.poll()                  // no new file: keep reading the old one
	r.wantSigs("1", "2", "3")
	r.appendTo(old, alert(4)[:30]) // cut off by the rotation
	r.appendTo(r.path, alert(5)+alert(6))
	r.poll()
	r.wantSigs("1", "2", "3", "5", "6")
	if got := r.env.Stats.Get("test", "dropped_malformed"); got != 1 {
		t.Errorf("unterminated last line: malformed = %d, want 1", got)
	}
	r.appendTo(r.path, alert(7))
	r.poll()
	r.wantSigs("1", "2", "3", "5", "6", "7")
}

func TestTruncation(t *testing.T) {
	r := newRig(t, "")
	r.appendTo(r.path, alert(1)+alert(2))
	r.poll()
	if err := os.Truncate(r.path, 0); err != nil {
		t.Fatal(err)
	}
	r.appendTo(r.path, alert(3))
	r.poll()
	r.wantSigs("1", "2", "3")
	if r.env.Stats.Get("test", "truncated") != 1 {
		t.Error("truncation not counted")
	}
}

// TestRestart: a restart continues at the saved offset, also when the
// file was rotated while the collector was down.
func TestRestart(t *testing.T) {
	r := newRig(t, "")
	r.appendTo(r.path, alert(1)+alert(2))
	r.poll()
	r.restart()
	r.appendTo(r.path, alert(3))
	r.poll()
	r.wantSigs("1", "2", "3")

	r.fl.close() // "stopped"
	old := r.path + ".1"
	if err := os.Rename(r.path, old); err != nil {
		t.Fatal(err)
	}
	r.appendTo(old, alert(4))
	r.appendTo(r.path, alert(5))
	r.restart()
	r.poll()
	r.wantSigs("1", "2", "3", "4", "5")
}

// TestStoreFailure: while the store fails nothing advances; after a
// restart every line is submitted exactly once.
func TestStoreFailure(t *testing.T) {
	r := newRig(t, "")
	r.appendTo(r.path, alert(1)+alert(2))
	r.sink.SetFail(errors.New("store down"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.fl.poll(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for r.env.Stats.Get("test", "submit_retry") < 2 {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("the store failure was not retried twice within 30 s (submit_retry %d)", r.env.Stats.Get("test", "submit_retry"))
		}
		time.Sleep(5 * time.Millisecond) // polling a counter
	}
	if got := r.sink.Submissions(); len(got) != 0 {
		t.Fatalf("%d submitted while the store failed", len(got))
	}
	cancel()
	if err := <-done; !errors.Is(err, errStopped) {
		t.Fatalf("poll: %v", err)
	}
	r.sink.SetFail(nil)
	r.restart()
	r.poll()
	r.wantSigs("1", "2")
}

func TestStartAtEnd(t *testing.T) {
	r := newRig(t, "start_at = end")
	r.appendTo(r.path, alert(1))
	r.poll()
	r.appendTo(r.path, alert(2))
	r.poll()
	r.wantSigs("2")
}

// TestRun covers the ticker loop and shutdown.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "eve.json")
	os.WriteFile(path, []byte(alert(1)), 0o644)
	c, err := build(t, "paths = "+path+"\npoll_interval = 10ms")
	if err != nil {
		t.Fatal(err)
	}
	sink := collectortest.NewSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	env := collectortest.Env(t, "test", sink, collectortest.NewState())
	logs := collectortest.RecordLogs(env)
	go func() { done <- c.Run(ctx, env) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if _, err := sink.WaitFor(wctx, 1); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(alert(2))
	f.Close()
	if _, err := sink.WaitFor(wctx, 2); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	logs.CheckStartStop(t, "path")
	if d := c.InputDirs(); !slices.Equal(d, []string{dir}) {
		t.Errorf("InputDirs() = %v, want [%s]", d, dir)
	}
}

func TestConfigErrors(t *testing.T) {
	for body, want := range map[string]string{
		"":                                "paths",
		"paths = x\nstart_at = middle":    "not one of",
		"paths = x\nmax_line_size = 10":   "out of range",
		"paths = x\nrule_a = x ~ (":       "regular expression",
		"paths = x\nevent_type = alert":   "unknown key",
		"paths = x\npoll_interval = soon": "duration",
	} {
		if _, err := build(t, body); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}

// TestTruncateAndRegrow: a copytruncate that is rewritten past the old
// offset between two polls is still noticed (the position no longer
// follows a newline).
func TestTruncateAndRegrow(t *testing.T) {
	r := newRig(t, "")
	r.appendTo(r.path, alert(1))
	r.poll()
	if err := os.Truncate(r.path, 0); err != nil {
		t.Fatal(err)
	}
	r.appendTo(r.path, alert(2222)+alert(3))
	r.poll()
	r.wantSigs("1", "2222", "3")
}

func TestStartAtEndMidLine(t *testing.T) {
	r := newRig(t, "start_at = end")
	two := alert(2)
	r.appendTo(r.path, alert(1)+two[:20])
	r.poll()
	r.appendTo(r.path, two[20:])
	r.poll()
	r.wantSigs("2")
}

func TestInputDirsOncePerDirectory(t *testing.T) {
	c, err := build(t, "paths = /a/x.json, /a/y.json, /b/z.json, rel/eve.json")
	if err != nil {
		t.Fatal(err)
	}
	d := c.InputDirs()
	if len(d) != 3 || d[0] != "/a" || d[1] != "/b" || !filepath.IsAbs(d[2]) || filepath.Base(d[2]) != "rel" {
		t.Errorf("InputDirs() = %v, want /a, /b and BASE/rel", d)
	}
}

// TestSuricata7Records reads records as Suricata 7 writes them
// (testdata/suricata7-eve.json) with event_types = *: fileinfo file
// names are the last segment of the URL path (none for "/") with the URL
// kept, every conversation is client first whichever way Suricata wrote
// the record, and the stats record is not submitted.
func TestSuricata7Records(t *testing.T) {
	data, err := os.ReadFile("testdata/suricata7-eve.json")
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, "event_types = *")
	r.appendTo(r.path, string(data))
	r.poll()
	want := []struct {
		title, conv string
		obs         []string
	}{
		{"Suricata http: example.com/", "10.20.0.15:51544:93.184.215.14:80", []string{"url=http://example.com/"}},
		{"Suricata fileinfo: example.com/", "10.20.0.15:51544:93.184.215.14:80", []string{"url=http://example.com/"}},
		{"Suricata fileinfo: login.php", "10.20.0.31:49822:198.51.100.23:8080",
			[]string{"file_name=login.php", "url=http://shop.example.net:8080/login.php", "fqdn=shop.example.net"}},
		{"Suricata fileinfo: login.php", "10.20.0.31:49822:198.51.100.23:8080", []string{"file_name=login.php"}},
		{"Suricata fileinfo: Setup Tool.exe", "10.20.0.15:51602:203.0.113.77:80",
			[]string{"file_name=Setup Tool.exe", "url=http://dl.example.org/files/Setup%20Tool.exe?id=3&src=mail",
				"sha1=aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"}},
		{"Suricata fileinfo: invoice.pdf", "10.20.0.40:40112:192.0.2.25:25", []string{"file_name=invoice.pdf"}},
		{"Suricata fileinfo: psexec.exe", "10.20.0.31:50710:10.20.0.5:445", []string{"file_name=psexec.exe"}},
		{"Suricata alert: ET INFO Executable Retrieved With Minimal HTTP Headers - Potential Second Stage Download",
			"10.20.0.15:51710:198.51.100.99:80", []string{"url=http://198.51.100.99/x.bin", "snort_sig=1:2019714:3"}},
		{"Suricata alert: ET POLICY Observed DNS Query to .cloud TLD", "10.20.0.31:53340:203.0.113.200:443",
			[]string{"fqdn=c2.example.cloud"}},
		{"Suricata alert: SURICATA Applayer Mismatch protocol both directions", "10.20.0.40:60222:203.0.113.9:443", nil},
	}
	subs := r.sink.Submissions()
	if len(subs) != len(want) {
		t.Fatalf("%d submissions, want %d", len(subs), len(want))
	}
	if got := r.env.Stats.Get("test", "dropped_stats"); got != 1 {
		t.Errorf("dropped_stats = %d, want 1", got)
	}
	for i, sub := range subs {
		have := map[string]bool{}
		var convs []string
		for _, o := range sub.Observables {
			have[o.Type+"="+o.Value] = true
			switch o.Type {
			case collector.ObsIPv4FullConversation:
				convs = append(convs, o.Value)
			case collector.ObsFileName:
				if strings.ContainsAny(o.Value, `/\?`) || o.Value == "" {
					t.Errorf("submission %d: file name %q", i, o.Value)
				}
			}
		}
		w := want[i]
		if sub.Description != w.title || strings.Join(convs, ",") != w.conv {
			t.Errorf("submission %d: %q conversations %v, want %q %s", i, sub.Description, convs, w.title, w.conv)
		}
		for _, o := range w.obs {
			if !have[o] {
				t.Errorf("submission %d (%s) lacks %s: %v", i, sub.Description, o, sub.Observables)
			}
		}
	}
}

func TestFileName(t *testing.T) {
	for in, want := range map[string]string{
		"/":                  "",
		"/login.php":         "login.php",
		"/a/b/":              "",
		"/dl/setup.exe?id=3": "setup.exe",
		"/dl/My%20File.pdf":  "My File.pdf",
		"/dl/a%2Fb.exe":      "b.exe",
		"/dl/bad%zz.exe":     "bad%zz.exe",
		"/..":                "",
		"invoice.pdf":        "invoice.pdf",
		`tools\psexec.exe`:   "psexec.exe",
		"report 2024?.txt":   "report 2024?.txt",
		"":                   "",
	} {
		if got := fileName(in); got != want {
			t.Errorf("fileName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStatsNotSelectable: stats records cannot be asked for.
func TestStatsNotSelectable(t *testing.T) {
	if _, err := build(t, "paths = x\nevent_types = alert, stats"); err == nil || !strings.Contains(err.Error(), "stats") {
		t.Errorf("event_types = alert, stats: %v", err)
	}
}

// eveLogs lists the logged lines about EVE files (level, message and
// missing_for), in order.
func eveLogs(logs *collectortest.LogRecorder) []string {
	var out []string
	for _, m := range logs.Records() {
		if msg, _ := m["msg"].(string); strings.HasPrefix(msg, "EVE file") {
			line := fmt.Sprint(m["level"], " ", msg)
			if d, ok := m["missing_for"].(float64); ok {
				line += " " + time.Duration(d).String()
			}
			if e, ok := m["directory_exists"].(bool); ok {
				line += fmt.Sprint(" dir=", e)
			}
			out = append(out, line)
		}
	}
	return out
}

// TestMissingFileIsReported: a configured EVE file that does not exist is
// logged at WARN at once, then every remindEvery while it stays missing
// (not at every poll), and its appearance at INFO.
func TestMissingFileIsReported(t *testing.T) {
	r := newRig(t, "")
	logs := collectortest.RecordLogs(r.env)
	base := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	now := base
	r.c.now = func() time.Time { return now }
	r.c.remindEvery = 5 * time.Minute
	for _, d := range []time.Duration{0, time.Second, time.Minute, 4*time.Minute + 59*time.Second, 5 * time.Minute, 9 * time.Minute, 10 * time.Minute} {
		now = base.Add(d)
		r.poll()
	}
	r.appendTo(r.path, alert(1))
	now = base.Add(11 * time.Minute)
	r.poll()
	r.wantSigs("1")
	want := []string{
		"WARN EVE file does not exist; waiting for it dir=true",
		"WARN EVE file still does not exist 5m0s dir=true",
		"WARN EVE file still does not exist 10m0s dir=true",
		"INFO EVE file appeared 11m0s",
	}
	if got := eveLogs(logs); !slices.Equal(got, want) {
		t.Errorf("logged\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestRunWarnsAtStartWhenFileMissing: started on a path whose directory
// does not exist, the collector says so at WARN right after its start
// line, which names the paths and event types it watches.
func TestRunWarnsAtStartWhenFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-dir", "eve.json")
	c, err := build(t, "paths = "+path+"\nevent_types = alert, dns")
	if err != nil {
		t.Fatal(err)
	}
	env := collectortest.Env(t, "test", collectortest.NewSink(), collectortest.NewState())
	logs := collectortest.RecordLogs(env)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, env) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(eveLogs(logs)) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling the log
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	logs.CheckStartStop(t, "path", "event_types")
	recs := logs.Records()
	if len(recs) < 2 || recs[0]["msg"] != "collector started" || recs[1]["msg"] != "EVE file does not exist; waiting for it" ||
		recs[1]["level"] != "WARN" || recs[1]["path"] != path || recs[1]["directory_exists"] != false {
		t.Errorf("first lines %v", recs[:min(2, len(recs))])
	}
	if recs[0]["event_types"] != "alert,dns" {
		t.Errorf("start line %v", recs[0])
	}
}

// TestReminder: a lasting problem is logged when it starts, when it
// changes, and every interval while it lasts; the rest is counted.
func TestReminder(t *testing.T) {
	var r reminder
	base := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	steps := []struct {
		at   time.Duration
		what string
		log  bool
	}{
		{0, "a", true}, {time.Second, "a", false}, {4 * time.Minute, "a", false}, {4 * time.Minute, "b", true},
		{5 * time.Minute, "b", false}, {9 * time.Minute, "b", true},
	}
	for i, s := range steps {
		if got := r.due(base.Add(s.at), s.what, 5*time.Minute); got != s.log {
			t.Errorf("step %d: logged %v, want %v", i, got, s.log)
		}
	}
	if r.suppressed != 3 {
		t.Errorf("suppressed %d, want 3", r.suppressed)
	}
	if d, ok := r.clear(base.Add(10 * time.Minute)); !ok || d != 10*time.Minute {
		t.Errorf("clear: %v %v", d, ok)
	}
	if _, ok := r.clear(base); ok {
		t.Error("cleared twice")
	}
}

func TestSrcIsServer(t *testing.T) {
	for _, tt := range []struct {
		src, dst, service string
		want              bool
	}{
		{"80", "51544", "", true},
		{"51544", "80", "", false},
		{"8080", "49822", "8080", true},
		{"49822", "8080", "8080", false},
		{"50000", "8888", "50000", true}, // the service port decides over the lower port
		{"445", "50710", "", true},
		{"40112", "25", "", false},
		{"", "80", "", false},
		{"53", "53", "53", false},
	} {
		if got := srcIsServer(tt.src, tt.dst, tt.service); got != tt.want {
			t.Errorf("srcIsServer(%s, %s, %s) = %v", tt.src, tt.dst, tt.service, got)
		}
	}
}
