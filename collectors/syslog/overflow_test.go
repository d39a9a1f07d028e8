package syslog

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestQueueFullAndOverrun: with the store down the queue fills and UDP
// datagrams are counted as dropped_queue_full; oversize messages are
// counted as dropped_overrun on UDP and TCP. Every message is accounted.
func TestQueueFullAndOverrun(t *testing.T) {
	s := start(t, "listen_udp = 127.0.0.1:0\nlisten_tcp = 127.0.0.1:0\nqueue_size = 1\nworkers = 1\nmax_message_size = 512")
	s.sink.SetFail(errors.New("store down"))
	udp := dial(t, "udp", s.addr(t, "udp"))
	for i := range 5 {
		fmt.Fprintf(udp, "<13>Nov 23 23:30:00 h app: message %d", i)
	}
	s.waitCount(t, "received", 5)
	full := s.count("dropped_queue_full")
	if full < 3 {
		t.Errorf("dropped_queue_full = %d, want >= 3", full)
	}
	fmt.Fprint(udp, "<13>"+strings.Repeat("u", 600))
	tcp := dial(t, "tcp", s.addr(t, "tcp"))
	fmt.Fprint(tcp, strings.Repeat("t", 700)+"\n")
	s.waitCount(t, "dropped_overrun", 2)
	s.sink.SetFail(nil)
	waitSubs(t, s.sink, int(5-full))
	s.stop(t)
	if got := int64(len(s.sink.Submissions())) + full; got != 5 {
		t.Errorf("submitted + dropped = %d, want 5", got)
	}
}

// TestKernelOverflowCount fills a UDP socket that nobody reads and checks
// that SO_RXQ_OVFL reports the kernel's drops.
func TestKernelOverflowCount(t *testing.T) {
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if !enableOverflowCount(pc) {
		t.Skip("SO_RXQ_OVFL not available on this platform")
	}
	_ = pc.SetReadBuffer(4096)
	c := dial(t, "udp", pc.LocalAddr().String())
	for range 2000 {
		c.Write([]byte(strings.Repeat("x", 200)))
	}
	// The kernel stamps its drop count on datagrams queued after the
	// drops: drain the full buffer, then send one more.
	buf, oob := make([]byte, 1024), make([]byte, 64)
	_ = pc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	for {
		if _, _, _, _, err := pc.ReadMsgUDPAddrPort(buf, oob); err != nil {
			break
		}
	}
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("last"))
	_, oobn, _, _, err := pc.ReadMsgUDPAddrPort(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	n, ok := overflowCount(oob[:oobn])
	if !ok || n == 0 {
		t.Errorf("overflow count %d, %v; want > 0", n, ok)
	}
}

// TestStreamErrors: a cut octet-counted frame and a bad length are counted.
func TestStreamErrors(t *testing.T) {
	s := start(t, "listen_tcp = 127.0.0.1:0")
	for _, in := range []string{"100 <13>cut short", "12x <13>bad length"} {
		c := dial(t, "tcp", s.addr(t, "tcp"))
		fmt.Fprint(c, in)
		c.Close()
	}
	s.waitCount(t, "dropped_stream_error", 2)
}
