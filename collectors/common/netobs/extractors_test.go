package netobs

import (
	"reflect"
	"strings"
	"testing"
)

// sshdExtract is the sample's sshd extractor.
const sshdExtract = `app_name = sshd && message ~ (?:for|user) (?:invalid user )?(?P<duser>\S+) from (?P<src>[0-9A-Fa-f:.]+) port (?P<spt>\d+)`

// TestExtractorSSHD pulls the attacker's address, port and the account
// out of OpenSSH's failure lines, and leaves other programs alone.
func TestExtractorSSHD(t *testing.T) {
	x, err := ParseExtractor("sshd", sshdExtract)
	if err != nil {
		t.Fatal(err)
	}
	if got := x.Reads(); !reflect.DeepEqual(got, []string{"app_name", "message"}) {
		t.Errorf("Reads = %v", got)
	}
	tests := []struct {
		app, msg string
		want     map[string]string
	}{
		{"sshd", "Failed password for root from 203.0.113.9 port 52144 ssh2",
			map[string]string{"duser": "root", "src": "203.0.113.9", "spt": "52144"}},
		{"sshd", "Failed password for invalid user admin from 198.51.100.7 port 40022 ssh2",
			map[string]string{"duser": "admin", "src": "198.51.100.7", "spt": "40022"}},
		{"sshd", "Invalid user oracle from 2001:db8::5 port 51234",
			map[string]string{"duser": "oracle", "src": "2001:db8::5", "spt": "51234"}},
		{"sshd", "Server listening on 0.0.0.0 port 22.", nil},
		{"dovecot", "Failed password for root from 203.0.113.9 port 52144 ssh2", nil},
	}
	for _, tt := range tests {
		ev := map[string]string{"app_name": tt.app, "message": tt.msg}
		got := Extractors{x}.Apply(func(k string) (string, bool) { v, ok := ev[k]; return v, ok })
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s %q: got %v, want %v", tt.app, tt.msg, got, tt.want)
		}
	}
}

func TestParseExtractorErrors(t *testing.T) {
	for text, want := range map[string]string{
		"message":                            "want FIELD ~ REGEX",
		"message = x":                        "want FIELD ~ REGEX",
		"message ~ (":                        "bad regular expression",
		"message ~ from (\\S+)":              "no named group",
		"app_name ? x && message ~ (?P<a>x)": "want FIELD OP VALUE",
	} {
		if _, err := ParseExtractor("x", text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseExtractor(%q) = %v, want %q", text, err, want)
		}
	}
}

// TestExtractorsFirstWins: when two extractors set a name, the first in
// order keeps it.
func TestExtractorsFirstWins(t *testing.T) {
	a, _ := ParseExtractor("a", `message ~ user (?P<user>\w+)`)
	b, _ := ParseExtractor("b", `message ~ (?P<user>\w+)@(?P<domain>\S+)`)
	got := Extractors{a, b}.Apply(func(string) (string, bool) { return "user bob mail alice@example.com", true })
	want := map[string]string{"user": "bob", "domain": "example.com"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
