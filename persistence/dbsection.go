package persistence

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
)

// DBSection holds the keys of an ACE-style [database_NAME] INI section
// (hostname, port, unix_socket, database, username, password, ssl_ca,
// ssl_cert, ssl_key, ssl_verify). The config package reads the keys; this
// type turns them into a go-sql-driver DSN.
type DBSection struct {
	Hostname   string
	Port       int // 0 means 3306
	UnixSocket string
	Database   string
	Username   string
	Password   string
	SSLCA      string // PEM file of the CA(s) the server certificate must chain to
	SSLCert    string // PEM client certificate, with SSLKey
	SSLKey     string
	// SSLVerify checks the server certificate's host name as well as its
	// chain. Without it, a given SSLCA still verifies the chain (MySQL's
	// VERIFY_CA); without SSLCA nothing is verified (encryption only).
	SSLVerify bool
}

// UsesTLS reports whether the section asks for TLS: any of ssl_ca,
// ssl_cert, ssl_key set.
func (d DBSection) UsesTLS() bool {
	return d.SSLCA != "" || d.SSLCert != "" || d.SSLKey != ""
}

func (d DBSection) port() int {
	if d.Port == 0 {
		return 3306
	}
	return d.Port
}

func (d DBSection) addr() string {
	if d.UnixSocket != "" {
		return "unix(" + d.UnixSocket + ")"
	}
	return "tcp(" + net.JoinHostPort(d.Hostname, strconv.Itoa(d.port())) + ")"
}

// String describes the connection for logs and status pages; it never
// shows the password.
func (d DBSection) String() string {
	s := d.Username + "@" + d.addr() + "/" + d.Database
	if d.UsesTLS() {
		switch {
		case d.SSLVerify:
			s += " (tls, verify host)"
		case d.SSLCA != "":
			s += " (tls, verify ca)"
		default:
			s += " (tls, no verification)"
		}
	}
	return s
}

// Validate checks the section without touching files or the network.
func (d DBSection) Validate() error {
	var errs []error
	if d.Database == "" {
		errs = append(errs, errors.New("database is required"))
	} else if strings.ContainsAny(d.Database, "/?") {
		errs = append(errs, fmt.Errorf("database %q contains / or ?", d.Database))
	}
	if d.UnixSocket == "" && d.Hostname == "" {
		errs = append(errs, errors.New("hostname or unix_socket is required"))
	}
	if d.Port < 0 || d.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d is out of range", d.Port))
	}
	if (d.SSLCert == "") != (d.SSLKey == "") {
		errs = append(errs, errors.New("ssl_cert and ssl_key go together"))
	}
	if d.SSLVerify && d.UsesTLS() && d.SSLCA == "" && d.Hostname == "" {
		errs = append(errs, errors.New("ssl_verify needs a hostname to verify"))
	}
	return errors.Join(errs...)
}

// DSN returns the go-sql-driver DSN for the section. When ssl_* keys are
// given it reads the files now and registers the TLS configuration with the
// driver under a name derived from the section's TLS settings.
func (d DBSection) DSN() (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("database %s: %w", d, err)
	}
	c := mysqldrv.NewConfig()
	c.User = d.Username
	c.Passwd = d.Password
	c.DBName = d.Database
	c.Timeout = 10 * time.Second
	if d.UnixSocket != "" {
		c.Net, c.Addr = "unix", d.UnixSocket
	} else {
		c.Net, c.Addr = "tcp", net.JoinHostPort(d.Hostname, strconv.Itoa(d.port()))
	}
	if d.UsesTLS() {
		tc, err := d.tlsConfig()
		if err != nil {
			return "", fmt.Errorf("database %s: %w", d, err)
		}
		h := sha256.New()
		for _, v := range []string{d.Hostname, d.SSLCA, d.SSLCert, d.SSLKey, strconv.FormatBool(d.SSLVerify)} {
			h.Write([]byte(v))
			h.Write([]byte{0})
		}
		name := "ace-collector-" + hex.EncodeToString(h.Sum(nil)[:8])
		if err := mysqldrv.RegisterTLSConfig(name, tc); err != nil {
			return "", fmt.Errorf("database %s: registering TLS config: %w", d, err)
		}
		c.TLSConfig = name
	}
	dsn := c.FormatDSN()
	// The DSN syntax cannot carry every byte in every field (a ':' in the
	// user name, an '@' in a socket path...): refuse what would not parse
	// back to the same connection.
	back, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("database %s: these values cannot be expressed as a DSN: %w", d, err)
	}
	for _, f := range []struct{ key, got, want string }{
		{"username", back.User, c.User}, {"password", back.Passwd, c.Passwd},
		{"database", back.DBName, c.DBName}, {"hostname/port/unix_socket", back.Net + " " + back.Addr, c.Net + " " + c.Addr},
	} {
		if f.got != f.want {
			return "", fmt.Errorf("database %s: %s contains characters a DSN cannot carry", d, f.key)
		}
	}
	return dsn, nil
}

func (d DBSection) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: d.Hostname}
	if d.SSLCA != "" {
		pem, err := os.ReadFile(d.SSLCA)
		if err != nil {
			return nil, fmt.Errorf("ssl_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ssl_ca: no PEM certificate in %s", d.SSLCA)
		}
		tc.RootCAs = pool
	}
	if d.SSLCert != "" {
		cert, err := tls.LoadX509KeyPair(d.SSLCert, d.SSLKey)
		if err != nil {
			return nil, fmt.Errorf("ssl_cert/ssl_key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if d.SSLVerify {
		return tc, nil
	}
	// No host name check. With a CA, still verify the chain ourselves.
	tc.InsecureSkipVerify = true
	if tc.RootCAs != nil {
		roots := tc.RootCAs
		tc.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyChain(raw, roots)
		}
	}
	return tc, nil
}

func verifyChain(raw [][]byte, roots *x509.CertPool) error {
	if len(raw) == 0 {
		return errors.New("server sent no certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, b := range raw {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return fmt.Errorf("server certificate: %w", err)
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
	if err != nil {
		return fmt.Errorf("server certificate: %w", err)
	}
	return nil
}
