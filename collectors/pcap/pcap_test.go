package pcap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
)

func TestSummarize(t *testing.T) {
	pkts := sample(t)
	for _, tc := range []struct {
		name, format string
		data         []byte
	}{
		{"pcap", FormatPCAP, writePCAP(t, pkts)},
		{"pcapng", FormatPCAPNG, writePCAPNG(t, pkts)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, format := Summarize(bytes.NewReader(tc.data), Options{MaxItems: 100, MaxFlows: 100})
			if format != tc.format || s.Error != "" || s.Packets != 7 || s.FlowsTotal != 4 {
				t.Fatalf("format %s err %q packets %d flows %d", format, s.Error, s.Packets, s.FlowsTotal)
			}
			http := s.Flows[0]
			if http.Client != "10.0.0.1" || http.ClientPort != 50000 || http.Server != "93.184.216.34" || http.ServerPort != 80 ||
				http.Proto != 6 || http.Packets != 4 || !http.First.Equal(t0) || !http.Last.Equal(t0.Add(6*time.Millisecond)) {
				t.Errorf("http flow %+v", http)
			}
			var sum int64
			for _, p := range pkts[:3] {
				sum += int64(len(p.data))
			}
			if http.Bytes != sum+int64(len(pkts[6].data)) {
				t.Errorf("http bytes %d", http.Bytes)
			}
			if dns := s.Flows[1]; dns.Server != "8.8.8.8" || dns.ServerPort != 53 || dns.Proto != 17 {
				t.Errorf("dns flow %+v", dns)
			}
			if v6 := s.Flows[3]; v6.Server != "2001:db8::2" || v6.ServerPort != 5353 || v6.Client != "2001:db8::1" {
				t.Errorf("v6 flow %+v", v6)
			}
			if strings.Join(s.DNSQueries, ",") != "evil.example.org" || strings.Join(s.TLSSNI, ",") != "secure.example.net" ||
				len(s.HTTP) != 1 || s.HTTP[0].URL != "http://www.example.com/index.html?q=1" {
				t.Errorf("names: dns %v sni %v http %+v", s.DNSQueries, s.TLSSNI, s.HTTP)
			}
		})
	}
}

func TestSummarizeDamaged(t *testing.T) {
	full := writePCAP(t, sample(t))
	tests := []struct {
		name    string
		data    []byte
		packets int64
		errLike string
	}{
		{"truncated in last packet", full[:len(full)-10], 6, "unexpected EOF"},
		{"truncated header", full[:10], 0, "unexpected EOF"},
		{"not a capture", []byte("this is not a capture file at all"), 0, "pcap header"},
		{"empty", nil, 0, "unexpected EOF"},
		{"ng truncated", writePCAPNG(t, sample(t))[:300], -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := Summarize(bytes.NewReader(tt.data), Options{MaxItems: 10, MaxFlows: 10})
			if !s.Truncated || s.Error == "" || !strings.Contains(s.Error, tt.errLike) {
				t.Errorf("truncated %v error %q, want %q", s.Truncated, s.Error, tt.errLike)
			}
			if tt.packets >= 0 && s.Packets != tt.packets {
				t.Errorf("packets %d, want %d", s.Packets, tt.packets)
			}
		})
	}
}

// TestRealCapture reads a loopback capture taken with tcpdump (see
// testdata/README.md).
func TestRealCapture(t *testing.T) {
	f, err := os.Open("testdata/loopback.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, format := Summarize(f, Options{MaxItems: 100, MaxFlows: 100})
	if format != FormatPCAP || s.Error != "" || s.Packets < 10 {
		t.Fatalf("format %s packets %d error %q", format, s.Packets, s.Error)
	}
	if strings.Join(s.DNSQueries, ",") != "dns-test.example.org" || strings.Join(s.TLSSNI, ",") != "tls-test.example" {
		t.Errorf("dns %v sni %v", s.DNSQueries, s.TLSSNI)
	}
	if len(s.HTTP) != 1 || !strings.HasPrefix(s.HTTP[0].URL, "http://ace-test.example:") || !strings.HasSuffix(s.HTTP[0].URL, "/hello.txt") {
		t.Errorf("http %+v", s.HTTP)
	}
	if s.FlowsTotal != 3 {
		t.Errorf("flows %d, want 3 (dns, http, tls)", s.FlowsTotal)
	}
	for _, fl := range s.Flows {
		if fl.Proto == 6 && (fl.ClientPort < 1024 || fl.Packets < 5) {
			t.Errorf("tcp flow %+v", fl)
		}
	}
}

func TestParseSNI(t *testing.T) {
	hello := clientHello("a.example.com")
	if n, ok := ParseSNI(hello); !ok || n != "a.example.com" {
		t.Errorf("ParseSNI = %q %v", n, ok)
	}
	for i := range len(hello) - 1 {
		if _, ok := ParseSNI(hello[:i]); ok {
			t.Errorf("cut at %d parsed", i)
		}
	}
	if _, ok := ParseSNI(clientHello("bad name")); ok {
		t.Error("name with a space accepted")
	}
}

func newCollector(t *testing.T, body string) (*Collector, string) {
	dir := t.TempDir()
	f, err := ini.Load([]byte("[collector_p]\nspool_dir = " + dir + "\nsettle_time = 0\n" + body))
	if err != nil {
		t.Fatal(err)
	}
	var p collector.Problems
	sec := collector.NewSection(f.Section("collector_p"), &p)
	c, err := New(sec, collector.Global{Hostname: "h"})
	sec.Done()
	if err == nil {
		err = p.Err()
	}
	if err != nil {
		t.Fatal(err)
	}
	return c.(*Collector), dir
}

func TestSpool(t *testing.T) {
	c, dir := newCollector(t, "max_file_size = 10k\ntags = lab\ngroup_assignments = g9")
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.pcap", writePCAP(t, sample(t)))
	write("b.pcapng", writePCAPNG(t, sample(t)[:3]))
	full := writePCAP(t, sample(t))
	write("c.pcap", full[:len(full)-5])
	write("d.pcap.new", full)
	write(".e.pcap", full)
	write("big.pcap", bytes.Repeat(full, 20))
	sink := collectortest.NewSink()
	env := collectortest.Env(t, "p", sink, collectortest.NewState())

	sink.SetFail(errors.New("store down"))
	if err := c.scan(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.pcap")); err != nil {
		t.Fatalf("a.pcap gone after a failed submit: %v", err)
	}
	sink.SetFail(nil)
	if err := c.scan(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	subs := sink.Submissions()
	if len(subs) != 3 {
		t.Fatalf("%d submissions, want 3", len(subs))
	}
	byFile := map[string]*collector.Submission{}
	for _, s := range subs {
		byFile[s.Files[0].Name] = s
		if !s.Files[0].DeleteSource || len(sink.Contents[s.UUID][s.Files[0].Name]) == 0 {
			t.Errorf("%s: file not attached as a move", s.Description)
		}
	}
	a := byFile["a.pcap"]
	have := map[string]bool{}
	for _, o := range a.Observables {
		have[o.Type+"="+o.Value] = true
	}
	for _, w := range []string{"file=a.pcap", "pcap=a.pcap", "ipv4=10.0.0.1", "ipv4=93.184.216.34", "ipv6=2001:db8::1",
		"ipv4_full_conversation=10.0.0.1:50000:93.184.216.34:80", "ipv4_full_conversation=10.0.0.1:53000:8.8.8.8:53",
		"fqdn=evil.example.org", "fqdn=www.example.com", "url=http://www.example.com/index.html?q=1", "fqdn=secure.example.net"} {
		if !have[w] {
			t.Errorf("a.pcap lacks %s", w)
		}
	}
	if a.Tool != "pcap" || a.ToolInstance != "test-host" || a.AnalysisMode != "analysis" ||
		strings.Join(a.GroupAssignments, ",") != "g9" {
		t.Errorf("a.pcap submission fields %+v", a)
	}
	if a.EventTime != t0 || a.Type != "pcap" || len(a.Tags) != 1 || !strings.HasPrefix(a.Description, "PCAP a.pcap: 7 packets, 4 flows") {
		t.Errorf("a.pcap submission %q %v %q %v", a.Description, a.EventTime, a.Type, a.Tags)
	}
	var det struct {
		Flows []Flow
		Error string
	}
	if err := json.Unmarshal(byFile["c.pcap"].Details, &det); err != nil || det.Error == "" || len(det.Flows) == 0 {
		t.Errorf("c.pcap details %s", byFile["c.pcap"].Details)
	}
	left, _ := os.ReadDir(dir)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != ".e.pcap,.error,d.pcap.new" {
		t.Errorf("spool holds %v", names)
	}
	if q, _ := os.ReadDir(filepath.Join(dir, ".error")); len(q) != 1 || !strings.HasSuffix(q[0].Name(), "big.pcap") {
		t.Errorf("error dir %v", q)
	}
	if env.Stats.Get("p", "dropped_too_large") != 1 || env.Stats.Get("p", "truncated") != 1 {
		t.Error("counters")
	}
}

func TestRun(t *testing.T) {
	c, dir := newCollector(t, "poll_interval = 10ms")
	sink := collectortest.NewSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	env := collectortest.Env(t, "p", sink, collectortest.NewState())
	logs := collectortest.RecordLogs(env)
	go func() { done <- c.Run(ctx, env) }()
	if err := os.WriteFile(filepath.Join(dir, "x.pcap"), writePCAP(t, sample(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if _, err := sink.WaitFor(wctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	logs.CheckStartStop(t, "directory", "error_dir")
	if d := c.InputDirs(); len(d) != 1 || d[0] != dir {
		t.Errorf("InputDirs() = %v, want [%s]", d, dir)
	}
}

func TestConfigFlowTimeout(t *testing.T) {
	c, _ := newCollector(t, "flow_timeout = 90s")
	if c.cfg.FlowTimeout != 90*time.Second {
		t.Errorf("flow_timeout %v", c.cfg.FlowTimeout)
	}
	if c, _ := newCollector(t, ""); c.cfg.FlowTimeout != DefaultFlowTimeout {
		t.Errorf("default flow_timeout %v", c.cfg.FlowTimeout)
	}
	if _, err := collectortest.Build(t, "spool_dir = x\nflow_timeout = 0s", New); err == nil || !strings.Contains(err.Error(), "flow_timeout") {
		t.Errorf("flow_timeout = 0s: %v", err)
	}
}
