package daemon_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ace-collector/ace-collector/collector"
)

// -live.screenshot=PATH saves the page with rows (docs/live.png is made
// so: go test ./daemon -run Browser -live.screenshot=$PWD/docs/live.png).
var screenshot = flag.String("live.screenshot", "", "write a PNG of the live page to this path")

// findBrowser returns Debian's chromium (or another Chrome), or skips;
// under CI=true a missing browser fails the test (.ci/run installs it).
func findBrowser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium found (apt-get install chromium)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// sampleSubmissions are rows like the kinds make them: an EVE alert and
// flow, a pcap summary, a CEF event, an eStreamer connection.
func sampleSubmissions() map[string]*collector.Submission {
	at := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	eve := collector.NewSubmission("ET MALWARE Possible Beacon")
	eve.EventTime = at
	eve.AddObservable(collector.ObsIPv4, "10.20.0.15")
	eve.AddObservable(collector.ObsIPv4, "198.51.100.23")
	eve.SetDetails(map[string]any{"event": map[string]any{"event_type": "alert", "src_ip": "10.20.0.15", "src_port": 49822,
		"dest_ip": "198.51.100.23", "dest_port": 443, "proto": "TCP",
		"alert": map[string]any{"signature": "ET MALWARE Possible Beacon", "severity": 1},
		"flow":  map[string]any{"bytes_toserver": 5120, "bytes_toclient": 88210, "pkts_toserver": 21, "pkts_toclient": 70}}})
	flow := collector.NewSubmission("flow 10.20.0.31 -> 192.0.2.53")
	flow.EventTime = at.Add(2 * time.Second)
	flow.SetDetails(map[string]any{"event": map[string]any{"event_type": "flow", "src_ip": "10.20.0.31", "src_port": 53411,
		"dest_ip": "192.0.2.53", "dest_port": 53, "proto": "UDP",
		"flow": map[string]any{"bytes_toserver": 74, "bytes_toclient": 190, "pkts_toserver": 1, "pkts_toclient": 1}}})
	pcap := collector.NewSubmission("PCAP capture-0314.pcap: 1204 packets, 3 flows")
	pcap.EventTime = at.Add(5 * time.Second)
	pcap.AddObservable(collector.ObsIPv4, "10.20.0.15")
	pcap.SetDetails(map[string]any{"file": "capture-0314.pcap", "packets": 1204, "bytes": 901233, "flows_total": 3,
		"flows": []map[string]any{
			{"client": "10.20.0.15", "client_port": 49822, "server": "198.51.100.23", "server_port": 443, "proto": 6},
			{"client": "10.20.0.15", "client_port": 49830, "server": "198.51.100.24", "server_port": 443, "proto": 6},
			{"client": "10.20.0.16", "client_port": 50100, "server": "198.51.100.23", "server_port": 8443, "proto": 6}}})
	cef := collector.NewSubmission("CEF: Palo Alto Networks threat")
	cef.EventTime = at.Add(9 * time.Second)
	cef.AddObservable(collector.ObsIPv4, "10.20.0.44")
	cef.SetDetails(map[string]any{"event": map[string]any{"severity": 4, "cef": map[string]any{"name": "Spyware Detected",
		"severity": "7", "extension": map[string]any{"src": "10.20.0.44", "spt": "51515", "dst": "203.0.113.9", "dpt": "80", "proto": "TCP"}}}})
	est := collector.NewSubmission("eStreamer connection: connection (10.20.0.50 -> 192.0.2.80)")
	est.EventTime = at.Add(12 * time.Second)
	est.SetDetails(map[string]any{"record_type": 71, "event": map[string]any{"initiatorIpAddress": "10.20.0.50", "initiatorPort": 40001,
		"responderIpAddress": "192.0.2.80", "responderPort": 22, "protocol": 6,
		"initiatorTransmittedBytes": 4410, "responderTransmittedBytes": 5120, "initiatorTransmittedPackets": 30, "responderTransmittedPackets": 28}})
	return map[string]*collector.Submission{"ids_eve": eve, "ids_flows": flow, "pcap_drop": pcap, "syslog_cef": cef, "firepower": est}
}

// The live page in headless Chromium: rows appear as submissions are
// stored, pause holds new ones (counted), the IP search finds a submission
// no longer on the page, and a row opens its observables.
func TestBrowserLivePage(t *testing.T) {
	browser := findBrowser(t)
	conf, _ := liveConf(t, "[collection]\nlive_rows = 10\n")
	d := startDaemon(t, conf)

	old := collector.NewSubmission("old submission from 203.0.113.77")
	old.AddObservable(collector.ObsIPv4, "203.0.113.77")
	old.AddObservable(collector.ObsFQDN, "old.example")
	submit(t, d, "mail", old)
	for i := range 10 { // push it off the 10-row page
		s := collector.NewSubmission(fmt.Sprintf("filler %d", i))
		s.AddObservable(collector.ObsIPv4, fmt.Sprintf("192.0.2.%d", i+1))
		submit(t, d, "drop", s)
	}

	actx, cancelA := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1500, 820))...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	defer cancelT()

	var n int
	run(t, ctx, "open the page",
		chromedp.Navigate(d.url+"/live"),
		chromedp.SetValue("#tz", "UTC", chromedp.ByID),
		chromedp.Evaluate(`document.getElementById('tz').dispatchEvent(new Event('change'))`, nil),
		chromedp.Poll(`document.querySelectorAll('#rows tr').length === 10`, nil),
		chromedp.Evaluate(`document.querySelectorAll('#rows tr').length`, &n))
	if n != 10 {
		t.Fatalf("%d rows, want 10", n)
	}
	var has bool
	run(t, ctx, "check the old row is off the page",
		chromedp.Evaluate(fmt.Sprintf(`!!document.querySelector('#rows tr[data-uuid="%s"]')`, old.UUID), &has))
	if has {
		t.Fatal("the old submission is still on the page")
	}

	live := collector.NewSubmission("appears live")
	submit(t, d, "drop", live)
	run(t, ctx, "a new row appears", chromedp.WaitVisible(fmt.Sprintf(`#rows tr[data-uuid="%s"]`, live.UUID), chromedp.ByQuery))
	run(t, ctx, "its delivery completes",
		chromedp.Poll(fmt.Sprintf(`!!document.querySelector('#rows tr[data-uuid="%s"] .st-COMPLETED')`, live.UUID), nil))

	// Pause: a new row is held and counted, not shown; resume shows it.
	run(t, ctx, "pause", chromedp.Click("#pause", chromedp.ByID))
	held := collector.NewSubmission("held while paused")
	submit(t, d, "drop", held)
	var heldText string
	run(t, ctx, "held count",
		chromedp.Poll(`document.getElementById('held').textContent.startsWith('1 new')`, nil),
		chromedp.Text("#held", &heldText, chromedp.ByID),
		chromedp.Evaluate(fmt.Sprintf(`!!document.querySelector('#rows tr[data-uuid="%s"]')`, held.UUID), &has))
	if has || !strings.Contains(heldText, "held") {
		t.Fatalf("paused page shows the new row (%v) or does not count it (%q)", has, heldText)
	}
	run(t, ctx, "resume", chromedp.Click("#pause", chromedp.ByID),
		chromedp.WaitVisible(fmt.Sprintf(`#rows tr[data-uuid="%s"]`, held.UUID), chromedp.ByQuery))

	// Search by IP finds the old submission (from the history, not the page).
	run(t, ctx, "search",
		chromedp.SetValue("#search-ip", "203.0.113.77", chromedp.ByID),
		chromedp.Click("#search-go", chromedp.ByID),
		chromedp.WaitVisible(fmt.Sprintf(`#results-rows tr[data-uuid="%s"]`, old.UUID), chromedp.ByQuery))

	// The row opens its observables, details and files.
	var obs string
	run(t, ctx, "detail",
		chromedp.Click(fmt.Sprintf(`#results-rows tr[data-uuid="%s"]`, old.UUID), chromedp.ByQuery),
		chromedp.WaitVisible("#detail", chromedp.ByID),
		chromedp.Poll(`document.getElementById('detail-observables').textContent.includes('old.example')`, nil),
		chromedp.Text("#detail-observables", &obs, chromedp.ByID),
		chromedp.Click("#detail-close", chromedp.ByID),
		chromedp.Click("#results-close", chromedp.ByID))
	if !strings.Contains(obs, "203.0.113.77") || !strings.Contains(obs, "fqdn") {
		t.Fatalf("detail observables %q", obs)
	}

	if *screenshot != "" {
		var uuids []string
		for name, s := range sampleSubmissions() {
			submit(t, d, name, s)
			uuids = append(uuids, s.UUID)
		}
		var png []byte
		run(t, ctx, "screenshot",
			chromedp.Poll(fmt.Sprintf(`%q.split(',').every(u => document.querySelector('#rows tr[data-uuid="'+u+'"] .st-COMPLETED'))`,
				strings.Join(uuids, ",")), nil),
			chromedp.FullScreenshot(&png, 100))
		if err := os.WriteFile(*screenshot, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot written to %s", *screenshot)
	}
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
