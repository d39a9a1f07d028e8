package daemon_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/daemon"
)

// sseClient reads a /live/events stream into a channel of messages.
type sseClient struct {
	msgs chan map[string]any
	resp *http.Response
}

func openLive(t *testing.T, client *http.Client, url string, hdr http.Header) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		t.Fatalf("GET %s: %s %s", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	c := &sseClient{msgs: make(chan map[string]any, 100000), resp: resp}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(c.msgs)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var m map[string]any
				if err := json.Unmarshal([]byte(d), &m); err != nil {
					t.Errorf("bad event %q: %v", d, err)
					return
				}
				c.msgs <- m
			}
		}
	}()
	t.Cleanup(func() { cancel(); resp.Body.Close(); <-done })
	return c
}

// until returns the first message for which match holds (failing after a
// generous guard; the stream itself is what the test waits on).
func (c *sseClient) until(t *testing.T, what string, match func(m map[string]any) bool) map[string]any {
	t.Helper()
	guard := time.NewTimer(30 * time.Second)
	defer guard.Stop()
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				t.Fatalf("stream ended waiting for %s", what)
			}
			if match(m) {
				return m
			}
		case <-guard.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func rowOf(m map[string]any) map[string]any {
	if m["t"] != "row" {
		return nil
	}
	r, _ := m["row"].(map[string]any)
	return r
}

func submit(t *testing.T, d *testDaemon, collectorName string, sub *collector.Submission) {
	t.Helper()
	if err := d.Sink(collectorName).Submit(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
}

func liveConf(t *testing.T, extra string) (string, string) {
	loc, _ := sinkNode(t)
	dir := t.TempDir()
	return fmt.Sprintf("[global]\ndata_dir = %s\n[node_a]\nlocation = %s\n[collection_group_g]\n%s", dir, loc, extra), dir
}

func TestLiveStreamRowsAndDeliveryStates(t *testing.T) {
	conf, _ := liveConf(t, "")
	d := startDaemon(t, conf)
	v := openLive(t, nil, d.url+"/live/events", nil)
	hello := v.until(t, "hello", func(m map[string]any) bool { return m["t"] == "hello" })
	if hello["limit"].(float64) != 500 || fmt.Sprint(hello["groups"]) != "[g]" {
		t.Fatalf("hello %v", hello)
	}
	sub := collector.NewSubmission("alert from 192.0.2.9")
	sub.Rank = 3
	sub.AddObservable(collector.ObsIPv4FullConversation, "192.0.2.9:51000:198.51.100.4:443")
	sub.AddObservable(collector.ObsSnortSignature, "ET POLICY test")
	submit(t, d, "ids", sub)
	row := rowOf(v.until(t, "the row", func(m map[string]any) bool { return rowOf(m) != nil }))
	if row["uuid"] != sub.UUID || row["collector"] != "ids" || row["rank"].(float64) != 3 ||
		fmt.Sprint(row["servers"], row["server_ports"], row["clients"], row["client_ports"]) != "[198.51.100.4] [443] [192.0.2.9] [51000]" ||
		fmt.Sprint(row["events"]) != "[ET POLICY test]" || fmt.Sprint(row["states"]) != "map[g:READY]" {
		t.Fatalf("row %v", row)
	}
	// A worker may claim the submission before the Submit that stored it
	// returns: the states that come before the row are kept for it.
	locked := v.until(t, "LOCKED", func(m map[string]any) bool { return m["t"] == "state" && m["state"] == "LOCKED" })
	if locked["uuid"] != sub.UUID || locked["group"] != "g" || locked["node"] != "a" {
		t.Fatalf("state %v", locked)
	}
	v.until(t, "COMPLETED", func(m map[string]any) bool {
		return m["t"] == "state" && m["uuid"] == sub.UUID && m["state"] == "COMPLETED"
	})
	// A viewer connecting later gets the row from the history with its
	// current state.
	v2 := openLive(t, nil, d.url+"/live/events", nil)
	row2 := rowOf(v2.until(t, "the row", func(m map[string]any) bool { return rowOf(m) != nil }))
	if row2["uuid"] != sub.UUID {
		t.Fatalf("late viewer row %v", row2)
	}
	v2.until(t, "its state", func(m map[string]any) bool {
		return m["t"] == "state" && m["uuid"] == sub.UUID && m["state"] == "COMPLETED"
	})
}

// The stream carries only what the viewer asked for: its collector and
// group, without flow-only rows when it hides them.
func TestLiveStreamFilters(t *testing.T) {
	conf, _ := liveConf(t, "")
	d := startDaemon(t, conf)
	v := openLive(t, nil, d.url+"/live/events?collector=eve&flows=0", nil)
	v.until(t, "hello", func(m map[string]any) bool { return m["t"] == "hello" })
	flow := collector.NewSubmission("flow record")
	flow.SetDetails(map[string]any{"event": map[string]any{"event_type": "flow", "src_ip": "10.0.0.1", "dest_ip": "10.0.0.2",
		"proto": "TCP", "flow": map[string]any{"bytes_toserver": 100, "bytes_toclient": 50, "pkts_toserver": 2, "pkts_toclient": 1}}})
	submit(t, d, "eve", flow)
	submit(t, d, "other", collector.NewSubmission("not asked for"))
	alert := collector.NewSubmission("alert record")
	alert.SetDetails(map[string]any{"event": map[string]any{"event_type": "alert", "src_ip": "10.0.0.1", "dest_ip": "10.0.0.2",
		"alert": map[string]any{"signature": "sig", "severity": 2}}})
	submit(t, d, "eve", alert)
	m := v.until(t, "a row", func(m map[string]any) bool { return rowOf(m) != nil })
	if r := rowOf(m); r["uuid"] != alert.UUID || r["rank"].(float64) != 2 {
		t.Fatalf("first row sent %v, want only the EVE alert", r)
	}
	// The flow row is there for a viewer that shows flows.
	all := openLive(t, nil, d.url+"/live/events?collector=eve", nil)
	r := rowOf(all.until(t, "the flow row", func(m map[string]any) bool { r := rowOf(m); return r != nil && r["uuid"] == flow.UUID }))
	if r["bytes"].(float64) != 150 || r["packets"].(float64) != 3 || r["flow_only"] != true || r["proto"] != "6" {
		t.Fatalf("flow row %v", r)
	}
}

// A viewer that never reads cannot hold up collection or delivery: every
// submission is stored and delivered while it stalls, and a viewer that
// connects afterwards is served at once.
func TestLiveStalledViewerDoesNotSlowPipeline(t *testing.T) {
	loc, received := sinkNode(t)
	d := startDaemon(t, fmt.Sprintf("[global]\ndata_dir = %s\n[node_a]\nlocation = %s\n[collection_group_g]\n[collection]\nlive_rows = 10\nlive_history = 100\n",
		t.TempDir(), loc))
	conn, err := net.Dial("tcp", strings.TrimPrefix(d.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096) // fills fast: the daemon's writes block on this viewer
	}
	fmt.Fprintf(conn, "GET /live/events HTTP/1.1\r\nHost: x\r\n\r\n")
	const n = 300
	for i := range n {
		sub := collector.NewSubmission(fmt.Sprintf("stall %d %s", i, strings.Repeat("x", 400)))
		sub.AddObservable(collector.ObsIPv4, fmt.Sprintf("10.1.%d.%d", i/256, i%256))
		submit(t, d, "src", sub)
	}
	eventually(t, "every submission delivered", func() bool { return received() == n })
	v := openLive(t, nil, d.url+"/live/events", nil)
	hello := v.until(t, "hello", func(m map[string]any) bool { return m["t"] == "hello" })
	if hello["limit"].(float64) != 10 {
		t.Fatalf("hello %v", hello)
	}
	last := rowOf(v.until(t, "the newest row", func(m map[string]any) bool {
		r := rowOf(m)
		return r != nil && strings.HasPrefix(r["description"].(string), fmt.Sprintf("stall %d ", n-1))
	}))
	if last == nil {
		t.Fatal("no newest row")
	}
}

func TestLiveSearchAndDetail(t *testing.T) {
	dir := t.TempDir()
	// A node that refuses connections: with full delivery the submission
	// stays stored (READY) across the restart.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	conf := fmt.Sprintf("[global]\ndata_dir = %s\n[node_a]\nlocation = http://%s\n[collection_group_g]\nfull_delivery = yes\nbackoff_min = 1h\nbackoff_max = 1h\n", dir, ln.Addr())
	d1 := startDaemon(t, conf)
	old := collector.NewSubmission("old one")
	old.AddObservable(collector.ObsIPv4, "203.0.113.77")
	old.AddObservable(collector.ObsFQDN, "old.example")
	old.SetDetails(map[string]any{"k": "v"})
	submit(t, d1, "src", old)
	other := collector.NewSubmission("other")
	other.AddObservable(collector.ObsIPv4, "203.0.113.78")
	submit(t, d1, "src", other)
	d1.stop()

	// A new process: its history is empty, the store has the submission.
	d2 := startDaemon(t, conf)
	fresh := collector.NewSubmission("fresh one")
	fresh.AddObservable(collector.ObsIPv4Conversation, "203.0.113.77_192.0.2.1")
	submit(t, d2, "src", fresh)
	res, err := d2.Search(context.Background(), netip.MustParseAddr("203.0.113.77"), 50)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res.Rows {
		got = append(got, r.Description)
	}
	if fmt.Sprint(got) != "[fresh one old one]" {
		t.Fatalf("search found %q (scanned %d)", got, res.Scanned)
	}
	if st := res.Rows[1].States["g"]; st != "READY" && st != "LOCKED" { // being retried
		t.Errorf("states %v", res.Rows[1].States)
	}
	code, body := d2.get(t, "/live/search?ip=203.0.113.77")
	if code != 200 || !strings.Contains(body, old.UUID) {
		t.Fatalf("/live/search: %d %s", code, body)
	}
	if code, _ := d2.get(t, "/live/search?ip=nonsense"); code != 400 {
		t.Errorf("bad ip answered %d", code)
	}
	code, body = d2.get(t, "/live/submission/"+old.UUID)
	var det daemon.Detail
	if code != 200 || json.Unmarshal([]byte(body), &det) != nil {
		t.Fatalf("detail: %d %s", code, body)
	}
	if det.Source != "store" || !strings.Contains(string(det.Observables), "old.example") || string(det.Details) != `{"k":"v"}` {
		t.Fatalf("detail %+v", det)
	}
	if code, _ := d2.get(t, "/live/submission/00000000-0000-0000-0000-000000000000"); code != 404 {
		t.Errorf("unknown uuid answered %d", code)
	}
}

func TestLivePageIsEmbedded(t *testing.T) {
	conf, _ := liveConf(t, "")
	d := startDaemon(t, conf)
	for path, want := range map[string]string{"/live": "<table", "/live/app.js": "EventSource", "/live/app.css": ".grid"} {
		code, body := d.get(t, path)
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("%s: %d %.80q", path, code, body)
		}
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
			t.Errorf("%s refers to another site", path)
		}
	}
}

func TestStatusListenOffLoopbackNeedsToken(t *testing.T) {
	tests := []struct {
		listen, extra string
		wantErr       string
	}{
		{"127.0.0.1:0", "", ""},
		{"[::1]:0", "", ""},
		{"localhost:0", "", ""},
		{"0.0.0.0:8765", "", "set status_token"},
		{"192.0.2.1:8765", "", "set status_token"},
		{"0.0.0.0:8765", "status_token = 0123456789abcdef0123\n", ""},
		{"127.0.0.1:0", "status_token = short\n", "shorter than 16"},
		{"127.0.0.1:0", "status_cert = /nonexistent.pem\n", "status_cert"},
		{"127.0.0.1:0", "live_rows = 600\nlive_history = 500\n", "below live_rows"},
	}
	for _, tt := range tests {
		conf := fmt.Sprintf("[global]\ndata_dir = %s\n[node_a]\nlocation = https://192.0.2.1:443\n[collection_group_g]\n[collection]\nstatus_listen = %s\n%s",
			t.TempDir(), tt.listen, tt.extra)
		_, p, err := daemon.LoadData("t.ini", []byte(conf), daemon.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := problemText(p.List())
		if tt.wantErr == "" && got != "" || tt.wantErr != "" && !strings.Contains(got, tt.wantErr) {
			t.Errorf("%s %q: problems %q, want %q", tt.listen, tt.extra, got, tt.wantErr)
		}
	}
}

func TestStatusTokenAndTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeServerCert(t, dir)
	const token = "s3cret-token-0123456789"
	loc, _ := sinkNode(t)
	conf := fmt.Sprintf("[global]\ndata_dir = %s\n[node_a]\nlocation = %s\n[collection_group_g]\n[collection]\nstatus_listen = 127.0.0.1:0\nstatus_token = %s\nstatus_cert = %s\nstatus_key = %s\n",
		dir, loc, token, certFile, keyFile)
	path := writeConfig(t, conf)
	cfg, err := daemon.LoadValid([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(context.Background(), cfg, daemon.Options{Version: "test", StatusListener: ln, LogOutput: testLogOutput()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done; d.Close(); ln.Close() }()
	if !strings.HasPrefix(d.StatusURL(), "https://") {
		t.Fatalf("status URL %s", d.StatusURL())
	}
	// The commands' client: token sent, exactly status_cert accepted.
	cfg.StatusListen = ln.Addr().String()
	base, client, err := daemon.StatusClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	anon := *cfg
	anon.StatusToken = ""
	_, noToken, err := daemon.StatusClient(&anon)
	if err != nil {
		t.Fatal(err)
	}
	noToken.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	do := func(c *http.Client, method, path, accept string, body io.Reader) *http.Response {
		req, _ := http.NewRequest(method, base+path, body)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := do(client, "GET", "/status.json", "", nil); r.StatusCode != 200 {
		t.Fatalf("with token: %s", r.Status)
	}
	if r := do(noToken, "GET", "/status.json", "", nil); r.StatusCode != 401 {
		t.Fatalf("without token: %s", r.Status)
	}
	if r := do(noToken, "GET", "/healthz", "", nil); r.StatusCode != 200 {
		t.Fatalf("healthz without token: %s", r.Status)
	}
	if r := do(noToken, "GET", "/live", "text/html", nil); r.StatusCode != 303 || r.Header.Get("Location") != "/login?next=%2Flive" {
		t.Fatalf("browser without a session: %s %s", r.Status, r.Header.Get("Location"))
	}
	if r := do(noToken, "POST", "/login", "", strings.NewReader("token=wrong&next=/live")); r.StatusCode != 401 || len(r.Cookies()) != 0 {
		t.Fatalf("wrong token login: %s", r.Status)
	}
	r := do(noToken, "POST", "/login", "", strings.NewReader("token="+token+"&next=/live"))
	if r.StatusCode != 303 || len(r.Cookies()) != 1 || !r.Cookies()[0].HttpOnly || !r.Cookies()[0].Secure {
		t.Fatalf("login: %s %v", r.Status, r.Cookies())
	}
	req, _ := http.NewRequest("GET", base+"/live", nil)
	req.AddCookie(r.Cookies()[0])
	resp, err := noToken.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("with the session cookie: %v %v", resp, err)
	}
	resp.Body.Close()
	// Another certificate than status_cert is refused by the client.
	otherCert, otherKey := writeServerCert(t, t.TempDir())
	cfg2 := *cfg
	cfg2.StatusCert, cfg2.StatusKey = otherCert, otherKey
	_, pinned, _ := daemon.StatusClient(&cfg2)
	if _, err := pinned.Get(base + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate is not") {
		t.Fatalf("pinned client accepted another certificate: %v", err)
	}
}

func writeServerCert(t *testing.T, dir string) (string, string) {
	t.Helper()
	ca, err := api.NewLocalCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	c, k := filepath.Join(dir, "status.pem"), filepath.Join(dir, "status.key")
	if err := api.WriteKeyPair(cert, c, k); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c); err != nil {
		t.Fatal(err)
	}
	return c, k
}

// A connected viewer does not hold up shutdown: its stream ends with the
// daemon.
func TestLiveViewerEndsWithDaemon(t *testing.T) {
	conf, _ := liveConf(t, "")
	cfg, err := daemon.LoadValid([]string{writeConfig(t, conf)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d, err := daemon.New(context.Background(), cfg, daemon.Options{StatusListener: ln, LogOutput: testLogOutput()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	v := openLive(t, nil, d.StatusURL()+"/live/events", nil)
	v.until(t, "hello", func(m map[string]any) bool { return m["t"] == "hello" })
	cancel()
	<-done
	guard := time.NewTimer(30 * time.Second)
	defer guard.Stop()
	for {
		select {
		case _, ok := <-v.msgs:
			if !ok {
				return // the stream ended
			}
		case <-guard.C:
			t.Fatal("the live stream outlived the daemon")
		}
	}
}
