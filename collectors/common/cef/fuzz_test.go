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
		checkEvent(t, ev, "CEF", " =", func(o collector.Observable) bool { return o.Value != "" })
	})
}

func FuzzLEEF(f *testing.F) {
	for _, s := range []string{
		"LEEF:1.0|Microsoft|MSExchange|4.0|15345|src=192.0.2.0\tdst=172.50.123.1",
		"LEEF:2.0|V|P|1|E|^|a=1^b=2", "LEEF:2.0|V|P|1|E|0x5e|a=1^b", "LEEF:2.0|V|P|1|E|",
		"LEEF:1.0|Palo Alto Networks|PAN-OS Syslog Integration|11.1.6-h14|allow|cat=TRAFFIC|src=172.19.50.39|dst=0.0.0.0|u={{a|b}}",
		"LEEF:2.0|V|P|1|E|x09|a=1\tb=2|3", "LEEF:1.0|V|P|1|E", "LEEF: 1.0|V|P|1|E|=|==a=|b=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ev, err := ParseLEEF(s)
		if err != nil {
			return
		}
		checkEvent(t, ev, "LEEF", "=", func(o collector.Observable) bool { return o.Value != "" && o.Value != "0.0.0.0" })
	})
}

// checkEvent checks what every parsed event must be: its format, no key
// empty or holding one of badKey's characters, every observable ok.
func checkEvent(t *testing.T, ev *Event, format, badKey string, ok func(collector.Observable) bool) {
	t.Helper()
	if ev.Format != format {
		t.Fatalf("format %q", ev.Format)
	}
	for k := range ev.Ext {
		if k == "" || strings.ContainsAny(k, badKey) {
			t.Fatalf("bad key %q", k)
		}
	}
	var set collector.ObservableSet
	Observables(ev, &set)
	for _, o := range set.List() {
		if !ok(o) {
			t.Fatalf("observable %+v", o)
		}
	}
}

// FuzzFind: locating a record in any message never panics, and a record
// found is one of the two formats.
func FuzzFind(f *testing.F) {
	for _, s := range []string{
		"<189>Dec 27 11:23:49 FGT CEF: 0|Fortinet|Fortigate|v6.0.3|13056|x|4|src=10.1.100.11",
		"mentions CEF: and LEEF: but LEEF:1.|a|b|c|d|e=1", "CEF:CEF:LEEF:9|", "CEF:0.|", "LEEF:1.0.0.0.0.0.0.0|",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ev, err := Find(s)
		if err != nil {
			if ev != nil {
				t.Fatal("event with error")
			}
			return
		}
		if ev.Format != "CEF" && ev.Format != "LEEF" {
			t.Fatalf("format %q", ev.Format)
		}
	})
}
