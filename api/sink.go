package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/netutil"
)

// DefaultSinkListen is where `ace-collector sink` listens by default.
const DefaultSinkListen = "127.0.0.1:24443"

// SinkOptions configures ServeSink.
type SinkOptions struct {
	Listen    string // default DefaultSinkListen
	Dir       string // storage root
	PlainHTTP bool   // serve plain HTTP instead of HTTPS
	// CertFile/KeyFile serve HTTPS with this certificate; when both are
	// empty (and !PlainHTTP) the sink uses its own CA: CAOut and the key
	// beside it (CAOut with extension .key) when they hold a valid CA, a
	// newly generated one otherwise, so clients that trust CAOut keep
	// trusting restarted sinks. Each start issues a server certificate for
	// 127.0.0.1, ::1, localhost and the listen host from that CA.
	CertFile, KeyFile string
	CAOut             string // default Dir/ca.pem
	// ClientCA, when set, is a PEM CA bundle: clients must present a
	// certificate it verifies.
	ClientCA string
	// APIKey, when set, is required in header x-ace-auth or x-ice-auth
	// (401 without it, 403 when wrong).
	APIKey string
	// MaxBody is the largest request body accepted (413 beyond it);
	// default 1 GiB.
	MaxBody     int64
	CompanyName string // see ServerOptions

	// Slow or idle clients: a request's headers must arrive within
	// ReadHeaderTimeout (default 10 s), its body within BodyTimeout plus
	// its size at MinBodyRate bytes per second (defaults 30 s, 16 KiB/s),
	// an idle keep-alive connection is closed after IdleTimeout (default
	// 2 min), and at most MaxConns connections are served at once (default
	// 256; more wait to be accepted).
	ReadHeaderTimeout time.Duration
	BodyTimeout       time.Duration
	MinBodyRate       int64
	IdleTimeout       time.Duration
	MaxConns          int

	Logger   *slog.Logger
	Ready    func(addr net.Addr) // called once listening
	OnSubmit func(*Received)     // see ServerOptions
}

func (o *SinkOptions) defaults() {
	if o.Listen == "" {
		o.Listen = DefaultSinkListen
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = 10 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 256
	}
	if o.CAOut == "" {
		o.CAOut = filepath.Join(o.Dir, "ca.pem")
	}
}

// ServeSink runs an ACE-compatible receiver until ctx is done, then shuts
// down gracefully (in-flight submissions finish, up to 30 seconds).
func ServeSink(ctx context.Context, o SinkOptions) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o.defaults()
	var keys []string
	if o.APIKey != "" {
		keys = []string{o.APIKey}
	}
	srv, err := NewServer(ServerOptions{Dir: o.Dir, CompanyName: o.CompanyName, APIKeys: keys,
		MaxBodyBytes: o.MaxBody, BodyTimeout: o.BodyTimeout, MinBodyRate: o.MinBodyRate,
		Logger: log, OnSubmit: o.OnSubmit})
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
	ln = netutil.LimitListener(ln, o.MaxConns)
	hs := &http.Server{
		Handler:           srv.Handler(),
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: o.ReadHeaderTimeout, // also bounds the TLS handshake
		IdleTimeout:       o.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	scheme := "https"
	if tlsConf == nil {
		scheme = "http"
	} else {
		ln = tls.NewListener(ln, tlsConf)
	}
	log.Info("sink listening", "addr", ln.Addr().String(), "scheme", scheme, "dir", o.Dir,
		"api_key", o.APIKey != "", "client_ca", o.ClientCA, "max_conns", o.MaxConns)
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
		hosts, err := sinkHosts(o.Listen)
		if err != nil {
			return nil, err
		}
		ca, err := sinkCA(o.CAOut, log)
		if err != nil {
			return nil, fmt.Errorf("sink: %w", err)
		}
		cert, err := ca.Issue(hosts...)
		if err != nil {
			return nil, fmt.Errorf("sink: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
		log.Info("sink certificate issued by its CA; give the CA to clients as ca_chain_path", "ca", o.CAOut, "hosts", hosts)
	}
	if o.ClientCA != "" {
		pem, err := os.ReadFile(o.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("sink: reading client CA file %s: %w", o.ClientCA, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("sink: client CA file %s contains no PEM certificate", o.ClientCA)
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return conf, nil
}

// sinkHosts lists the names the generated server certificate is for.
func sinkHosts(listen string) ([]string, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("sink: listen address %q: %w", listen, err)
	}
	hosts := []string{"127.0.0.1", "::1", "localhost"}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		if !slices.Contains(hosts, host) {
			hosts = append(hosts, host)
		}
	} else if hn, err := os.Hostname(); err == nil {
		hosts = append(hosts, hn)
	}
	return hosts, nil
}

// caKeyPath is where the key of the CA certificate at certPath is kept.
func caKeyPath(certPath string) string {
	return strings.TrimSuffix(certPath, filepath.Ext(certPath)) + ".key"
}

// sinkCA loads the CA at certPath and its key, or generates and stores a
// new one when there is none or it is unusable (saying why).
func sinkCA(certPath string, log *slog.Logger) (*LocalCA, error) {
	keyPath := caKeyPath(certPath)
	ca, err := loadLocalCA(certPath, keyPath, time.Now())
	if err == nil {
		log.Info("sink reuses its CA", "ca", certPath, "key", keyPath, "expires", ca.Cert.NotAfter)
		return ca, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		log.Warn("sink CA is unusable; generating a new one (clients need the new ca_chain_path)", "ca", certPath, "error", err)
	} else if _, serr := os.Stat(certPath); serr == nil {
		log.Warn("sink CA has no key beside it (written by an older sink?); generating a new one", "ca", certPath, "key", keyPath)
	}
	if ca, err = NewLocalCA(); err != nil {
		return nil, err
	}
	if err := ca.save(certPath, keyPath); err != nil {
		return nil, fmt.Errorf("storing the CA: %w", err)
	}
	log.Info("sink generated a CA", "ca", certPath, "key", keyPath)
	return ca, nil
}

func writeFileAtomic(p string, data []byte, mode os.FileMode) error {
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
	if err := tmp.Chmod(mode); err != nil {
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
	return os.Rename(tmp.Name(), p)
}
