package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// DefaultSinkListen is where `ace-collector sink` listens by default.
const DefaultSinkListen = "127.0.0.1:24443"

// SinkOptions configures ServeSink.
type SinkOptions struct {
	Listen    string // default DefaultSinkListen
	Dir       string // storage root
	PlainHTTP bool   // serve plain HTTP instead of HTTPS
	// CertFile/KeyFile serve HTTPS with this certificate; when both are
	// empty (and !PlainHTTP) a self-signed CA and a server certificate for
	// 127.0.0.1, ::1, localhost and the listen host are generated, and the
	// CA is written to CAOut for clients' ca_chain_path.
	CertFile, KeyFile string
	CAOut             string // default Dir/ca.pem
	// ClientCAFile, when set, requires client certificates signed by it.
	ClientCAFile string
	APIKeys      []string // see ServerOptions
	CompanyName  string   // see ServerOptions
	MaxBodyBytes int64    // see ServerOptions
	Logger       *slog.Logger
	Ready        func(addr net.Addr) // called once listening
	OnSubmit     func(*Received)     // see ServerOptions
}

// ServeSink runs an ACE-compatible receiver until ctx is done, then shuts
// down gracefully (in-flight submissions finish, up to 30 seconds).
func ServeSink(ctx context.Context, o SinkOptions) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Listen == "" {
		o.Listen = DefaultSinkListen
	}
	srv, err := NewServer(ServerOptions{Dir: o.Dir, CompanyName: o.CompanyName, APIKeys: o.APIKeys,
		MaxBodyBytes: o.MaxBodyBytes, Logger: log, OnSubmit: o.OnSubmit})
	if err != nil {
		return err
	}
	defer srv.Close()

	var tlsConf *tls.Config
	if !o.PlainHTTP {
		if tlsConf, err = sinkTLS(o, log); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("sink: listening on %s: %w", o.Listen, err)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	scheme := "https"
	if tlsConf == nil {
		scheme = "http"
	} else {
		ln = tls.NewListener(ln, tlsConf)
	}
	log.Info("sink listening", "addr", ln.Addr().String(), "scheme", scheme, "dir", o.Dir)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	if o.Ready != nil {
		o.Ready(ln.Addr())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("sink: serving on %s: %w", o.Listen, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = hs.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	log.Info("sink stopped", "accepted", srv.Count())
	if err != nil {
		return fmt.Errorf("sink: shutting down: %w", err)
	}
	return nil
}

func sinkTLS(o SinkOptions, log *slog.Logger) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case o.CertFile != "" || o.KeyFile != "":
		if o.CertFile == "" || o.KeyFile == "" {
			return nil, fmt.Errorf("sink: both a certificate file and a key file are needed (got cert %q, key %q)",
				o.CertFile, o.KeyFile)
		}
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("sink: loading certificate %s / key %s: %w", o.CertFile, o.KeyFile, err)
		}
		conf.Certificates = []tls.Certificate{cert}
	default:
		host, _, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("sink: listen address %q: %w", o.Listen, err)
		}
		hosts := []string{"127.0.0.1", "::1", "localhost"}
		if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
			if !slices.Contains(hosts, host) {
				hosts = append(hosts, host)
			}
		} else if hn, err := os.Hostname(); err == nil {
			hosts = append(hosts, hn)
		}
		ca, err := NewLocalCA()
		if err != nil {
			return nil, fmt.Errorf("sink: %w", err)
		}
		cert, err := ca.Issue(hosts...)
		if err != nil {
			return nil, fmt.Errorf("sink: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
		caOut := o.CAOut
		if caOut == "" {
			caOut = filepath.Join(o.Dir, "ca.pem")
		}
		if err := writeFileAtomic(caOut, ca.CertPEM); err != nil {
			return nil, fmt.Errorf("sink: writing CA certificate: %w", err)
		}
		log.Info("sink generated a self-signed CA; give it to clients as ca_chain_path", "ca", caOut, "hosts", hosts)
	}
	if o.ClientCAFile != "" {
		pem, err := os.ReadFile(o.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("sink: reading client CA file %s: %w", o.ClientCAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("sink: client CA file %s contains no PEM certificate", o.ClientCAFile)
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return conf, nil
}

func writeFileAtomic(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-"+filepath.Base(p)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}
