// Package tlsconf reads the TLS keys the group types share (verify_tls,
// ca_chain_path, client_cert, client_key, server_name) and builds client
// TLS configurations from them. Files are read for each new connection, so
// a rotated CA or certificate applies without a restart.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/ace-collector/ace-collector/collector"
)

// Settings are the TLS keys of one group.
type Settings struct {
	Verify     bool   // verify_tls: verify the server's certificate (default yes)
	CAFile     string // ca_chain_path: PEM CA bundle; empty = the system roots
	CertFile   string // client_cert
	KeyFile    string // client_key
	ServerName string // server_name: the name to verify; default the target's host
}

// Parse reads the keys from s, checking that named files exist.
func Parse(s *collector.Section, g collector.Global) Settings {
	st := Settings{
		Verify:     s.Bool("verify_tls", true),
		CAFile:     s.ExistingFile("ca_chain_path", g),
		CertFile:   s.ExistingFile("client_cert", g),
		KeyFile:    s.ExistingFile("client_key", g),
		ServerName: s.String("server_name", ""),
	}
	if (st.CertFile == "") != (st.KeyFile == "") {
		s.Errorf("client_cert", "client_cert and client_key go together")
	}
	return st
}

// Config returns a client configuration for a server at host (used as the
// name to verify unless server_name is set). Verification is on unless
// verify_tls = no.
func (s Settings) Config(host string) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, InsecureSkipVerify: !s.Verify}
	if s.ServerName != "" {
		conf.ServerName = s.ServerName
	}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s contains no PEM certificate", s.CAFile)
		}
		conf.RootCAs = pool
	}
	if s.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate %s / key %s: %w", s.CertFile, s.KeyFile, err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}
