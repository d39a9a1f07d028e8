package api

import (
	"github.com/ace-collector/ace-collector/collector/collectortest"

	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// tlsGeneration is one set of TLS material: the server's CA and
// certificate, and the CA that signs clients plus a client certificate.
type tlsGeneration struct {
	serverCA, clientCA *LocalCA
	serverConf         *tls.Config
	client             tls.Certificate
}

func newTLSGeneration(t *testing.T) *tlsGeneration {
	t.Helper()
	g := &tlsGeneration{}
	var err error
	if g.serverCA, err = NewLocalCA(); err != nil {
		t.Fatal(err)
	}
	if g.clientCA, err = NewLocalCA(); err != nil {
		t.Fatal(err)
	}
	cert, err := g.serverCA.Issue("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if g.client, err = g.clientCA.IssueClient("collector"); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(g.clientCA.Cert)
	g.serverConf = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	return g
}

// install writes the generation's files where the client reads them, each
// replaced by a rename like a deployment tool does.
func (g *tlsGeneration) install(t *testing.T, caFile, certFile, keyFile string) {
	t.Helper()
	if err := writeFileAtomic(caFile, g.serverCA.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c, k := filepath.Join(dir, "c.pem"), filepath.Join(dir, "c.key")
	if err := WriteKeyPair(g.client, c, k); err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{c: certFile, k: keyFile} {
		if err := os.Rename(src, dst); err != nil {
			t.Fatal(err)
		}
	}
}

// The server's CA and certificate and the client's certificate are all
// rotated while one client keeps delivering: after the server switches,
// deliveries fail as a certificate problem (WARN naming the node, not a
// server error) until the new files are in place, then succeed with no
// new client.
func TestClientPicksUpRotatedCAAndCertificate(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	gen1, gen2 := newTLSGeneration(t), newTLSGeneration(t)
	gen1.install(t, caFile, certFile, keyFile)

	srv, err := NewServer(ServerOptions{Dir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var current atomic.Pointer[tls.Config]
	current.Store(gen1.serverConf)
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.TLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return current.Load(), nil }}
	// Every request on a new connection, so each one shakes hands with the
	// material of the moment (a restarted server drops its connections).
	hs.Config.SetKeepAlivesEnabled(false)
	hs.StartTLS()
	t.Cleanup(func() { hs.Close(); srv.Close() })
	loc := strings.TrimPrefix(hs.URL, "https://")

	logs := &collectortest.SyncBuffer{}
	c := newTestClient(t, ClientOptions{CAFile: caFile, CertFile: certFile, KeyFile: keyFile,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	deliver := func() error {
		_, err := c.Submit(testCtx(t), loc, newSub("rotation"))
		return err
	}
	if err := deliver(); err != nil {
		t.Fatal(err)
	}

	// The server rotates.
	current.Store(gen2.serverConf)
	for i := 0; i < 2; i++ {
		err := deliver()
		var ua x509.UnknownAuthorityError
		if err == nil || !errors.As(err, &ua) || FailureKind(err) != KindCertificate || !Transient(err) {
			t.Fatalf("delivery to the rotated server: %v (kind %s); want a transient certificate failure", err, FailureKind(err))
		}
	}
	warns := strings.Count(logs.String(), "level=WARN msg=\"TLS verification of the node's certificate failed")
	if warns != 1 || !strings.Contains(logs.String(), "node="+loc) || !strings.Contains(logs.String(), "kind=certificate") {
		t.Fatalf("want one WARN naming node %s:\n%s", loc, logs.String())
	}

	// The new files arrive; the same client picks them up.
	gen2.install(t, caFile, certFile, keyFile)
	for i := 0; i < 3; i++ {
		if err := deliver(); err != nil {
			t.Fatalf("delivery %d after the files were rotated: %v", i, err)
		}
	}
	if srv.Count() != 4 {
		t.Fatalf("server accepted %d, want 4", srv.Count())
	}
}

// A rotation caught half way (the certificate replaced, its key not yet)
// keeps the previous material instead of breaking the client.
func TestClientKeepsWorkingFilesWhenNewOnesDoNotLoad(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	gen := newTLSGeneration(t)
	gen.install(t, caFile, certFile, keyFile)
	srv, err := NewServer(ServerOptions{Dir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.TLS = gen.serverConf
	hs.Config.SetKeepAlivesEnabled(false)
	hs.StartTLS()
	t.Cleanup(func() { hs.Close(); srv.Close() })
	loc := strings.TrimPrefix(hs.URL, "https://")

	logs := &collectortest.SyncBuffer{}
	c := newTestClient(t, ClientOptions{CAFile: caFile, CertFile: certFile, KeyFile: keyFile,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	other, err := gen.clientCA.IssueClient("next")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	if err := WriteKeyPair(other, filepath.Join(tmp, "c.pem"), filepath.Join(tmp, "c.key")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(tmp, "c.pem"), certFile); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(testCtx(t), loc, newSub("half rotated")); err != nil {
		t.Fatalf("half-way rotation broke delivery: %v", err)
	}
	if !strings.Contains(logs.String(), "TLS files changed but do not load") {
		t.Fatalf("no warning about the mismatched files:\n%s", logs.String())
	}
}
