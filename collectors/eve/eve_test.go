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
		{"file_name=/x/payload.exe", "md5=d41d8cd98f00b204e9800998ecf8427e", "sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
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
	deadline := time.Now().Add(5 * time.Second)
	for r.env.Stats.Get("test", "submit_retry") < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling a counter
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
