package smtp_test

import (
	"bytes"
	"context"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/groups/grouptest"
)

const debianPython = "/usr/bin/python3"

// requireAiosmtpd skips without Debian's python3-aiosmtpd (fails under
// CI=true, where .ci/run installs it).
func requireAiosmtpd(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(debianPython, "-c", "import aiosmtpd").CombinedOutput(); err != nil {
		msg := "python3-aiosmtpd missing (" + string(bytes.TrimSpace(out)) + "); install with: apt-get install python3-aiosmtpd"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// freePort returns a loopback port the kernel just handed out (aiosmtpd's
// command line cannot listen on port 0 and say which port it got).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// One run against another SMTP implementation: aiosmtpd, STARTTLS
// required, storing into a maildir.
func TestDeliversToAiosmtpd(t *testing.T) {
	requireAiosmtpd(t)
	p := newPKI(t)
	maildir := filepath.Join(t.TempDir(), "maildir")
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, debianPython, "-m", "aiosmtpd", "-n", "-l", addr,
		"--tlscert", p.certFile, "--tlskey", p.keyFile, "-c", "aiosmtpd.handlers.Mailbox", maildir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("aiosmtpd output:\n%s", out.String())
		}
	})
	wait := grouptest.Ctx(t)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			break
		}
		select {
		case <-wait.Done():
			t.Fatalf("aiosmtpd did not listen on %s", addr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	sender := grouptest.Start(t, grouptest.Group("dlp", "smtp", "server = "+addr, "ca_chain_path = "+p.caFile,
		"to = intake@corp.example"), daemon.Options{})
	sub := collector.NewSubmission("to aiosmtpd")
	grouptest.Attach(t, sub, "note.txt", []byte("hello"))
	sender.Submit(sub)
	sender.WaitUntil(wait, "delivered and cleaned", sender.Cleaned)
	files, err := filepath.Glob(filepath.Join(maildir, "new", "*"))
	if err != nil || len(files) != 1 {
		t.Fatalf("maildir holds %v (%v)", files, err)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("X-ACE-Submission-UUID") != sub.UUID || msg.Header.Get("Subject") != "to aiosmtpd" ||
		msg.Header.Get("X-RcptTo") != "intake@corp.example" {
		t.Errorf("headers: %v", msg.Header)
	}
}
