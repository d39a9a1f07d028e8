package render

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// emailSubmission is what the smtp collector stores: the original message
// as email.rfc822, marked by a file observable with original_email.
func emailSubmission(t *testing.T, original []byte) *collector.Submission {
	sub := collector.NewSubmission("Phish: caf\u00e9 r\u00e9sum\u00e9\r\nBcc: injected@example.com")
	sub.Tool, sub.ToolInstance, sub.Type, sub.AnalysisMode = "ace-collector smtp", "mx1", "smtp", "email"
	sub.EventTime = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	sub.Tags = []string{"phish"}
	sub.Observables = []collector.Observable{
		{Type: collector.ObsFile, Value: "email.rfc822", Directives: []string{collector.DirectiveOriginalEmail}},
		{Type: collector.ObsIPv4, Value: "192.0.2.7", Tags: []string{"sender_ip"}},
	}
	if err := sub.SetDetails(map[string]any{"envelope": map[string]any{"mail_from": "a@example.com"}}); err != nil {
		t.Fatal(err)
	}
	sub.Files = []collector.File{
		{Path: writeFile(t, "orig", original), Name: "email.rfc822"},
		{Path: writeFile(t, "bin", []byte{0, 1, 2, 0xff, 'x'}), Name: "dir/payload.bin"},
	}
	return sub
}

type part struct {
	header map[string][]string
	body   []byte // transfer encoding undone
}

func parseEML(t *testing.T, raw []byte) (*mail.Message, []part) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not an RFC 5322 message: %v\n%s", err, raw)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var parts []part
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		switch p.Header.Get("Content-Transfer-Encoding") {
		case "base64":
			if b, err = base64.StdEncoding.DecodeString(strings.ReplaceAll(string(b), "\r\n", "")); err != nil {
				t.Fatalf("part %v: %v", p.Header, err)
			}
		}
		parts = append(parts, part{header: p.Header, body: b})
	}
	return msg, parts
}

func TestEMLEnvelope(t *testing.T) {
	original := []byte("From: a@example.com\nSubject: hi\n\nbody caf\xc3\xa9\n.\nlast line without newline")
	sub := emailSubmission(t, original)
	e, err := NewEML(sub, EMLOptions{From: "ace-collector <ace@collector.example>", To: []string{"dlp@corp.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if !e.EightBit() {
		t.Error("an original with 8-bit text is not reported as 8-bit")
	}
	var buf bytes.Buffer
	if _, err := e.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("a bare LF in the message: lines must end in CRLF")
	}
	msg, parts := parseEML(t, raw)
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != "Phish: caf\u00e9 r\u00e9sum\u00e9 Bcc: injected@example.com" {
		t.Errorf("Subject %q (%v)", subject, err)
	}
	if msg.Header.Get("Bcc") != "" {
		t.Error("a header was injected through the description")
	}
	for k, want := range map[string]string{"From": "ace-collector <ace@collector.example>", "To": "dlp@corp.example",
		"X-ACE-Submission-UUID": sub.UUID, "Message-ID": "<" + sub.UUID + "@ace-collector>",
		"Date": "Wed, 04 Mar 2026 05:06:07 +0000", "X-ACE-Analysis-Mode": "email"} {
		if got := msg.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if len(parts) != 4 {
		t.Fatalf("%d parts, want text, json, message/rfc822, attachment", len(parts))
	}
	if ct := parts[0].header["Content-Type"][0]; !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("first part %s", ct)
	}
	var doc Document
	if err := json.Unmarshal(parts[1].body, &doc); err != nil {
		t.Fatalf("json part: %v", err)
	}
	if doc.UUID != sub.UUID || len(doc.Observables) != 2 || doc.Observables[1].Value != "192.0.2.7" ||
		!strings.Contains(strings.Join(strings.Fields(string(doc.Details)), ""), `"mail_from":"a@example.com"`) || doc.Files[1].Name != "dir/payload.bin" {
		t.Errorf("json part: %+v", doc)
	}
	if ct := parts[2].header["Content-Type"][0]; ct != "message/rfc822" {
		t.Errorf("original carried as %s", ct)
	}
	wantOrig := strings.ReplaceAll(string(original), "\n", "\r\n") + "\r\n"
	if string(parts[2].body) != wantOrig {
		t.Errorf("original:\n%q\nwant\n%q", parts[2].body, wantOrig)
	}
	if cd := parts[3].header["Content-Disposition"][0]; cd != `attachment; filename=payload.bin` {
		t.Errorf("attachment disposition %q", cd)
	}
	if !bytes.Equal(parts[3].body, []byte{0, 1, 2, 0xff, 'x'}) {
		t.Errorf("attachment %q", parts[3].body)
	}
}

// An original whose lines SMTP could not carry is attached as a file; a
// missing file is a FileError (a permanent failure for the types).
func TestEMLLongLinesAndMissingFiles(t *testing.T) {
	sub := emailSubmission(t, append([]byte("Subject: x\n\n"), bytes.Repeat([]byte("a"), 2000)...))
	e, err := NewEML(sub, EMLOptions{From: "a@b"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := e.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	_, parts := parseEML(t, buf.Bytes())
	if ct := parts[2].header["Content-Type"][0]; strings.HasPrefix(ct, "message/") || parts[2].header["Content-Transfer-Encoding"][0] != "base64" {
		t.Errorf("long-lined original carried as %s", ct)
	}
	for _, l := range strings.Split(buf.String(), "\r\n") {
		if len(l) > maxLine {
			t.Fatalf("a line of %d bytes", len(l))
		}
	}
	os.Remove(sub.Files[1].Path)
	e, err = NewEML(sub, EMLOptions{From: "a@b"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.WriteTo(io.Discard)
	var fe *FileError
	if !errors.As(err, &fe) || !errors.Is(err, fs.ErrNotExist) || fe.Name != "dir/payload.bin" {
		t.Fatalf("missing attachment: %v", err)
	}
	os.Remove(sub.Files[0].Path)
	if _, err := NewEML(sub, EMLOptions{}); !errors.As(err, &fe) {
		t.Fatalf("missing original: %v", err)
	}
}

func TestTemplateData(t *testing.T) {
	sub := emailSubmission(t, []byte("Subject: x\n\nhi\n"))
	tmpl, err := ParseTemplate("t", `{{.UUID}} {{.Type}} {{.First "ipv4"}} {{join .Tags ","}} {{unixMilli .EventTime}} {{index .Details "envelope" | json}} {{.Files}}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, NewData(sub, "g")); err != nil {
		t.Fatal(err)
	}
	want := sub.UUID + ` smtp 192.0.2.7 phish 1772600767000 {"mail_from":"a@example.com"} [email.rfc822 dir/payload.bin]`
	if b.String() != want {
		t.Errorf("template:\n%s\nwant\n%s", b.String(), want)
	}
	if _, err := ParseTemplate("bad", "{{.Nope", nil); err == nil {
		t.Error("a broken template parsed")
	}
	tmpl, _ = ParseTemplate("missing", "{{.Nope}}", nil)
	if err := tmpl.Execute(io.Discard, NewData(sub, "g")); err == nil {
		t.Error("a template naming a field that does not exist ran")
	}
}
