package estreamer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/estreamer/wire"
)

// Collector is one configured eStreamer client.
type Collector struct {
	cfg   Config
	cache *cache
	warn  *logLimiter // skipped-data messages, across sessions
}

// Run connects, streams, and reconnects with capped exponential backoff
// until ctx is cancelled. Every session end is logged with its reason.
func (c *Collector) Run(ctx context.Context, env *collector.Env) error {
	if err := os.MkdirAll(c.cfg.WorkDir, 0o700); err != nil {
		return fmt.Errorf("estreamer %s: work_dir: %w", env.Name, err)
	}
	env.Log.Info("collector started", "server", c.addr(), "verify", c.cfg.Verify, "resume", c.cfg.Resume)
	defer env.Log.Info("collector stopped", "server", c.addr())
	backoff := c.cfg.ReconnectMin
	for {
		progressed, err := c.session(ctx, env)
		if ctx.Err() != nil {
			return nil
		}
		env.Count("disconnects", 1)
		env.Log.Warn("eStreamer session ended", "server", c.addr(), "reason", explain(err, progressed), "retry_in", backoff)
		if progressed {
			backoff = c.cfg.ReconnectMin
		}
		// Full jitter on the upper half keeps many collectors from
		// reconnecting in lock-step after an FMC restart.
		wait := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		if !progressed {
			backoff = min(2*backoff, c.cfg.ReconnectMax)
		}
	}
}

func (c *Collector) addr() string {
	return net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.cfg.Port))
}

// sessionError carries how far a session got, for the close reason.
type sessionError struct {
	stage string // "connect", "handshake", "request", "stream"
	msgs  int    // messages received
	err   error
}

func (e *sessionError) Error() string { return e.stage + ": " + e.err.Error() }
func (e *sessionError) Unwrap() error { return e.err }

// explain turns a session error into an operator-readable reason.
func explain(err error, progressed bool) string {
	var se *sessionError
	if !errors.As(err, &se) {
		if err == nil {
			return "server closed the connection"
		}
		return err.Error()
	}
	var em *wire.ErrorMessage
	var ne net.Error
	msg := se.err.Error()
	switch {
	case errors.As(se.err, &em):
		return fmt.Sprintf("server sent error message %d: %q", em.Code, em.Text)
	case strings.Contains(msg, "remote error: tls:"):
		return "server rejected the TLS session (bad or unknown client certificate; check that the FMC issued this PKCS#12 for this host): " + msg
	case se.stage == "handshake":
		return "TLS handshake failed (server certificate verification or protocol version): " + msg
	case errors.As(se.err, &ne) && ne.Timeout() && se.stage != "connect":
		return "idle: no message (not even a keep-alive) from the server within idle_timeout: " + msg
	case errors.Is(se.err, io.EOF) && se.msgs == 0:
		return "server closed the connection without an error message before sending anything: the client " +
			"certificate was probably rejected by the post-connection check (the certificate's host must be this " +
			"client's outbound IP, or the NAT address) or the eStreamer service is stopping"
	case errors.Is(se.err, io.EOF):
		return "server closed the connection without an error message (eStreamer service stopped, or sending to us failed)"
	case errors.Is(se.err, wire.ErrMalformed):
		return "protocol error, connection dropped: " + msg
	}
	return se.stage + " failed: " + msg
}
