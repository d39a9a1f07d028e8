package estreamer

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
	"github.com/ace-collector/ace-collector/collectors/estreamer/wire"
	"github.com/ace-collector/ace-collector/collectors/estreamer/wire/wiretest"
)

// parseSection builds a collector from key = value lines and returns the
// config problems.
func parseSection(t testing.TB, lines ...string) (*Collector, []error) {
	t.Helper()
	f, err := ini.Load([]byte("[collector_fmc]\n" + strings.Join(lines, "\n") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	var p collector.Problems
	sec := collector.NewSection(f.Section("collector_fmc"), &p)
	c, err := New(sec, collector.Global{Hostname: "test-host"})
	if err != nil {
		t.Fatal(err)
	}
	sec.Done()
	return c.(*Collector), p.List()
}

func newTestCollector(t testing.TB, pki *testPKI, port int, extra ...string) *Collector {
	t.Helper()
	lines := append([]string{
		"host = 127.0.0.1",
		"port = " + fmt.Sprint(port),
		"pkcs12_file = " + pki.P12Modern,
		"pkcs12_password = secret",
		"reconnect_min = 10ms",
		"reconnect_max = 50ms",
		"idle_timeout = 10s",
		"work_dir = " + t.TempDir(),
	}, extra...)
	c, problems := parseSection(t, lines...)
	if len(problems) > 0 {
		t.Fatalf("config problems: %v", problems)
	}
	return c
}

// runCollector runs c until the test ends and returns the env.
func runCollector(t testing.TB, c *Collector, sink *collectortest.Sink, state *collectortest.State) *collector.Env {
	t.Helper()
	env := collectortest.Env(t, "fmc", sink, state)
	logs := collectortest.RecordLogs(env)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, env) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			} else {
				logs.CheckStartStop(t, "server")
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not stop after cancel")
		}
	})
	return env
}

const (
	dev      = 3
	zoneUUID = "ed81dc4e-3444-11eb-a581-703a42c735fb"
)

func intrusion(id, sec uint32, src string) wiretest.Intrusion {
	return wiretest.Intrusion{Device: dev, EventID: id, Second: sec, Micro: 250000, GID: 1, SID: 2000001, Rev: 7,
		Class: 5, Priority: 1, Src: src, Dst: "198.51.100.20", SrcPort: 51000, DstPort: 80, Proto: 6,
		Blocked: 1, UserID: 77, AppID: 676, IngressZone: zoneUUID, Host: "evil.example.com", URI: "/payload.bin"}
}

func metadataItems() []wiretest.Item {
	return []wiretest.Item{
		wiretest.IDNameRecord(123, dev, "ftd-edge-1"),
		wiretest.PriorityRecord(1, "high"),
		wiretest.RuleMessageRecord(1, 2000001, 7, "ET TROJAN Test Beacon"),
		wiretest.ClassificationRecord(5, "trojan-activity", "A Network Trojan was Detected"),
		wiretest.UUIDNameRecord(115, zoneUUID, "inside"),
		wiretest.UserRecord(77, "alice"),
		wiretest.IDNameRecord(63, 676, "HTTP"),
		{RecordType: 9999, Data: []byte{1, 2, 3}}, // unknown record: skipped and counted
		// intrusion event in an unknown block version: skipped and counted
		{RecordType: 400, Extended: true, ArchiveTS: t0, Data: append([]byte{0, 0, 0, 99}, intrusion(900, t0, "10.0.0.9").Record(85, t0).Data[4:]...)},
		// zone name whose string block is shorter than its header: malformed, counted
		{RecordType: 115, Data: append(wiretest.UUIDNameRecord(115, zoneUUID, "x").Data[:24], 0, 0, 0, 0, 0, 0, 0, 4)},
	}
}

func pkt(id, sec uint32, data string, archive uint32) wiretest.Item {
	return wiretest.PacketRecord(dev, id, sec, sec, 250000, 1, []byte(data), archive)
}

const t0 = 1700000000

// TestFullSession plays a whole FMC conversation: negotiation, metadata,
// bundles with events and packets, a keep-alive, an error and a close;
// then the client reconnects, resumes from the bookmark, and the events
// the server re-sends for that second are dropped as duplicates.
func TestFullSession(t *testing.T) {
	pki := newPKI(t)
	info := wiretest.StreamingInfoMessage(5001, 5000, 6667)
	sha := make([]byte, 32)
	for i := range sha {
		sha[i] = byte(i + 1)
	}
	fileEvt := wiretest.FileRecord(wire.RecFileMalware, wiretest.V{"deviceId": dev, "fileEventTimestamp": t0 + 3,
		"sourceIpAddress": "203.0.113.9", "destinationIpAddress": "10.0.0.5", "fileName": "invoice.exe",
		"shaHash": sha, "uri": "http://203.0.113.9/invoice.exe", "disposition": 3, "action": 4,
		"sourcePort": 80, "destinationPort": 50100, "protocol": 6}, t0+3)
	conn := wiretest.ConnectionRecord(dev, 160, wiretest.V{"initiatorIpAddress": "10.0.0.5"}, t0+2)
	requests := make(chan wire.EventStreamRequest, 10)
	streaming := make(chan wire.StreamingRequest, 10)
	resumedAcked := make(chan struct{})

	fmc := startFMC(t, pki.serverConfig(), func(n int, c *fmcConn) error {
		req, sr, err := c.handshake(info)
		if err != nil {
			return err
		}
		requests <- req
		streaming <- sr
		switch n {
		case 0:
			items := append(metadataItems(),
				intrusion(101, t0+1, "10.1.2.3").Record(85, t0+1), pkt(101, t0+1, "packet-A", t0+1),
				conn,
				intrusion(102, t0+2, "10.1.2.4").Record(60, t0+2), pkt(102, t0+2, "packet-B1", t0+2),
				pkt(102, t0+2, "packet-B2", t0+2))
			steps := []func() error{
				func() error { return c.send(wiretest.BundleMessage(t0, 1, items...)) },
				c.expectNull,
				func() error { return c.send(wiretest.NullMessage()) }, // keep-alive
				c.expectNull,
				func() error {
					return c.send(wiretest.BundleMessage(t0, 2, intrusion(103, t0+3, "10.1.2.5").Record(81, t0+3), fileEvt))
				},
				c.expectNull,
				func() error { return c.send(wiretest.ErrorMessage(42, "mock server closing\x00")) },
			}
			for _, s := range steps {
				if err := s(); err != nil {
					return err
				}
			}
			return nil // close
		case 1:
			// Resumed session: re-send the bookmark second, then a new event.
			steps := []func() error{
				func() error {
					return c.send(wiretest.BundleMessage(t0+10, 1, intrusion(103, t0+3, "10.1.2.5").Record(81, t0+3), fileEvt,
						intrusion(104, t0+4, "10.1.2.6").Record(85, t0+4), pkt(104, t0+4, "packet-D", t0+4)))
				},
				c.expectNull,
				func() error { return c.send(wiretest.NullMessage()) },
				c.expectNull,
			}
			for _, s := range steps {
				if err := s(); err != nil {
					return err
				}
			}
			close(resumedAcked) // the client persists before it acknowledges
			return c.waitClosed()
		}
		return c.waitClosed()
	})

	c := newTestCollector(t, pki, fmc.port(), "tags = from-config", "group_assignments = g9")
	sink, state := collectortest.NewSink(), collectortest.NewState()
	env := runCollector(t, c, sink, state)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	r, err := fmc.next(ctx)
	if err != nil || r.n != 0 || r.err != nil {
		t.Fatalf("session 0: %+v %v", r, err)
	}
	subs, err := sink.WaitFor(ctx, 5)
	if err != nil {
		t.Fatalf("got %d submissions: %v", len(subs), err)
	}

	// Requests: first "now" (no bookmark), then resume from second t0+3.
	req0, req1 := <-requests, <-requests
	// The default rules submit intrusion, file malware, correlation and
	// IoC events: the reference flags without impact alerts.
	if req0.InitialTimestamp != wire.TimestampNow || req0.Flags != wire.DefaultFlags&^wire.FlagImpact {
		t.Errorf("first request %+v", req0)
	}
	if req1.InitialTimestamp != t0+3 {
		t.Errorf("resumed request from %d, want %d", req1.InitialTimestamp, t0+3)
	}
	sr := <-streaming
	if fmt.Sprint(sr.Events) != "[{12 11} {21 4} {31 9} {61 11} {111 7}]" || sr.Convention != wire.LengthIncludingHeader {
		t.Errorf("streaming request %+v", sr)
	}

	// Wait until the resumed session has acknowledged the keep-alive (the
	// bookmark is written before the ack), then check everything.
	select {
	case <-resumedAcked:
	case <-ctx.Done():
		t.Fatal("resumed session did not acknowledge the keep-alive")
	}
	subs = sink.Submissions()
	if len(subs) != 5 {
		t.Fatalf("%d submissions, want 5 (no repeats)", len(subs))
	}
	for i, s := range subs {
		var d struct {
			Event   map[string]any    `json:"event"`
			Names   map[string]string `json:"names"`
			Packets int               `json:"packets"`
		}
		if err := json.Unmarshal(s.Details, &d); err != nil {
			t.Fatal(err)
		}
		if s.Tool != Tool || s.ToolInstance != "test-host" || s.AnalysisMode != "correlation" ||
			strings.Join(s.Tags, ",") != "from-config" || strings.Join(s.GroupAssignments, ",") != "g9" {
			t.Errorf("sub %d: tool %q instance %q mode %q tags %v groups %v", i, s.Tool, s.ToolInstance, s.AnalysisMode,
				s.Tags, s.GroupAssignments)
		}
		t.Logf("sub %d: %s type=%s packets=%d files=%d", i, s.Description, s.Type, d.Packets, len(s.Files))
	}
	checkIntrusionSub(t, sink, subs[0], "10.1.2.3", 1, t0+1)
	checkIntrusionSub(t, sink, subs[1], "10.1.2.4", 2, t0+2)
	checkIntrusionSub(t, sink, subs[2], "10.1.2.5", 0, t0+3)
	checkIntrusionSub(t, sink, subs[4], "10.1.2.6", 1, t0+4)
	f := subs[3]
	if f.Type != "estreamer - file malware" || !hasObs(f, collector.ObsSHA256, fmt.Sprintf("%x", sha)) ||
		!hasObs(f, collector.ObsFileName, "invoice.exe") || !hasObs(f, collector.ObsURL, "http://203.0.113.9/invoice.exe") ||
		!hasObs(f, collector.ObsIPv4FullConversation, "203.0.113.9:80:10.0.0.5:50100") {
		t.Errorf("file submission: %s %+v", f.Type, f.Observables)
	}

	for ev, want := range map[string]int64{"dropped_duplicate": 2, "dropped_filtered_kind": 1,
		"dropped_unknown_record": 1, "dropped_unknown_block": 1, "dropped_malformed_record": 1, "submitted": 5, "connections": 2, "server_errors": 1,
		"dropped_packet_of_filtered_event": 0} {
		if got := env.Stats.Get("fmc", ev); got != want {
			t.Errorf("counter %s = %d, want %d", ev, got, want)
		}
	}
	v, ok, _ := state.Get(ctx, bookmarkKey)
	var bm bookmark
	if !ok || json.Unmarshal(v, &bm) != nil || bm.TS != t0+4 || len(bm.Seen[itoaU(t0+4)]) != 1 {
		t.Errorf("bookmark %s", v)
	}
}

func hasObs(s *collector.Submission, typ, value string) bool {
	for _, o := range s.Observables {
		if o.Type == typ && o.Value == value {
			return true
		}
	}
	return false
}

func checkIntrusionSub(t *testing.T, sink *collectortest.Sink, s *collector.Submission, src string, packets int, sec int64) {
	t.Helper()
	if s.Type != "estreamer - intrusion" || !strings.Contains(s.Description, "ET TROJAN Test Beacon") {
		t.Errorf("%s: type %q description %q", src, s.Type, s.Description)
	}
	if !s.EventTime.Equal(time.Unix(sec, 250000000)) {
		t.Errorf("%s: event time %v", src, s.EventTime)
	}
	for _, o := range [][2]string{
		{collector.ObsIPv4, src}, {collector.ObsIPv4, "198.51.100.20"},
		{collector.ObsIPv4FullConversation, src + ":51000:198.51.100.20:80"},
		{collector.ObsSnortSignature, "1:2000001:7"}, {collector.ObsUser, "alice"},
	} {
		if !hasObs(s, o[0], o[1]) {
			t.Errorf("%s: missing %s %s in %+v", src, o[0], o[1], s.Observables)
		}
	}
	var d struct {
		Names map[string]string `json:"names"`
	}
	json.Unmarshal(s.Details, &d)
	if d.Names["device"] != "ftd-edge-1" || d.Names["ingress_zone"] != "inside" || d.Names["classification"] != "trojan-activity" ||
		d.Names["priority"] != "high" || d.Names["application"] != "HTTP" {
		t.Errorf("%s: enrichment %v", src, d.Names)
	}
	if packets == 0 {
		if len(s.Files) != 0 {
			t.Errorf("%s: unexpected files %+v", src, s.Files)
		}
		return
	}
	if len(s.Files) != 1 || !s.Files[0].DeleteSource {
		t.Fatalf("%s: files %+v", src, s.Files)
	}
	data := sink.Contents[s.UUID][s.Files[0].Name]
	if got := countPCAP(t, data); got != packets {
		t.Errorf("%s: pcap has %d packets, want %d", src, got, packets)
	}
}

// countPCAP checks a classic pcap file and counts its records.
func countPCAP(t *testing.T, b []byte) int {
	t.Helper()
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 || binary.LittleEndian.Uint32(b[20:]) != 1 {
		t.Fatalf("not a classic Ethernet pcap: %x", b[:min(len(b), 24)])
	}
	n := 0
	for off := 24; off < len(b); n++ {
		if len(b)-off < 16 {
			t.Fatal("truncated pcap record header")
		}
		incl := int(binary.LittleEndian.Uint32(b[off+8:]))
		off += 16 + incl
		if off > len(b) {
			t.Fatal("truncated pcap record")
		}
	}
	return n
}
