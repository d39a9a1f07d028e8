package main

import (
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ace-collector/ace-collector/api"
)

// ping checks each node step by step and exits 0 only when every group
// has a usable node: a verified ACE-compatible node passes; a node with an
// untrusted certificate fails at TLS, naming the certificate's names; a
// web server that is not ACE fails at ping.
func TestPingTable(t *testing.T) {
	dir := t.TempDir()
	ca, err := api.NewLocalCA()
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}), 0o600)
	srv, err := api.NewServer(api.ServerOptions{Dir: filepath.Join(dir, "node")})
	if err != nil {
		t.Fatal(err)
	}
	good := httptest.NewUnstartedServer(srv.Handler())
	cert, err := ca.Issue("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	good.TLS = (&tlsConfigWith{cert}).config()
	good.StartTLS()
	defer good.Close()
	untrusted := httptest.NewTLSServer(srv.Handler()) // httptest's own certificate
	defer untrusted.Close()
	notACE := httptest.NewServer(http.NotFoundHandler())
	defer notACE.Close()

	conf := func(groups string) string {
		return fmt.Sprintf("[global]\ndata_dir = %s\n[node_good]\nlocation = %s\n[node_untrusted]\nlocation = %s\n[node_web]\nlocation = %s\n%s",
			dir, good.URL, untrusted.URL, notACE.URL, groups)
	}
	path := filepath.Join(dir, "a.ini")
	os.WriteFile(path, []byte(conf(fmt.Sprintf("[collection_group_main]\ntarget_nodes = good\nca_chain_path = %s\n"+
		"[collection_group_other]\ntarget_nodes = untrusted, web\nca_chain_path = %s\n", caFile, caFile))), 0o600)
	code, out, errs := runCLI(t, "ping", "-c", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errs)
	}
	lines := strings.Split(out, "\n")
	find := func(node string) string {
		for _, l := range lines {
			if f := strings.Fields(l); len(f) > 2 && f[1] == node {
				return l
			}
		}
		t.Fatalf("no row for %s in\n%s", node, out)
		return ""
	}
	if l := find("good"); strings.Join(strings.Fields(l)[3:8], " ") != "ok ok ok ok ok" || !strings.Contains(l, "usable (TLS 1.3, certificate for 127.0.0.1") {
		t.Errorf("good node: %q", l)
	}
	if l := find("untrusted"); !strings.Contains(l, "FAIL") || !strings.Contains(l, "presents a certificate for example.com") {
		t.Errorf("untrusted node: %q", l)
	}
	if l := find("web"); !strings.Contains(l, "ping: ") || !strings.Contains(l, "404") {
		t.Errorf("web node: %q", l)
	}
	if !strings.Contains(out, "no usable node in group(s): other") {
		t.Errorf("summary:\n%s", out)
	}

	os.WriteFile(path, []byte(conf(fmt.Sprintf("[collection_group_main]\ntarget_nodes = good\nca_chain_path = %s\n", caFile))), 0o600)
	if code, out, errs := runCLI(t, "ping", "-c", path); code != 0 || !strings.Contains(out, "every group has a usable node") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
}

type tlsConfigWith struct{ cert tls.Certificate }

func (c *tlsConfigWith) config() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.cert}}
}
