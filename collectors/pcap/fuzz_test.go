package pcap

import (
	"bytes"
	"os"
	"testing"
)

// FuzzPCAP: any bytes read as a capture give a summary, never a panic,
// and flows that add up to the packets read.
func FuzzPCAP(f *testing.F) {
	f.Add(writePCAP(f, sample(f)))
	f.Add(writePCAPNG(f, sample(f)))
	if b, err := os.ReadFile("testdata/loopback.pcap"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, _ := Summarize(bytes.NewReader(data), 10, 1000)
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
