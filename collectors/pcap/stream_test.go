package pcap

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// dnsTCP frames DNS messages for TCP: each after its 2-byte length.
func dnsTCP(msgs ...[]byte) []byte {
	var b []byte
	for _, m := range msgs {
		b = binary.BigEndian.AppendUint16(b, uint16(len(m)))
		b = append(b, m...)
	}
	return b
}

// summarize reads pkts as a capture.
func summarize(t *testing.T, pkts []pkt) *Summary {
	t.Helper()
	s, _ := Summarize(bytes.NewReader(writePCAP(t, pkts)), Options{})
	if s.Error != "" {
		t.Fatalf("summary error %s", s.Error)
	}
	return s
}

func urls(s *Summary) string {
	var u []string
	for _, r := range s.HTTP {
		u = append(u, r.Method+" "+r.URL)
	}
	return strings.Join(u, ",")
}

// TestHTTPAcrossSegments: HTTP requests are read from the reassembled
// client stream: a request line or Host header cut by segment ends, a
// segment that arrives out of order, several requests on a keep-alive
// connection after bodies framed by Content-Length or chunked encoding.
func TestHTTPAcrossSegments(t *testing.T) {
	get := func(path, host string) string {
		return "GET " + path + " HTTP/1.1\r\nUser-Agent: test\r\nHost: " + host + "\r\nAccept: */*\r\n\r\n"
	}
	post := "POST /upload HTTP/1.1\r\nHost: up.example\r\nContent-Length: 3000\r\n\r\n" + strings.Repeat("G", 3000)
	chunked := "POST /c HTTP/1.1\r\nHost: up.example\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5;ext=1\r\nGET /\r\n800\r\n" + strings.Repeat("x", 0x800) + "\r\n0\r\nTrailer: y\r\n\r\n"
	c := func() *conn { return newConn(t, "10.0.0.1", 41000, "192.0.2.80", 80, 77, t0).open() }
	tests := []struct {
		name, want string
		pkts       []pkt
	}{
		{"cut every 7 bytes", "GET http://a.example/index.html", c().send(true, []byte(get("/index.html", "a.example")), 7).pkts},
		{"cut inside the Host value", "GET http://long-host-name.example/x",
			c().send(true, []byte(get("/x", "long-host-name.example")), 52).pkts},
		{"keep-alive after a Content-Length body", "POST http://up.example/upload,GET http://b.example/next",
			c().send(true, []byte(post+get("/next", "b.example")), 1000).pkts},
		{"keep-alive after a chunked body", "POST http://up.example/c,GET http://c.example/after",
			c().send(true, []byte(chunked+get("/after", "c.example")), 600).pkts},
		{"second segment first", "GET http://d.example/ooo", func() []pkt {
			p := c().send(true, []byte(get("/ooo", "d.example")), 30).pkts
			p[3], p[4] = p[4], p[3]
			return p
		}()},
		{"no handshake captured", "GET http://e.example/mid", func() []pkt {
			return c().send(true, []byte(get("/mid", "e.example")), 20).pkts[3:]
		}()},
		{"resynchronised after a lost segment", "GET http://f.example/2", func() []pkt {
			p := c().send(true, []byte(get("/1", "f.example")[:40]), 40).
				send(true, []byte(get("/1", "f.example")[40:]), 1460).
				send(true, []byte(get("/2", "f.example")), 1460).pkts
			return slices.Delete(p, 3, 4) // the first request's first segment
		}()},
		{"a body that looks like a request is skipped", "POST http://up.example/upload",
			c().send(true, []byte("POST /upload HTTP/1.1\r\nHost: up.example\r\nContent-Length: 40\r\n\r\n"+get("/no", "x.example")[:40]), 30).pkts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := urls(summarize(t, tt.pkts)); got != tt.want {
				t.Errorf("requests %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDNSOverTCP: DNS messages over TCP (2-byte length prefix) are read
// from both directions, several in one segment and one across segments,
// the length itself cut in two.
func TestDNSOverTCP(t *testing.T) {
	q := func(name string) []byte { return dnsQuery(t, name) }
	stream := dnsTCP(q("one.example"), q("two.example"), q("three.example"))
	c := newConn(t, "10.0.0.1", 42000, "192.0.2.53", 53, 5, t0).open()
	c.send(true, stream[:len(q("one.example"))+2+len(q("two.example"))+3], 1460) // two and a byte of the third length
	c.send(true, stream[len(q("one.example"))+2+len(q("two.example"))+3:], 9)
	c.send(false, dnsTCP(q("answer.example")), 10)
	c.close()
	s := summarize(t, c.pkts)
	if got := strings.Join(s.DNSQueries, ","); got != "one.example,two.example,three.example,answer.example" {
		t.Errorf("DNS names %q", got)
	}
}

// TestTLSHelloAcrossSegments: the server name is read from a ClientHello
// that spans segments (large post-quantum key shares put the SNI
// extension in the second one) and one split into two TLS records.
func TestTLSHelloAcrossSegments(t *testing.T) {
	hello := clientHelloPadded("split.example.com", 1800)
	c := newConn(t, "10.0.0.1", 43000, "192.0.2.44", 443, 9, t0).open().send(true, hello, 1448).close()
	if _, ok := ParseSNI(hello[:1448]); ok {
		t.Fatal("fixture: the first segment alone names the server")
	}
	if got := strings.Join(summarize(t, c.pkts).TLSSNI, ","); got != "split.example.com" {
		t.Errorf("SNI %q", got)
	}

	two := clientHello("records.example.org")
	hs := two[5:]
	rec := func(b []byte) []byte { return append([]byte{22, 3, 1, byte(len(b) >> 8), byte(len(b))}, b...) }
	c = newConn(t, "10.0.0.1", 43001, "192.0.2.44", 443, 9, t0).open().send(true, append(rec(hs[:40]), rec(hs[40:])...), 1448)
	if got := strings.Join(summarize(t, c.pkts).TLSSNI, ","); got != "records.example.org" {
		t.Errorf("SNI from two records %q", got)
	}
}

// clientHelloPadded is a ClientHello whose SNI extension follows a
// key_share-sized extension of pad bytes.
func clientHelloPadded(name string, pad int) []byte {
	h := clientHello(name)
	// Insert an unknown extension (type 0xfe0d) before the others: the
	// extensions start after record(5) handshake(4) version(2) random(32)
	// session(1) suites(4) compression(2) and their length(2).
	const extLen = 5 + 4 + 2 + 32 + 1 + 4 + 2
	ext := binary.BigEndian.AppendUint16([]byte{0xfe, 0x0d}, uint16(pad))
	ext = append(ext, make([]byte, pad)...)
	out := append(slices.Clone(h[:extLen+2]), ext...)
	out = append(out, h[extLen+2:]...)
	grow := func(at, size int) { // add len(ext) to a big-endian length field
		v := 0
		for i := range size {
			v = v<<8 | int(out[at+i])
		}
		v += len(ext)
		for i := size - 1; i >= 0; i-- {
			out[at+i] = byte(v)
			v >>= 8
		}
	}
	grow(3, 2)      // record length
	grow(6, 3)      // handshake length
	grow(extLen, 2) // extensions length
	return out
}

// TestTCPPort53IsNotReadAsUDPDNS: a TCP segment to port 53 is not decoded
// as a bare DNS message (it starts with a length).
func TestTCPPort53IsNotReadAsUDPDNS(t *testing.T) {
	msg := dnsQuery(t, "framed.example")
	c := newConn(t, "10.0.0.1", 42001, "192.0.2.53", 53, 5, t0).open()
	c.seg(true, layers.TCP{PSH: true}, msg) // no length prefix: not DNS over TCP
	for _, n := range summarize(t, c.pkts).DNSQueries {
		t.Errorf("read %q from an unframed TCP segment", n)
	}
}

// TestGapNeverFilled: when a client segment never arrives, the data
// queued behind the gap (more than the reassembly buffers hold) is handed
// on with the gap skipped, and the request after it is read.
func TestGapNeverFilled(t *testing.T) {
	c := newConn(t, "10.0.0.1", 44000, "192.0.2.80", 80, 1, t0).open()
	c.send(true, bytes.Repeat([]byte("z"), 1000), 1000)
	c.send(true, bytes.Repeat([]byte("y"), 400*1400), 1400)
	c.send(true, []byte("GET /after HTTP/1.1\r\nHost: g.example\r\n\r\n"), 1460)
	s := summarize(t, slices.Delete(c.pkts, 3, 4))
	if got := urls(s); got != "GET http://g.example/after" {
		t.Errorf("requests %q", got)
	}
}

// TestRequestReaderCutAnywhere: a framed request stream (bodies with
// Content-Length and chunked encoding, LF-only lines, a pipelined
// request) reads the same requests however segments cut it: in two
// pieces at every offset, and one byte at a time.
func TestRequestReaderCutAnywhere(t *testing.T) {
	// The bodies hold requests: read only if the framing is lost.
	stream := []byte("POST /a HTTP/1.1\r\nHost: a.example\r\nContent-Length: 24\r\n\r\nGET /body HTTP/1.1\r\n\r\nxx" +
		"PUT /b HTTP/1.1\nhost: B.example\ntransfer-encoding: gzip, chunked\n\n4\r\nGET \r\n1a;x=y\r\nGET /chunk HTTP/1.1\r\n\r\nxxx\r\n0\r\nT: 1\r\n\r\n" +
		"GET /c?q=1 HTTP/1.1\r\nHost: c.example:8080\r\n\r\nHEAD /d HTTP/1.0\r\n\r\n")
	want := "POST a.example /a,PUT b.example /b,GET c.example:8080 /c?q=1,HEAD  /d"
	read := func(parts ...[]byte) string {
		var r requestReader
		var got []string
		for _, p := range parts {
			r.write(p, func(req HTTPRequest) { got = append(got, req.Method+" "+req.Host+" "+req.Path) })
		}
		return strings.Join(got, ",")
	}
	if got := read(stream); got != want {
		t.Fatalf("in one piece: %q, want %q", got, want)
	}
	for cut := range len(stream) {
		if got := read(stream[:cut], stream[cut:]); got != want {
			t.Fatalf("cut at %d: %q", cut, got)
		}
	}
	var bytewise [][]byte
	for i := range stream {
		bytewise = append(bytewise, stream[i:i+1])
	}
	if got := read(bytewise...); got != want {
		t.Errorf("a byte at a time: %q", got)
	}
}
