package estreamer

import (
	"context"
	"encoding/json"
	"errors"
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

// TestStoreFailureKeepsBookmark: while Submit fails the bookmark does not
// move and the bundle is not acknowledged; after the store recovers the
// reconnected session delivers the event exactly once.
func TestStoreFailureKeepsBookmark(t *testing.T) {
	pki := newPKI(t)
	requests := make(chan uint32, 100)
	acked := make(chan struct{})
	fmc := startFMC(t, pki.serverConfig(), func(n int, c *fmcConn) error {
		req, _, err := c.handshake(wiretest.StreamingInfoMessage(6667))
		if err != nil {
			return err
		}
		requests <- req.InitialTimestamp
		// Event at t0 is already behind the bookmark after a success;
		// the server re-sends it anyway (inclusive second), plus t0+1.
		if err := c.send(wiretest.BundleMessage(1, 1, wiretest.IDNameRecord(123, dev, "ftd"),
			intrusion(1, t0, "10.0.0.1").Record(85, t0), intrusion(2, t0+1, "10.0.0.2").Record(60, t0+1))); err != nil {
			return err
		}
		if err := c.expectNull(); err != nil {
			return c.waitClosed() // client dropped the session (store failure)
		}
		if err := c.send(wiretest.NullMessage()); err != nil {
			return err
		}
		if err := c.expectNull(); err != nil {
			return err
		}
		close(acked) // the client persists before it acknowledges
		return c.waitClosed()
	})
	c := newTestCollector(t, pki, fmc.port(), "packet_data = no")
	sink, state := collectortest.NewSink(), collectortest.NewState()
	sink.SetFail(errors.New("disk full"))
	env := runCollector(t, c, sink, state)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for i := 0; i < 2; i++ {
		if _, err := fmc.next(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, _ := state.Get(ctx, bookmarkKey); ok {
		t.Fatal("bookmark written although every Submit failed")
	}
	sink.SetFail(nil)
	if _, err := sink.WaitFor(ctx, 2); err != nil {
		t.Fatal(err)
	}
	select {
	case <-acked:
	case <-ctx.Done():
		t.Fatal("no acknowledged keep-alive")
	}
	if got := env.Stats.Get("fmc", "submitted"); got != 2 {
		t.Errorf("submitted counter %d", got)
	}
	// Every failed session asked for "now": the bookmark never moved.
	close(requests)
	for ts := range requests {
		if ts != wire.TimestampNow {
			t.Errorf("request from %d before any successful submit", ts)
		}
	}
	if n := len(sink.Submissions()); n != 2 {
		t.Errorf("%d submissions, want 2", n)
	}
	v, _, _ := state.Get(ctx, bookmarkKey)
	var bm bookmark
	if json.Unmarshal(v, &bm) != nil || bm.TS != t0+1 {
		t.Errorf("bookmark %s", v)
	}
}

// TestLegacyModeAndExcludingLength: without the extended flag the server
// streams single Event Data messages, each acknowledged; packets arrive
// in their own message and are still attached. The excluding length
// convention is sent when configured.
func TestLegacyModeAndExcludingLength(t *testing.T) {
	pki := newPKI(t)
	got := make(chan wire.StreamingRequest, 2)
	fmc := startFMC(t, pki.serverConfig(), func(n int, c *fmcConn) error {
		req, sr, err := c.handshake(wiretest.StreamingInfoMessage(6667))
		if err != nil {
			return err
		}
		got <- sr
		if req.Flags&wire.FlagExtended != 0 {
			return errors.New("extended flag set")
		}
		for _, m := range [][]byte{
			intrusion(7, t0, "10.0.0.7").Record(85, t0).EventMessage(),
			pkt(7, t0, "p1", t0).EventMessage(),
			pkt(7, t0, "p2", t0).EventMessage(),
		} {
			if err := c.send(m); err != nil {
				return err
			}
			if err := c.expectNull(); err != nil {
				return err
			}
		}
		if err := c.send(wiretest.NullMessage()); err != nil {
			return err
		}
		if err := c.expectNull(); err != nil {
			return err
		}
		return c.waitClosed()
	})
	c := newTestCollector(t, pki, fmc.port(), "request_flags = packet, intrusion, metadata, archive_timestamps")
	sink := collectortest.NewSink()
	runCollector(t, c, sink, collectortest.NewState())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	subs, err := sink.WaitFor(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(subs[0].Files) != 1 || countPCAP(t, sink.Contents[subs[0].UUID][subs[0].Files[0].Name]) != 2 {
		t.Errorf("files %+v", subs[0].Files)
	}
	<-got

	// Excluding convention, extended mode.
	c2, problems := parseSection(t, "host = h", "pkcs12_file = "+pki.P12Legacy, "streaming_length = excluding")
	if len(problems) > 0 || c2.cfg.LengthConv != wire.LengthExcludingHeader {
		t.Fatalf("%v %v", problems, c2.cfg.LengthConv)
	}
	body := wire.StreamingRequest{Service: 6667, Events: c2.cfg.Events, Convention: c2.cfg.LengthConv}.Append(nil)
	if r, err := wire.ParseStreamingRequest(body); err != nil || r.Convention != wire.LengthExcludingHeader {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestConfigProblems(t *testing.T) {
	pki := newPKI(t)
	cases := []struct {
		lines []string
		want  string
	}{
		{[]string{"pkcs12_file = " + pki.P12Legacy}, "host: required"},
		{[]string{"host = h"}, "pkcs12_file: required"},
		{[]string{"host = h", "pkcs12_file = " + pki.P12Modern, "pkcs12_password = nope"}, "wrong or missing pkcs12_password"},
		{[]string{"host = h", "cert_file = " + pki.CertFile, "key_file = " + pki.KeyFile}, "verify: chain verification needs a CA"},
		{[]string{"host = h", "pkcs12_file = " + pki.P12Legacy, "verify = maybe"}, "verify:"},
		{[]string{"host = h", "pkcs12_file = " + pki.P12Legacy, "event_types = intrusion"}, "event_types:"},
		{[]string{"host = h", "pkcs12_file = " + pki.P12Legacy, "request_flags = packet, intrusion"}, "resume needs archive timestamps"},
		{[]string{"host = h", "pkcs12_file = " + pki.P12Legacy, "submit = intrusion, dns"}, "submit:"},
		{[]string{"host = h", "pkcs12_file = " + pki.P12Legacy, "start = yesterday"}, "start:"},
		{[]string{"host = h", "pkcs12_file = " + pki.P12Legacy, "colour = blue"}, "colour: unknown key"},
	}
	for _, tc := range cases {
		_, problems := parseSection(t, tc.lines...)
		var all []string
		for _, p := range problems {
			all = append(all, p.Error())
		}
		if !strings.Contains(strings.Join(all, "\n"), tc.want) {
			t.Errorf("%v: problems %q, want %q", tc.lines, all, tc.want)
		}
	}
	c, problems := parseSection(t, "host = h", "pkcs12_file = "+pki.P12Legacy,
		"event_types = intrusion:11, 21:4, connection:17", "request_flags = 0x00800041", "resume = yes",
		"priorities = 1, high", "classifications = trojan-activity", "blocked = yes", "start = 1700000000")
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if c.cfg.Flags != 0x00800041 || len(c.cfg.Events) != 3 || c.cfg.Events[2] != (wire.EventVersion{Type: 71, Version: 17}) || c.cfg.Start != 1700000000 {
		t.Errorf("config %+v", c.cfg)
	}
}

// The embedded sample means what its comments say (collectors/all checks
// that it validates; this checks a few of its values).
func TestSampleConfigValues(t *testing.T) {
	f, err := ini.LoadSources(ini.LoadOptions{SpaceBeforeInlineComment: true}, sampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	var p collector.Problems
	sec := collector.NewSection(f.Section("collector_fmc"), &p)
	sec.Ignore("type", "enabled")
	cfg, err := ParseConfig(sec, collector.Global{Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	sec.Done()
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 8302 || cfg.Verify != VerifyChain || !cfg.Rules.Kinds[KindIntrusion] || !cfg.Rules.Kinds[KindFileMalware] ||
		!cfg.Rules.Kinds[KindCorrelation] || !cfg.Rules.Kinds[KindIOC] ||
		cfg.Rules.Kinds[KindConnection] || cfg.Fields.Type != "" || cfg.Fields.Tool != Tool {
		t.Errorf("sample parsed as %+v", cfg)
	}
	// The sample's ignore_users is the default list.
	var p2 collector.Problems
	f2, _ := ini.LoadSources(ini.LoadOptions{}, []byte("[collector_x]\nhost = h\n"))
	def := parseUserFilter(collector.NewSection(f2.Section("collector_x"), &p2))
	if fmt.Sprint(def) != fmt.Sprint(cfg.IgnoreUser) || !cfg.IgnoreUser.ignored(9999997, "") || !cfg.IgnoreUser.ignored(0, "No Authentication Required\x00") ||
		!cfg.IgnoreUser.ignored(12, "unknown") || cfg.IgnoreUser.ignored(77, "alice") {
		t.Errorf("ignore_users %+v, default %+v", cfg.IgnoreUser, def)
	}
}

func TestRules(t *testing.T) {
	mk := func(v wiretest.V) *wire.Block {
		data := wiretest.MustBlock("intrusion", 85, v)
		rec, err := wire.DecodeRecord(wire.EventData{RecordType: 400, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		return rec.(wire.IntrusionEvent).Block
	}
	r := Rules{Kinds: map[string]bool{KindIntrusion: true}, Priorities: lowerSet([]string{"high"}),
		Classes: map[string]bool{}, ExcludeClasses: lowerSet([]string{"3"}), Blocked: "yes"}
	cases := []struct {
		kind  string
		v     wiretest.V
		names map[string]string
		why   string
	}{
		{KindIntrusion, wiretest.V{"priorityId": 1, "blocked": 1}, map[string]string{"priority": "high"}, ""},
		{KindConnection, wiretest.V{}, nil, "kind"},
		{KindIntrusion, wiretest.V{"priorityId": 2, "blocked": 1}, map[string]string{"priority": "medium"}, "priority"},
		{KindIntrusion, wiretest.V{"priorityId": 1, "classificationId": 3, "blocked": 1}, map[string]string{"priority": "high"}, "classification"},
		{KindIntrusion, wiretest.V{"priorityId": 1, "blocked": 2}, map[string]string{"priority": "high"}, "blocked"},
	}
	for i, tc := range cases {
		ok, why := r.match(tc.kind, mk(tc.v), tc.names)
		if ok != (tc.why == "") || why != tc.why {
			t.Errorf("case %d: ok=%v why=%q, want %q", i, ok, why, tc.why)
		}
	}
}

// TestPacketWaitFlushesQuietStream: with no further event and no
// keep-alive, the held intrusion event is submitted after packet_wait.
func TestPacketWaitFlushesQuietStream(t *testing.T) {
	pki := newPKI(t)
	fmc := startFMC(t, pki.serverConfig(), func(n int, c *fmcConn) error {
		if _, _, err := c.handshake(wiretest.StreamingInfoMessage(6667)); err != nil {
			return err
		}
		if err := c.send(wiretest.BundleMessage(1, 1, intrusion(5, t0, "10.0.0.5").Record(85, t0), pkt(5, t0, "x", t0))); err != nil {
			return err
		}
		if err := c.expectNull(); err != nil {
			return err
		}
		return c.waitClosed()
	})
	c := newTestCollector(t, pki, fmc.port(), "packet_wait = 20ms")
	sink, state := collectortest.NewSink(), collectortest.NewState()
	runCollector(t, c, sink, state)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	subs, err := sink.WaitFor(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(subs[0].Files) != 1 {
		t.Errorf("files %+v", subs[0].Files)
	}
}

// TestCorruptBookmarkDoesNotWedge: a damaged bookmark is reported and
// counted, the stream starts from the configured position, and the next
// write replaces it.
func TestCorruptBookmarkDoesNotWedge(t *testing.T) {
	pki := newPKI(t)
	reqs := make(chan uint32, 1)
	fmc := startFMC(t, pki.serverConfig(), func(n int, c *fmcConn) error {
		body, err := c.expect(wire.TypeEventStreamRequest)
		if err != nil {
			return err
		}
		req, _ := wire.ParseEventStreamRequest(body)
		reqs <- req.InitialTimestamp
		if err := c.send(intrusion(1, t0, "10.0.0.1").Record(85, t0).EventMessage()); err != nil {
			return err
		}
		if err := c.expectNull(); err != nil {
			return err
		}
		return c.waitClosed()
	})
	c := newTestCollector(t, pki, fmc.port(), "start = oldest", "packet_data = no",
		"request_flags = intrusion, metadata, archive_timestamps")
	sink, state := collectortest.NewSink(), collectortest.NewState()
	state.Put(context.Background(), bookmarkKey, []byte("\x00garbage"))
	env := runCollector(t, c, sink, state)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := sink.WaitFor(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if ts := <-reqs; ts != wire.TimestampOldest {
		t.Errorf("started from %d", ts)
	}
	if got := env.Stats.Get("fmc", "dropped_corrupt_bookmark"); got != 1 {
		t.Errorf("dropped_corrupt_bookmark = %d", got)
	}
}
