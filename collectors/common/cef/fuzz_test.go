package cef

import (
	"strings"
	"testing"

	"github.com/ace-collector/ace-collector/collector"
)

func FuzzCEF(f *testing.F) {
	for _, s := range []string{
		`CEF:0|Security|threatmanager|1.0|100|worm stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232`,
		`CEF:1|a\|b|c\\|1|2|3|High|msg=x\=y\\z\n k=v  =x a= b=`,
		`CEF:0|||||||`, `CEF:0|a|b|c|d|e|f|\`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ev, err := ParseCEF(s)
		if err != nil {
			if ev != nil {
				t.Fatal("event with error")
			}
			return
		}
		if ev.Format != "CEF" {
			t.Fatalf("format %q", ev.Format)
		}
		for k := range ev.Ext {
			if k == "" || strings.ContainsAny(k, " =") {
				t.Fatalf("bad key %q", k)
			}
		}
		var set collector.ObservableSet
		Observables(ev, &set)
		for _, o := range set.List() {
			if o.Value == "" {
				t.Fatal("empty observable")
			}
		}
	})
}

func FuzzLEEF(f *testing.F) {
	for _, s := range []string{
		"LEEF:1.0|Microsoft|MSExchange|4.0|15345|src=192.0.2.0\tdst=172.50.123.1",
		"LEEF:2.0|V|P|1|E|^|a=1^b=2", "LEEF:2.0|V|P|1|E|0x5e|a=1^b", "LEEF:2.0|V|P|1|E|",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ev, err := ParseLEEF(s)
		if err != nil {
			return
		}
		if ev.Format != "LEEF" {
			t.Fatalf("format %q", ev.Format)
		}
		var set collector.ObservableSet
		Observables(ev, &set)
	})
}
