package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/hashicorp/go-retryablehttp"
)

// SubmissionUUIDHeader carries the collector's submission uuid so that a
// receiver can drop duplicates of an at-least-once delivery (the JSON key
// submission_uuid carries it too).
const SubmissionUUIDHeader = "X-ACE-Submission-UUID"

// DefaultAPIKeyHeader is the header an API key is sent in by default
// (ACE's FastAPI-based API; ace3 uses x-ice-auth).
const DefaultAPIKeyHeader = "x-ace-auth"

// maxResponseBody caps how much of an answer is read.
const maxResponseBody = 1 << 20

// ClientOptions configures a Client.
type ClientOptions struct {
	CAFile             string // [SSL] ca_chain_path: PEM CA bundle; empty = system roots
	InsecureSkipVerify bool   // explicit per-group opt-out only
	CertFile, KeyFile  string // optional client certificate (PEM)
	APIKey             string // optional; sent in header APIKeyHeader
	APIKeyHeader       string // default "x-ace-auth"
	Timeout            time.Duration
	// RetryMax is the number of retries inside one call; 0 = exactly one
	// attempt. The delivery loop does its own, longer-term retrying.
	RetryMax                   int
	RetryWaitMin, RetryWaitMax time.Duration
	Logger                     *slog.Logger
}

// Client talks to ACE nodes. It is safe for concurrent use; connections
// are pooled and reused across nodes.
type Client struct {
	opts ClientOptions
	tr   *reloadingTransport
	rc   *retryablehttp.Client
	log  *slog.Logger
	now  func() time.Time
	// toolInstance is sent when a submission has none, like ace_api's
	// "ace_api:<fqdn>".
	toolInstance string

	warnMu     sync.Mutex
	certWarned map[string]time.Time // location → last WARN about its certificate
}

// NewClient builds a client. TLS verification is ON unless
// InsecureSkipVerify is set (ACE's ace_api silently disabled it, §10.18).
// The CA file and the client certificate and key are read now, and read
// again whenever they change on disk (checked before each request), so a
// rotated CA or certificate needs no restart.
func NewClient(o ClientOptions) (*Client, error) {
	if o.APIKeyHeader == "" {
		o.APIKeyHeader = DefaultAPIKeyHeader
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.RetryMax < 0 {
		o.RetryMax = 0
	}
	if o.RetryWaitMin <= 0 {
		o.RetryWaitMin = 500 * time.Millisecond
	}
	if o.RetryWaitMax < o.RetryWaitMin {
		o.RetryWaitMax = max(o.RetryWaitMin, 10*time.Second)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr, err := newReloadingTransport(o, log)
	if err != nil {
		return nil, err
	}
	rc := &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: tr, Timeout: o.Timeout},
		Logger:       slogLeveled{log.With("component", "retryablehttp")},
		RetryWaitMin: o.RetryWaitMin,
		RetryWaitMax: o.RetryWaitMax,
		RetryMax:     o.RetryMax,
		CheckRetry:   retryPolicy,
		Backoff:      retryablehttp.DefaultBackoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	host, _ := os.Hostname()
	return &Client{opts: o, tr: tr, rc: rc, log: log, now: time.Now,
		toolInstance: "ace-collector:" + host, certWarned: map[string]time.Time{}}, nil
}

func clientTLSConfig(o ClientOptions) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.InsecureSkipVerify}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file %s: %w", o.CAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s contains no PEM certificate", o.CAFile)
		}
		conf.RootCAs = pool
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, fmt.Errorf("client certificate needs both a certificate file and a key file (got cert %q, key %q)",
			o.CertFile, o.KeyFile)
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate %s / key %s: %w", o.CertFile, o.KeyFile, err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}

// retryPolicy retries what Transient calls transient, except certificate
// failures (no point within one call) and the caller's own cancellation.
func retryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return Transient(err) && !isCertError(err), nil
	}
	return (&StatusError{StatusCode: resp.StatusCode}).Transient(), nil
}

// SubmitResult is ACE's answer to an accepted submission.
type SubmitResult struct {
	UUID          string          // the root uuid the node assigned
	TuningMatches json.RawMessage // set when the node's submission filter tuned it out
}

// Submit delivers sub to the node at location. It returns a *StatusError
// for a non-2xx answer; use Transient to decide whether to retry.
//
// Errors never carry credentials (see RedactError).
func (c *Client) Submit(ctx context.Context, location string, sub *collector.Submission) (*SubmitResult, error) {
	loc, err := ParseLocation(location)
	if err != nil {
		return nil, err
	}
	base := loc.BaseURL()
	if sub.ToolInstance == "" {
		cp := *sub
		cp.ToolInstance = c.toolInstance
		sub = &cp
	}
	analysis, err := EncodeSubmission(sub, c.now())
	if err != nil {
		return nil, &LocalError{Err: err}
	}
	body, err := newFormBody(analysis, sub.Files)
	if err != nil {
		return nil, err
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, base+"/analysis/submit",
		retryablehttp.ReaderFunc(body.Open))
	if err != nil {
		return nil, localErrorf("building request: %w", err)
	}
	req.ContentLength = body.length
	req.Header.Set("Content-Type", body.contentType)
	req.Header.Set("Accept", "application/json")
	if sub.UUID != "" {
		req.Header.Set(SubmissionUUIDHeader, sub.UUID)
	}
	start := time.Now()
	status, text, err := c.do(req, loc)
	if err != nil {
		return nil, RedactError(fmt.Errorf("submitting %s to %s: %w", sub.UUID, loc.HostPort(), err))
	}
	res, err := parseSubmitAnswer(status, text)
	if err != nil {
		return nil, RedactError(fmt.Errorf("submitting %s to %s: %w", sub.UUID, loc.HostPort(), err))
	}
	c.log.Debug("submitted", "uuid", sub.UUID, "node", loc.HostPort(), "remote_uuid", res.UUID,
		"files", len(sub.Files), "bytes", body.length, "took", time.Since(start))
	return res, nil
}

// Ping checks that location answers ACE's ping ({"result": "pong"}).
func (c *Client) Ping(ctx context.Context, location string) error {
	loc, err := ParseLocation(location)
	if err != nil {
		return err
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, loc.BaseURL()+"/common/ping", nil)
	if err != nil {
		return localErrorf("building request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	status, text, err := c.do(req, loc)
	if err != nil {
		return RedactError(fmt.Errorf("pinging %s: %w", loc.HostPort(), err))
	}
	var ans struct {
		Result string `json:"result"`
	}
	if err := json.Unmarshal(text, &ans); err != nil || ans.Result != "pong" {
		if err == nil {
			err = errors.New(`want {"result": "pong"}`)
		}
		return RedactError(fmt.Errorf("pinging %s: %w", loc.HostPort(), &ProtocolError{StatusCode: status, Body: string(text), Err: err}))
	}
	return nil
}

// do sends the request (with retries) and returns a 2xx answer's body, or
// a *StatusError.
func (c *Client) do(req *retryablehttp.Request, loc Location) (int, []byte, error) {
	if c.opts.APIKey != "" {
		req.Header.Set(c.opts.APIKeyHeader, c.opts.APIKey)
	}
	req.Header.Set("User-Agent", "ace-collector")
	resp, err := c.rc.Do(req)
	if err != nil {
		if isCertError(err) {
			c.warnCertificate(loc, err)
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	text, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, nil, &StatusError{StatusCode: resp.StatusCode, Body: strings.TrimSpace(string(text)),
			RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), c.now())}
	}
	if rerr != nil {
		return resp.StatusCode, nil, fmt.Errorf("reading answer: %w", rerr)
	}
	return resp.StatusCode, text, nil
}

func parseSubmitAnswer(status int, text []byte) (*SubmitResult, error) {
	var ans struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(text, &ans); err != nil {
		return nil, &ProtocolError{StatusCode: status, Body: string(text), Err: err}
	}
	var res struct {
		UUID          string          `json:"uuid"`
		TuningMatches json.RawMessage `json:"tuning_matches"`
	}
	if err := json.Unmarshal(ans.Result, &res); err != nil {
		// ACE's local-submission path answers {"result": "<uuid>"}.
		var s string
		if json.Unmarshal(ans.Result, &s) != nil || s == "" {
			return nil, &ProtocolError{StatusCode: status, Body: string(text), Err: errors.New(`want {"result": {"uuid": ...}}`)}
		}
		res.UUID = s
	}
	if res.UUID == "" {
		return nil, &ProtocolError{StatusCode: status, Body: string(text), Err: errors.New("answer has no result uuid")}
	}
	if string(res.TuningMatches) == "null" {
		res.TuningMatches = nil
	}
	return &SubmitResult{UUID: res.UUID, TuningMatches: res.TuningMatches}, nil
}

// certWarnEvery rate-limits the WARN about one node's certificate: every
// delivery attempt fails the same way until someone fixes it.
const certWarnEvery = time.Minute

// warnCertificate logs a node's failed certificate verification at WARN,
// at most once per certWarnEvery per node.
func (c *Client) warnCertificate(loc Location, err error) {
	now := c.now()
	c.warnMu.Lock()
	last, seen := c.certWarned[loc.HostPort()]
	if seen && now.Sub(last) < certWarnEvery {
		c.warnMu.Unlock()
		return
	}
	c.certWarned[loc.HostPort()] = now
	c.warnMu.Unlock()
	c.log.Warn("TLS verification of the node's certificate failed; check ca_chain_path and the node's certificate",
		"node", loc.HostPort(), "kind", FailureKind(err), "error", RedactError(err))
}

// Close releases idle connections.
func (c *Client) Close() { c.tr.close() }

// slogLeveled routes retryablehttp's logging to slog at debug level: the
// caller logs outcomes; per-attempt chatter is only useful when debugging.
type slogLeveled struct{ l *slog.Logger }

func (s slogLeveled) Error(msg string, kv ...any) { s.l.Debug(msg, kv...) }
func (s slogLeveled) Info(msg string, kv ...any)  { s.l.Debug(msg, kv...) }
func (s slogLeveled) Debug(msg string, kv ...any) { s.l.Debug(msg, kv...) }
func (s slogLeveled) Warn(msg string, kv ...any)  { s.l.Debug(msg, kv...) }
