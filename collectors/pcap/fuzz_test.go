package pcap

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
)

// FuzzPCAP: any bytes read as a capture give a summary, never a panic,
// and flows that add up to the packets read.
func FuzzPCAP(f *testing.F) {
	f.Add(writePCAP(f, sample(f)))
	f.Add(writePCAPNG(f, sample(f)))
	f.Add(writePCAP(f, portReuseCapture(f, 6, 2)))
	for _, name := range []string{"testdata/loopback.pcap", "testdata/shb-only.pcapng"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, _ := Summarize(bytes.NewReader(data), Options{MaxItems: 10, MaxFlows: 1000})
		var n int64
		for _, fl := range s.Flows {
			n += fl.Packets
			if fl.Packets <= 0 || fl.Last.Before(fl.First) {
				t.Fatalf("bad flow %+v", fl)
			}
		}
		if s.FlowsTotal <= 1000 && n+s.NonIP != s.Packets {
			t.Fatalf("flows hold %d packets + %d non-IP, read %d", n, s.NonIP, s.Packets)
		}
		if s.Error == "" && s.Truncated {
			t.Fatal("truncated without an error")
		}
	})
}

func FuzzSNI(f *testing.F) {
	f.Add(clientHello("a.example.com"))
	f.Add([]byte{22, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if name, ok := ParseSNI(data); ok && !validHostName(name) {
			t.Fatalf("invalid name %q", name)
		}
	})
}

// FuzzStream: any bytes in one direction of a TCP stream, read as HTTP
// requests, a TLS ClientHello or DNS messages, give no panic and only
// well-formed requests and names; DNS messages and the ClientHello are
// framed the same whether the bytes come in one piece or two.
func FuzzStream(f *testing.F) {
	f.Add([]byte("GET /a HTTP/1.1\r\nHost: a.example\r\nContent-Length: 2\r\n\r\nxyPOST /b HTTP/1.0\r\n\r\n"), 20, false, true)
	f.Add([]byte("PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /d HTTP/1.1\r\n\r\n"), 50, false, false)
	f.Add(clientHello("fuzz.example"), 30, false, true)
	f.Add(dnsTCP(dnsQuery(f, "one.example"), dnsQuery(f, "two.example")), 31, true, true)
	f.Fuzz(func(t *testing.T, data []byte, cut int, dns, started bool) {
		if cut < 0 || cut > len(data) {
			cut = len(data) / 2
		}
		run := func(parts ...[]byte) *Summary {
			s := newSummary(Options{})
			h := half{client: true, started: started}
			if dns {
				h.mode = modeDNS
			}
			for _, p := range parts {
				if len(p) > 0 {
					h.write(s, p)
				}
			}
			return s
		}
		whole, split := run(data), run(data[:cut], data[cut:])
		for _, s := range []*Summary{whole, split} {
			for _, r := range s.HTTP {
				if !isRequestStart([]byte(r.Method+" ")) || !validToken(r.Host) || !validToken(r.Path) ||
					r.URL != "" && !strings.HasPrefix(r.URL, "http://") {
					t.Fatalf("bad request %+v", r)
				}
			}
			for _, n := range s.TLSSNI {
				if !validHostName(n) {
					t.Fatalf("bad server name %q", n)
				}
			}
		}
		if !slices.Equal(whole.DNSQueries, split.DNSQueries) || !slices.Equal(whole.TLSSNI, split.TLSSNI) {
			t.Fatalf("cut at %d: dns %q / %q, sni %q / %q", cut, whole.DNSQueries, split.DNSQueries, whole.TLSSNI, split.TLSSNI)
		}
	})
}
