package smtp

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
)

// The sender address is an observable only when include_private_ips
// allows it, as for the addresses in Received fields (the test client is
// on loopback, a private address).
func TestSenderIPFollowsIncludePrivateIPs(t *testing.T) {
	for _, tt := range []struct {
		keys string
		want bool
	}{{"", false}, {"include_private_ips = yes\n", true}} {
		c, sink, _ := serve(t, tt.keys)
		cl := dial(t, c, nil)
		if err := cl.SendMail("a@x.example", []string{"b@y.example"}, bytes.NewReader(readFixture(t, "header_only.eml"))); err != nil {
			t.Fatal(err)
		}
		subs := sink.Submissions()
		if got := slices.Contains(obsTags(subs[0], "ipv4", "127.0.0.1"), "sender_ip"); got != tt.want {
			t.Errorf("%q: sender_ip 127.0.0.1 present = %v, want %v", tt.keys, got, tt.want)
		}
	}
}

// AUTH LOGIN is offered beside PLAIN, with and without the user name on
// the AUTH line, and checks the password like PLAIN.
func TestAuthLogin(t *testing.T) {
	c, sink, env := serve(t, "auth_user = relay\nauth_password = s3cret\nallow_insecure_auth = yes\n")
	cl := dial(t, c, nil)
	if ok, mechs := cl.Extension("AUTH"); !ok || !slices.Equal(strings.Fields(mechs), []string{"PLAIN", "LOGIN"}) {
		t.Errorf("AUTH %v %q, want PLAIN LOGIN", ok, mechs)
	}
	// go-sasl's LOGIN client sends the user name with AUTH LOGIN.
	if err := cl.Auth(sasl.NewLoginClient("relay", "s3cret")); err != nil {
		t.Fatalf("AUTH LOGIN: %v", err)
	}
	if err := cl.SendMail("a@x.example", []string{"b@y.example"}, bytes.NewReader(readFixture(t, "header_only.eml"))); err != nil {
		t.Fatal(err)
	}
	if subs := sink.Submissions(); len(subs) != 1 || !strings.Contains(string(subs[0].Details), `"auth_user":"relay"`) {
		t.Errorf("submissions %d", len(subs))
	}

	// Appliances send AUTH LOGIN alone and answer the two prompts.
	b64 := base64.StdEncoding.EncodeToString
	for _, tt := range []struct {
		pass string
		code int
	}{{"wrong", 535}, {"s3cret", 235}} {
		conn, err := textproto.Dial("tcp", c.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		steps := []struct {
			send string
			code int
			msg  string
		}{
			{"", 220, ""},
			{"EHLO appliance.test", 250, ""},
			{"AUTH LOGIN", 334, b64([]byte("Username:"))},
			{b64([]byte("relay")), 334, b64([]byte("Password:"))},
			{b64([]byte(tt.pass)), tt.code, ""},
		}
		for _, st := range steps {
			if st.send != "" {
				if err := conn.PrintfLine("%s", st.send); err != nil {
					t.Fatal(err)
				}
			}
			code, msg, err := conn.ReadResponse(st.code)
			if err != nil || st.msg != "" && msg != st.msg {
				t.Fatalf("after %q: %d %q, %v (want %d %q)", st.send, code, msg, err, st.code, st.msg)
			}
		}
	}
	if env.Stats.Get("smtp_in", "auth_failed") != 1 {
		t.Errorf("auth_failed = %d, want 1", env.Stats.Get("smtp_in", "auth_failed"))
	}
}

// SMTPUTF8 (RFC 6531) is offered and accepted: UTF-8 envelope addresses
// and header fields become observables and details.
func TestSMTPUTF8(t *testing.T) {
	c, sink, _ := serve(t, "")
	cl := dial(t, c, nil)
	if ok, _ := cl.Extension("SMTPUTF8"); !ok {
		t.Fatal("SMTPUTF8 not offered")
	}
	from, to := "用户@例子.广告", "empfänger@beispiel.example"
	if err := cl.Mail(from, &gosmtp.MailOptions{UTF8: true}); err != nil {
		t.Fatalf("MAIL FROM with SMTPUTF8: %v", err)
	}
	if err := cl.Rcpt(to, nil); err != nil {
		t.Fatal(err)
	}
	w, err := cl.Data()
	if err != nil {
		t.Fatal(err)
	}
	msg := "From: 用户 <" + from + ">\r\nTo: " + to + "\r\nSubject: 你好 – grüße\r\nMessage-ID: <utf8@例子.广告>\r\n\r\nhttps://例子.广告/路径\r\n"
	if _, err := w.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	subs := sink.Submissions()
	if len(subs) != 1 {
		t.Fatalf("%d submissions", len(subs))
	}
	s := subs[0]
	for _, o := range []struct{ typ, val, tag string }{
		{"email_address", from, "smtp_mail_from"},
		{"email_address", to, "smtp_rcpt_to"},
		{"email_address", from, "from"},
		{"email_subject", "你好 – grüße", "subject"},
		{"url", "https://例子.广告/路径", ""},
	} {
		found := slices.ContainsFunc(s.Observables, func(x collector.Observable) bool {
			return x.Type == o.typ && x.Value == o.val && (o.tag == "" || slices.Contains(x.Tags, o.tag))
		})
		if !found {
			t.Errorf("missing %s %q tagged %q", o.typ, o.val, o.tag)
		}
	}
	if !strings.Contains(string(s.Details), `"smtputf8":true`) {
		t.Errorf("envelope does not record SMTPUTF8: %s", s.Details)
	}
}

// A spool_dir on tmpfs is named at start: messages there take memory and
// are copied, not linked, into the store.
func TestRAMBackedSpoolDirWarned(t *testing.T) {
	shm, err := os.MkdirTemp("/dev/shm", "ace-smtp-test-")
	if err != nil || !ramBacked(shm) {
		t.Skip("no tmpfs at /dev/shm")
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	c, probs := tryBuild(t, "listen = 127.0.0.1:0\nspool_dir = "+shm+"\n")
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	env := collectortest.Env(t, "smtp_in", collectortest.NewSink(), collectortest.NewState())
	logs := collectortest.RecordLogs(env)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, env) }()
	<-c.Ready()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	warned := slices.ContainsFunc(logs.Records(), func(r map[string]any) bool {
		return r["level"] == "WARN" && strings.HasPrefix(r["msg"].(string), "spool_dir is on a RAM-backed file system") && r["spool_dir"] == shm
	})
	if !warned {
		t.Errorf("no warning about the RAM-backed spool_dir: %v", logs.Records())
	}
}
