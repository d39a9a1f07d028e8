package syslog_test

import (
	"net"
	"strings"
	"testing"

	"github.com/ace-collector/ace-collector/collectors/common/cef"
	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/groups/grouptest"
)

// Over UDP each message is one datagram, unframed: the submission's and,
// with per_observable, one per observable.
func TestUDPOneDatagramPerMessage(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	p := grouptest.Start(t, grouptest.Group("siem", "syslog", "target = udp://"+pc.LocalAddr().String(), "per_observable = yes"),
		daemon.Options{})
	sub := alert()
	p.Submit(sub)
	ctx := grouptest.Ctx(t)
	deadline, _ := ctx.Deadline()
	pc.SetReadDeadline(deadline)
	var msgs []string
	buf := make([]byte, 65536)
	for len(msgs) < 1+len(sub.Observables) {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d datagrams: %v", len(msgs), err)
		}
		msgs = append(msgs, string(buf[:n]))
	}
	prefix := "<133>1 2026-03-04T05:06:07.891000Z test ace-collector - submission - "
	if !strings.HasPrefix(msgs[0], prefix) {
		t.Fatalf("datagram %q, want prefix %q (no octet count)", msgs[0], prefix)
	}
	ev, err := cef.ParseCEF(strings.TrimPrefix(msgs[0], prefix))
	if err != nil || ev.Ext["externalId"] != sub.UUID {
		t.Fatalf("%v %+v", err, ev)
	}
	for _, m := range msgs[1:] {
		if !strings.Contains(m, " ace-collector - observable - CEF:0|") {
			t.Errorf("observable datagram %q", m)
		}
	}
	p.WaitUntil(ctx, "cleanup", p.Cleaned)
}
