package syslog

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// warnings returns the WARN records with message msg.
func (s *started) warnings(msg string) []map[string]any {
	var out []map[string]any
	for _, m := range s.logs.Records() {
		if m["level"] == "WARN" && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestDropsLoggedAtWarn: malformed and oversize messages are logged at
// WARN with the sender's address, at most once per interval and kind,
// and the next line says how many were held back (issue 16 item 5).
func TestDropsLoggedAtWarn(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	s := startWith(t, "listen_udp = 127.0.0.1:0\nlisten_tcp = 127.0.0.1:0\nmax_message_size = 512",
		func(r *run) { r.drops.now = clock.now })
	udp := dial(t, "udp", s.addr(t, "udp"))
	const malformed, oversize = "syslog message dropped: malformed", "syslog message dropped: longer than max_message_size"

	for i := range 3 {
		fmt.Fprint(udp, "<999>not a priority")
		s.waitCount(t, "dropped_malformed", int64(i+1))
	}
	clock.advance(dropLogInterval)
	fmt.Fprint(udp, "<1000>still not one")
	s.waitCount(t, "dropped_malformed", 4)

	fmt.Fprint(udp, "<13>"+strings.Repeat("u", 600))
	s.waitCount(t, "dropped_overrun", 1)
	clock.advance(dropLogInterval)
	tcp := dial(t, "tcp", s.addr(t, "tcp"))
	fmt.Fprint(tcp, strings.Repeat("t", 700)+"\n")
	s.waitCount(t, "dropped_overrun", 2)
	s.stop(t)

	m := s.warnings(malformed)
	if len(m) != 2 {
		t.Fatalf("%d %q lines for 4 drops in two intervals, want 2: %v", len(m), malformed, m)
	}
	for i, rec := range m {
		if rec["peer"] != "127.0.0.1" || rec["transport"] != "udp" || !strings.Contains(fmt.Sprint(rec["error"]), "PRI") {
			t.Errorf("line %d: %v", i, rec)
		}
	}
	if _, held := m[0]["suppressed"]; held || m[1]["suppressed"] != float64(2) {
		t.Errorf("suppressed: first %v, second %v; want none, then 2", m[0]["suppressed"], m[1]["suppressed"])
	}
	o := s.warnings(oversize)
	if len(o) != 2 || o[0]["transport"] != "udp" || o[1]["transport"] != "tcp" {
		t.Fatalf("oversize lines %v", o)
	}
	for _, rec := range o {
		if rec["peer"] != "127.0.0.1" || rec["max_message_size"] != float64(512) {
			t.Errorf("oversize line %v", rec)
		}
	}
}

// TestStartLineNamesListeners: the collector logs one line when it
// starts, naming every address it listens on (issue 15).
func TestStartLineNamesListeners(t *testing.T) {
	s := start(t, "listen_udp = 127.0.0.1:0\nlisten_tcp = 127.0.0.1:0\nrule_x = app_name = sshd")
	udp, tcp := s.addr(t, "udp"), s.addr(t, "tcp")
	s.stop(t)
	var lines []map[string]any
	for _, m := range s.logs.Records() {
		if m["msg"] == "collector started" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%d start lines", len(lines))
	}
	got := fmt.Sprint(lines[0]["listen"])
	if want := fmt.Sprint([]any{"udp://" + udp, "tcp://" + tcp}); got != want || lines[0]["level"] != "INFO" {
		t.Errorf("start line %v: listen %s, want %s", lines[0], got, want)
	}
}
