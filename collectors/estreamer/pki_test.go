package estreamer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// testPKI is a throw-away FMC-like PKI: an internal CA, a server
// certificate for 127.0.0.1 / fmc.test, and a client certificate, written
// as PEM files and as PKCS#12 files (modern with a password, legacy
// without one).
type testPKI struct {
	CA         *x509.Certificate
	CAKey      *ecdsa.PrivateKey
	Server     tls.Certificate
	ClientCert *x509.Certificate
	ClientKey  *ecdsa.PrivateKey
	Dir        string
	CAFile     string
	CertFile   string
	KeyFile    string
	P12Modern  string // password "secret"
	P12Legacy  string // empty password
}

var serial int64 = 1

func newCert(t testing.TB, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func newCA(t testing.TB, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	return newCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: name}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}, nil, nil)
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	p := &testPKI{Dir: t.TempDir()}
	p.CA, p.CAKey = newCA(t, "Test FMC internal CA")
	srv, srvKey := newCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "fmc.test"},
		DNSNames: []string{"fmc.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, p.CA, p.CAKey)
	p.Server = tls.Certificate{Certificate: [][]byte{srv.Raw}, PrivateKey: srvKey, Leaf: srv}
	p.ClientCert, p.ClientKey = newCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, p.CA, p.CAKey)
	p.CAFile = p.writePEM(t, "ca.pem", "CERTIFICATE", p.CA.Raw)
	p.CertFile = p.writePEM(t, "client.pem", "CERTIFICATE", p.ClientCert.Raw)
	kder, err := x509.MarshalPKCS8PrivateKey(p.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	p.KeyFile = p.writePEM(t, "client.key", "PRIVATE KEY", kder)
	modern, err := pkcs12.Modern.Encode(p.ClientKey, p.ClientCert, []*x509.Certificate{p.CA}, "secret")
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := pkcs12.Legacy.Encode(p.ClientKey, p.ClientCert, []*x509.Certificate{p.CA}, "")
	if err != nil {
		t.Fatal(err)
	}
	p.P12Modern = p.write(t, "client-modern.p12", modern)
	p.P12Legacy = p.write(t, "client-legacy.p12", legacy)
	return p
}

func (p *testPKI) writePEM(t testing.TB, name, typ string, der []byte) string {
	return p.write(t, name, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func (p *testPKI) write(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(p.Dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serverConfig requires a client certificate signed by the test CA.
func (p *testPKI) serverConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(p.CA)
	return &tls.Config{Certificates: []tls.Certificate{p.Server}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: pool, MinVersion: tls.VersionTLS12}
}
