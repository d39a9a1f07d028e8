package smtp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/ace-collector/ace-collector/collector"
)

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func obsTags(s *collector.Submission, typ, val string) []string {
	for _, o := range s.Observables {
		if o.Type == typ && o.Value == val {
			return o.Tags
		}
	}
	return nil
}

func TestEndToEndSTARTTLS(t *testing.T) {
	pki := newPKI(t)
	c, sink, env := serve(t, pki.keys()+"require_tls = yes\nallowed_rcpt_domains = corp.example\ntags = from-config\ngroup_assignments = g9\n")
	cl := dial(t, c, pki.client())
	msgs := []string{"multipart_alternative.eml", "forward_nested.eml"}
	for _, m := range msgs { // two messages in one session
		if err := cl.SendMail("Bounce@Sender.example", []string{"alice@corp.example", "bob@corp.example"}, bytes.NewReader(readFixture(t, m))); err != nil {
			t.Fatalf("send %s: %v", m, err)
		}
	}
	if err := cl.Quit(); err != nil {
		t.Fatal(err)
	}
	subs, err := sink.WaitFor(waitCtx(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	s := subs[0]
	if s.AnalysisMode != "email" || s.Tool != Tool || s.Type != Type || s.ToolInstance != "collector.test" ||
		!slices.Equal(s.Tags, []string{"from-config"}) || !slices.Equal(s.GroupAssignments, []string{"g9"}) {
		t.Errorf("fields: %+v", s)
	}
	if !strings.HasPrefix(s.Description, "SMTP Collector Detection - Action required") {
		t.Errorf("description %q", s.Description)
	}
	for _, c := range []struct{ typ, val, tag string }{
		{"email_address", "bounce@sender.example", "smtp_mail_from"},
		{"email_address", "alice@corp.example", "smtp_rcpt_to"},
		{"email_address", "alice@corp.example", "to"},
		{"email_address", "security@example-bank.com", "from"},
		{"ipv4", "198.51.100.23", "received"},
	} {
		if !slices.Contains(obsTags(s, c.typ, c.val), c.tag) {
			t.Errorf("missing %s %s tagged %s", c.typ, c.val, c.tag)
		}
	}
	if obsTags(s, "ipv4", "127.0.0.1") != nil {
		t.Error("loopback sender_ip added although include_private_ips = no")
	}
	var d details
	if err := json.Unmarshal(s.Details, &d); err != nil {
		t.Fatal(err)
	}
	e := d.Envelope
	if e == nil || e.MailFrom != "Bounce@Sender.example" || !slices.Equal(e.RcptTo, []string{"alice@corp.example", "bob@corp.example"}) ||
		e.TLS == nil || !strings.HasPrefix(e.TLS.Version, "TLS 1.") || !strings.HasPrefix(e.ClientAddr, "127.0.0.1:") || e.Helo == "" {
		t.Errorf("envelope: %+v (tls %+v)", e, e.TLS)
	}
	stored := sink.Contents[s.UUID][FileName]
	orig := readFixture(t, msgs[0])
	if !bytes.HasSuffix(stored, orig) || !bytes.HasPrefix(stored, []byte("Received: from ")) {
		t.Errorf("stored message is not the original with a trace header (%d bytes)", len(stored))
	}
	if !slices.Contains(obsTags(subs[1], "sha256", sha256hex(readFixture(t, "forward_nested.pdf.bin"))), "forwarded") {
		t.Error("forwarded attachment hash missing from the second message")
	}
	spoolEmpty(t, c)
	if got := env.Stats.Get("smtp_in", "submitted"); got != 2 {
		t.Errorf("submitted = %d", got)
	}
}

func TestStoreFailureAnswers451(t *testing.T) {
	c, sink, env := serve(t, "")
	sink.SetFail(errors.New("database is down"))
	cl := dial(t, c, nil)
	err := cl.SendMail("a@x.example", []string{"b@y.example"}, bytes.NewReader(readFixture(t, "header_only.eml")))
	if smtpCode(err) != 451 {
		t.Fatalf("want 451, got %v", err)
	}
	spoolEmpty(t, c)
	sink.SetFail(nil)
	if err := cl.SendMail("a@x.example", []string{"b@y.example"}, bytes.NewReader(readFixture(t, "header_only.eml"))); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if n := len(sink.Submissions()); n != 1 {
		t.Errorf("%d submissions, want 1", n)
	}
	if env.Stats.Get("smtp_in", "store_unavailable") != 1 {
		t.Error("store failure not counted")
	}
}

func TestTooLargeAnswers552(t *testing.T) {
	c, sink, env := serve(t, "max_message_size = 2k\n")
	cl := dial(t, c, nil)
	big := append(readFixture(t, "header_only.eml"), []byte("\r\n\r\n"+strings.Repeat(strings.Repeat("x", 70)+"\r\n", 80))...)
	err := cl.SendMail("a@x.example", []string{"b@y.example"}, bytes.NewReader(big))
	if smtpCode(err) != 552 {
		t.Fatalf("want 552, got %v", err)
	}
	if env.Stats.Get("smtp_in", "dropped_too_large") != 1 {
		t.Error("too_large not counted")
	}
	// The session is still usable for a message within the limit.
	if err := cl.SendMail("a@x.example", []string{"b@y.example"}, bytes.NewReader(readFixture(t, "header_only.eml"))); err != nil {
		t.Fatal(err)
	}
	if len(sink.Submissions()) != 1 {
		t.Error("small message not submitted")
	}
	spoolEmpty(t, c)
}

func TestRecipientChecks(t *testing.T) {
	c, _, env := serve(t, "allowed_rcpt_domains = corp.example, @corp2.example\nmax_recipients = 2\n")
	cl := dial(t, c, nil)
	if err := cl.Mail("a@x.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := cl.Rcpt("x@other.example", nil); smtpCode(err) != 550 {
		t.Errorf("foreign domain: want 550, got %v", err)
	}
	for _, r := range []string{"a@corp.example", "b@CORP2.example"} {
		if err := cl.Rcpt(r, nil); err != nil {
			t.Errorf("rcpt %s: %v", r, err)
		}
	}
	if err := cl.Rcpt("c@corp.example", nil); smtpCode(err) != 452 {
		t.Errorf("third recipient: want 452, got %v", err)
	}
	if env.Stats.Get("smtp_in", "dropped_rejected_rcpt") != 1 || env.Stats.Get("smtp_in", "dropped_too_many_rcpt") != 1 {
		t.Errorf("counters: %+v", env.Stats.Snapshot())
	}
}

func TestAuthAndTLSRequirements(t *testing.T) {
	pki := newPKI(t)
	c, sink, env := serve(t, pki.keys()+"auth_user = relay\nauth_password = s3cret\n")

	plain := dial(t, c, nil)
	if err := plain.Mail("a@x.example", nil); smtpCode(err) != 502 {
		t.Errorf("MAIL without AUTH: want 502, got %v", err)
	}
	if err := plain.Auth(sasl.NewPlainClient("", "relay", "s3cret")); err == nil {
		t.Error("AUTH accepted without TLS")
	}

	bad := dial(t, c, pki.client())
	if err := bad.Auth(sasl.NewPlainClient("", "relay", "wrong")); smtpCode(err) != 535 {
		t.Errorf("wrong password: want 535, got %v", err)
	}
	good := dial(t, c, pki.client())
	if err := good.Auth(sasl.NewPlainClient("", "relay", "s3cret")); err != nil {
		t.Fatal(err)
	}
	if err := good.SendMail("a@x.example", []string{"b@y.example"}, bytes.NewReader(readFixture(t, "header_only.eml"))); err != nil {
		t.Fatal(err)
	}
	subs := sink.Submissions()
	if len(subs) != 1 || !strings.Contains(string(subs[0].Details), `"auth_user":"relay"`) {
		t.Errorf("submissions: %d", len(subs))
	}
	if env.Stats.Get("smtp_in", "auth_failed") != 1 {
		t.Error("auth failure not counted")
	}
}

func TestRequireTLS(t *testing.T) {
	pki := newPKI(t)
	c, _, _ := serve(t, pki.keys()+"require_tls = yes\n")
	cl := dial(t, c, nil)
	if err := cl.Mail("a@x.example", nil); smtpCode(err) != 530 {
		t.Errorf("want 530, got %v", err)
	}
}

func TestDropRuleOnEnvelope(t *testing.T) {
	c, sink, env := serve(t, "rule.junk.envelope.mail_from = ^spam@\nrule.junk.action = drop\n"+
		"rule.vip.header.Subject = (?i)no body\nrule.vip.groups = priority\n")
	cl := dial(t, c, nil)
	if err := cl.SendMail("spam@x.example", []string{"b@y.example"}, bytes.NewReader(readFixture(t, "header_only.eml"))); err != nil {
		t.Fatalf("dropped message must still be accepted: %v", err)
	}
	if err := cl.SendMail("ok@x.example", []string{"b@y.example"}, bytes.NewReader(readFixture(t, "header_only.eml"))); err != nil {
		t.Fatal(err)
	}
	subs := sink.Submissions()
	if len(subs) != 1 || !slices.Equal(subs[0].GroupAssignments, []string{"priority"}) {
		t.Fatalf("submissions %d, groups %v", len(subs), subs[0].GroupAssignments)
	}
	if env.Stats.Get("smtp_in", "dropped_rule:junk") != 1 {
		t.Error("rule drop not counted")
	}
	spoolEmpty(t, c)
}

func TestUnparseableMessageStillSubmitted(t *testing.T) {
	c, sink, _ := serve(t, "")
	cl := dial(t, c, nil)
	garbage := bytes.ReplaceAll(readFixture(t, "garbage.bin"), []byte("\n"), []byte("\r\n"))
	if err := cl.SendMail("a@x.example", []string{"b@y.example"}, bytes.NewReader(garbage)); err != nil {
		t.Fatal(err)
	}
	subs := sink.Submissions()
	if len(subs) != 1 || !strings.Contains(string(subs[0].Details), `"parse_error"`) {
		t.Fatalf("want one submission with parse_error, got %d", len(subs))
	}
}

func TestConfigProblems(t *testing.T) {
	tests := []struct{ name, keys, want string }{
		{"no listen", "", "listen: required"},
		{"cert without key", "listen = :25\ntls_cert = /x", "tls_cert and tls_key must be set together"},
		{"missing cert file", "listen = :25\ntls_cert = /nonexistent\ntls_key = /nonexistent", "loading certificate"},
		{"auth without tls", "listen = :25\nauth_user = u\nauth_password = p", "AUTH needs STARTTLS"},
		{"require tls without cert", "listen = :25\nrequire_tls = yes", "needs tls_cert"},
		{"bad rule", "listen = :25\nrule.a.envelope.bogus = x\nrule.a.action = drop", "unknown envelope field"},
		{"unknown key", "listen = :25\nmax_size = 1", "max_size: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, probs := tryBuild(t, tt.keys)
			var all []string
			for _, p := range probs {
				all = append(all, p.Error())
			}
			if !strings.Contains(strings.Join(all, "\n"), tt.want) {
				t.Errorf("problems %q do not mention %q", all, tt.want)
			}
		})
	}
}
