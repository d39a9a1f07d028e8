// Package ingest is the HTTP ingest collector (kind "ingest"): an
// ACE-API-compatible receiver (api.Server) in front of the collector's
// store, so ace_api.py and other ACE clients can submit to a relay that
// delivers through the normal groups, plus a newline-delimited JSON
// endpoint for tools that post events. Every submission is answered 200
// only after Sink.Submit returned; 503 with Retry-After when it could not
// be stored.
package ingest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/collector"
)

// Kind is the collector type name.
const Kind = "ingest"

//go:embed sample.ini
var sampleConfig []byte

func init() {
	collector.Register(collector.Kind{
		Name:    Kind,
		Summary: "HTTP ingest: an ACE-API-compatible endpoint (and NDJSON events), answering 200 only once stored",
		Sample:  sampleConfig,
		New:     New,
	})
}

// maxNDJSON caps an NDJSON body, which is read in memory.
const maxNDJSON = 64 << 20

// Config is the parsed [collector_NAME] section.
type Config struct {
	Listen         string
	TLS            *tls.Config // nil: plain HTTP
	APIKeys        []string
	MaxRequestSize int64
	SpoolDir       string
	Mapping        Mapping
	Fields         collector.SubmissionFields
}

// New builds the collector from its section.
func New(sec *collector.Section, g collector.Global) (collector.Collector, error) {
	c := Config{
		Listen:         sec.ListenAddr("listen", ""),
		MaxRequestSize: sec.Size("max_request_size", 1<<30),
		SpoolDir:       g.Path(sec.String("spool_dir", "")),
		Fields: collector.ParseSubmissionFields(sec, collector.SubmissionDefaults{
			Type: Kind, Tool: "ace-collector " + Kind}),
	}
	if c.Listen == "" {
		sec.Errorf("listen", "is required (host:port)")
	}
	if k := sec.String("api_key", ""); k != "" {
		c.APIKeys = []string{k}
	}
	if c.MaxRequestSize <= 0 {
		sec.Errorf("max_request_size", "must be positive")
	}
	c.Mapping = parseMapping(sec)
	c.TLS = parseTLS(sec, g)
	if c.SpoolDir == "" {
		c.SpoolDir = filepath.Join(os.TempDir(), "ace-collector-ingest-"+strings.TrimPrefix(sec.Name(), "collector_"))
	}
	return &Collector{cfg: c, ready: make(chan struct{})}, nil
}

func parseTLS(sec *collector.Section, g collector.Global) *tls.Config {
	cert, key := sec.ExistingFile("tls_cert", g), sec.ExistingFile("tls_key", g)
	ca := sec.ExistingFile("tls_client_ca", g)
	if (cert == "") != (key == "") {
		sec.Errorf("tls_key", "tls_cert and tls_key must be set together")
		return nil
	}
	if cert == "" {
		if ca != "" {
			sec.Errorf("tls_client_ca", "client certificates need HTTPS (tls_cert and tls_key)")
		}
		return nil
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		sec.Errorf("tls_cert", "loading certificate and key: %v", err)
		return nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		pool := x509.NewCertPool()
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			sec.Errorf("tls_client_ca", "%s holds no PEM certificate", ca)
			return nil
		}
		conf.ClientCAs, conf.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return conf
}

// Collector is one configured ingest endpoint.
type Collector struct {
	cfg   Config
	mu    sync.Mutex
	addr  net.Addr
	ready chan struct{}
}

// Addr waits until the listener is bound and returns its address.
func (c *Collector) Addr(ctx context.Context) (net.Addr, error) {
	select {
	case <-c.ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the ingest listener: %w", ctx.Err())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addr, nil
}

// Run serves until ctx is cancelled, then lets requests in flight finish
// (up to 30 seconds).
func (c *Collector) Run(ctx context.Context, env *collector.Env) error {
	srv, err := api.NewServer(api.ServerOptions{
		Dir: c.cfg.SpoolDir, APIKeys: c.cfg.APIKeys, MaxBodyBytes: c.cfg.MaxRequestSize,
		// The store makes it durable; a crash before Submit returned
		// leaves the sender unanswered, and it sends again.
		NoSync: true, Relay: true, Logger: env.Log,
		Accept: func(ctx context.Context, rec *api.Received) error { return c.relay(ctx, env, rec) },
		Routes: func(mux *http.ServeMux) { mux.HandleFunc("POST /api/ingest/ndjson", c.ndjson(env)) },
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", c.cfg.Listen)
	if err != nil {
		return fmt.Errorf("ingest: listening on %s: %w", c.cfg.Listen, err)
	}
	scheme := "http"
	if c.cfg.TLS != nil {
		ln, scheme = tls.NewListener(ln, c.cfg.TLS), "https"
	}
	c.mu.Lock()
	c.addr = ln.Addr()
	c.mu.Unlock()
	select {
	case <-c.ready:
	default:
		close(c.ready)
	}
	hs := &http.Server{
		Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(env.Log.Handler(), slog.LevelDebug),
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	env.Log.Info("ingest listening", "addr", ln.Addr().String(), "scheme", scheme, "api_key", len(c.cfg.APIKeys) > 0,
		"client_certificates", c.cfg.TLS != nil && c.cfg.TLS.ClientCAs != nil)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("ingest: serving on %s: %w", c.cfg.Listen, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = hs.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	env.Log.Info("ingest stopped")
	return err
}

// relay stores one ACE API submission: the sender's fields as they are,
// plus the configured tags and group assignments. Its uuid is the one the
// sender is answered with; the sender's submission_uuid is the dedup key,
// so an at-least-once sender's repeat is stored once.
func (c *Collector) relay(ctx context.Context, env *collector.Env, rec *api.Received) error {
	env.Count("received", 1)
	sub := &collector.Submission{
		UUID: rec.UUID, Description: rec.Description, AnalysisMode: rec.AnalysisMode, Tool: rec.Tool,
		ToolInstance: rec.ToolInstance, Type: rec.Type, EventTime: rec.EventTime, Details: rec.Details,
		Observables: rec.Observables, Tags: rec.Tags, Queue: rec.Queue, Instructions: rec.Instructions,
		CompanyID: rec.CompanyID,
	}
	if string(sub.Details) == "null" {
		sub.Details = nil
	}
	if rec.SubmissionUUID != "" {
		sub.DedupKey = "submission_uuid:" + rec.SubmissionUUID
	}
	for _, f := range rec.Files {
		sub.Files = append(sub.Files, collector.File{Path: f.Path, Name: f.Name, DeleteSource: true})
	}
	for _, t := range c.cfg.Fields.Tags {
		if !contains(sub.Tags, t) {
			sub.Tags = append(sub.Tags, t)
		}
	}
	if len(c.cfg.Fields.Groups) > 0 {
		sub.GroupAssignments = append([]string(nil), c.cfg.Fields.Groups...)
	}
	if err := env.Sink.Submit(ctx, sub); err != nil {
		env.Log.Warn("ingest submission not stored; the sender is told to retry", "uuid", sub.UUID, "error", err)
		return err
	}
	env.Count("submitted", 1)
	return nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
