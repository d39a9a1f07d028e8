package netobs

import (
	"reflect"
	"sort"
	"testing"

	"github.com/ace-collector/ace-collector/collector"
)

func TestFromText(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Failed password for root from 203.0.113.5 port 22 ssh2",
			[]string{"ipv4=203.0.113.5"}},
		{"fetch https://evil.example.com/a.php?x=1, mail bob@Corp.Example.org now",
			[]string{"url=https://evil.example.com/a.php?x=1", "email_address=bob@corp.example.org",
				"fqdn=evil.example.com", "fqdn=corp.example.org"}},
		{"started sshd.service and wrote /tmp/x.exe 999.1.1.1", nil},
		// Addresses that name no host are not observables.
		{"Server listening on 0.0.0.0 port 22; broadcast to 255.255.255.255 from 198.51.100.4",
			[]string{"ipv4=198.51.100.4"}},
	}
	for _, tt := range tests {
		var set collector.ObservableSet
		FromText(tt.in, &set)
		var got []string
		for _, o := range set.List() {
			got = append(got, o.Type+"="+o.Value)
		}
		sort.Strings(got)
		sort.Strings(tt.want)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("FromText(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestRules(t *testing.T) {
	ev := map[string]string{"message": "ET POLICY curl", "severity": "7", "src": "10.0.0.1"}
	f := func(k string) (string, bool) { v, ok := ev[k]; return v, ok }
	tests := []struct {
		rule string
		want bool
	}{
		{"message ~ ^ET POLICY", true},
		{"message !~ POLICY", false},
		{"severity >= 7", true},
		{"severity > 7", false},
		{"severity < 8 && src = 10.0.0.1", true},
		{"severity < 8 && src == 10.0.0.2", false},
		{"missing != x", true},
		{"missing = x", false},
		{`message = "ET POLICY curl"`, true},
		{"message >= 1", false},
	}
	for _, tt := range tests {
		r, err := ParseRule("t", tt.rule)
		if err != nil {
			t.Fatalf("%q: %v", tt.rule, err)
		}
		if got := r.Match(f); got != tt.want {
			t.Errorf("%q = %v, want %v", tt.rule, got, tt.want)
		}
	}
	for _, bad := range []string{"", "message", "message ? x", "sev >= high", "message ~ (", "a = 1 && "} {
		if _, err := ParseRule("t", bad); err == nil {
			t.Errorf("ParseRule(%q) accepted", bad)
		}
	}
}
