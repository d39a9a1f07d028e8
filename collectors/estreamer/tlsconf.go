package estreamer

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"software.sslmate.com/src/go-pkcs12"
)

// credentials are the client certificate and the CAs to trust.
type credentials struct {
	Cert tls.Certificate
	CAs  []*x509.Certificate
}

// loadCredentials reads the PKCS#12 file (key, leaf, CA chain; password
// may be empty) or the PEM cert/key files, plus ca_file if set.
func loadCredentials(f TLSFiles) (*credentials, error) {
	var c credentials
	if f.PKCS12File != "" {
		data, err := os.ReadFile(f.PKCS12File)
		if err != nil {
			return nil, fmt.Errorf("reading PKCS#12 file: %w", err)
		}
		key, leaf, cas, err := pkcs12.DecodeChain(data, f.PKCS12Password)
		if err != nil {
			if errors.Is(err, pkcs12.ErrIncorrectPassword) {
				return nil, fmt.Errorf("PKCS#12 file %s: wrong or missing pkcs12_password", f.PKCS12File)
			}
			return nil, fmt.Errorf("decoding PKCS#12 file %s: %w", f.PKCS12File, err)
		}
		c.Cert = tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
		c.CAs = cas
	} else {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading cert_file/key_file: %w", err)
		}
		c.Cert = cert
	}
	if f.CAFile != "" {
		data, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading ca_file: %w", err)
		}
		cas, err := parsePEMCerts(data)
		if err != nil {
			return nil, fmt.Errorf("ca_file %s: %w", f.CAFile, err)
		}
		c.CAs = append(c.CAs, cas...)
	}
	return &c, nil
}

func parsePEMCerts(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}

// tlsConfig builds the client TLS configuration for one connection.
func tlsConfig(cfg *Config, creds *credentials) *tls.Config {
	tc := &tls.Config{
		Certificates: []tls.Certificate{creds.Cert},
		MinVersion:   cfg.MinTLS,
	}
	var pool *x509.CertPool
	if len(creds.CAs) > 0 {
		pool = x509.NewCertPool()
		for _, ca := range creds.CAs {
			pool.AddCert(ca)
		}
	}
	switch cfg.Verify {
	case VerifyOff:
		tc.InsecureSkipVerify = true
	case VerifyChain:
		// Chain against the FMC's internal CA without host-name matching:
		// what the FMC certificate names could not be determined.
		tc.InsecureSkipVerify = true
		tc.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyChain(raw, pool)
		}
	default:
		tc.RootCAs = pool // nil = system roots
		tc.ServerName = cfg.ServerName
		if tc.ServerName == "" {
			tc.ServerName = cfg.Host
		}
	}
	return tc
}

func verifyChain(raw [][]byte, roots *x509.CertPool) error {
	if len(raw) == 0 {
		return errors.New("server sent no certificate")
	}
	if roots == nil {
		return errors.New("no CA to verify the server certificate against")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return fmt.Errorf("parsing server certificate %d: %w", i, err)
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageAny}})
	if err != nil {
		return fmt.Errorf("server certificate %q does not chain to the configured CA: %w", certs[0].Subject.String(), err)
	}
	return nil
}
