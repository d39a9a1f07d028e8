package estreamer

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector/collectortest"
	"github.com/ace-collector/ace-collector/collectors/estreamer/wire/wiretest"
)

// TestBadRecordSkipped (issue 16, item 16): a record whose length
// disagrees with its item length used to reject the whole bundle and drop
// the session; the server re-sent the same bundle after every reconnect
// and nothing after it was ever delivered. Now the record is skipped and
// counted, the events around it are submitted, the bundle is acknowledged
// and the session goes on, in bundles, in single Event Data messages, and
// when a bundle's framing breaks part way (its rest is skipped).
func TestBadRecordSkipped(t *testing.T) {
	pki := newPKI(t)
	bad := intrusion(2, t0, "10.0.0.2").Record(85, t0)
	bad.LengthDelta = 4 // record length 4 more than the item carries
	short := intrusion(5, t0+2, "10.0.0.5").Record(85, t0+2)
	short.LengthDelta = -1
	broken := wiretest.BundleMessage(1, 2, intrusion(3, t0+1, "10.0.0.3").Record(85, t0+1),
		intrusion(4, t0+1, "10.0.0.4").Record(85, t0+1))
	broken[8+8+8+len(intrusion(3, t0+1, "10.0.0.3").Record(85, t0+1).EventData())+3] = 7 // 2nd item: type 7
	fmc := startFMC(t, pki.serverConfig(), func(n int, c *fmcConn) error {
		if _, _, err := c.handshake(wiretest.StreamingInfoMessage(6667)); err != nil {
			return err
		}
		for _, m := range [][]byte{
			wiretest.BundleMessage(1, 1, intrusion(1, t0, "10.0.0.1").Record(85, t0), bad,
				intrusion(6, t0, "10.0.0.6").Record(85, t0)),
			broken,
			short.EventMessage(),
			intrusion(7, t0+3, "10.0.0.7").Record(85, t0+3).EventMessage(),
			wiretest.NullMessage(),
		} {
			if err := c.send(m); err != nil {
				return err
			}
			// Every message is acknowledged with a Null: none of them ends
			// the session (an Error message would fail here).
			if err := c.expectNull(); err != nil {
				return err
			}
		}
		return c.waitClosed()
	})
	c := newTestCollector(t, pki, fmc.port(), "packet_data = no")
	sink, state := collectortest.NewSink(), collectortest.NewState()
	env := collectortest.Env(t, "fmc", sink, state)
	logs := collectortest.RecordLogs(env)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, env) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	subs, err := sink.WaitFor(wctx, 4)
	cancel()
	if err != nil {
		t.Fatalf("%d submissions: %v", len(subs), err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var srcs []string
	for _, s := range subs {
		srcs = append(srcs, strings.Fields(s.Description)[len(strings.Fields(s.Description))-3][1:])
	}
	if strings.Join(srcs, ",") != "10.0.0.1,10.0.0.6,10.0.0.3,10.0.0.7" {
		t.Errorf("submitted %v", srcs)
	}
	for ev, want := range map[string]int64{"dropped_malformed_record": 2, "dropped_malformed_bundle": 1,
		"dropped_malformed_message": 0, "connections": 1, "submitted": 4} {
		if got := env.Stats.Get("fmc", ev); got != want {
			t.Errorf("%s = %d, want %d", ev, got, want)
		}
	}
	// One WARN per kind in the minute (the second bad record is held
	// back), naming record type and offset.
	var warned []map[string]any
	for _, r := range logs.Records() {
		if r["level"] == "WARN" && strings.HasPrefix(r["msg"].(string), "eStreamer: skipping") {
			warned = append(warned, r)
		}
	}
	if len(warned) != 2 {
		t.Fatalf("skip warnings %v", warned)
	}
	first := warned[0]
	itemOff := 8 + 8 + len(intrusion(1, t0, "10.0.0.1").Record(85, t0).EventData())
	if first["record_type"] != float64(400) || first["offset"] != float64(itemOff) || first["bundle"] != float64(1) ||
		!strings.Contains(first["error"].(string), "does not fit") {
		t.Errorf("first warning %v", first)
	}
	if w := warned[1]; w["msg"] != "eStreamer: skipping the rest of a bundle whose items cannot be framed" || w["record_type"] != float64(400) {
		t.Errorf("second warning %v", w)
	}
}

// TestLogLimiter: one message per kind and interval; the next one after
// the interval says how many were held back.
func TestLogLimiter(t *testing.T) {
	now := time.Unix(t0, 0)
	l := newLogLimiter(time.Minute)
	l.now = func() time.Time { return now }
	env := collectortest.Env(t, "fmc", nil, nil)
	logs := collectortest.RecordLogs(env)
	for i := 0; i < 5; i++ {
		l.log(env.Log, slog.LevelWarn, "a", "skip a", "i", i)
		l.log(env.Log, slog.LevelWarn, "b", "skip b", "i", i)
		now = now.Add(10 * time.Second)
	}
	now = now.Add(20 * time.Second)
	l.log(env.Log, slog.LevelWarn, "a", "skip a", "i", 5)
	var got []string
	for _, r := range logs.Records() {
		s, _ := r["suppressed"].(float64)
		got = append(got, r["msg"].(string)+":"+itoaU(uint32(r["i"].(float64)))+":"+itoaU(uint32(s)))
	}
	if strings.Join(got, " ") != "skip a:0:0 skip b:0:0 skip a:5:4" {
		t.Errorf("logged %v", got)
	}
}

// TestOversizeMessageSkipped: a bundle over max_message_size is skipped
// in step and acknowledged; the next bundle is processed in the same
// session.
func TestOversizeMessageSkipped(t *testing.T) {
	pki := newPKI(t)
	big := wiretest.BundleMessage(1, 1, wiretest.IDNameRecord(123, dev, strings.Repeat("x", 3000)),
		intrusion(1, t0, "10.0.0.1").Record(85, t0))
	fmc := startFMC(t, pki.serverConfig(), func(n int, c *fmcConn) error {
		if _, _, err := c.handshake(wiretest.StreamingInfoMessage(6667)); err != nil {
			return err
		}
		for _, m := range [][]byte{big, wiretest.BundleMessage(1, 2, intrusion(2, t0+1, "10.0.0.2").Record(85, t0+1)),
			wiretest.NullMessage()} {
			if err := c.send(m); err != nil {
				return err
			}
			if err := c.expectNull(); err != nil {
				return err
			}
		}
		return c.waitClosed()
	})
	c := newTestCollector(t, pki, fmc.port(), "packet_data = no", "max_message_size = 1k")
	sink := collectortest.NewSink()
	env := runCollector(t, c, sink, collectortest.NewState())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	subs, err := sink.WaitFor(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(subs[0].Description, "10.0.0.2") || env.Stats.Get("fmc", "dropped_oversized_message") != 1 ||
		env.Stats.Get("fmc", "connections") != 1 {
		t.Errorf("%s; oversized %d, connections %d", subs[0].Description, env.Stats.Get("fmc", "dropped_oversized_message"),
			env.Stats.Get("fmc", "connections"))
	}
}
