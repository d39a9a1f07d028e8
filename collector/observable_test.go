package collector

import (
	"net/netip"
	"testing"
)

func TestIPObservable(t *testing.T) {
	for _, tc := range []struct {
		in, typ, value string
	}{
		{"10.1.2.3", ObsIPv4, "10.1.2.3"},
		{"0.0.0.0", ObsIPv4, "0.0.0.0"},
		{"::ffff:192.0.2.7", ObsIPv4, "192.0.2.7"}, // dual-stack socket's IPv4 peer
		{"::ffff:c000:207", ObsIPv4, "192.0.2.7"},
		{"2001:db8::1", ObsIPv6, "2001:db8::1"},
		{"2001:DB8:0:0:0:0:0:1", ObsIPv6, "2001:db8::1"},
		{"::1", ObsIPv6, "::1"},
		{"fe80::1%eth0", ObsIPv6, "fe80::1"},
		{"::192.0.2.7", ObsIPv6, "::c000:207"}, // IPv4-compatible (deprecated) is not mapped
		{"64:ff9b::192.0.2.7", ObsIPv6, "64:ff9b::c000:207"},
	} {
		a := netip.MustParseAddr(tc.in)
		if got := IPObservableType(a); got != tc.typ {
			t.Errorf("IPObservableType(%s) = %q, want %q", tc.in, got, tc.typ)
		}
		typ, v := IPObservable(a)
		if typ != tc.typ || v != tc.value {
			t.Errorf("IPObservable(%s) = %q, %q; want %q, %q", tc.in, typ, v, tc.typ, tc.value)
		}
	}
	if typ := IPObservableType(netip.Addr{}); typ != "" {
		t.Errorf("IPObservableType(invalid) = %q, want empty", typ)
	}
	if typ, v := IPObservable(netip.Addr{}); typ != "" || v != "" {
		t.Errorf("IPObservable(invalid) = %q, %q; want empty", typ, v)
	}
}

func TestObservableSetAddIP(t *testing.T) {
	var s ObservableSet
	s.AddIP(netip.MustParseAddr("::ffff:10.0.0.1"), "src")
	s.AddIP(netip.MustParseAddr("10.0.0.1"), "dst") // same host: merged
	s.AddIP(netip.Addr{})
	if !s.AddIPString("2001:db8::2") || s.AddIPString("not-an-ip") || s.AddIPString("") {
		t.Error("AddIPString reported the wrong result")
	}
	got := s.List()
	if len(got) != 2 {
		t.Fatalf("got %d observables: %+v", len(got), got)
	}
	if got[0].Type != ObsIPv4 || got[0].Value != "10.0.0.1" || len(got[0].Tags) != 2 {
		t.Errorf("first = %+v; want ipv4 10.0.0.1 tagged src, dst", got[0])
	}
	if got[1].Type != ObsIPv6 || got[1].Value != "2001:db8::2" {
		t.Errorf("second = %+v; want ipv6 2001:db8::2", got[1])
	}
}
