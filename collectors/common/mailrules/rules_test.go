package mailrules

import (
	"bytes"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/collector"
)

func section(t *testing.T, keys string) (*collector.Section, *collector.Problems) {
	t.Helper()
	f, err := ini.LoadSources(ini.LoadOptions{IgnoreInlineComment: true}, []byte("[c]\n"+keys))
	if err != nil {
		t.Fatal(err)
	}
	p := &collector.Problems{}
	return collector.NewSection(f.Section("c"), p), p
}

func msg(subject, from string, raw string) *Message {
	h := textproto.MIMEHeader{}
	h.Set("Subject", subject)
	h.Set("From", from)
	m := &Message{Header: h, Envelope: map[string][]string{"mail_from": {from}, "client_ip": {"192.0.2.1"}}}
	return m.RawBytes([]byte(raw))
}

func TestEvaluate(t *testing.T) {
	sec, p := section(t, strings.Join([]string{
		`rule.a_block.header.subject = (?i)lottery`,
		`rule.a_block.action = drop`,
		`rule.b_fin.header.From = @bank\.example$`,
		`rule.b_fin.groups = finance`,
		`rule.c_both.raw = (?m)^X-Flag: yes`,
		`rule.c_both.header.Subject = .`,
		`rule.c_both.groups = cloud, finance`,
		`rule.d_net.envelope.client_ip = ^192\.0\.2\.`,
		`rule.d_net.groups = lab`,
	}, "\n"))
	rs := FromSection(sec)
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		m      *Message
		drop   string
		groups []string
	}{
		{"drop", msg("You won the LOTTERY", "x@bank.example", ""), "a_block", []string{"finance", "lab"}},
		{"union of groups", msg("statement", "x@bank.example", "X-Flag: yes\r\n"), "", []string{"finance", "cloud", "lab"}},
		{"all conditions needed", msg("", "x@other.example", "X-Flag: yes\r\n"), "", []string{"lab"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := rs.Evaluate(tt.m)
			if d.Drop != (tt.drop != "") || d.DropRule != tt.drop {
				t.Errorf("drop %v %q, want %q", d.Drop, d.DropRule, tt.drop)
			}
			if !slices.Equal(d.Groups, tt.groups) {
				t.Errorf("groups %v, want %v", d.Groups, tt.groups)
			}
		})
	}
}

func TestFileAndRefresh(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.ini")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("[spam]\nheader.Subject = ^SPAM ; not a comment\naction = drop\n")
	set, err := NewSet(nil, path)
	if err != nil {
		t.Fatal(err)
	}
	if d := set.Evaluate(msg("SPAM ; not a comment", "", "")); !d.Drop {
		t.Error("inline ; must be part of the regexp")
	}
	if changed, err := set.Refresh(); changed || err != nil {
		t.Errorf("unchanged file: changed=%v err=%v", changed, err)
	}
	write("[spam]\nheader.Subject = (\naction = drop\n")
	if _, err := set.Refresh(); err == nil || !strings.Contains(err.Error(), "[spam] header.Subject") {
		t.Errorf("broken file: %v", err)
	}
	if set.Len() != 1 {
		t.Error("broken reload replaced the rules")
	}
	write("[fin]\nraw = bank\ngroups = finance\n")
	if changed, err := set.Refresh(); !changed || err != nil {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	if d := set.Evaluate(msg("x", "", "bank")); !slices.Equal(d.Groups, []string{"finance"}) {
		t.Errorf("after reload: %+v", d)
	}
}

func TestSectionProblems(t *testing.T) {
	for keys, want := range map[string]string{
		"rule.x = y":                                "want rule.NAME.KEY",
		"rule.x.header.From = [":                    "bad regular expression",
		"rule.x.raw = a\nrule.x.action = reject":    "not one of drop, assign",
		"rule.x.raw = a":                            "assigns no groups",
		"rule.x.groups = g":                         "has no condition",
		"rule.x.envelope.body = a\nrule.x.groups=g": "unknown envelope field",
		"rule.x.subject = a\nrule.x.groups = g":     "unknown rule key",
	} {
		sec, p := section(t, keys)
		FromSection(sec)
		if err := p.Err(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", keys, err, want)
		}
	}
}

// A raw condition finds a match anywhere in a large message, also across
// window edges, without loading the message whole.
func TestRawConditionOnLargeMessage(t *testing.T) {
	sec, p := section(t, "rule.r.raw = NEEDLE-[0-9]+\nrule.r.groups = g\n")
	rs := FromSection(sec)
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	hay := bytes.Repeat([]byte("x"), 3*RawWindow)
	for _, at := range []int{0, RawWindow - 5, RawWindow - RawOverlap - 3, 2*RawWindow + 17, len(hay) - 9} {
		m := bytes.Clone(hay)
		copy(m[at:], "NEEDLE-42")
		if d := rs.Evaluate((&Message{}).RawBytes(m)); !slices.Equal(d.Groups, []string{"g"}) {
			t.Errorf("needle at %d not found", at)
		}
	}
	if d := rs.Evaluate((&Message{}).RawBytes(hay)); len(d.Matched) != 0 {
		t.Errorf("matched without the needle: %v", d.Matched)
	}
}
