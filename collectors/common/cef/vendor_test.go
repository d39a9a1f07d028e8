package cef

import (
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
)

// loadSamples reads testdata/records.txt: each line after a "# name: X"
// comment is sample X.
func loadSamples(t *testing.T) map[string]string {
	t.Helper()
	return collectortest.NamedLines(t, "testdata/records.txt")
}

func observablesOf(ev *Event) []string {
	var set collector.ObservableSet
	Observables(ev, &set)
	var got []string
	for _, o := range set.List() {
		s := o.Type + "=" + o.Value
		if len(o.Tags) > 0 {
			s += "/" + strings.Join(o.Tags, ",")
		}
		got = append(got, s)
	}
	sort.Strings(got)
	return got
}

// TestVendorRecords parses vendor samples from public documentation:
// fields survive whatever separator the device uses, and the
// observables are the ones an analyst wants (no 0.0.0.0, vendor hashes).
func TestVendorRecords(t *testing.T) {
	samples := loadSamples(t)
	tests := []struct {
		name   string
		format string
		sig    string
		ext    map[string]string // a subset of the extension
		absent []string          // keys that must not be there
		obs    []string          // every observable, sorted
	}{
		{name: "panos-leef-traffic", format: "LEEF", sig: "allow",
			ext: map[string]string{"cat": "TRAFFIC", "src": "172.19.50.39", "dst": "172.19.5.50", "usrName": "",
				"ReceiveTime": "2026/11/25 10:12:01", "RuleName": "intrazone-default", "URLCat": "any", "srcPort": "51514"},
			absent: []string{"_unparsed"},
			obs:    []string{"ipv4=172.19.5.50/dst", "ipv4=172.19.50.39/src", "ipv4_full_conversation=172.19.50.39:51514:172.19.5.50:443"}},
		{name: "panos-leef-snare", format: "LEEF", sig: "allow",
			ext: map[string]string{"URLCategory": "{{restricted|government|commercial}}", "RuleName": "NtwkMgmt Access to DNI AD",
				"DestinationUser": "", "UnknownKey": "abc", "NATSrcIP": "0.0.0.0"},
			absent: []string{"_unparsed"},
			obs: []string{"ipv4=10.84.200.253/src", "ipv4=10.84.68.11/dst", "ipv4_full_conversation=10.84.200.253:33907:10.84.68.11:53",
				`user=dmiad\svc.network.paloalto/src`}},
		{name: "panos-leef-header-only", format: "LEEF", sig: "allow"},
		{name: "trendmicro-leef2-no-delimiter", format: "LEEF", sig: "851",
			ext: map[string]string{"cat": "System", "sev": "6", "TrendMicroDsTenantId": "0",
				"name": "Reconnaissance Detected: Network or Port Scan"},
			obs: []string{"ipv4=192.168.187.196/src", "user=qradar/src"}},
		{name: "lancope-leef2-caret", format: "LEEF", sig: "41",
			ext: map[string]string{"src": "10.0.1.8", "dst": "10.0.0.5", "dstPort": "21"},
			obs: []string{"ipv4=10.0.0.5/dst", "ipv4=10.0.1.8/src", "ipv4_full_conversation=10.0.1.8:81:10.0.0.5:21"}},
		{name: "leef2-hex-tab", format: "LEEF", sig: "login",
			ext: map[string]string{"usrName": "mallory", "msg": "login failed | bad password"},
			obs: []string{"ipv4=198.51.100.23/src", "user=mallory/src"}},
		{name: "trendmicro-cef-antimalware", format: "CEF", sig: "4000000",
			ext: map[string]string{"cs6": "ContainerImageName | ContainerName | ContainerID", "Container": "ContainerImageName | ContainerName | ContainerID",
				"filePath": `C:\Users\trend\Desktop\eicar.exe`},
			obs: []string{`file_path=C:\Users\trend\Desktop\eicar.exe`,
				"md5=44d88612fea8a8f36de82e1278abb02f", "sha1=3395856ce81f2b7382dee72602f798b642f14140",
				"sha256=275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"}},
		{name: "fortigate-cef-space", format: "CEF", sig: "13056",
			ext: map[string]string{"duser": "bob", "requestContext": "Malicious Websites", "msg": "URL belongs to a denied category in policy"},
			obs: []string{"fqdn=ambrishsriv.wixsite.com/dst", "ipv4=10.1.100.11/src", "ipv4=185.230.61.185/dst",
				"ipv4_full_conversation=10.1.100.11:59194:185.230.61.185:80", "url=/bizsquads", "user=bob/dst"}},
		{name: "fortianalyzer-cef-cksum", format: "CEF", sig: "0201009238",
			obs: []string{"file_name=test-fsa.exe", "ipv4=1.1.1.1/src", "ipv4=2.2.2.2/dst", "ipv4_full_conversation=1.1.1.1:23456:2.2.2.2:80",
				"sha256=47fd6cadce503e53ad2c543eb728ae2d017277afb3db6b16954e49ac1cf4cc20"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, ok := samples[tt.name]
			if !ok {
				t.Fatalf("no sample %q in testdata/records.txt", tt.name)
			}
			ev, err := Find(line)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Format != tt.format || ev.SignatureID != tt.sig {
				t.Errorf("format %q signature %q, want %q %q", ev.Format, ev.SignatureID, tt.format, tt.sig)
			}
			for k, want := range tt.ext {
				if got, ok := ev.Ext[k]; !ok || got != want {
					t.Errorf("Ext[%q] = %q,%v want %q", k, got, ok, want)
				}
			}
			for _, k := range tt.absent {
				if v, ok := ev.Ext[k]; ok {
					t.Errorf("Ext[%q] = %q, want no such key", k, v)
				}
			}
			if got := observablesOf(ev); !reflect.DeepEqual(got, tt.obs) {
				t.Errorf("observables\n got  %q\n want %q", got, tt.obs)
			}
		})
	}
	if _, err := Find(samples["mention-not-record"]); !errors.Is(err, ErrNotCEF) {
		t.Errorf("a message mentioning CEF: %v, want ErrNotCEF", err)
	}
}

// TestDetectDelimiter: LEEF attributes without a delimiter field are
// split by whichever separator precedes the keys.
func TestDetectDelimiter(t *testing.T) {
	tests := []struct {
		attrs string
		want  byte
	}{
		{"src=1.2.3.4\tdst=5.6.7.8\tmsg=a b=c", '\t'},
		{"cat=TRAFFIC|src=1.2.3.4|dst=5.6.7.8|msg=x y z=1", '|'},
		{"src=1.2.3.4^dst=5.6.7.8", '^'},
		{"src=1.2.3.4;dst=5.6.7.8;usr=x", ';'},
		{"src=1.2.3.4 dst=5.6.7.8", ' '},
		{"src=1.2.3.4", '\t'},
		{"", '\t'},
		{"a=1|b=2\tc=3", '\t'}, // a tie goes to the LEEF default
		// Free text in a value does not outvote the real separator.
		{"src=1.2.3.4\tmsg=user=bob action=login result=fail from=x", '\t'},
		{"cat=AUTH|msg=user=bob action=login result=fail from=x", '|'},
	}
	for _, tt := range tests {
		if got := detectDelimiter(tt.attrs); got != tt.want {
			t.Errorf("detectDelimiter(%q) = %q, want %q", tt.attrs, got, tt.want)
		}
	}
}

// TestFindMarkers: the first real header wins, whichever format; "CEF:"
// followed by a space and the version is a header.
func TestFindMarkers(t *testing.T) {
	tests := []struct {
		in, format, sig string
	}{
		{"CEF: 0|V|P|1|s1|n|5|src=10.0.0.1", "CEF", "s1"},
		{"note CEF: none; LEEF:1.0|V|P|1|e2|src=10.0.0.1", "LEEF", "e2"},
		{"LEEF:2.0|V|P|1|e3|^|msg=forwarded CEF:0|a|b|c|d|e|f|", "LEEF", "e3"},
		{"CEF:0|V|P|1|s4|n|5", "CEF", "s4"}, // no extension, no closing pipe
	}
	for _, tt := range tests {
		ev, err := Find(tt.in)
		if err != nil {
			t.Errorf("Find(%q): %v", tt.in, err)
			continue
		}
		if ev.Format != tt.format || ev.SignatureID != tt.sig {
			t.Errorf("Find(%q) = %s %s, want %s %s", tt.in, ev.Format, ev.SignatureID, tt.format, tt.sig)
		}
	}
}

// TestHashKeys: vendor hash keys are recognised by name, their values by
// shape; labels, placeholders and non-hex values are not hashes.
func TestHashKeys(t *testing.T) {
	ev := &Event{Ext: map[string]string{
		"TrendMicroDsFileMD5": "44D88612FEA8A8F36DE82E1278ABB02F",
		"FileSHA1":            "sha1:3395856CE81F2B7382DEE72602F798B642F14140",
		"File SHA256":         "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
		"cs3Label":            "File SHA256",
		"hashType":            "SHA256",
		"parentMD5":           "00000000000000000000000000000000",
		"oldFileHash":         "d41d8cd98f00b204e9800998ecf8427",
		"deviceExternalId":    "44d88612fea8a8f36de82e1278abb02f", // hex, but its name says nothing of a hash
	}}
	want := []string{"md5=44d88612fea8a8f36de82e1278abb02f", "sha1=3395856ce81f2b7382dee72602f798b642f14140",
		"sha256=275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"}
	if got := observablesOf(ev); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestUnspecifiedAddressesAreNotObservables: 0.0.0.0, :: and the
// broadcast address name no host, in any address or host key.
func TestUnspecifiedAddressesAreNotObservables(t *testing.T) {
	ev := &Event{Ext: map[string]string{"src": "0.0.0.0", "dst": "::", "dvc": "255.255.255.255",
		"shost": "0.0.0.0", "dhost": "::ffff:0.0.0.0", "srcPostNAT": "0.0.0.0", "spt": "1", "dpt": "2"}}
	if got := observablesOf(ev); len(got) != 0 {
		t.Errorf("observables %q, want none", got)
	}
	if c := Conversation("0.0.0.0", "1", "10.0.0.1", "2"); c != "" {
		t.Errorf("conversation %q", c)
	}
}
