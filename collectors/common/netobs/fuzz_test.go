package netobs

import (
	"net/netip"
	"testing"

	"github.com/ace-collector/ace-collector/collector"
)

// FuzzFromText: extraction from arbitrary text never panics, stays within
// its bound and yields well-formed addresses and domains.
func FuzzFromText(f *testing.F) {
	f.Add("Failed password for root from 203.0.113.5 port 22; see https://x.example.com/a, bob@corp.example.org")
	f.Add("1.2.3.4.5 a..b -a.com x.exe 999.1.1.1 http://")
	f.Fuzz(func(t *testing.T, s string) {
		var set collector.ObservableSet
		FromText(s, &set)
		if set.Len() > MaxTextObservables {
			t.Fatalf("%d observables", set.Len())
		}
		for _, o := range set.List() {
			switch o.Type {
			case collector.ObsIPv4:
				if a, err := netip.ParseAddr(o.Value); err != nil || !a.Is4() {
					t.Fatalf("bad ipv4 %q", o.Value)
				}
			case collector.ObsFQDN:
				if !IsFQDN(o.Value) {
					t.Fatalf("bad fqdn %q", o.Value)
				}
			}
		}
	})
}
