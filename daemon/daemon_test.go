package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/daemon"
)

// testDaemon is the real daemon built by daemon.New from INI text, with its
// status server on 127.0.0.1:0, running until the test ends.
type testDaemon struct {
	*daemon.Daemon
	url  string
	path string
	stop func()
}

func startDaemon(t *testing.T, conf string) *testDaemon {
	t.Helper()
	path := writeConfig(t, conf)
	cfg, err := daemon.LoadValid([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(context.Background(), cfg, daemon.Options{Version: "test", StatusListener: ln,
		LogOutput: testLogOutput(), CleanupInterval: 20 * time.Millisecond, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	td := &testDaemon{Daemon: d, url: "http://" + ln.Addr().String(), path: path}
	var once sync.Once
	td.stop = func() { once.Do(func() { cancel(); <-done; d.Close(); ln.Close() }) }
	t.Cleanup(td.stop)
	return td
}

func (d *testDaemon) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(d.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually polls cond (cheap reads) until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// sinkNode is a real ACE-compatible receiver on loopback.
func sinkNode(t *testing.T) (loc string, received func() int) {
	t.Helper()
	count := make(chan struct{}, 1000)
	srv, err := api.NewServer(api.ServerOptions{Dir: t.TempDir(), OnSubmit: func(r *api.Received) {
		if testing.Verbose() {
			t.Logf("node received %s %q", r.SubmissionUUID, r.Description)
		}
		count <- struct{}{}
	}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs.URL, func() int { return len(count) }
}

func TestStatusMetricsAndHealth(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0") // the smtp collector cannot bind here
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	loc, received := sinkNode(t)
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	if err := os.MkdirAll(spool, 0o750); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, fmt.Sprintf(`
[global]
data_dir = %s
[node_a]
location = %s
[collection_group_g]
[collector_drop]
type = filedrop
directory = %s
rescan_interval = 50ms
[collector_mail]
type = smtp
listen = %s
`, dir, loc, spool, busy.Addr()))
	drop(t, spool, "a.txt", "hello 198.51.100.7")
	eventually(t, "the file delivered", func() bool { return received() == 1 })

	// /healthz names the collector that cannot listen.
	var h daemon.HealthReport
	eventually(t, "/healthz unhealthy", func() bool {
		code, body := d.get(t, "/healthz")
		h = daemon.HealthReport{}
		json.Unmarshal([]byte(body), &h)
		return code == http.StatusServiceUnavailable && h.Status == "unhealthy" && !h.Collectors["mail"].OK
	})
	if !strings.Contains(h.Collectors["mail"].Error, "address already in use") || !h.Collectors["drop"].OK || !h.Store.OK {
		t.Errorf("health: %+v", h)
	}

	// Prometheus families with name labels.
	eventually(t, "the latency histogram", func() bool {
		_, body := d.get(t, "/metrics")
		return strings.Contains(body, `ace_collector_delivery_latency_seconds_count{group="g"} 1`)
	})
	_, metrics := d.get(t, "/metrics")
	for _, want := range []string{
		`ace_collector_collector_events_total{collector="drop",event="stored"} 1`,
		`ace_collector_collector_bytes_total{collector="drop",event="submitted"} 18`,
		`ace_collector_group_events_total{event="delivered",group="g"} 1`,
		`ace_collector_node_up{node="a"} 1`,
		`ace_collector_collector_up{collector="mail",kind="smtp"} 0`,
		"go_build_info{", "go_goroutines ", "process_cpu_seconds_total ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// /status.json: snake_case throughout.
	_, body := d.get(t, "/status.json")
	var rep any
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	checkSnake(t, "", rep)
}

func checkSnake(t *testing.T, at string, v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if k != strings.ToLower(k) || strings.ContainsAny(k, " -") {
				// Collector and group names are data, not keys of ours.
				if !strings.HasSuffix(at, ".collectors") && !strings.HasSuffix(at, ".groups") {
					t.Errorf("status.json key %s.%s is not snake_case", at, k)
				}
			}
			checkSnake(t, at+"."+k, x)
		}
	case []any:
		for _, x := range v {
			checkSnake(t, at+"[]", x)
		}
	}
}

// SIGHUP's Reload applies tuning rules at once and keeps running on a
// configuration with problems.
func TestReloadAppliesTuningAndRefusesBadConfig(t *testing.T) {
	loc, received := sinkNode(t)
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	if err := os.MkdirAll(spool, 0o750); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("[global]\ndata_dir = %s\n[node_a]\nlocation = %s\n[collection_group_g]\n[collector_drop]\ntype = filedrop\ndirectory = %s\nrescan_interval = 50ms\n", dir, loc, spool)
	d := startDaemon(t, base)
	if err := os.WriteFile(d.path, []byte(base+"[tuning_rule_noise]\ntarget = description\nregex = noise\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !d.Reload(context.Background()) {
		t.Fatal("reload of a valid configuration refused")
	}
	drop(t, spool, "noise.txt", "x")
	drop(t, spool, "signal.txt", "y")
	eventually(t, "one delivered, one tuned out", func() bool {
		return received() == 1 && d.Stats().Get("drop", "dropped_tuning") == 1 ||
			logf(t, "received %d, counters %v", received(), d.Stats().Snapshot())
	})
	if err := os.WriteFile(d.path, []byte(base+"[collection_group_g]\ncoverage = 500\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if d.Reload(context.Background()) {
		t.Fatal("reload of an invalid configuration accepted")
	}
	drop(t, spool, "more.txt", "z")
	eventually(t, "still delivering after a refused reload", func() bool { return received() == 2 })
}

// logf logs and returns false, for the last look of a condition.
func logf(t *testing.T, format string, args ...any) bool {
	if testing.Verbose() {
		t.Logf(format, args...)
	}
	return false
}

// A reload that changes a node's location sends the next deliveries to the
// new address without a restart.
func TestReloadAppliesNodeList(t *testing.T) {
	loc1, received1 := sinkNode(t)
	loc2, received2 := sinkNode(t)
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	if err := os.MkdirAll(spool, 0o750); err != nil {
		t.Fatal(err)
	}
	conf := func(loc string) string {
		return fmt.Sprintf("[global]\ndata_dir = %s\n[node_a]\nlocation = %s\n[collection_group_g]\n[collector_drop]\ntype = filedrop\ndirectory = %s\nrescan_interval = 50ms\n", dir, loc, spool)
	}
	d := startDaemon(t, conf(loc1))
	drop(t, spool, "one.txt", "1")
	eventually(t, "first delivery to the first node", func() bool { return received1() == 1 })
	if err := os.WriteFile(d.path, []byte(conf(loc2)), 0o600); err != nil {
		t.Fatal(err)
	}
	if !d.Reload(context.Background()) {
		t.Fatal("reload refused")
	}
	drop(t, spool, "two.txt", "2")
	eventually(t, "second delivery to the new node", func() bool { return received2() == 1 })
	if received1() != 1 {
		t.Errorf("the old node received %d", received1())
	}
}

func testLogOutput() io.Writer {
	if testing.Verbose() {
		return os.Stderr
	}
	return io.Discard
}

// drop puts a file into a filedrop spool as writers should: written under
// a dot-name, then renamed, so the collector never sees it half-written.
func drop(t *testing.T, spool, name, content string) {
	t.Helper()
	tmp := filepath.Join(spool, "."+name)
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(spool, name)); err != nil {
		t.Fatal(err)
	}
}
