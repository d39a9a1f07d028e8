package collector

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-ini/ini"
)

func TestSafeName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{"email.rfc822", "email.rfc822", false},
		{"../../etc/passwd", "etc/passwd", false},
		{"/abs/x", "abs/x", false},
		{"a/../../b", "a/b", false},
		{`C:\Users\x\evil.exe`, "Users/x/evil.exe", false},
		{"sub/./dir//f", "sub/dir/f", false},
		{"..", "", true},
		{"", "", true},
		{"a\x00b", "", true},
		{"line\nbreak", "", true},
	} {
		got, err := SafeName(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("SafeName(%q) = %q, %v; want %q, err %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func FuzzSafeName(f *testing.F) {
	for _, s := range []string{"a", "../x", "/abs", `..\..\x`, "a/../../b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got, err := SafeName(name)
		if err != nil {
			return
		}
		if strings.HasPrefix(got, "/") || got == ".." || strings.HasPrefix(got, "../") || strings.Contains(got, "/../") || strings.HasSuffix(got, "/..") {
			t.Fatalf("SafeName(%q) = %q escapes", name, got)
		}
	})
}

func TestValidate(t *testing.T) {
	s := NewSubmission("")
	s.Observables = []Observable{{Type: "ipv4"}, {Value: "x"}}
	s.Details = []byte("{not json")
	err := s.Validate()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("want ErrInvalid, got %v", err)
	}
	for _, want := range []string{"missing description", "missing the value field", "missing the type field", "details is not valid JSON"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	ok := NewSubmission("fine")
	ok.AddObservable(ObsIPv4, "192.0.2.1")
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestObservableSetMerges(t *testing.T) {
	var s ObservableSet
	s.AddValue(ObsEmailAddress, "a@example.org", "from")
	s.AddValue(ObsEmailAddress, "a@example.org", "to", "from")
	s.AddValue(ObsEmailAddress, "")
	s.AddValue(ObsFQDN, "example.org")
	if s.Len() != 2 {
		t.Fatalf("len %d", s.Len())
	}
	if got := s.List()[0].Tags; len(got) != 2 || got[0] != "from" || got[1] != "to" {
		t.Fatalf("tags %v", got)
	}
}

func TestSectionTypedValues(t *testing.T) {
	f, err := ini.Load([]byte(`[s]
b = maybe
i = 12x
d = 00:01:30
d2 = 5m
size = 25M
list = a, , b
re = (unclosed
known = 1
typo = 2
`))
	if err != nil {
		t.Fatal(err)
	}
	p := &Problems{}
	s := NewSection(f.Section("s"), p)
	if s.Bool("b", true) != true || s.Int("i", 7, 0, 100) != 7 {
		t.Error("bad values must fall back to defaults")
	}
	if d := s.Duration("d", 0); d != 90*time.Second {
		t.Errorf("ACE duration = %v", d)
	}
	if d := s.Duration("d2", 0); d != 5*time.Minute {
		t.Errorf("Go duration = %v", d)
	}
	if n := s.Size("size", 0); n != 25<<20 {
		t.Errorf("size = %d", n)
	}
	if l := s.List("list"); len(l) != 2 {
		t.Errorf("list = %v", l)
	}
	if s.Regexp("re") != nil {
		t.Error("bad regexp compiled")
	}
	s.Int("known", 0, 0, 10)
	s.Done()
	text := p.Err().Error()
	for _, want := range []string{"[s] b:", "[s] i:", "[s] re: bad regular expression", "[s] typo: unknown key"} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
	if strings.Contains(text, "known: unknown") {
		t.Error("a read key reported unknown")
	}
}

func TestTuningRules(t *testing.T) {
	f, _ := ini.Load([]byte(`[tuning_rule_noisy]
target = observable:fqdn
regex = ^ads\.example\.com$
collectors = mail
[tuning_rule_desc]
target = description
regex = ^heartbeat
`))
	p := &Problems{}
	rules := ParseTuning(NewConfigFile(f, p))
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	sub := NewSubmission("alert")
	sub.AddObservable(ObsFQDN, "ads.example.com")
	if got := TuningFor(rules, "mail").Match(sub); got != "noisy" {
		t.Errorf("mail match = %q", got)
	}
	if got := TuningFor(rules, "other").Match(sub); got != "" {
		t.Errorf("rule limited to mail matched other: %q", got)
	}
	hb := NewSubmission("heartbeat from x")
	if got := TuningFor(rules, "other").Match(hb); got != "desc" {
		t.Errorf("description match = %q", got)
	}
}

func TestGlobalPath(t *testing.T) {
	g := Global{BaseDir: "/opt/ace"}
	for in, want := range map[string]string{"": "", "/abs/x": "/abs/x", "data/spool": "/opt/ace/data/spool"} {
		if got := g.Path(in); got != want {
			t.Errorf("Path(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (Global{}).Path("rel"); got != "rel" {
		t.Errorf("without BaseDir: %q", got)
	}
}
