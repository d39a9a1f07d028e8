package api

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func TestParseLocation(t *testing.T) {
	tests := []struct {
		in      string
		want    string // canonical form; "" = refused
		errHint string // the refusal's text contains this
	}{
		{"ace.example:443", "https://ace.example:443", ""},
		{"  ace.example:443 ", "https://ace.example:443", ""},
		{"10.0.0.1:24443", "https://10.0.0.1:24443", ""},
		{"[::1]:8443", "https://[::1]:8443", ""},
		{"https://[::1]:8443", "https://[::1]:8443", ""},
		{"http://127.0.0.1:24443", "http://127.0.0.1:24443", ""},
		{"HTTP://127.0.0.1:24443", "http://127.0.0.1:24443", ""},
		{"http://127.0.0.1:24443/", "http://127.0.0.1:24443", ""},
		{"https://ace.example:8443", "https://ace.example:8443", ""},
		{"ace_node-01.corp.example.:65535", "https://ace_node-01.corp.example.:65535", ""},
		{"host:1", "https://host:1", ""},

		{"", "", "empty"},
		{"admin:S3cretPW@host:443", "", "api_key"},
		{"https://admin:S3cretPW@host:443", "", "api_key"},
		{"https://admin:S3cretPW@host:443/path", "", "api_key"},
		{"admin:S3cret/PW@host:443", "", "api_key"},
		{"host:443/x@y", "", "api_key"},
		{"admin@host:443", "", "api_key"},
		{"host:notaport", "", "not a number"},
		{"host:1:2", "", "too many colons"},
		{"%zz:443", "", "contains"},
		{"host", "", "missing port"},
		{"https://host", "", "missing port"},
		{"host:", "", "port is required"},
		{"host:0", "", "out of range"},
		{"host:65536", "", "out of range"},
		{"host:+443", "", "not a number"},
		{":443", "", "host is empty"},
		{"https://", "", "missing port"},
		{"ftp://host:21", "", "want http or https"},
		{"https://ace.example:443/prefix", "", "path"},
		{"ace.example:443?x=1", "", "query"},
		{"ace.example:443#frag", "", "fragment"},
		{"ace example:443", "", "contains"},
		{"::1:443", "", "too many colons"},
		{"[ace.example]:443", "", "not an IPv6 address"},
		{"[127.0.0.1]:443", "", "not an IPv6 address"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseLocation(tt.in)
			if tt.want != "" {
				if err != nil || got.String() != tt.want {
					t.Fatalf("ParseLocation(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
				}
				if got.BaseURL() != tt.want+"/api" {
					t.Fatalf("BaseURL %s", got.BaseURL())
				}
				// What the client builds from it is a URL Go reads back
				// the same way.
				u, perr := url.Parse(got.BaseURL())
				if perr != nil || u.Host != got.HostPort() || u.Scheme != got.Scheme {
					t.Fatalf("%s does not round-trip: %v %v", got.BaseURL(), u, perr)
				}
				return
			}
			var le *LocalError
			if err == nil || !errors.As(err, &le) {
				t.Fatalf("ParseLocation(%q) = %v, %v; want a LocalError", tt.in, got, err)
			}
			if !strings.Contains(err.Error(), tt.errHint) {
				t.Fatalf("ParseLocation(%q): %v; want it to mention %q", tt.in, err, tt.errHint)
			}
			if strings.Contains(err.Error(), "S3cretPW") {
				t.Fatalf("the error repeats the password: %v", err)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nothing here", "nothing here"},
		{"mail bob@example.com about it", "mail bob@example.com about it"},
		{`node location "admin:S3cretPW@host:443": bad`, `node location "REDACTED@host:443": bad`},
		{`Post "https://admin:S3cretPW@host:443/api/analysis/submit": EOF`, `Post "https://REDACTED@host:443/api/analysis/submit": EOF`},
		{"https://admin:***@host:443", "https://REDACTED@host:443"},
		{"http://user@host:80/x", "http://REDACTED@host:80/x"},
		{"a admin:p@ss@host:1 b", "a REDACTED@host:1 b"},
		{"location=admin:pw@h:1", "location=REDACTED@h:1"},
		{"two https://a:b@x:1 and c:d@y:2", "two https://REDACTED@x:1 and REDACTED@y:2"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRedactErrorKeepsTheChain(t *testing.T) {
	inner := &StatusError{StatusCode: 503}
	err := RedactError(fmt.Errorf("submitting x to admin:S3cretPW@host:443: %w", inner))
	if strings.Contains(err.Error(), "S3cretPW") {
		t.Fatalf("not redacted: %v", err)
	}
	var se *StatusError
	if !errors.As(err, &se) || !Transient(err) {
		t.Fatalf("redaction lost the chain: %v", err)
	}
	plain := errors.New("no secrets")
	if RedactError(plain) != plain || RedactError(nil) != nil {
		t.Fatal("an error with nothing to redact must come back as is")
	}
}

// The client refuses a location with credentials before sending anything,
// and its errors never carry the password.
func TestClientNeverSendsOrReportsLocationCredentials(t *testing.T) {
	_, loc, rec := startServer(t, ServerOptions{})
	hostport := strings.TrimPrefix(loc, "http://")
	c := newTestClient(t, ClientOptions{})
	for _, bad := range []string{"http://admin:S3cretPW@" + hostport, "admin:S3cretPW@" + hostport} {
		_, err := c.Submit(testCtx(t), bad, newSub("creds"))
		var le *LocalError
		if err == nil || !errors.As(err, &le) || Transient(err) {
			t.Fatalf("Submit(%s) = %v; want a permanent LocalError", Redact(bad), err)
		}
		if strings.Contains(err.Error(), "S3cretPW") || !strings.Contains(err.Error(), "api_key") {
			t.Fatalf("error %q: want no password and a pointer to api_key", err)
		}
		if perr := c.Ping(testCtx(t), bad); perr == nil || strings.Contains(perr.Error(), "S3cretPW") {
			t.Fatalf("Ping: %v", perr)
		}
	}
	if n := len(rec.all()); n != 0 {
		t.Fatalf("the node received %d submissions", n)
	}
}

// FuzzParseLocation: no panic; an accepted location's canonical form reads
// back the same; a refused one never shows what precedes its '@'.
func FuzzParseLocation(f *testing.F) {
	for _, s := range []string{"ace:443", "https://[::1]:8443/", "http://h:1", "admin:S3cretPW@host:443", "%zz:443", "h:1:2", "[fe80::1%eth0]:443"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLocation(s)
		if err == nil {
			again, err := ParseLocation(l.String())
			if err != nil || again != l {
				t.Fatalf("%q → %v → %v, %v", s, l, again, err)
			}
			return
		}
		// Whatever precedes the last '@' (after the scheme) may be a
		// password, however odd: it must not be shown.
		start, at := 0, strings.LastIndex(s, "@")
		if i := strings.Index(s, "://"); i >= 0 && i < at {
			start = i + 3
		}
		q, qerr := strconv.QuotedPrefix(strings.TrimPrefix(err.Error(), "node location "))
		if qerr != nil {
			t.Fatalf("error %q does not quote the location", err)
		}
		shown, _ := strconv.Unquote(q)
		secret := s[start:max(at, start)]
		if at >= 0 && len(secret) >= 4 && strings.Contains(shown, secret) &&
			!strings.Contains(s[at:], secret) && !strings.Contains("REDACTED", secret) {
			t.Fatalf("error %q shows %q", err, secret)
		}
	})
}
