package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// closedPort returns a loopback address that refuses connections for the
// whole test: a socket is bound to it but never listens, so the kernel
// answers a connect with RST and no other process can take the port (as it
// could if a listener were opened and closed to find a free port).
func closedPort(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

func statusHandler(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Error(w, http.StatusText(code), code) }
}

func TestTransientClassification(t *testing.T) {
	// A handler that blocks until the client gives up (its Timeout).
	// The body is read first: only then does net/http notice the client
	// hanging up. release unblocks it at the end of the test regardless.
	release := make(chan struct{})
	block := startHandler(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	// A server that accepts and immediately closes connections (reset/EOF).
	hangup, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hangup.Close()
	go func() {
		for {
			conn, err := hangup.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()

	tests := []struct {
		name      string
		location  string
		ctx       func() context.Context
		sub       func() *collector.Submission
		transient bool
	}{
		{"connection refused", closedPort(t), nil, nil, true},
		{"connection closed by peer", "http://" + hangup.Addr().String(), nil, nil, true},
		{"DNS failure", "http://no-such-host.invalid:1", nil, nil, true},
		{"503", startHandler(t, statusHandler(503)), nil, nil, true},
		{"500", startHandler(t, statusHandler(500)), nil, nil, true},
		{"429", startHandler(t, statusHandler(429)), nil, nil, true},
		{"408", startHandler(t, statusHandler(408)), nil, nil, true},
		{"400", startHandler(t, statusHandler(400)), nil, nil, false},
		{"403", startHandler(t, statusHandler(403)), nil, nil, false},
		{"404", startHandler(t, statusHandler(404)), nil, nil, false},
		{"client timeout", block, nil, nil, true},
		{"request context deadline", block, func() context.Context {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			t.Cleanup(cancel)
			return ctx
		}, nil, true},
		{"bad location", "ftp://x", nil, nil, false},
		{"unreadable attachment", startHandler(t, statusHandler(200)), nil, func() *collector.Submission {
			s := collector.NewSubmission("x")
			s.AddFile(filepath.Join(t.TempDir(), "missing"), "missing.txt")
			return s
		}, false},
		{"directory as attachment", startHandler(t, statusHandler(200)), nil, func() *collector.Submission {
			s := collector.NewSubmission("x")
			s.AddFile(t.TempDir(), "dir")
			return s
		}, false},
	}
	c := newTestClient(t, ClientOptions{Timeout: 300 * time.Millisecond})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx()
			}
			sub := collector.NewSubmission("classify")
			if tt.sub != nil {
				sub = tt.sub()
			}
			_, err := c.Submit(ctx, tt.location, sub)
			if err == nil {
				t.Fatal("Submit succeeded")
			}
			if got := Transient(err); got != tt.transient {
				t.Fatalf("Transient(%v) = %v, want %v", err, got, tt.transient)
			}
		})
	}
}

func TestCallerCancellationIsNotTransient(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	loc := startHandler(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	c := newTestClient(t, ClientOptions{Timeout: time.Minute, RetryMax: 3})
	ctx, cancel := context.WithCancel(testCtx(t))
	go func() {
		<-arrived
		cancel()
	}()
	_, err := c.Submit(ctx, loc, collector.NewSubmission("cancel"))
	if err == nil || !errors.Is(err, context.Canceled) || Transient(err) {
		t.Fatalf("err = %v (transient %v)", err, Transient(err))
	}
}

func TestTransientValues(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("something"), false},
		{context.Canceled, false},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), true},
		{&StatusError{StatusCode: 502}, true},
		{&StatusError{StatusCode: 501}, true},
		{&StatusError{StatusCode: 409}, false},
		{&LocalError{Err: context.DeadlineExceeded}, false},
		{&ProtocolError{StatusCode: 200, Err: errors.New("x")}, false},
	}
	for _, tt := range tests {
		if got := Transient(tt.err); got != tt.want {
			t.Errorf("Transient(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"-5", 0}, {"junk", 0}, {"120", 2 * time.Minute},
		{"999999999", 24 * time.Hour},
		{"Mon, 01 Jan 2024 00:01:00 GMT", time.Minute},
		{"Sun, 31 Dec 2023 00:00:00 GMT", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
