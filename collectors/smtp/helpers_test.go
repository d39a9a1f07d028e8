package smtp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
)

const fixtures = "../common/mailparse/testdata"

// testPKI is a throw-away CA and a server certificate for 127.0.0.1/localhost.
type testPKI struct {
	certFile, keyFile string
	pool              *x509.CertPool
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	p := &testPKI{certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	p.pool.AddCert(caCert)
	if err := os.WriteFile(p.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *testPKI) client() *tls.Config {
	return &tls.Config{RootCAs: p.pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

func (p *testPKI) keys() string {
	return "tls_cert = " + p.certFile + "\ntls_key = " + p.keyFile + "\n"
}

func tryBuild(t testing.TB, keys string) (*Collector, []error) {
	t.Helper()
	f, err := ini.LoadSources(ini.LoadOptions{IgnoreInlineComment: true}, []byte("[collector_smtp_in]\n"+keys))
	if err != nil {
		t.Fatal(err)
	}
	var p collector.Problems
	sec := collector.NewSection(f.Section("collector_smtp_in"), &p)
	col, err := New(sec, collector.Global{Hostname: "collector.test", BaseDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	sec.Done()
	return col.(*Collector), p.List()
}

// serve builds and runs a collector listening on 127.0.0.1:0 and returns
// it with its sink and env once it is listening.
func serve(t testing.TB, keys string) (*Collector, *collectortest.Sink, *collector.Env) {
	t.Helper()
	c, probs := tryBuild(t, "listen = 127.0.0.1:0\nspool_dir = "+t.TempDir()+"\n"+keys)
	if len(probs) > 0 {
		t.Fatalf("config problems: %v", probs)
	}
	sink := collectortest.NewSink()
	env := collectortest.Env(t, "smtp_in", sink, collectortest.NewState())
	env.Global.Hostname = "collector.test" // the same [global] the factory saw
	logs := collectortest.RecordLogs(env)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, env) }()
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
				logs.CheckStartStop(t, "listen")
			case <-time.After(15 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	})
	select {
	case <-c.Ready():
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("listener not ready")
	}
	return c, sink, env
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dial connects, optionally upgrades with STARTTLS, and says EHLO.
func dial(t testing.TB, c *Collector, tlsCfg *tls.Config) *gosmtp.Client {
	t.Helper()
	var cl *gosmtp.Client
	var err error
	if tlsCfg != nil {
		cl, err = gosmtp.DialStartTLS(c.Addr().String(), tlsCfg)
	} else if cl, err = gosmtp.Dial(c.Addr().String()); err == nil {
		err = cl.Hello("client.test")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func smtpCode(err error) int {
	if e, ok := err.(*gosmtp.SMTPError); ok {
		return e.Code
	}
	return 0
}

func spoolEmpty(t testing.TB, c *Collector) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(c.cfg.SpoolDir, "*"))
	if len(left) > 0 {
		t.Errorf("spool_dir not empty: %v", left)
	}
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
