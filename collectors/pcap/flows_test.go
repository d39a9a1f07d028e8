package pcap

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// capture joins the packets of several connections in time order.
func capture(conns ...[]pkt) []pkt {
	var all []pkt
	for _, c := range conns {
		all = append(all, c...)
	}
	slices.SortStableFunc(all, func(a, b pkt) int { return a.ts.Compare(b.ts) })
	return all
}

// TestFlowIsAConnection: a flow is one connection, not one 5-tuple. The
// same client port reused after a FIN or RST, with a new initial
// sequence number, or after the flow timeout is a new flow; a
// retransmitted SYN, a late ACK or a pause shorter than the timeout is
// not.
func TestFlowIsAConnection(t *testing.T) {
	const client, server = "10.0.0.1", "192.0.2.80"
	get := []byte("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	open := func(isn uint32, d time.Duration) *conn {
		return newConn(t, client, 40000, server, 80, isn, at(d)).open()
	}
	later := func(c *conn, d time.Duration) *conn { c.ts = at(d); return c }
	tests := []struct {
		name    string
		pkts    []pkt
		packets []int64 // per flow, by first packet
	}{
		{"reused after FIN", capture(
			open(1000, 0).send(true, get, 1460).close().pkts,
			open(9000, time.Second).close().pkts),
			[]int64{7, 6}},
		{"reused after RST", capture(
			open(1000, 0).reset().pkts,
			open(9000, time.Second).close().pkts),
			[]int64{4, 6}},
		{"end not captured, new ISN", capture(
			open(1000, 0).send(true, get, 1460).pkts,
			open(9000, time.Second).pkts),
			[]int64{4, 3}},
		{"same ISN again after FIN", capture(
			open(1000, 0).close().pkts,
			open(1000, time.Second).pkts),
			[]int64{6, 3}},
		{"SYN retransmitted", func() []pkt {
			c := newConn(t, client, 40000, server, 80, 1000, at(0)).seg(true, layers.TCP{SYN: true}, nil)
			c.cseq-- // the retransmission repeats the initial sequence number
			c.seg(true, layers.TCP{SYN: true}, nil).seg(false, layers.TCP{SYN: true}, nil).seg(true, layers.TCP{}, nil)
			return c.close().pkts
		}(), []int64{7}},
		{"late ACK after close", later(open(1000, 0).close(), time.Second).seg(true, layers.TCP{}, nil).pkts, []int64{7}},
		{"idle past the flow timeout", later(open(1000, 0), 10*time.Minute).send(true, get, 1460).pkts, []int64{3, 1}},
		{"pause under the flow timeout", later(open(1000, 0), time.Minute).send(true, get, 1460).pkts, []int64{4}},
		{"UDP within the timeout", []pkt{
			udpPkt(t, client, server, 5000, 53, dnsQuery(t, "a.example"), at(0)),
			udpPkt(t, client, server, 5000, 53, dnsQuery(t, "b.example"), at(10*time.Second))}, []int64{2}},
		{"UDP past the timeout", []pkt{
			udpPkt(t, client, server, 5000, 53, dnsQuery(t, "a.example"), at(0)),
			udpPkt(t, server, client, 53, 5000, dnsQuery(t, "a.example"), at(time.Millisecond)),
			udpPkt(t, client, server, 5000, 53, dnsQuery(t, "b.example"), at(6*time.Minute))}, []int64{2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := Summarize(bytes.NewReader(writePCAP(t, tt.pkts)), Options{})
			var got []int64
			for _, f := range s.Flows {
				got = append(got, f.Packets)
				if f.Client != client || f.Server != server {
					t.Errorf("flow %+v: client and server swapped", f)
				}
			}
			if s.FlowsTotal != len(tt.packets) || !slices.Equal(got, tt.packets) {
				t.Errorf("%d flows with %v packets, want %v", s.FlowsTotal, got, tt.packets)
			}
		})
	}
}

// TestFlowTimeoutOption: the idle time that ends a flow is configurable.
func TestFlowTimeoutOption(t *testing.T) {
	pkts := []pkt{
		udpPkt(t, "10.0.0.1", "192.0.2.53", 5000, 53, dnsQuery(t, "a.example"), t0),
		udpPkt(t, "10.0.0.1", "192.0.2.53", 5000, 53, dnsQuery(t, "b.example"), t0.Add(20*time.Second)),
	}
	data := writePCAP(t, pkts)
	for timeout, flows := range map[time.Duration]int{10 * time.Second: 2, 30 * time.Second: 1} {
		if s, _ := Summarize(bytes.NewReader(data), Options{FlowTimeout: timeout}); s.FlowsTotal != flows {
			t.Errorf("flow_timeout %v: %d flows, want %d", timeout, s.FlowsTotal, flows)
		}
	}
}

// portReuseCapture is a capture of n HTTP connections from one client
// that cycles through only ports distinct source ports, as a busy NAT or
// a scanner does: each connection is opened, sends a request, gets an
// answer and is closed by FIN (or every fifth by RST); every seventh
// connection's end is not captured at all. Connections on one port follow
// each other within the flow timeout.
func portReuseCapture(t testing.TB, n, ports int) []pkt {
	var conns [][]pkt
	for i := range n {
		start := t0.Add(time.Duration(i) * 20 * time.Millisecond)
		c := newConn(t, "10.1.0.1", uint16(30000+i%ports), "192.0.2.80", 80, uint32(i)*7919+1, start).open()
		c.send(true, fmt.Appendf(nil, "GET /r/%d HTTP/1.1\r\nHost: h%d.example\r\n\r\n", i, i%3), 1460)
		c.send(false, []byte("HTTP/1.1 204 No Content\r\n\r\n"), 1460)
		switch {
		case i%7 == 6:
		case i%5 == 4:
			c.reset()
		default:
			c.close()
		}
		conns = append(conns, c.pkts)
	}
	return capture(conns...)
}

// synConnections counts connections the way the issue counted them in
// the 505 MB capture: SYNs without ACK, retransmissions (same 5-tuple and
// initial sequence number) once.
func synConnections(t testing.TB, pkts []pkt) (conns, tuples int) {
	type key struct {
		flow gopacket.Flow
		port gopacket.Flow
	}
	syns, five := map[string]bool{}, map[key]bool{}
	for _, p := range pkts {
		pk := gopacket.NewPacket(p.data, layers.LayerTypeEthernet, gopacket.NoCopy)
		tcp, _ := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil {
			continue
		}
		k := key{pk.NetworkLayer().NetworkFlow(), tcp.TransportFlow()}
		if !five[k] && !five[key{k.flow.Reverse(), k.port.Reverse()}] {
			five[k] = true
		}
		if tcp.SYN && !tcp.ACK {
			syns[fmt.Sprint(k, tcp.Seq)] = true
		}
	}
	return len(syns), len(five)
}

// TestPortReuseFlowsMatchConnections: on a capture of 3,000 connections
// over 100 reused source ports, the summary has one flow per connection
// counted from SYNs (a 5-tuple summary had 100), and every request is
// read from its own connection.
func TestPortReuseFlowsMatchConnections(t *testing.T) {
	pkts := portReuseCapture(t, 3000, 100)
	conns, tuples := synConnections(t, pkts)
	s, _ := Summarize(bytes.NewReader(writePCAP(t, pkts)), Options{MaxItems: 5000, MaxFlows: 5000})
	t.Logf("%d packets: %d connections counted from SYNs, %d 5-tuples, %d flows", len(pkts), conns, tuples, s.FlowsTotal)
	if conns != 3000 || tuples != 100 {
		t.Fatalf("fixture: %d connections over %d 5-tuples", conns, tuples)
	}
	if s.FlowsTotal != conns {
		t.Errorf("%d flows, want %d (one per connection)", s.FlowsTotal, conns)
	}
	if len(s.HTTP) != 3000 {
		t.Errorf("%d HTTP requests read, want 3000", len(s.HTTP))
	}
	var n int64
	for _, f := range s.Flows {
		n += f.Packets
		if f.ServerPort != 80 || f.Packets < 5 {
			t.Errorf("flow %+v", f)
			break
		}
	}
	if s.FlowsTotal <= len(s.Flows) && n != int64(len(pkts)) {
		t.Errorf("flows hold %d packets of %d", n, len(pkts))
	}
}
