package estreamer

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
	"github.com/ace-collector/ace-collector/collectors/estreamer/wire"
	"github.com/ace-collector/ace-collector/collectors/estreamer/wire/wiretest"
)

// played is what playSession saw.
type played struct {
	subs []*collector.Submission
	env  *collector.Env
	req  wire.EventStreamRequest
	sr   wire.StreamingRequest
}

// playSession runs a collector (configured with extra) against a server
// that negotiates, sends msgs (each acknowledged), then a keep-alive, and
// returns once the keep-alive was acknowledged: by then every event was
// submitted and counted (the client persists and counts before it acks).
func playSession(t *testing.T, extra []string, msgs ...[]byte) played {
	t.Helper()
	pki := newPKI(t)
	var p played
	finished := make(chan error, 1)
	fmc := startFMC(t, pki.serverConfig(), func(n int, c *fmcConn) error {
		err := func() error {
			var err error
			if p.req, p.sr, err = c.handshake(wiretest.StreamingInfoMessage(6667)); err != nil {
				return err
			}
			for _, m := range append(msgs, wiretest.NullMessage()) {
				if err := c.send(m); err != nil {
					return err
				}
				if err := c.expectNull(); err != nil {
					return err
				}
			}
			return nil
		}()
		finished <- err
		return c.waitClosed()
	})
	c := newTestCollector(t, pki, fmc.port(), extra...)
	sink := collectortest.NewSink()
	p.env = runCollector(t, c, sink, collectortest.NewState())
	select {
	case err := <-finished:
		if err != nil {
			t.Fatalf("server: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the session did not finish")
	}
	p.subs = sink.Submissions()
	return p
}

func details(t *testing.T, s *collector.Submission) (d struct {
	RecordType uint32            `json:"record_type"`
	Event      map[string]any    `json:"event"`
	Names      map[string]string `json:"names"`
	Extra      []map[string]any  `json:"extra_data"`
	Host       string            `json:"host"`
}) {
	t.Helper()
	if err := json.Unmarshal(s.Details, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func obsOf(s *collector.Submission, typ string) []string {
	var out []string
	for _, o := range s.Observables {
		if o.Type == typ {
			out = append(out, o.Value)
		}
	}
	return out
}

// conn builds a connection event (block 174) for item 17 and 21 tests.
func conn(v wiretest.V, archive uint32) wiretest.Item {
	base := wiretest.V{"deviceId": dev, "initiatorIpAddress": "10.0.0.5", "responderIpAddress": "203.0.113.7",
		"initiatorPort": 50000, "responderPort": 443, "protocol": 6, "firstPacketTimestamp": t0, "instanceId": 3,
		"connectionCounter": 98, "policyRevision": acPolicy}
	for k, x := range v {
		base[k] = x
	}
	return wiretest.ConnectionRecord(dev, 174, base, archive)
}

const acPolicy = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"

// TestConnectionEndNotDuplicate (issue 16, item 17): a connection's
// beginning and end events, and a Security Intelligence event and its
// connection event, share (device, first packet, instance, counter); in
// the same archive second the second of each pair used to be dropped as
// a duplicate, losing the end event's byte counts and duration. Now all
// four are submitted, and a re-sent copy is still recognised.
func TestConnectionEndNotDuplicate(t *testing.T) {
	begin := conn(nil, t0)
	end := conn(wiretest.V{"lastPacketTimestamp": t0 + 65, "initiatorTransmittedBytes": uint64(1687),
		"responderTransmittedBytes": uint64(4492), "initiatorTransmittedPackets": uint64(10)}, t0)
	si := conn(wiretest.V{"instanceId": 4, "securityIntelligenceSourceDestination": 2, "securityIntelligenceList1": 3,
		"ruleAction": 2}, t0)
	siConn := conn(wiretest.V{"instanceId": 4, "ruleAction": 1}, t0)
	p := playSession(t, []string{"submit = connection"},
		wiretest.BundleMessage(1, 1, begin, end, si, siConn),
		wiretest.BundleMessage(1, 2, end, si)) // re-sent (as after a reconnect)
	if len(p.subs) != 4 {
		t.Fatalf("%d submissions, want 4", len(p.subs))
	}
	keys := map[string]bool{}
	for _, s := range p.subs {
		keys[s.DedupKey] = true
	}
	if len(keys) != 4 || p.env.Stats.Get("fmc", "dropped_duplicate") != 2 {
		t.Errorf("dedup keys %v, dropped_duplicate %d", keys, p.env.Stats.Get("fmc", "dropped_duplicate"))
	}
	if d := details(t, p.subs[1]); d.Event["responderTransmittedBytes"] != float64(4492) || d.Event["lastPacketTimestamp"] != float64(t0+65) {
		t.Errorf("end event: %v", d.Event)
	}
}

// TestIdentity: what makes two records the same event (unit level).
func TestIdentity(t *testing.T) {
	key := func(it wiretest.Item) string {
		ed, err := wire.ParseEventData(it.EventData())
		if err != nil {
			t.Fatal(err)
		}
		rec, err := wire.DecodeRecord(ed)
		if err != nil {
			t.Fatal(err)
		}
		e, ok := newEvent(ed, rec)
		if !ok {
			t.Fatalf("record %d is not an event", ed.RecordType)
		}
		e.identify(ed.Data)
		return e.key
	}
	begin, end := conn(nil, t0), conn(wiretest.V{"lastPacketTimestamp": t0 + 5}, t0)
	moved := conn(nil, t0)
	moved.Data = append([]byte(nil), moved.Data...)
	moved.Data[35] = 9 // discovery header file position: storage, not event
	file := wiretest.FileRecord(wire.RecFile, wiretest.V{"deviceId": dev, "fileName": "a"}, t0)
	fileMal := wiretest.FileRecord(wire.RecFileMalware, wiretest.V{"deviceId": dev, "fileName": "a"}, t0)
	ioc1, ioc2 := wiretest.IOCRecord(dev, 1, t0, "10.0.0.1", t0), wiretest.IOCRecord(dev, 1, t0, "10.0.0.2", t0)
	for _, c := range []struct {
		name string
		a, b wiretest.Item
		same bool
	}{
		{"begin and end of a connection", begin, end, false},
		{"re-sent connection", begin, conn(nil, t0+7), true}, // archive time is not part of the event
		{"storage position", begin, moved, true},
		{"file and file malware event", file, fileMal, false},
		{"IoC on two hosts", ioc1, ioc2, false},
		{"intrusion re-sent", intrusion(1, t0, "10.0.0.1").Record(85, t0), intrusion(1, t0, "10.0.0.1").Record(85, t0+1), true},
	} {
		ka, kb := key(c.a), key(c.b)
		if (ka == kb) != c.same {
			t.Errorf("%s: %q vs %q, same = %v", c.name, ka, kb, ka == kb)
		}
		if !strings.HasPrefix(ka, itoaU(c.a.RecordType)+":") {
			t.Errorf("%s: %q does not start with the record type", c.name, ka)
		}
	}
}

// TestNullAfterStreamingRequest (issue 16, item 19): a server that waits
// for the client's Null after the Streaming Request (as eNcore sends it
// on a real FMC) gets it, right after the Streaming Request, and streams.
// Without it such a server stalled every session until the idle timeout.
func TestNullAfterStreamingRequest(t *testing.T) {
	pki := newPKI(t)
	order := make(chan []string, 1)
	fmc := startFMC(t, pki.serverConfig(), func(n int, c *fmcConn) error {
		var got []string
		for i := 0; i < 3; i++ {
			m, err := c.r.Next()
			if err != nil {
				order <- got
				return err
			}
			got = append(got, wire.TypeName(m.Type))
			if i == 0 {
				if err := c.send(wiretest.StreamingInfoMessage(5001, 5000, 6667)); err != nil {
					return err
				}
			}
		}
		order <- got
		// Only now, like a server that waits for the Null, send data.
		if err := c.send(wiretest.BundleMessage(1, 1, intrusion(1, t0, "10.0.0.1").Record(85, t0))); err != nil {
			return err
		}
		if err := c.expectNull(); err != nil {
			return err
		}
		if err := c.send(wiretest.NullMessage()); err != nil {
			return err
		}
		return c.waitClosed()
	})
	// A long idle timeout: without the Null nothing would move for an hour.
	c := newTestCollector(t, pki, fmc.port(), "idle_timeout = 1h")
	sink := collectortest.NewSink()
	runCollector(t, c, sink, collectortest.NewState())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case got := <-order:
		if strings.Join(got, ",") != "EventStreamRequest,StreamingRequest,Null" {
			t.Fatalf("client sent %v", got)
		}
	case <-ctx.Done():
		t.Fatal("the client sent nothing after the Streaming Request")
	}
	if _, err := sink.WaitFor(ctx, 1); err != nil {
		t.Fatal(err)
	}
}

// TestPlaceholderUsersNotObservables (issue 16, item 20): the FMC's
// placeholder user "No Authentication Required" (9999997) and the other
// special identities are on events that have nothing to do with each
// other; as user observables they linked unrelated alerts. Real users
// still become observables; ignore_users replaces the list.
func TestPlaceholderUsersNotObservables(t *testing.T) {
	meta := wiretest.BundleMessage(1, 1,
		wiretest.UserRecord(9999997, "No Authentication Required"), // as the real FMC sends it (with a NUL)
		wiretest.UserRecord(9999999, "Unknown"), wiretest.UserRecord(77, "alice"), wiretest.UserRecord(78, "svc-backup"))
	withUser := func(id, user uint32, src string) wiretest.Item {
		ev := intrusion(id, t0, src)
		ev.UserID = user
		return ev.Record(85, t0)
	}
	mal := wiretest.Item{RecordType: wire.RecMalware, Extended: true, ArchiveTS: t0, Data: wiretest.MustBlock("malware", 62,
		wiretest.V{"deviceId": dev, "detectionName": "W32.Trojan", "user": "No Authentication Required", "fileName": "x.exe",
			"malwareEventTimestamp": t0, "sourceIpAddress": "10.0.0.9"})}
	events := wiretest.BundleMessage(1, 2, withUser(1, 9999997, "10.0.0.1"), withUser(2, 9999999, "10.0.0.2"),
		withUser(3, 77, "10.0.0.3"), withUser(4, 78, "10.0.0.4"), conn(wiretest.V{"userId": 9999997}, t0), mal)

	p := playSession(t, []string{"submit = intrusion, connection, malware", "packet_data = no"}, meta, events)
	users := map[string][]string{}
	for _, s := range p.subs {
		users[s.Description] = obsOf(s, collector.ObsUser)
	}
	if len(p.subs) != 6 {
		t.Fatalf("%d submissions", len(p.subs))
	}
	var all []string
	for _, s := range p.subs {
		all = append(all, obsOf(s, collector.ObsUser)...)
	}
	if strings.Join(all, ",") != "alice,svc-backup" {
		t.Errorf("user observables %v", users)
	}
	// The name stays in the details: it is what the FMC said.
	if d := details(t, p.subs[0]); d.Names["user"] != "No Authentication Required" {
		t.Errorf("names %v", d.Names)
	}

	p = playSession(t, []string{"packet_data = no", "ignore_users = 78, Service Account"}, meta,
		wiretest.BundleMessage(1, 2, withUser(1, 9999997, "10.0.0.1"), withUser(4, 78, "10.0.0.4")))
	if got := append(obsOf(p.subs[0], collector.ObsUser), obsOf(p.subs[1], collector.ObsUser)...); strings.Join(got, ",") != "No Authentication Required" {
		t.Errorf("with ignore_users: %v", got)
	}
}

// TestConnectionSelection (issue 16, item 21): connection events are
// selected by Security Intelligence hit and category (names from metadata
// 280), action (120), URL category (121) and reputation (122).
func TestConnectionSelection(t *testing.T) {
	meta := wiretest.BundleMessage(1, 1,
		wiretest.SICategoryRecord(3, acPolicy, "Malware"), wiretest.SICategoryRecord(4, acPolicy, "Phishing"),
		wiretest.IDNameRecord(120, 1, "Allow"), wiretest.IDNameRecord(120, 2, "Block"),
		wiretest.IDNameRecord(121, 13, "Malware Sites"), wiretest.IDNameRecord(121, 20, "News"),
		wiretest.IDNameRecord(122, 1, "High risk"), wiretest.IDNameRecord(122, 5, "Well known"))
	siMalware := conn(wiretest.V{"instanceId": 1, "securityIntelligenceSourceDestination": 2, "securityIntelligenceList1": 3, "ruleAction": 2}, t0)
	siPhish := conn(wiretest.V{"instanceId": 2, "securityIntelligenceSourceDestination": 1, "securityIntelligenceList1": 4, "ruleAction": 2}, t0)
	badURL := conn(wiretest.V{"instanceId": 3, "urlCategory": 13, "urlReputation": 1, "ruleAction": 1,
		"clientUrl": "http://malware.example/x"}, t0)
	news := conn(wiretest.V{"instanceId": 4, "urlCategory": 20, "urlReputation": 5, "ruleAction": 1}, t0)
	events := wiretest.BundleMessage(1, 2, siMalware, siPhish, badURL, news)
	inst := func(p played) string {
		var out []string
		for _, s := range p.subs {
			out = append(out, fmt.Sprint(details(t, s).Event["instanceId"]))
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		rules []string
		want  string
		why   string
	}{
		{nil, "1,2,3,4", ""},
		{[]string{"security_intelligence = yes"}, "1,2", "dropped_filtered_security_intelligence"},
		{[]string{"security_intelligence = no"}, "3,4", "dropped_filtered_security_intelligence"},
		{[]string{"security_intelligence_categories = malware"}, "1", "dropped_filtered_security_intelligence"},
		{[]string{"security_intelligence_categories = 4"}, "2", "dropped_filtered_security_intelligence"},
		{[]string{"connection_actions = block"}, "1,2", "dropped_filtered_action"},
		{[]string{"url_categories = Malware Sites, 99"}, "3", "dropped_filtered_url_category"},
		{[]string{"url_reputations = high risk"}, "3", "dropped_filtered_url_reputation"},
	} {
		p := playSession(t, append([]string{"submit = connection"}, c.rules...), meta, events)
		if got := inst(p); got != c.want {
			t.Errorf("%v: submitted %s, want %s", c.rules, got, c.want)
		}
		if c.why != "" && p.env.Stats.Get("fmc", c.why) == 0 {
			t.Errorf("%v: %s not counted", c.rules, c.why)
		}
		if c.rules == nil {
			d := details(t, p.subs[0])
			if d.Names["security_intelligence_category"] != "Malware" || d.Names["action"] != "Block" {
				t.Errorf("names %v", d.Names)
			}
			if d := details(t, p.subs[2]); d.Names["url_category"] != "Malware Sites" || d.Names["url_reputation"] != "High risk" {
				t.Errorf("names %v", d.Names)
			}
		}
	}
	// Connection selections without connection events are a mistake.
	_, problems := parseSection(t, "host = h", "pkcs12_file = "+newPKI(t).P12Legacy, "url_categories = News")
	if len(problems) == 0 || !strings.Contains(problems[0].Error(), "submit does not include connection") {
		t.Errorf("problems %v", problems)
	}
}

// TestCorrelationAndIOCSubmittedByDefault (issue 16, item 21): the FMC's
// correlation events (112, named by 69/70) and IoC events (160, named by
// 161) are decoded and submitted without any configuration.
func TestCorrelationAndIOCSubmittedByDefault(t *testing.T) {
	meta := wiretest.BundleMessage(1, 1, wiretest.CorrelationPolicyRecord(4, "Compromised hosts", "p"),
		wiretest.CorrelationRuleRecord(5, "Beacon after exploit", "r", "intrusion event"),
		wiretest.IOCNameRecord(12, "CnC Connected", "Intrusion Event - Malware CnC"),
		wiretest.UserRecord(9999997, "No Authentication Required"), wiretest.UserRecord(77, "alice"),
		wiretest.RuleMessageRecord(1, 2000001, 7, "ET TROJAN Test Beacon"))
	corr := wiretest.CorrelationRecord(wiretest.V{"deviceId": dev, "correlationEventSecond": t0 + 10, "eventId": 77,
		"policyId": 4, "ruleId": 5, "priority": 1, "eventDescription": "beacon", "eventType": 1, "signatureId": 2000001,
		"signatureGeneratorId": 1, "sourceIpv6Address": "10.1.2.3", "destinationIpv6Address": "198.51.100.20",
		"sourcePort": 51000, "destinationPort": 80, "ipProtocol": 6, "sourceUserId": 77, "destinationUserId": 9999997,
		"url": "http://evil.example.com/payload.bin", "blocked": 1}, t0+11)
	ioc := wiretest.IOCRecord(dev, 12, t0+20, "10.1.2.3", t0+21)
	p := playSession(t, nil, meta, wiretest.BundleMessage(1, 2, corr, ioc))
	if len(p.subs) != 2 {
		t.Fatalf("%d submissions", len(p.subs))
	}
	c, i := p.subs[0], p.subs[1]
	if c.Type != "estreamer - correlation" || c.Description != "eStreamer correlation: Beacon after exploit (policy Compromised hosts) (10.1.2.3 -> 198.51.100.20)" ||
		!c.EventTime.Equal(time.Unix(t0+10, 0)) {
		t.Errorf("correlation: %s %q %v", c.Type, c.Description, c.EventTime)
	}
	for _, o := range [][2]string{{collector.ObsIPv4, "10.1.2.3"}, {collector.ObsIPv4, "198.51.100.20"},
		{collector.ObsIPv4FullConversation, "10.1.2.3:51000:198.51.100.20:80"}, {collector.ObsURL, "http://evil.example.com/payload.bin"},
		{collector.ObsFQDN, "evil.example.com"}, {collector.ObsUser, "alice"}} {
		if !hasObs(c, o[0], o[1]) {
			t.Errorf("correlation: missing %v in %+v", o, c.Observables)
		}
	}
	if got := obsOf(c, collector.ObsUser); len(got) != 1 {
		t.Errorf("correlation users %v", got)
	}
	if d := details(t, c); d.Names["rule_message"] != "ET TROJAN Test Beacon" || d.Names["correlation_rule"] != "Beacon after exploit" {
		t.Errorf("correlation names %v", d.Names)
	}
	if i.Type != "estreamer - ioc" || i.Description != "eStreamer ioc: CnC Connected Intrusion Event - Malware CnC (host 10.1.2.3)" ||
		!i.EventTime.Equal(time.Unix(t0+20, 0)) || !hasObs(i, collector.ObsIPv4, "10.1.2.3") || len(i.Observables) != 1 {
		t.Errorf("ioc: %s %q %v %+v", i.Type, i.Description, i.EventTime, i.Observables)
	}
	if d := details(t, i); d.Host != "10.1.2.3" || d.Names["device"] != "" && d.Names["ioc_category"] != "CnC Connected" {
		t.Errorf("ioc details %+v", d)
	}
	// Requested: correlation (31) and discovery (61, where IoC sets come).
	if fmt.Sprint(p.sr.Events) != "[{12 11} {21 4} {31 9} {61 11} {111 7}]" {
		t.Errorf("streaming request %v", p.sr.Events)
	}
}

// TestExtraDataWithoutPacketData (issue 16, item 21): intrusion extra
// data (record 110: e.g. the HTTP host name, an XFF address) arrives after
// its event; with packet_data = no the event used to be submitted at once
// and its extra data dropped as unmatched. It is attached either way.
func TestExtraDataWithoutPacketData(t *testing.T) {
	for _, pd := range []string{"no", "yes"} {
		p := playSession(t, []string{"packet_data = " + pd},
			wiretest.BundleMessage(1, 1, intrusion(1, t0, "10.0.0.1").Record(85, t0),
				wiretest.ExtraDataRecord(dev, 1, t0, 10, []byte("evil.example.com"), t0)),
			// the extra data of the second event comes in the next bundle
			wiretest.BundleMessage(1, 2, intrusion(2, t0+1, "10.0.0.2").Record(85, t0+1)),
			wiretest.BundleMessage(1, 3, wiretest.ExtraDataRecord(dev, 2, t0+1, 9, []byte("/a.php"), t0+1)))
		if len(p.subs) != 2 {
			t.Fatalf("packet_data = %s: %d submissions", pd, len(p.subs))
		}
		for i, want := range []string{"evil.example.com", "/a.php"} {
			d := details(t, p.subs[i])
			if len(d.Extra) != 1 || d.Extra[0]["data"] != want {
				t.Errorf("packet_data = %s: event %d extra data %v", pd, i+1, d.Extra)
			}
		}
		if got := p.env.Stats.Get("fmc", "dropped_extra_data_unmatched"); got != 0 {
			t.Errorf("packet_data = %s: %d extra data unmatched", pd, got)
		}
	}
}

// TestRequestFromRules (issue 16, item 21): only the event families the
// rules can submit are requested, in the flags and the Streaming Request;
// request_flags and event_types still override.
func TestRequestFromRules(t *testing.T) {
	pki := newPKI(t)
	base := wire.FlagExtended | wire.FlagMetadata | wire.FlagArchiveTimestamp
	intr := wire.FlagIntrusion | wire.FlagExtraData
	for _, c := range []struct {
		lines  []string
		flags  uint32
		events string
	}{
		{nil, base | intr | wire.FlagPacketData, "[{12 11} {21 4} {31 9} {61 11} {111 7}]"},
		{[]string{"packet_data = no"}, base | intr, "[{12 11} {21 4} {31 9} {61 11} {111 7}]"},
		{[]string{"submit = connection"}, base, "[{21 4} {71 17}]"},
		{[]string{"submit = malware, file"}, base, "[{21 4} {101 8} {111 7}]"},
		{[]string{"submit = correlation"}, base, "[{21 4} {31 9}]"},
		{[]string{"submit = connection", "request_flags = 0x48900061", "event_types = intrusion:11, connection:17"},
			wire.DefaultFlags, "[{12 11} {71 17}]"},
	} {
		cl, problems := parseSection(t, append([]string{"host = h", "pkcs12_file = " + pki.P12Legacy}, c.lines...)...)
		if len(problems) > 0 {
			t.Fatalf("%v: %v", c.lines, problems)
		}
		if cl.cfg.Flags != c.flags || fmt.Sprint(cl.cfg.Events) != c.events {
			t.Errorf("%v: flags %#x events %v, want %#x %s", c.lines, cl.cfg.Flags, cl.cfg.Events, c.flags, c.events)
		}
	}
}
