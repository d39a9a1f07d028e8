package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/google/uuid"
)

// ServerOptions configures an ACE-compatible receiving server.
type ServerOptions struct {
	Dir string // storage root (required)
	// CompanyName, when set, rejects a submission naming another
	// company_name with ACE's 400 "wrong company ...".
	CompanyName string
	// APIKeys, when non-empty, requires header x-ace-auth or x-ice-auth to
	// match one of them: 401 without a key, 403 with a wrong one.
	APIKeys      []string
	MaxBodyBytes int64 // default 1 GiB; a larger body is answered 413
	// A request body must arrive within BodyTimeout plus its size at
	// MinBodyRate (bytes per second); a slower one is cut off with 408, so
	// a client trickling bytes cannot hold a connection and a staging
	// directory. Defaults 30 s and 16 KiB/s; a negative MinBodyRate turns
	// the check off. It needs an http.Server underneath (it sets the
	// connection's read deadline through http.ResponseController).
	BodyTimeout time.Duration
	MinBodyRate int64
	// NoSync skips every fsync: for benchmarks and throwaway sinks only,
	// since a crash may then lose submissions already answered 200.
	NoSync bool
	Logger *slog.Logger
	// Accept, when set, is called once the submission is durably stored in
	// Dir/<uuid> and before it is journaled and answered. An error removes
	// the stored submission and answers 400 when the error wraps
	// collector.ErrInvalid, otherwise 503 (the client retries later). The
	// ingest collector hands the submission to its own store here, so the
	// client gets 200 only after that store has it.
	Accept func(ctx context.Context, rec *Received) error
	// OnSubmit is called after a submission is durably stored (and
	// accepted) and before the 200 answer is sent.
	OnSubmit func(*Received)
	// Relay: Dir is only a staging area for Accept, which hands each
	// submission on (the ingest collector). Once Accept returned nil the
	// submission's directory is removed; no journal is kept; at start
	// submission directories a crash left behind are removed.
	Relay bool
	// Routes, if set, adds handlers to the server's mux (behind its API
	// key check and body limits).
	Routes func(*http.ServeMux)
}

// Received is one accepted submission as stored in Dir/<UUID>/analysis.json.
type Received struct {
	UUID           string                 `json:"uuid"`
	SubmissionUUID string                 `json:"submission_uuid,omitempty"`
	Description    string                 `json:"description"`
	AnalysisMode   string                 `json:"analysis_mode"`
	Tool           string                 `json:"tool"`
	ToolInstance   string                 `json:"tool_instance"`
	Type           string                 `json:"type"`
	Queue          string                 `json:"queue"`
	Instructions   string                 `json:"instructions,omitempty"`
	CompanyID      int                    `json:"company_id,omitempty"`
	EventTime      time.Time              `json:"event_time"`
	Details        json.RawMessage        `json:"details"`
	Observables    []collector.Observable `json:"observables"`
	Tags           []string               `json:"tags"`
	Files          []ReceivedFile         `json:"files"`
	RemoteAddr     string                 `json:"remote_addr"`
	ReceivedAt     time.Time              `json:"received_at"`
}

// ReceivedFile is one stored attachment.
type ReceivedFile struct {
	Name   string `json:"name"` // sanitized name relative to Dir/<uuid>/files
	Path   string `json:"path"` // where it is stored
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Server receives ACE API submissions and stores them under Dir.
type Server struct {
	opts    ServerOptions
	log     *slog.Logger
	keys    [][sha256.Size]byte
	count   atomic.Int64
	journal *journal
	handler http.Handler
}

const (
	tmpPrefix   = ".incoming-"
	journalName = "received.jsonl"
)

// NewServer prepares Dir (creating it, removing half-written submissions a
// crash left behind) and opens the journal.
func NewServer(o ServerOptions) (*Server, error) {
	if o.Dir == "" {
		return nil, errors.New("api server: storage dir is required")
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 30
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = 30 * time.Second
	}
	if o.MinBodyRate == 0 {
		o.MinBodyRate = 16 << 10
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("api server: creating storage dir %s: %w", o.Dir, err)
	}
	stale, _ := filepath.Glob(filepath.Join(o.Dir, tmpPrefix+"*"))
	for _, d := range stale {
		if err := os.RemoveAll(d); err != nil {
			return nil, fmt.Errorf("api server: removing partial submission %s: %w", d, err)
		}
		log.Warn("removed partial submission left by a crash", "dir", d)
	}
	var j *journal
	if o.Relay {
		if err := removeRelayLeftovers(o.Dir, log); err != nil {
			return nil, err
		}
	} else {
		jpath := filepath.Join(o.Dir, journalName)
		var err error
		if j, err = openJournal(jpath, !o.NoSync); err != nil {
			return nil, fmt.Errorf("api server: opening journal %s: %w", jpath, err)
		}
	}
	s := &Server{opts: o, log: log, journal: j}
	for _, k := range o.APIKeys {
		if k = strings.TrimSpace(k); k != "" {
			s.keys = append(s.keys, sha256.Sum256([]byte(k)))
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/analysis/submit", s.handleSubmit)
	mux.HandleFunc("GET /api/common/ping", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"result": "pong"})
	})
	mux.HandleFunc("GET /api/common/get_supported_api_version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"result": 1})
	})
	s.validRoutes(mux)
	if o.Routes != nil {
		o.Routes(mux)
	}
	s.handler = s.limitBody(s.auth(mux))
	return s, nil
}

// Handler serves /api/analysis/submit, /api/common/ping and
// /api/common/get_supported_api_version.
func (s *Server) Handler() http.Handler { return s.handler }

// Count is the number of submissions accepted so far.
func (s *Server) Count() int64 { return s.count.Load() }

// Close closes the journal. The handler must no longer be serving.
func (s *Server) Close() error {
	if s.journal == nil {
		return nil
	}
	return s.journal.Close()
}

// removeRelayLeftovers removes the submission directories (named by a
// uuid) that a relay's crash left in dir: their senders got no 200 and
// send them again. Nothing else in dir is touched.
func removeRelayLeftovers(dir string, log *slog.Logger) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("api server: reading %s: %w", dir, err)
	}
	for _, e := range entries {
		if _, err := uuid.Parse(e.Name()); err != nil || !e.IsDir() {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("api server: removing %s: %w", e.Name(), err)
		}
		log.Warn("removed a relayed submission left by a crash (its sender was not answered)", "dir", e.Name())
	}
	return nil
}

// auth enforces the API keys (ace3 header x-ice-auth, ACE API v2 header
// x-ace-auth), comparing SHA-256 digests in constant time: 401 when no key
// is presented, 403 when the key is wrong (ace3 answers 403 to both; a
// client treats either as a permanent rejection).
func (s *Server) auth(next http.Handler) http.Handler {
	if len(s.keys) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		presented := false
		for _, h := range []string{"x-ace-auth", "x-ice-auth"} {
			v := r.Header.Get(h)
			if v == "" {
				continue
			}
			presented = true
			d := sha256.Sum256([]byte(v))
			for _, k := range s.keys {
				if subtle.ConstantTimeCompare(d[:], k[:]) == 1 {
					next.ServeHTTP(w, r)
					return
				}
			}
		}
		w.Header().Set("Connection", "close") // the body is not read
		if !presented {
			s.log.Warn("rejected request without an API key", "remote", r.RemoteAddr, "path", r.URL.Path)
			w.Header().Set("WWW-Authenticate", `APIKey header="x-ace-auth"`)
			http.Error(w, "missing API key (header x-ace-auth or x-ice-auth)", http.StatusUnauthorized)
			return
		}
		s.log.Warn("rejected request with a wrong API key", "remote", r.RemoteAddr, "path", r.URL.Path)
		http.Error(w, "invalid API key", http.StatusForbidden)
	})
}

// limitBody refuses a declared body larger than MaxBodyBytes before
// reading any of it, and cuts off a body that arrives slower than
// BodyTimeout plus MinBodyRate allow.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.opts.MaxBodyBytes {
			s.log.Warn("request rejected", "status", http.StatusRequestEntityTooLarge, "content_length", r.ContentLength,
				"max_body", s.opts.MaxBodyBytes, "remote", r.RemoteAddr)
			w.Header().Set("Connection", "close")
			http.Error(w, fmt.Sprintf("request body is larger than %d bytes", s.opts.MaxBodyBytes), http.StatusRequestEntityTooLarge)
			return
		}
		if s.opts.MinBodyRate > 0 && r.Body != nil && r.Body != http.NoBody {
			r.Body = newRateBody(r.Body, http.NewResponseController(w), time.Now(), s.opts.BodyTimeout, s.opts.MinBodyRate)
		}
		next.ServeHTTP(w, r)
	})
}

// rateBody moves the connection's read deadline forward as the body
// arrives: start + grace + bytes read / rate. A client that sends less
// than rate bytes per second runs into the deadline, whatever it trickles.
type rateBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	start    time.Time
	grace    time.Duration
	rate     int64
	read     int64
	deadline time.Time
}

func newRateBody(body io.ReadCloser, rc *http.ResponseController, start time.Time, grace time.Duration, rate int64) *rateBody {
	b := &rateBody{ReadCloser: body, rc: rc, start: start, grace: grace, rate: rate}
	b.extend()
	return b
}

func (b *rateBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.read += int64(n)
		b.extend()
	}
	return n, err
}

// extend sets the deadline the bytes read so far earn; to save calls it is
// only moved when it has grown by at least a second.
func (b *rateBody) extend() {
	d := b.start.Add(b.grace + time.Duration(float64(b.read)/float64(b.rate)*float64(time.Second)))
	if !b.deadline.IsZero() && d.Sub(b.deadline) < time.Second {
		return
	}
	// Without an http.Server underneath (ErrNotSupported) there is no
	// connection to protect.
	if b.rc.SetReadDeadline(d) == nil {
		b.deadline = d
	}
}

// writeJSON answers 200 with v; encoding/json sorts map keys, like ACE's
// json_result.
func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding answer failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}
