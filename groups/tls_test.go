package groups_test

import (
	"crypto/tls"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ace-collector/ace-collector/api"
)

// A node whose certificate the group does not trust: each failure is a
// WARN naming the node with kind=certificate, the items wait (retried, not
// parked, not counted as errors), and once ca_chain_path holds the right
// CA they are delivered by the running manager.
func TestUntrustedNodeCertificateWaitsForTheRightCA(t *testing.T) {
	nodeCA, err := api.NewLocalCA()
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := api.NewLocalCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := nodeCA.Issue("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	n := newNode(t)
	hs := httptest.NewUnstartedServer(n.hs.Config.Handler)
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	hs.StartTLS()
	t.Cleanup(hs.Close)
	loc := strings.TrimPrefix(hs.URL, "https://") // host:port: HTTPS, as ACE serves it

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, otherCA.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	p := startPipeline(t, nodeSection("tlsnode", loc)+"[collection_group_g]\nca_chain_path = "+caFile+"\n"+fast)
	p.submit(2, nil)
	ctx := testCtx(t)
	p.waitUntil(ctx, "retries", func() bool { return p.Stats().Get("group:g", "retried") >= 2 })
	lines := p.logLines("level=WARN", `msg="delivery failed; will retry"`, "node=tlsnode", "kind=certificate")
	if len(lines) == 0 {
		t.Fatalf("no WARN naming the node with kind=certificate:\n%s", p.Logs())
	}
	if p.count("g", "ERROR") != 0 || p.Stats().Get("group:g", "errors") != 0 {
		t.Fatalf("a certificate problem was counted as a permanent error")
	}

	tmp := caFile + ".new"
	if err := os.WriteFile(tmp, nodeCA.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, caFile); err != nil {
		t.Fatal(err)
	}
	n.waitFor(ctx, 2)
	p.waitUntil(ctx, "cleanup", func() bool { return p.backlog() == 0 })
}
