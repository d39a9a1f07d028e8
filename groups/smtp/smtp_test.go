package smtp_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/collector"
	_ "github.com/ace-collector/ace-collector/collectors/smtp" // the receiving listener
	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/groups/grouptest"
)

// pki is a CA and a server certificate for 127.0.0.1.
type pki struct{ caFile, certFile, keyFile string }

func newPKI(t *testing.T) pki {
	t.Helper()
	ca, err := api.NewLocalCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := pki{filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(p.caFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := api.WriteKeyPair(cert, p.certFile, p.keyFile); err != nil {
		t.Fatal(err)
	}
	return p
}

// receiver is the project's own smtp collector (STARTTLS required, AUTH,
// recipients of corp.example, one per message) in a daemon whose filedrop
// group writes what it stored to inbox.
type receiver struct {
	*grouptest.Pipeline
	addr  string
	inbox string
}

func startReceiver(t *testing.T, p pki) *receiver {
	t.Helper()
	inbox := t.TempDir()
	conf := `[collector_smtp_in]
type = smtp
listen = 127.0.0.1:0
tls_cert = ` + p.certFile + `
tls_key = ` + p.keyFile + `
require_tls = yes
auth_user = relay
auth_password = pw
allowed_rcpt_domains = corp.example
max_recipients = 1
spool_dir = ` + t.TempDir() + `
` + grouptest.Group("inbox", "filedrop", "directory = "+inbox)
	r := &receiver{Pipeline: grouptest.Start(t, conf, daemon.Options{}), inbox: inbox}
	for _, inst := range r.Config().Collectors {
		l, ok := inst.Collector.(interface {
			Ready() <-chan struct{}
			Addr() net.Addr
		})
		if !ok {
			continue
		}
		select {
		case <-l.Ready():
		case <-grouptest.Ctx(t).Done():
			t.Fatal("the smtp collector did not start listening")
		}
		r.addr = l.Addr().String()
	}
	if r.addr == "" {
		t.Fatal("no smtp collector in the receiver")
	}
	return r
}

// stored returns the receiver's submissions: its filedrop documents with
// the stored message of each.
func (r *receiver) stored(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries, _ := os.ReadDir(r.inbox)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(r.inbox, e.Name(), "files", "email.rfc822"))
		if err == nil {
			out[e.Name()] = b
		}
	}
	return out
}

// originalEmail adds an original message the way the email collectors
// attach it.
func originalEmail(t *testing.T, sub *collector.Submission, raw string) {
	grouptest.Attach(t, sub, "email.rfc822", []byte(raw))
	sub.Observables = append(sub.Observables, collector.Observable{Type: collector.ObsFile, Value: "email.rfc822",
		Directives: []string{collector.DirectiveOriginalEmail}})
}

// The EML envelope reaches the project's own SMTP listener over STARTTLS
// (verified against the generated CA; the listener refuses mail without
// it) with AUTH, and arrives whole: headers, JSON part, attachment, the
// original message as message/rfc822.
func TestDeliversEnvelopeToTheSMTPCollector(t *testing.T) {
	p := newPKI(t)
	rcv := startReceiver(t, p)
	sender := grouptest.Start(t, grouptest.Group("dlp", "smtp", "server = "+rcv.addr, "ca_chain_path = "+p.caFile,
		"username = relay", "password = pw", "to = intake@corp.example", "from = ACE <ace@collector.example>"),
		daemon.Options{})
	sub := collector.NewSubmission("Phish report caf\u00e9")
	sub.AddObservable(collector.ObsIPv4, "198.51.100.4", "sender_ip")
	grouptest.Attach(t, sub, "report.pdf", []byte("%PDF-1.4 report"))
	original := "From: eve@evil.example\r\nTo: bob@corp.example\r\nSubject: invoice\r\n\r\nplease pay\r\n"
	originalEmail(t, sub, original)
	sender.Submit(sub)
	ctx := grouptest.Ctx(t)
	sender.WaitUntil(ctx, "delivered and cleaned", sender.Cleaned)
	rcv.WaitUntil(ctx, "stored by the receiver", func() bool { return len(rcv.stored(t)) == 1 })
	var raw []byte
	for _, b := range rcv.stored(t) {
		raw = b
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if subject != "Phish report caf\u00e9" || msg.Header.Get("X-ACE-Submission-UUID") != sub.UUID ||
		msg.Header.Get("From") != "ACE <ace@collector.example>" || msg.Header.Get("To") != "intake@corp.example" {
		t.Errorf("headers: %v", msg.Header)
	}
	_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	mr := multipart.NewReader(msg.Body, params["boundary"])
	parts := map[string][]byte{}
	var types []string
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(part)
		if part.Header.Get("Content-Transfer-Encoding") == "base64" {
			if b, err = base64.StdEncoding.DecodeString(strings.ReplaceAll(string(b), "\r\n", "")); err != nil {
				t.Fatal(err)
			}
		}
		types = append(types, part.Header.Get("Content-Type"))
		parts[part.Header.Get("Content-Type")] = b
	}
	if len(types) != 4 {
		t.Fatalf("parts %v", types)
	}
	if got := string(parts["message/rfc822"]); got != original {
		t.Errorf("original message:\n%q\nwant\n%q", got, original)
	}
	var doc struct {
		UUID        string
		Observables []collector.Observable
	}
	if err := json.Unmarshal(parts[`application/json; charset=utf-8; name="submission.json"`], &doc); err != nil ||
		doc.UUID != sub.UUID || len(doc.Observables) != 2 {
		t.Errorf("JSON part: %+v %v", doc, err)
	}
	if sender.Stats().Get("group:dlp", "delivered") != 1 {
		t.Errorf("delivered %d", sender.Stats().Get("group:dlp", "delivered"))
	}
}

// A 5xx answer (a recipient the server refuses) parks the submission with
// the answer; a 4xx answer (too many recipients) is retried, never parked.
func TestSMTPAnswersClassified(t *testing.T) {
	p := newPKI(t)
	rcv := startReceiver(t, p)
	common := []string{"server = " + rcv.addr, "ca_chain_path = " + p.caFile, "username = relay", "password = pw"}
	sender := grouptest.Start(t,
		grouptest.Group("relay", "smtp", append(common, "to = someone@other.example")...)+
			grouptest.Group("many", "smtp", append(common, "to = a@corp.example, b@corp.example")...),
		daemon.Options{})
	sender.Submit(collector.NewSubmission("classified"))
	ctx := grouptest.Ctx(t)
	sender.WaitUntil(ctx, "parked", func() bool { return sender.Count("relay", "ERROR") == 1 })
	sender.WaitUntil(ctx, "retries", func() bool { return sender.Stats().Get("group:many", "retried") >= 2 })
	if sender.Count("many", "ERROR") != 0 {
		t.Error("a 4xx answer parked the submission")
	}
	errs, err := sender.Store().Errors(ctx, 10)
	if err != nil || len(errs) != 1 || !strings.Contains(errs[0].LastError, "550") {
		t.Fatalf("parked: %+v %v", errs, err)
	}
	if len(sender.LogLines("level=WARN", "kind=smtp_4xx", "452")) == 0 {
		t.Error("no WARN with kind=smtp_4xx")
	}
	if len(rcv.stored(t)) != 0 {
		t.Error("the receiver stored a message it refused")
	}
}

// A server whose certificate the group does not trust gets nothing: the
// submission waits (transient, kind=certificate).
func TestSMTPVerifiesTheServerCertificate(t *testing.T) {
	p := newPKI(t)
	rcv := startReceiver(t, p)
	other := newPKI(t)
	sender := grouptest.Start(t, grouptest.Group("dlp", "smtp", "server = "+rcv.addr, "ca_chain_path = "+other.caFile,
		"username = relay", "password = pw", "to = intake@corp.example"), daemon.Options{})
	sender.Submit(collector.NewSubmission("untrusted"))
	ctx := grouptest.Ctx(t)
	sender.WaitUntil(ctx, "retries", func() bool { return sender.Stats().Get("group:dlp", "retried") >= 2 })
	if sender.Count("dlp", "ERROR") != 0 || len(rcv.stored(t)) != 0 {
		t.Fatal("delivered to, or parked for, a server with an untrusted certificate")
	}
	if len(sender.LogLines("level=WARN", "kind=certificate")) == 0 {
		t.Error("no WARN with kind=certificate")
	}
}
