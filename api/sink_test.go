package api

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// startSink runs ServeSink on 127.0.0.1:0 and returns "host:port"; the
// cleanup stops it and checks that it shut down cleanly.
func startSink(t testing.TB, o SinkOptions) string {
	t.Helper()
	addr, stop := runSink(t, o)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("ServeSink returned %v", err)
		}
	})
	return addr
}

// runSink runs ServeSink on 127.0.0.1:0 until stop is called; stop returns
// what ServeSink returned.
func runSink(t testing.TB, o SinkOptions) (string, func() error) {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	o.Listen = "127.0.0.1:0"
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	ready := make(chan net.Addr, 1)
	o.Ready = func(a net.Addr) { ready <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeSink(ctx, o) }()
	stopped := false
	var result error
	stop := func() error {
		if stopped {
			return result
		}
		stopped = true
		cancel()
		select {
		case result = <-done:
		case <-time.After(30 * time.Second):
			result = errors.New("ServeSink did not stop")
		}
		return result
	}
	select {
	case a := <-ready:
		return a.String(), stop
	case err := <-done:
		cancel()
		t.Fatalf("ServeSink: %v", err)
	case <-time.After(10 * time.Second):
		stop()
		t.Fatal("sink not ready")
	}
	return "", nil
}

func TestSinkTLSVerification(t *testing.T) {
	dir := t.TempDir()
	addr := startSink(t, SinkOptions{Dir: dir})
	caFile := filepath.Join(dir, "ca.pem")
	if _, err := os.Stat(caFile); err != nil {
		t.Fatalf("CA not written: %v", err)
	}
	sub := collector.NewSubmission("tls")

	// Verification is on by default: the self-signed sink is refused, and
	// the failure is transient (an operator fixes the CA, the backlog waits).
	c := newTestClient(t, ClientOptions{})
	_, err := c.Submit(testCtx(t), addr, sub)
	var ua x509.UnknownAuthorityError
	if err == nil || !errors.As(err, &ua) {
		t.Fatalf("default client accepted a self-signed certificate: %v", err)
	}
	if !Transient(err) {
		t.Fatalf("certificate failure not transient: %v", err)
	}

	for _, tc := range []struct {
		name string
		o    ClientOptions
		loc  string
	}{
		{"CAFile", ClientOptions{CAFile: caFile}, addr},
		{"CAFile https:// location", ClientOptions{CAFile: caFile}, "https://" + addr},
		{"CAFile localhost name", ClientOptions{CAFile: caFile}, strings.Replace(addr, "127.0.0.1", "localhost", 1)},
		{"InsecureSkipVerify", ClientOptions{InsecureSkipVerify: true}, addr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, tc.o)
			if err := c.Ping(testCtx(t), tc.loc); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Submit(testCtx(t), tc.loc, sub); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Plain HTTP against the TLS port fails (and is not silently accepted).
	c = newTestClient(t, ClientOptions{})
	if _, err := c.Submit(testCtx(t), "http://"+addr, sub); err == nil {
		t.Fatal("plain HTTP to a TLS port succeeded")
	}
}

func TestSinkClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewLocalCA()
	if err != nil {
		t.Fatal(err)
	}
	clientCA := writeTestFile(t, dir, "client-ca.pem", ca.CertPEM)
	cert, err := ca.IssueClient("collector01")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "c.key")
	if err := WriteKeyPair(cert, certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	// The sink's own server certificate comes from files too.
	serverCert, err := ca.Issue("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	sCert, sKey := filepath.Join(dir, "s.pem"), filepath.Join(dir, "s.key")
	if err := WriteKeyPair(serverCert, sCert, sKey); err != nil {
		t.Fatal(err)
	}
	addr := startSink(t, SinkOptions{Dir: filepath.Join(dir, "store"), CertFile: sCert, KeyFile: sKey, ClientCA: clientCA})

	without := newTestClient(t, ClientOptions{CAFile: clientCA})
	if err := without.Ping(testCtx(t), addr); err == nil {
		t.Fatal("sink accepted a client without certificate")
	}
	with := newTestClient(t, ClientOptions{CAFile: clientCA, CertFile: certFile, KeyFile: keyFile})
	if err := with.Ping(testCtx(t), addr); err != nil {
		t.Fatal(err)
	}
	if _, err := with.Submit(testCtx(t), addr, collector.NewSubmission("mtls")); err != nil {
		t.Fatal(err)
	}
}

func TestSinkPlainHTTP(t *testing.T) {
	dir := t.TempDir()
	got := make(chan *Received, 1)
	addr := startSink(t, SinkOptions{Dir: dir, PlainHTTP: true, OnSubmit: func(r *Received) { got <- r }})
	c := newTestClient(t, ClientOptions{})
	res, err := c.Submit(testCtx(t), "http://"+addr, collector.NewSubmission("plain"))
	if err != nil {
		t.Fatal(err)
	}
	if r := <-got; r.UUID != res.UUID {
		t.Fatalf("%s != %s", r.UUID, res.UUID)
	}
	if _, err := os.Stat(filepath.Join(dir, "ca.pem")); !os.IsNotExist(err) {
		t.Fatalf("plain HTTP sink wrote a CA: %v", err)
	}
}

func TestSinkBadOptions(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []SinkOptions{
		{Dir: dir, Listen: "127.0.0.1:0", CertFile: "x.pem"},
		{Dir: dir, Listen: "127.0.0.1:0", CertFile: filepath.Join(dir, "nope.pem"), KeyFile: filepath.Join(dir, "nope.key")},
		{Dir: dir, Listen: "not an address"},
		{Dir: "", Listen: "127.0.0.1:0"},
	} {
		if err := ServeSink(testCtx(t), o); err == nil {
			t.Errorf("ServeSink(%+v) succeeded", o)
		}
	}
}
