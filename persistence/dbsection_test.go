package persistence

import (
	"context"
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
	"strconv"
	"strings"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/ace-collector/ace-collector/persistence/mysqltest"
)

func TestDBSectionDSN(t *testing.T) {
	for _, tc := range []struct {
		name    string
		d       DBSection
		dsn     string // "" = error expected
		str     string
		wantErr string
	}{
		{"tcp default port", DBSection{Hostname: "db.example", Database: "ace", Username: "ace", Password: "s3cret"},
			"ace:s3cret@tcp(db.example:3306)/ace?timeout=10s", "ace@tcp(db.example:3306)/ace", ""},
		{"ipv6 and port", DBSection{Hostname: "::1", Port: 3307, Database: "ace", Username: "u"},
			"u@tcp([::1]:3307)/ace?timeout=10s", "u@tcp([::1]:3307)/ace", ""},
		{"unix socket wins", DBSection{Hostname: "localhost", UnixSocket: "/run/mysqld/mysqld.sock", Database: "ace", Username: "u", Password: "p"},
			"u:p@unix(/run/mysqld/mysqld.sock)/ace?timeout=10s", "u@unix(/run/mysqld/mysqld.sock)/ace", ""},
		{"no database", DBSection{Hostname: "h", Username: "u"}, "", "", "database is required"},
		{"database with slash", DBSection{Hostname: "h", Database: "a/b"}, "", "", "contains / or ?"},
		{"no host", DBSection{Database: "ace"}, "", "", "hostname or unix_socket"},
		{"bad port", DBSection{Hostname: "h", Database: "ace", Port: 70000}, "", "", "out of range"},
		{"cert without key", DBSection{Hostname: "h", Database: "ace", SSLCert: "c.pem"}, "", "", "ssl_cert and ssl_key"},
		{"missing ca file", DBSection{Hostname: "h", Database: "ace", SSLCA: "/nonexistent/ca.pem"}, "", "", "ssl_ca"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn, err := tc.d.DSN()
			if tc.dsn == "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if tc.d.Password != "" && strings.Contains(err.Error(), tc.d.Password) {
					t.Fatalf("error shows the password: %v", err)
				}
				return
			}
			if err != nil || dsn != tc.dsn {
				t.Fatalf("DSN %q, %v; want %q", dsn, err, tc.dsn)
			}
			if s := tc.d.String(); s != tc.str {
				t.Errorf("String %q, want %q", s, tc.str)
			}
		})
	}
}

func TestDBSectionPasswordRoundTrip(t *testing.T) {
	for _, pw := range []string{"p@ss:/word?x=1", "with space", "ünïcode&%", `back\slash"quote'`} {
		d := DBSection{Hostname: "h", Database: "ace", Username: "u", Password: pw}
		dsn, err := d.DSN()
		if err != nil {
			t.Fatal(err)
		}
		c, err := mysqldrv.ParseDSN(dsn)
		if err != nil || c.Passwd != pw || c.DBName != "ace" || c.User != "u" {
			t.Errorf("password %q: parsed %+v, %v", pw, c, err)
		}
		if strings.Contains(d.String(), pw) {
			t.Errorf("String shows the password: %s", d)
		}
	}
}

// testPKI writes a CA and a server and client certificate signed by it.
func testPKI(t *testing.T) (dir string, ca *x509.Certificate, srv tls.Certificate) {
	t.Helper()
	dir = t.TempDir()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	leaf := func(name string, k *ecdsa.PrivateKey, serial int64) []byte {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", "CERTIFICATE", caDER)
	ck := key()
	write("client.pem", "CERTIFICATE", leaf("client", ck, 2))
	kder, _ := x509.MarshalECPrivateKey(ck)
	write("client.key", "EC PRIVATE KEY", kder)
	sk := key()
	srv = tls.Certificate{Certificate: [][]byte{leaf("db.example", sk, 3)}, PrivateKey: sk}
	return dir, ca, srv
}

func TestDBSectionTLS(t *testing.T) {
	dir, _, srv := testPKI(t)
	base := DBSection{Hostname: "db.example", Database: "ace", Username: "u", Password: "pw",
		SSLCA: filepath.Join(dir, "ca.pem"), SSLCert: filepath.Join(dir, "client.pem"), SSLKey: filepath.Join(dir, "client.key")}
	other, _, _ := testPKI(t) // a CA the server certificate does not chain to
	for _, tc := range []struct {
		name     string
		d        DBSection
		insecure bool
		chainErr bool // the server certificate is rejected
	}{
		{"verify host", func() DBSection { d := base; d.SSLVerify = true; return d }(), false, false},
		{"verify ca only", base, true, false},
		{"wrong ca", func() DBSection { d := base; d.SSLCA = filepath.Join(other, "ca.pem"); return d }(), true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn, err := tc.d.DSN()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(tc.d.String(), "pw") {
				t.Fatalf("String shows the password: %s", tc.d)
			}
			c, err := mysqldrv.ParseDSN(dsn)
			if err != nil || c.TLS == nil {
				t.Fatalf("DSN %q: tls config not registered (%v)", dsn, err)
			}
			if c.TLS.InsecureSkipVerify != tc.insecure || c.TLS.ServerName != "db.example" || len(c.TLS.Certificates) != 1 {
				t.Fatalf("tls config: insecure=%v server=%q certs=%d", c.TLS.InsecureSkipVerify, c.TLS.ServerName, len(c.TLS.Certificates))
			}
			if tc.insecure {
				err := c.TLS.VerifyPeerCertificate(srv.Certificate, nil)
				if (err != nil) != tc.chainErr {
					t.Fatalf("chain verification: %v, want error=%v", err, tc.chainErr)
				}
			}
		})
	}
	// TLS without a CA: encryption only.
	d := DBSection{Hostname: "h", Database: "ace", SSLCert: base.SSLCert, SSLKey: base.SSLKey}
	dsn, err := d.DSN()
	if err != nil {
		t.Fatal(err)
	}
	c, _ := mysqldrv.ParseDSN(dsn)
	if c.TLS == nil || !c.TLS.InsecureSkipVerify || c.TLS.VerifyPeerCertificate != nil {
		t.Fatalf("tls without ca: %+v", c.TLS)
	}
	if !strings.Contains(d.String(), "no verification") {
		t.Errorf("String %q does not say the server is not verified", d)
	}
	// A CA file without PEM is an error, not an empty pool.
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not pem"), 0o600)
	if _, err := (DBSection{Hostname: "h", Database: "ace", SSLCA: bad}).DSN(); err == nil {
		t.Fatal("no error for a CA file without certificates")
	}
}

// A DBSection DSN connects to the test server.
func TestDBSectionConnects(t *testing.T) {
	dsn := mysqltest.NewDatabase(t)
	c, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	d := DBSection{Database: c.DBName, Username: c.User, Password: c.Passwd}
	if c.Net == "unix" {
		d.UnixSocket = c.Addr
	} else {
		host, port, err := net.SplitHostPort(c.Addr)
		if err != nil {
			t.Fatal(err)
		}
		d.Hostname = host
		d.Port, _ = strconv.Atoi(port)
	}
	sdsn, err := d.DSN()
	if err != nil {
		t.Fatal(err)
	}
	db, err := OpenMySQL(context.Background(), sdsn)
	if err != nil {
		t.Fatalf("%s: %v", d, err)
	}
	defer db.Close()
	var name string
	if err := db.Get(&name, "SELECT DATABASE()"); err != nil || name != c.DBName {
		t.Fatalf("connected to %q, %v", name, err)
	}
}

// FuzzDBSectionDSN: any INI values give either an error or a DSN that
// parses back to the same user, password, database and address.
func FuzzDBSectionDSN(f *testing.F) {
	f.Add("db.example", 3306, "", "ace", "ace", "s3cret")
	f.Add("::1", 0, "", "a", "u@x", "p@ss:/w?x")
	f.Add("", 0, "/run/mysqld/mysqld.sock", "ace", "root", "")
	f.Fuzz(func(t *testing.T, host string, port int, sock, dbName, user, pw string) {
		d := DBSection{Hostname: host, Port: port, UnixSocket: sock, Database: dbName, Username: user, Password: pw}
		dsn, err := d.DSN()
		if err != nil {
			return
		}
		c, err := mysqldrv.ParseDSN(dsn)
		if err != nil {
			// go-sql-driver's DSN format cannot carry every byte in every
			// field; DSN must then refuse rather than produce a DSN that
			// means something else.
			t.Fatalf("DSN %q does not parse: %v", dsn, err)
		}
		if c.User != user || c.Passwd != pw || c.DBName != dbName {
			t.Fatalf("DSN %q parsed as user %q password %q db %q", dsn, c.User, c.Passwd, c.DBName)
		}
	})
}
