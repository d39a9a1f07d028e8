package cef

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ace-collector/ace-collector/collector"
)

func TestParseCEF(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *Event
		wantErr string
	}{
		{
			name: "spec example",
			in:   `CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232`,
			want: &Event{Format: "CEF", Version: "0", Vendor: "Security", Product: "threatmanager", DevVersion: "1.0",
				SignatureID: "100", Name: "worm successfully stopped", Severity: "10",
				Ext: map[string]string{"src": "10.0.0.1", "dst": "2.1.2.2", "spt": "1232"}},
		},
		{
			name: "header escapes",
			in:   `CEF:0|security|threat\|manager|1.0|100|detected a \\ in packet|10|`,
			want: &Event{Format: "CEF", Version: "0", Vendor: "security", Product: "threat|manager", DevVersion: "1.0",
				SignatureID: "100", Name: `detected a \ in packet`, Severity: "10"},
		},
		{
			name: "extension escapes and spaces in values",
			in:   `CEF:1|V|P|1|sig|n|Very-High|msg=a \= b\\c\nd act=blocked now fname=x=y.exe cs1Label=Policy cs1=Strict one`,
			want: &Event{Format: "CEF", Version: "1", Vendor: "V", Product: "P", DevVersion: "1", SignatureID: "sig", Name: "n",
				Severity: "Very-High", Ext: map[string]string{"msg": "a = b\\c\nd", "act": "blocked now",
					"fname": "x=y.exe", "cs1Label": "Policy", "cs1": "Strict one", "Policy": "Strict one"}},
		},
		{name: "too few fields", in: `CEF:0|a|b|c`, wantErr: "pipe-separated"},
		{name: "bad version", in: `CEF:7|a|b|c|d|e|f|`, wantErr: "version"},
		{name: "not cef", in: `hello`, wantErr: "no CEF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCEF(tt.in)
			if errorCase(t, err, tt.wantErr) {
				return
			}
			if len(got.Ext) == 0 {
				got.Ext = nil
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestParseLEEF(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		ext     map[string]string
		sig     string
		wantErr string
	}{
		{name: "1.0 tabs", in: "LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.0\tdst=172.50.123.1\tsev=5\tusrName=joe",
			sig: "15345", ext: map[string]string{"src": "192.0.2.0", "dst": "172.50.123.1", "sev": "5", "usrName": "joe"}},
		{name: "2.0 caret", in: "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5^srcPort=81^dstPort=21",
			sig: "41", ext: map[string]string{"src": "10.0.1.8", "dst": "10.0.0.5", "sev": "5", "srcPort": "81", "dstPort": "21"}},
		{name: "2.0 hex delimiter", in: "LEEF:2.0|V|P|1|E|x7C|a=1|b=2", sig: "E", ext: map[string]string{"a": "1", "b": "2"}},
		{name: "2.0 no delimiter", in: "LEEF:2.0|V|P|1|E|a=1\tb=2", sig: "E", ext: map[string]string{"a": "1", "b": "2"}},
		{name: "bad delimiter", in: "LEEF:2.0|V|P|1|E|zz|a=1", wantErr: "delimiter"},
		{name: "bad version", in: "LEEF:3.0|V|P|1|E|a=1", wantErr: "version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLEEF(tt.in)
			if errorCase(t, err, tt.wantErr) {
				return
			}
			if got.SignatureID != tt.sig || !reflect.DeepEqual(got.Ext, tt.ext) {
				t.Errorf("got sig %q ext %v, want %q %v", got.SignatureID, got.Ext, tt.sig, tt.ext)
			}
		})
	}
}

func TestObservables(t *testing.T) {
	ev, err := Find(`<134>host CEF:0|V|P|1|sig|n|5|src=10.1.1.1 spt=4444 dst=10.2.2.2 dpt=80 shost=a.example.com ` +
		`dhost=web01 suser=alice request=http://evil.example/x?a=b fname=x.exe fileHash=D41D8CD98F00B204E9800998ECF8427E smac=AA:BB:CC:DD:EE:FF`)
	if err != nil {
		t.Fatal(err)
	}
	var set collector.ObservableSet
	Observables(ev, &set)
	got := map[string]string{}
	for _, o := range set.List() {
		got[o.Type+"="+o.Value] = strings.Join(o.Tags, ",")
	}
	want := map[string]string{
		"ipv4=10.1.1.1": "src", "ipv4=10.2.2.2": "dst", "fqdn=a.example.com": "src", "hostname=web01": "dst",
		"user=alice": "src", "url=http://evil.example/x?a=b": "", "file_name=x.exe": "",
		"md5=d41d8cd98f00b204e9800998ecf8427e": "", "mac_address=aa:bb:cc:dd:ee:ff": "src",
		"ipv4_full_conversation=10.1.1.1:4444:10.2.2.2:80": "",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

// Address fields map to ipv4 or ipv6 by the address (IPv4-mapped IPv6 is
// ipv4); a host-name field holding an address is that address.
func TestObservablesAddresses(t *testing.T) {
	ev, err := Find(`<134>host CEF:0|V|P|1|sig|n|5|src=2001:db8::1 dst=::ffff:10.2.2.2 dvc=192.0.2.1 ` +
		`shost=2001:db8::5 dhost=198.51.100.9 dvchost=x`)
	if err != nil {
		t.Fatal(err)
	}
	var set collector.ObservableSet
	Observables(ev, &set)
	got := map[string]string{}
	for _, o := range set.List() {
		got[o.Type+"="+o.Value] = strings.Join(o.Tags, ",")
	}
	want := map[string]string{
		"ipv6=2001:db8::1": "src", "ipv4=10.2.2.2": "dst", "ipv4=192.0.2.1": "device",
		"ipv6=2001:db8::5": "src", "ipv4=198.51.100.9": "dst",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

func TestSeverityNumber(t *testing.T) {
	for in, want := range map[string]int{"7": 7, "Low": 3, "very-high": 10, "High": 8} {
		if n, ok := SeverityNumber(in); !ok || n != want {
			t.Errorf("SeverityNumber(%q) = %d,%v want %d", in, n, ok, want)
		}
	}
	if _, ok := SeverityNumber("bogus"); ok {
		t.Error("bogus severity accepted")
	}
}

// errorCase checks err against a table case's expected error text: it
// reports true when the case expects an error (and err contains it), and
// fails the test on an unexpected error.
func errorCase(t *testing.T, err error, want string) bool {
	t.Helper()
	if want != "" {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v, want %q", err, want)
		}
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	return false
}
