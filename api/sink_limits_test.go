package api

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
)

// rawConn dials addr and fails the test if any read takes longer than the
// test's own deadline (a guard, never the thing asserted).
func rawConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	dl, _ := testCtx(t).Deadline()
	c.SetReadDeadline(dl)
	return c
}

// trickle writes one byte per tick until a write fails (the server closed
// the connection) or the test ends; it reports how many bytes went out.
func trickle(t *testing.T, c net.Conn, every time.Duration) <-chan int {
	sent := make(chan int, 1)
	ctx := testCtx(t)
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		n := 0
		for {
			select {
			case <-ctx.Done():
				sent <- n
				return
			case <-tick.C:
			}
			if _, err := c.Write([]byte("x")); err != nil {
				sent <- n
				return
			}
			n++
		}
	}()
	return sent
}

// A client trickling its headers or its body is cut off by the configured
// timeouts, its staging directory removed; the sink then still serves.
func TestSinkCutsOffSlowClients(t *testing.T) {
	dir := t.TempDir()
	addr := startSink(t, SinkOptions{Dir: dir, PlainHTTP: true,
		ReadHeaderTimeout: 150 * time.Millisecond, BodyTimeout: 150 * time.Millisecond, MinBodyRate: 1 << 10})
	tests := []struct {
		name   string
		prefix string // sent at once, then one byte every 10 ms (100 B/s)
		want   string // first line of the answer; "" = closed without one
	}{
		{"headers", "POST /api/analysis/submit HTTP/1.1\r\nHost: sink\r\nX-Slow: ", ""},
		{"body", "POST /api/analysis/submit HTTP/1.1\r\nHost: sink\r\nContent-Type: multipart/form-data; boundary=b\r\n" +
			"Content-Length: 1000000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n",
			"HTTP/1.1 408 Request Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rawConn(t, addr)
			if _, err := io.WriteString(c, tt.prefix); err != nil {
				t.Fatal(err)
			}
			sent := trickle(t, c, 10*time.Millisecond)
			line, err := bufio.NewReader(c).ReadString('\n')
			if tt.want == "" {
				if err == nil {
					t.Fatalf("answered %q, want the connection closed", line)
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatal("the sink held the connection until the test's deadline")
				}
			} else if strings.TrimSpace(line) != tt.want {
				t.Fatalf("answer %q, %v; want %q", line, err, tt.want)
			}
			c.Close()
			if n := <-sent; n > 300 {
				t.Fatalf("%d bytes trickled before the cut", n)
			}
			for _, d := range submissionDirs(t, dir) {
				if strings.HasPrefix(d, tmpPrefix) {
					t.Fatalf("staging dir %s left behind", d)
				}
			}
		})
	}
	// The body check does not hurt an ordinary client.
	c := newTestClient(t, ClientOptions{})
	if _, err := c.Submit(testCtx(t), "http://"+addr, newSubWithFile(t, 64<<10)); err != nil {
		t.Fatal(err)
	}
}

func newSubWithFile(t *testing.T, size int) *collector.Submission {
	sub := newSub("with file")
	p := writeTestFile(t, t.TempDir(), "f.bin", bytes.Repeat([]byte{'a'}, size))
	sub.Files = []collector.File{{Path: p, Name: "f.bin"}}
	return sub
}

// ping sends a keep-alive ping on c and returns the status line.
func ping(t *testing.T, c net.Conn, r *bufio.Reader) (string, error) {
	t.Helper()
	if _, err := io.WriteString(c, "GET /api/common/ping HTTP/1.1\r\nHost: sink\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Status, nil
}

// With MaxConns connections open, the next one is not served until one of
// them closes.
func TestSinkConnectionLimit(t *testing.T) {
	addr := startSink(t, SinkOptions{PlainHTTP: true, MaxConns: 2})
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c := rawConn(t, addr)
		if st, err := ping(t, c, bufio.NewReader(c)); err != nil || st != "200 OK" {
			t.Fatalf("connection %d: %q, %v", i, st, err)
		}
		held = append(held, c)
	}
	third := rawConn(t, addr)
	r := bufio.NewReader(third)
	answered := make(chan string, 1)
	go func() {
		st, err := ping(t, third, r)
		answered <- fmt.Sprint(st, err)
	}()
	// A bounded look for a wrong early answer: under load it can only miss
	// a broken limit, never fail a working one.
	select {
	case a := <-answered:
		t.Fatalf("a third connection was served (%s) while two were open", a)
	case <-time.After(200 * time.Millisecond):
	}
	held[0].Close()
	if a := <-answered; a != "200 OK<nil>" {
		t.Fatalf("third connection after one closed: %s", a)
	}
}

func TestSinkAPIKeyAndMaxBody(t *testing.T) {
	addr := "http://" + startSink(t, SinkOptions{PlainHTTP: true, APIKey: "k3y", MaxBody: 32 << 10})
	tests := []struct {
		name   string
		key    string
		size   int
		status int // 0 = accepted
	}{
		{"no key", "", 10, http.StatusUnauthorized},
		{"wrong key", "nope", 10, http.StatusForbidden},
		{"key", "k3y", 10, 0},
		{"too large", "k3y", 64 << 10, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, ClientOptions{APIKey: tt.key})
			_, err := c.Submit(testCtx(t), addr, newSubWithFile(t, tt.size))
			if tt.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != tt.status || Transient(err) || FailureKind(err) != KindRejected {
				t.Fatalf("err = %v (kind %s), want a permanent %d", err, FailureKind(err), tt.status)
			}
		})
	}
}

// A restarted sink keeps its CA, so a client configured with the first
// start's ca.pem delivers to the second; an unusable CA is replaced.
func TestSinkKeepsItsCAAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	addr, stop := runSink(t, SinkOptions{Dir: dir})
	first, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "ca.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key: %v, %v", fi, err)
	}
	c := newTestClient(t, ClientOptions{CAFile: caFile})
	if err := c.Ping(testCtx(t), addr); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	addr = startSink(t, SinkOptions{Dir: dir})
	second, _ := os.ReadFile(caFile)
	if !bytes.Equal(first, second) {
		t.Fatal("the restarted sink made a new CA")
	}
	if _, err := c.Submit(testCtx(t), addr, newSub("after restart")); err != nil {
		t.Fatalf("a client of the first start cannot deliver to the second: %v", err)
	}

	// A key that does not belong to the certificate: replaced, with a WARN.
	other, err := NewLocalCA()
	if err != nil {
		t.Fatal(err)
	}
	if err := other.save(filepath.Join(t.TempDir(), "x.pem"), filepath.Join(dir, "ca.key")); err != nil {
		t.Fatal(err)
	}
	logs := &collectortest.SyncBuffer{}
	startSink(t, SinkOptions{Dir: dir, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	third, _ := os.ReadFile(caFile)
	if bytes.Equal(first, third) || !strings.Contains(logs.String(), "does not belong to certificate") {
		t.Fatalf("a CA with a foreign key was reused or replaced silently:\n%s", logs.String())
	}
	if _, err := loadLocalCA(caFile, filepath.Join(dir, "ca.key"), time.Now()); err != nil {
		t.Fatalf("the replacement CA does not load: %v", err)
	}
}

// An idle keep-alive connection is closed after IdleTimeout.
func TestSinkClosesIdleConnections(t *testing.T) {
	addr := startSink(t, SinkOptions{PlainHTTP: true, IdleTimeout: 100 * time.Millisecond})
	c := rawConn(t, addr)
	r := bufio.NewReader(c)
	if st, err := ping(t, c, r); err != nil || st != "200 OK" {
		t.Fatalf("ping: %q, %v", st, err)
	}
	// Nothing more is sent: the sink closes the connection (EOF), long
	// before the test's own read deadline.
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
}
